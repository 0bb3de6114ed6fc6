"""Experiments as contracts: registration, frozen fields, the risk-aware checkpoint decision."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rampgate.control import (
    DEFAULT_METRICS,
    FROZEN_FIELDS,
    Correction,
    Experiment,
    ExperimentContract,
    ExperimentObservations,
    ExperimentStatus,
    FrozenFieldError,
    GuardrailSpec,
    amend,
    check_concurrency,
    checkpoint,
    parse_experiment,
    register,
)
from rampgate.domain import Namespace, Split
from rampgate.errors import ConditionError, ConfigError, RampgateError
from rampgate.stats import Baseline, MeanStats, ProportionStats, Verdict

from .builders import ESCALATION, TASK_SUCCESS

DAY = 86400.0
BASELINES = {"task_success": Baseline.rate(0.6), "escalation": Baseline.rate(0.1)}


def contract(**overrides: Any) -> ExperimentContract:
    fields: dict[str, Any] = {
        "name": "refund-prompt-ab",
        "environment": "prod",
        "flag": "refund-prompt",
        "hypothesis": "The v2 refund prompt resolves more tickets without more escalations",
        "arms": (("control", "v1"), ("treatment", "v2")),
        "split": Split({"control": 0.5, "treatment": 0.5}, coverage=0.2),
        "primary": TASK_SUCCESS,
        "secondary": (DEFAULT_METRICS["cost_usd"],),
        "guardrails": (GuardrailSpec(ESCALATION, margin=0.02),),
        "mde": 0.02,
        "max_duration": 14 * DAY,
    }
    fields.update(overrides)
    return ExperimentContract(**fields)


def started(c: ExperimentContract | None = None) -> Experiment:
    return Experiment("exp-1", c or contract()).start(0.0)


def observe(
    success: dict[str, float] | None = None,
    escalation: dict[str, float] | None = None,
    *,
    n: int = 50_000,
    units: dict[str, int] | None = None,
) -> ExperimentObservations:
    success = success or {"control": 0.60, "treatment": 0.60}
    escalation = escalation or dict.fromkeys(success, 0.10)
    cost = {arm: MeanStats(n, 0.5 * n, 0.5 * n) for arm in success}
    return ExperimentObservations(
        metrics={
            "task_success": {a: ProportionStats(n, round(n * p)) for a, p in success.items()},
            "escalation": {a: ProportionStats(n, round(n * p)) for a, p in escalation.items()},
            "cost_usd": cost,
        },
        units=units or dict.fromkeys(success, n),
    )


# -- contracts and registration ---------------------------------------------------------------


def test_the_design_example_parses() -> None:
    raw = {
        "environment": "prod",
        "flag": "refund-prompt",
        "hypothesis": "The v2 refund prompt resolves more tickets without more escalations",
        "arms": {"control": "v1", "treatment": "v2"},
        "split": {
            "unit": "user_id",
            "weights": {"control": 0.5, "treatment": 0.5},
            "coverage": 0.2,
        },
        "primary": "task_success",
        "secondary": ["cost_per_success"],
        "guardrails": [{"metric": "escalation", "margin": "5%"}],
        "mde": 0.02,
        "alpha": 0.05,
        "power": 0.8,
        "max_duration": "14d",
    }
    c = parse_experiment("refund-prompt-ab", raw)
    assert c.control == "control" and c.treatments == ("treatment",)
    assert c.unit == "user_id" and c.split.coverage == 0.2
    assert c.max_duration == 14 * DAY and c.mde == 0.02 and not c.relative
    assert c.guardrails[0].relative and c.guardrails[0].margin == 0.05
    assert c.secondary[0].name == "cost_per_success"


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"arms": {"control": "v1"}}, "arms", "two or more"),
        (
            {"split": {"weights": {"control": 0.5, "other": 0.5}}},
            "split.weights",
            "one weight per arm",
        ),
        ({"mde": 0}, "mde", "> 0"),
        ({"max_duration": "soon"}, "max_duration", "duration"),
        ({"primary": "revenue"}, "primary", "unknown metric"),
        ({"secondary": ["task_success"]}, "secondary", "both primary and secondary"),
        ({"hypothesis": " "}, "hypothesis", "non-empty"),
        ({"correction": "bonferroni"}, "correction", "'holm', 'bh'"),
        (
            {"split": {"weights": {"control": 0.5, "treatment": 0.5}, "coverage": 0}},
            "split.coverage",
            "(0, 1]",
        ),
    ],
)
def test_contract_errors_name_the_path(change: dict[str, Any], path: str, message: str) -> None:
    raw: dict[str, Any] = {
        "environment": "prod",
        "flag": "refund-prompt",
        "hypothesis": "v2 is better",
        "arms": {"control": "v1", "treatment": "v2"},
        "split": {"weights": {"control": 0.5, "treatment": 0.5}},
        "primary": "task_success",
        "mde": 0.02,
        "max_duration": "14d",
    }
    raw.update(change)
    with pytest.raises(ConfigError) as info:
        parse_experiment("x", raw)
    assert info.value.path == f"experiments.x.{path}"
    assert message in str(info.value)


def test_an_exposure_condition_must_compile() -> None:
    with pytest.raises(ConditionError) as info:
        contract(exposure={"plan": {"$bogus": 1}})
    assert info.value.path.startswith("experiments.refund-prompt-ab.exposure")
    assert contract(exposure={"plan": "pro"}).exposure == {"plan": "pro"}


def test_register_refuses_a_plan_that_cannot_reach_the_mde_in_time() -> None:
    with pytest.raises(ConfigError) as info:
        register(contract(), units_per_day=5_000, baselines=BASELINES)
    assert info.value.path == "experiments.refund-prompt-ab.max_duration"
    assert "needs" in str(info.value) and "max_duration allows 14.0" in str(info.value)


def test_register_accepts_a_plan_that_fits() -> None:
    r = register(contract(), units_per_day=200_000, baselines=BASELINES)
    assert r.days <= 14
    ((arm, plan),) = r.plans
    assert arm == "treatment" and plan.design.sequential
    assert plan.guardrails and plan.guardrails[0][1].total > 0
    assert plan.units_per_day == pytest.approx(200_000 * 0.2)


def test_register_needs_baselines() -> None:
    with pytest.raises(ConfigError, match="primary"):
        register(contract(), units_per_day=1e6, baselines={})
    with pytest.raises(ConfigError) as info:
        register(contract(), units_per_day=1e6, baselines={"task_success": Baseline.rate(0.6)})
    assert info.value.path == "experiments.refund-prompt-ab.guardrails[0]"


def test_more_arms_need_more_days() -> None:
    three = contract(
        arms=(("control", "v1"), ("a", "v2"), ("b", "v3")),
        split=Split({"control": 1 / 3, "a": 1 / 3, "b": 1 / 3}, coverage=0.2),
    )
    two = register(contract(), units_per_day=300_000, baselines=BASELINES)
    many = register(three, units_per_day=300_000, baselines=BASELINES)
    assert [arm for arm, _ in many.plans] == ["a", "b"]
    assert many.days > two.days


# -- frozen once started ----------------------------------------------------------------------


def test_registered_fields_are_frozen_once_started() -> None:
    exp = started()
    for name, value in [
        ("mde", 0.03),
        ("primary", ESCALATION),
        ("max_duration", DAY),
        ("alpha", 0.1),
    ]:
        with pytest.raises(FrozenFieldError) as info:
            amend(exp, {name: value})
        assert info.value.field == name and info.value.experiment == "refund-prompt-ab"
        assert isinstance(info.value, RampgateError)
        assert repr(name) in str(info.value)


def test_unregistered_fields_and_unchanged_values_may_be_set_after_start() -> None:
    exp = started()
    assert amend(exp, {"description": "rerun of #12", "owner": "alice"}).contract.owner == "alice"
    assert amend(exp, {"mde": 0.02, "hypothesis": exp.contract.hypothesis}) == exp


def test_before_start_anything_may_change() -> None:
    draft = Experiment("exp-1", contract())
    assert amend(draft, {"mde": 0.05}).contract.mde == 0.05
    with pytest.raises(ConfigError, match="unknown field"):
        amend(draft, {"mdee": 0.05})


def test_frozen_fields_are_the_registration() -> None:
    assert {
        "hypothesis",
        "flag",
        "arms",
        "split",
        "exposure",
        "primary",
        "secondary",
        "guardrails",
        "mde",
        "alpha",
        "power",
        "max_duration",
        "environment",
        "relative",
        "correction",
        "name",
    } == FROZEN_FIELDS


def test_starting_twice_keeps_the_first_start() -> None:
    exp = started()
    assert exp.start(99.0).started_at == 0.0 and exp.stop(5.0).stop(6.0).stopped_at == 5.0


# -- checkpoints ------------------------------------------------------------------------------


def test_promote_needs_a_better_primary_safe_guardrails_and_no_srm() -> None:
    cp = checkpoint(started(), observe({"control": 0.60, "treatment": 0.63}), DAY)
    assert cp.status is ExperimentStatus.PROMOTE
    assert cp.winner == cp.serve == "treatment"
    (p,) = cp.primary
    assert p.better and not p.worse and p.ci_low > 0 and p.method == "sequential"
    assert cp.guardrails[0][1].verdict is Verdict.PASS
    assert "every guardrail non-inferior" in cp.rationale


def test_a_guardrail_failure_stops_before_any_talk_of_lift() -> None:
    obs = observe({"control": 0.60, "treatment": 0.70}, {"control": 0.10, "treatment": 0.15})
    cp = checkpoint(started(), obs, DAY)
    assert cp.status is ExperimentStatus.GUARDRAIL_STOP
    assert cp.serve == "control" and cp.winner is None
    assert "escalation" in cp.rationale


def test_srm_rolls_back_even_a_winner() -> None:
    obs = observe(
        {"control": 0.60, "treatment": 0.66}, units={"control": 50_000, "treatment": 48_000}
    )
    cp = checkpoint(started(), obs, DAY)
    assert cp.status is ExperimentStatus.ROLLBACK and cp.srm.flagged
    assert "sample ratio mismatch" in cp.rationale


def test_a_significantly_worse_primary_rolls_back() -> None:
    cp = checkpoint(started(), observe({"control": 0.60, "treatment": 0.55}), DAY)
    assert cp.status is ExperimentStatus.ROLLBACK and cp.primary[0].worse


def test_an_undecided_guardrail_blocks_promotion() -> None:
    c = contract(guardrails=(GuardrailSpec(ESCALATION, margin=0.002),))
    cp = checkpoint(started(c), observe({"control": 0.60, "treatment": 0.63}), DAY)
    assert cp.guardrails[0][1].verdict is Verdict.INCONCLUSIVE
    assert cp.status is ExperimentStatus.RUNNING


def test_max_duration_without_a_winner_is_inconclusive() -> None:
    obs = observe({"control": 0.60, "treatment": 0.60})
    assert checkpoint(started(), obs, DAY).status is ExperimentStatus.RUNNING
    cp = checkpoint(started(), obs, 14 * DAY)
    assert cp.status is ExperimentStatus.INCONCLUSIVE and cp.serve == "control"
    assert "max_duration" in cp.rationale


def test_missing_data_is_never_a_win() -> None:
    cp = checkpoint(started(), ExperimentObservations(), DAY)
    assert cp.status is ExperimentStatus.RUNNING
    assert cp.primary[0].reason == "MISSING" and cp.guardrails[0][1].verdict is Verdict.NODATA


def test_secondary_metrics_are_adjusted() -> None:
    c = contract(
        secondary=(DEFAULT_METRICS["cost_usd"], DEFAULT_METRICS["tokens"], DEFAULT_METRICS["error"])
    )
    n = 50_000
    obs = observe({"control": 0.60, "treatment": 0.60})
    metrics = dict(obs.metrics)
    metrics["tokens"] = {
        "control": MeanStats(n, 100.0 * n, 10_100.0 * n),
        "treatment": MeanStats(n, 99.0 * n, 9_900.0 * n),
    }
    metrics["error"] = {"control": ProportionStats(n, 500), "treatment": ProportionStats(n, 520)}
    obs = dataclasses.replace(obs, metrics=metrics)
    for correction in Correction:
        cp = checkpoint(started(dataclasses.replace(c, correction=correction)), obs, DAY)
        assert [s.metric for s in cp.secondary] == ["cost_usd", "tokens", "error"]
        assert all(s.adjusted_p >= s.p_value for s in cp.secondary)


def test_with_several_treatments_the_best_safe_winner_is_promoted() -> None:
    c = contract(
        arms=(("control", "v1"), ("a", "v2"), ("b", "v3")),
        split=Split({"control": 1 / 3, "a": 1 / 3, "b": 1 / 3}),
    )
    obs = observe(
        {"control": 0.60, "a": 0.63, "b": 0.65},
        {"control": 0.10, "a": 0.10, "b": 0.16},
    )
    cp = checkpoint(started(c), obs, DAY)
    assert cp.status is ExperimentStatus.GUARDRAIL_STOP  # b broke a guardrail: stop everything
    obs = observe({"control": 0.60, "a": 0.63, "b": 0.65})
    cp = checkpoint(started(c), obs, DAY)
    assert cp.status is ExperimentStatus.PROMOTE and cp.winner == "b"
    assert {p.arm for p in cp.primary} == {"a", "b"}


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_experiments_on_one_flag_need_disjoint_namespaces() -> None:
    first = contract()
    second = contract(name="other")
    with pytest.raises(ConfigError, match="already run"):
        check_concurrency(second, [first])
    with pytest.raises(ConfigError, match="overlaps") as info:
        check_concurrency(second, [first], max_per_flag=2)
    assert info.value.path == "experiments.other.split.namespace"

    def boxed(c: ExperimentContract, start: float, end: float) -> ExperimentContract:
        split = dataclasses.replace(c.split, namespace=Namespace("refund", start, end))
        return dataclasses.replace(c, split=split)

    check_concurrency(boxed(second, 0.5, 1.0), [boxed(first, 0.0, 0.5)], max_per_flag=2)
    with pytest.raises(ConfigError, match="overlaps"):
        check_concurrency(boxed(second, 0.4, 1.0), [boxed(first, 0.0, 0.5)], max_per_flag=2)
    check_concurrency(contract(flag="another"), [first])
