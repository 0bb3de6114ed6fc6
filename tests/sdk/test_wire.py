"""A pushed ruleset: parsed once and compiled once, and a bad one refused with its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rampgate import Context
from rampgate.errors import ConfigError
from rampgate.sdk.wire import ruleset_from_payload

FLAG: dict[str, Any] = {
    "variants": {"stable": {"model": "a"}, "candidate": {"model": "b"}},
    "default": "stable",
    "rules": [
        {"id": "staff", "when": {"email": {"$regex": "@example\\.com$"}}, "serve": "candidate"}
    ],
    "version": 7,
}


def payload(flag: dict[str, Any]) -> dict[str, Any]:
    return {"environment": "prod", "version": 3, "flags": {"agent": flag}, "saved_groups": {}}


def test_a_push_serves_the_flag_at_its_version() -> None:
    ruleset = ruleset_from_payload(payload(FLAG))
    assert ruleset.version == "3"
    staff = ruleset.evaluate("agent", Context(user_id="u", attributes={"email": "a@example.com"}))
    assert staff is not None and (staff.variant, staff.flag_version) == ("candidate", 7)


@pytest.mark.parametrize(
    ("when", "where"),
    [
        ({"email": {"$regexx": "x"}}, "flags.agent.rules[0].condition"),
        ({"email": {"$regex": "("}}, "flags.agent.rules[0].condition"),
    ],
)
def test_a_bad_condition_is_still_refused_naming_the_rule(when: dict[str, Any], where: str) -> None:
    # The parser leaves conditions to the compiler on this path; the compiler must refuse.
    bad = copy.deepcopy(FLAG)
    bad["rules"][0]["when"] = when
    with pytest.raises(ConfigError) as refused:
        ruleset_from_payload(payload(bad))
    assert where in str(refused.value)
