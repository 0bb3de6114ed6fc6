"""The pure part of shadow runs: which evaluations are shadowed, and the events a call becomes."""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.domain import Context, Evaluation, Reason, ShadowConfig, compile_flag
from rampgate.domain.shadow import ShadowStatus
from rampgate.errors import ConfigError
from rampgate.guard import ArmResult, ShadowCall, ShadowSettings, exact_match, report, shadow_target
from tests.guard.support import CANDIDATE, shadowed_flag

CTX = Context(user_id="u-1", session_id="s-1")


def test_shadow_target_gives_the_candidates_frozen_value() -> None:
    compiled = compile_flag(shadowed_flag(sample=0.2))
    ev = compiled.evaluate({"user_id": "u"})
    target = shadow_target(compiled, ev)
    assert target is not None
    served, config, value = target
    assert (served, config) == ("stable", ShadowConfig("candidate", 0.2))
    assert value == CANDIDATE
    assert value is compiled.pinned("candidate").value  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        value["model"] = "changed"


@pytest.mark.parametrize(
    ("flag", "attrs"),
    [
        (shadowed_flag(shadow=None), {}),
        (shadowed_flag(sample=0.0), {}),
        (shadowed_flag(killed=True), {}),
        (shadowed_flag(), {"staff": True}),  # already serves the shadow variant
    ],
)
def test_shadow_target_none(flag: Any, attrs: dict[str, Any]) -> None:
    compiled = compile_flag(flag)
    assert shadow_target(compiled, compiled.evaluate(attrs)) is None


def test_shadow_target_skips_errors_unknown_flags_and_stale_versions() -> None:
    compiled = compile_flag(shadowed_flag())
    assert shadow_target(compiled, compiled.error) is None
    assert shadow_target(None, compiled.default) is None
    newer = compile_flag(shadowed_flag(version=2))
    assert shadow_target(newer, compiled.default) is None
    unknown = Evaluation("agent", None, None, Reason.ERROR)
    assert shadow_target(compiled, unknown) is None


def _call(**changes: Any) -> ShadowCall:
    fields: dict[str, Any] = {
        "flag": "a:b",
        "context": CTX,
        "stable_variant": "stable",
        "candidate_variant": "candidate",
        "value": CANDIDATE,
        "candidate": lambda v: v,
        "compare": exact_match,
        "cost": None,
        "timeout": 1.0,
        "stable": ArmResult(ShadowStatus.OK, 3.0, "same"),
    }
    return ShadowCall(**(fields | changes))


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, Context, float, Any]] = []
        self.errors: list[str] = []

    def record(self, name: str, ctx: Context, value: float, props: Any) -> None:
        self.events.append((name, ctx, value, props))

    def on_error(self, kind: str, key: str, error: Any = None, message: str = "") -> None:
        self.errors.append(kind)


def test_report_writes_the_contract() -> None:
    out = Recorded()
    call = _call(cost=lambda r: 0.5)
    report(call, ArmResult(ShadowStatus.OK, 9.0, "same"), out.record, out.on_error)
    assert [(name, value, props) for name, _, value, props in out.events] == [
        ("shadow:a:b:pair", 1.0, {"exact": True, "status": "ok", "stable_variant": "stable", "candidate_variant": "candidate"}),
        ("shadow:a:b:stable:latency_ms", 3.0, None),
        ("shadow:a:b:stable:error", 0.0, None),
        ("shadow:a:b:stable:cost_usd", 0.5, None),
        ("shadow:a:b:candidate:latency_ms", 9.0, None),
        ("shadow:a:b:candidate:error", 0.0, None),
        ("shadow:a:b:candidate:cost_usd", 0.5, None),
    ]  # fmt: skip
    assert all(ctx is CTX for _, ctx, _, _ in out.events)
    assert out.errors == []


def test_report_of_a_failed_candidate_has_no_comparison_and_no_cost() -> None:
    out = Recorded()
    compared: list[Any] = []
    call = _call(cost=lambda r: 0.5, compare=lambda a, b: compared.append(1) or 1.0)
    report(call, ArmResult(ShadowStatus.TIMEOUT, 50.0), out.record, out.on_error)
    values = {name: (value, props) for name, _, value, props in out.events}
    assert values["shadow:a:b:pair"] == (
        0.0,
        {"exact": False, "status": "timeout", "stable_variant": "stable", "candidate_variant": "candidate"},
    )  # fmt: skip
    assert values["shadow:a:b:candidate:error"] == (1.0, None)
    assert "shadow:a:b:candidate:cost_usd" not in values
    assert "shadow:a:b:stable:cost_usd" in values
    assert compared == []


def test_report_of_a_result_whose_equality_is_not_a_truth_value() -> None:
    class Vague:
        def __eq__(self, other: object) -> bool:
            raise ValueError("ambiguous")

        __hash__ = None  # type: ignore[assignment]

    out = Recorded()
    call = _call(stable=ArmResult(ShadowStatus.OK, 1.0, Vague()), compare=lambda a, b: 0.25)
    report(call, ArmResult(ShadowStatus.OK, 1.0, Vague()), out.record, out.on_error)
    pair = next(e for e in out.events if e[0] == "shadow:a:b:pair")
    assert (pair[2], pair[3]["exact"]) == (0.25, False)


@pytest.mark.parametrize(
    ("field", "value"),
    [("workers", 0), ("queue_size", -1), ("max_in_flight", 1.5), ("timeout", 0), ("timeout", True)],
)
def test_settings_are_checked(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field):
        ShadowSettings(**{field: value})
