"""The shadow event contract and ``ShadowConfig``: what the SDK writes is what the controller reads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampgate.domain import (
    Flag,
    ShadowArm,
    ShadowConfig,
    ShadowMeasure,
    compile_flag,
    parse_shadow_event,
    shadow_event,
    shadow_pair_event,
)
from rampgate.errors import ConfigError


def test_event_names() -> None:
    assert shadow_pair_event("support-agent") == "shadow:support-agent:pair"
    assert shadow_event("support-agent", "stable", "latency_ms") == (
        "shadow:support-agent:stable:latency_ms"
    )
    assert shadow_event("f", ShadowArm.CANDIDATE, ShadowMeasure.COST_USD) == (
        "shadow:f:candidate:cost_usd"
    )
    assert shadow_event("f", "candidate", "error") == "shadow:f:candidate:error"


@pytest.mark.parametrize(("arm", "measure"), [("canary", "error"), ("stable", "p95")])
def test_unknown_arm_or_measure_is_refused(arm: str, measure: str) -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        shadow_event("f", arm, measure)


# Flag keys as the config accepts them: ':' and '.' included.
keys = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,40}", fullmatch=True)


@given(keys, st.sampled_from(list(ShadowArm)), st.sampled_from(list(ShadowMeasure)))
def test_names_parse_back(flag: str, arm: ShadowArm, measure: ShadowMeasure) -> None:
    assert parse_shadow_event(shadow_event(flag, arm, measure)) == (flag, arm, measure)
    assert parse_shadow_event(shadow_pair_event(flag)) == (flag, None, None)


@pytest.mark.parametrize(
    "name",
    ["resolved", "shadow:", "shadow:pair", "shadow:f:stable:p95", "shadow:f:canary:error",
     "shadow::stable:error", "shadowy:f:pair", "shadow:f"],
)  # fmt: skip
def test_other_names_are_not_shadow_events(name: str) -> None:
    assert parse_shadow_event(name) is None


@pytest.mark.parametrize("sample", [-0.1, 1.5, float("nan"), True, "0.2", None])
def test_shadow_config_sample_in_unit_interval(sample: Any) -> None:
    with pytest.raises(ConfigError) as info:
        ShadowConfig("candidate", sample)
    assert info.value.path == "shadow.sample"


def test_flag_shadow_must_name_a_variant() -> None:
    with pytest.raises(ConfigError) as info:
        Flag("f", {"a": 1, "b": 2}, "a", shadow=ShadowConfig("c", 0.5))
    assert info.value.path == "flags.f.shadow.variant"
    assert "'a', 'b'" in info.value.expected


def test_compiled_flag_carries_its_shadow_config() -> None:
    config = ShadowConfig("b", 0.25)
    assert compile_flag(Flag("f", {"a": 1, "b": 2}, "a", shadow=config)).flag.shadow is config
    assert compile_flag(Flag("f", {"a": 1}, "a")).flag.shadow is None
