"""GrowthBook spec cases: every ``evalCondition`` case, through rampgate's condition compiler.

Seven cases describe what GrowthBook does at runtime with a malformed condition: an unknown
operator or an invalid regex evaluates to false, and so does ``$in``/``$nin``/``$ini``/``$nini``
given something other than a list. rampgate deliberately rejects these when the condition
loads, so that a typo fails ``rampgate validate`` instead of silently never matching. For those
cases this test asserts that ``compile_condition`` raises ``ConditionError`` naming the operator,
and their test ids start with ``rejected-at-load:`` so the deviation shows in every run.
"""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.domain.conditions import compile_condition
from rampgate.domain.frozen import freeze
from rampgate.errors import ConditionError

from .spec import MISSING, cases, require

# case name -> the operator the load-time error must name
REJECTED_AT_LOAD = {
    "unknown operator - pass": "$regx",
    "$regex invalid - pass": "$regex",
    "$regex invalid - fail": "$regex",
    "$in - not array": "$in",
    "$nin - not array": "$nin",
    "$ini - not array": "$ini",
    "$nini - not array": "$nini",
}


def _params() -> list[Any]:
    out = []
    for param in cases("evalCondition"):
        (case,) = param.values
        rejected = case is not MISSING and case[0] in REJECTED_AT_LOAD
        out.append(pytest.param(case, id=f"rejected-at-load: {param.id}") if rejected else param)
    return out


def _unpack(case: Any) -> tuple[str, Any, Any, bool, Any]:
    name, condition, attributes, expected, *rest = case
    return name, condition, attributes, expected, rest[0] if rest else None


@pytest.mark.parametrize("case", _params())
def test_eval_condition(case: Any) -> None:
    require(case)
    name, condition, attributes, expected, groups = _unpack(case)
    if name in REJECTED_AT_LOAD:
        with pytest.raises(ConditionError) as err:
            compile_condition(condition, saved_groups=groups)
        assert err.value.operator == REJECTED_AT_LOAD[name]
        assert err.value.path.endswith(f".{REJECTED_AT_LOAD[name]}")
        return
    assert compile_condition(condition, saved_groups=groups)(attributes) is expected


def _all_cases() -> list[Any]:
    (first,) = cases("evalCondition")[0].values
    require(first)  # skips (or fails under CI) without the spec file
    return [param.values[0] for param in cases("evalCondition")]


def test_every_rejected_case_exists() -> None:
    """A renamed spec case must not turn a deviation into a silently skipped check."""
    assert set(REJECTED_AT_LOAD) <= {case[0] for case in _all_cases()}


def test_frozen_definitions_evaluate_alike() -> None:
    """Flags keep conditions and attributes as read-only values (FrozenDict, tuples)."""
    for case in _all_cases():
        name, condition, attributes, expected, groups = _unpack(case)
        if name in REJECTED_AT_LOAD:
            continue
        predicate = compile_condition(freeze(condition), saved_groups=freeze(groups))
        assert predicate(freeze(attributes)) is expected, name
