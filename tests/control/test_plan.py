"""Rollout plans: parsed from the YAML shape, validated with errors that name the path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from rampgate.control import (
    DEFAULT_METRICS,
    GuardrailSpec,
    OnInconclusive,
    RollbackMode,
    RolloutPlan,
    Shadow,
    Step,
    parse_metrics,
    parse_rollout,
    parse_rollouts,
)
from rampgate.errors import ConfigError
from rampgate.stats import Guardrail, Threshold

DESIGN = Path(__file__).resolve().parents[2] / ".." / "shared" / "DESIGN.md"

ROLLOUT: dict[str, Any] = {
    "environment": "prod",
    "flag": "support-agent",
    "from": "stable",
    "to": "candidate",
    "shadow": {"sample": 0.2, "min_pairs": 500},
    "steps": [
        {"weight": 0.01, "min_duration": "1h", "min_units": 300},
        {"weight": 0.05, "min_duration": "2h"},
        {"weight": 0.25, "min_duration": "6h", "approval": True},
        {"weight": 1.0},
    ],
    "guardrails": [
        {"metric": "task_success", "margin": 0.02},
        {"metric": "escalation", "margin": "10%"},
        {"metric": "latency_p95", "margin": "15%"},
        {"metric": "defect_rate", "below": 0.02},
    ],
    "requires_eval": "support-regression-suite",
    "on_inconclusive": "hold",
    "rollback": "hard",
}
METRICS = parse_metrics(
    {"defect_rate": {"kind": "proportion", "event": "defect", "higher_is_better": False}}
)


def design_config() -> dict[str, Any]:
    if not DESIGN.exists():
        pytest.skip("../shared/DESIGN.md is not checked out beside the repository")
    text = DESIGN.read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text.split("```yaml", 1)[1].split("```", 1)[0])
    return loaded


def test_the_design_example_parses() -> None:
    plan = parse_rollout("support-agent-v4", ROLLOUT, metrics=METRICS)
    assert (plan.flag, plan.environment, plan.stable, plan.candidate) == (
        "support-agent",
        "prod",
        "stable",
        "candidate",
    )
    assert plan.shadow == Shadow(0.2, 500)
    assert plan.steps == (
        Step(0.01, min_duration=3600.0, min_units=300),
        Step(0.05, min_duration=7200.0),
        Step(0.25, min_duration=21600.0, approval=True),
        Step(1.0),
    )
    success, escalation, p95, defects = plan.guardrails
    assert (success.margin, success.relative) == (0.02, False)
    assert (escalation.margin, escalation.relative) == (0.10, True)
    assert p95.metric.quantile == 0.95
    assert defects.below == 0.02 and defects.is_threshold
    assert plan.requires_eval == "support-regression-suite"
    assert plan.on_inconclusive is OnInconclusive.HOLD and plan.rollback is RollbackMode.HARD
    assert plan.unit == "user_id" and plan.max_duration is None


def test_design_md_rollouts_section_parses_with_its_metrics() -> None:
    """The shape DESIGN.md shows (its metrics section lacks defect_rate, which is added here)."""
    config = design_config()
    defects = {"kind": "proportion", "event": "defect", "higher_is_better": False}
    metrics = parse_metrics({**config["metrics"], "defect_rate": defects})
    plans = parse_rollouts(config["rollouts"], metrics=metrics)
    assert list(plans) == ["support-agent-v4"]


def test_guardrails_build_the_statistical_checks() -> None:
    plan = parse_rollout("r", ROLLOUT, metrics=METRICS)
    success, escalation, p95, defects = (g.check(alpha=0.05, tuning=5000) for g in plan.guardrails)
    assert success == Guardrail(0.02, higher_is_better=True)
    assert escalation == Guardrail(0.10, relative=True)
    assert p95 == Guardrail(0.15, relative=True, quantile=0.95)
    assert defects == Threshold(0.02)
    assert [g.describe() for g in plan.guardrails] == [
        "task_success margin 0.02",
        "escalation margin 10%",
        "latency_p95 margin 15%",
        "defect_rate below 0.02",
    ]


def test_weights_put_the_candidate_last() -> None:
    plan = parse_rollout("r", ROLLOUT, metrics=METRICS)
    assert plan.weights(None) == (("stable", 1.0), ("candidate", 0.0))
    assert plan.weights(1) == (("stable", 0.95), ("candidate", 0.05))
    assert plan.weights(plan.last_step) == (("stable", 0.0), ("candidate", 1.0))


def broken(path: str, value: Any) -> dict[str, Any]:
    """ROLLOUT with the value at a dotted/indexed path replaced (``None`` deletes it)."""
    doc = copy.deepcopy(ROLLOUT)
    parts = path.replace("]", "").replace("[", ".").split(".")
    node: Any = doc
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    key: Any = int(last) if last.isdigit() else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return doc


CASES = [
    ("steps[1].weight", 0.01, "steps[1].weight", "does not rise"),
    ("steps[0].weight", 0, "steps[0].weight", "(0, 1]"),
    ("steps[0].weight", 1.5, "steps[0].weight", "(0, 1]"),
    ("steps[3].weight", 0.9, "steps[3].weight", "1.0"),
    ("steps[3].approval", True, "steps[3]", "promotion"),
    ("steps[0].min_duration", "1 hour", "steps[0].min_duration", "duration"),
    ("steps[0].min_units", -1, "steps[0].min_units", "≥ 0"),
    ("steps[0].approvl", True, "steps[0].approvl", "unknown key"),
    ("steps", [], "steps", "at least one step"),
    ("guardrails[0].margin", 0, "guardrails[0].margin", "> 0"),
    ("guardrails[0].margin", "-5%", "guardrails[0].margin", "percentage"),
    ("guardrails[0].tolerance", 0.05, "guardrails[0].tolerance", "tolerance < margin"),
    ("guardrails[1].tolerance", 0.01, "guardrails[1].tolerance", "both absolute"),
    ("guardrails[0].below", 0.5, "guardrails[0]", "exactly one of"),
    ("guardrails[3].below", None, "guardrails[3]", "exactly one of"),
    ("guardrails[0].metric", "sucess", "guardrails[0].metric", "unknown metric"),
    ("guardrails", [], "guardrails", "at least one guardrail"),
    ("to", "stable", "to", "other than the stable"),
    ("on_inconclusive", "promote", "on_inconclusive", "never promoted"),
    ("rollback", "medium", "rollback", "'hard', 'soft'"),
    ("shadow.sample", 0, "shadow.sample", "(0, 1]"),
    ("shadow.min_pairs", 0, "shadow.min_pairs", "≥ 1"),
    ("max_duration", "8h", "max_duration", "could never finish"),
    ("alpha", 0.7, "alpha", "(0, 0.5)"),
    ("flag", None, "flag", "required"),
]


@pytest.mark.parametrize(
    ("where", "value", "path", "message"), CASES, ids=[c[0] + "=" + repr(c[1]) for c in CASES]
)
def test_errors_name_the_path(where: str, value: Any, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rollout("support-agent-v4", broken(where, value), metrics=METRICS)
    assert info.value.path == f"rollouts.support-agent-v4.{path}"
    assert message in str(info.value)


def test_a_limit_must_point_the_metrics_way() -> None:
    doc = broken("guardrails[0]", {"metric": "task_success", "below": 0.5})
    with pytest.raises(ConfigError, match="better higher") as info:
        parse_rollout("r", doc, metrics=METRICS)
    assert info.value.path == "rollouts.r.guardrails[0].below"


def test_the_api_constructors_validate_too() -> None:
    with pytest.raises(ConfigError) as info:
        RolloutPlan(
            name="r",
            flag="f",
            environment="prod",
            stable="a",
            candidate="b",
            steps=(Step(0.5), Step(0.2), Step(1.0)),
            guardrails=(GuardrailSpec(DEFAULT_METRICS["error"], margin=0.01),),
        )
    assert info.value.path == "rollouts.r.steps[1].weight"


def test_percent_weights_and_numeric_durations_are_accepted() -> None:
    doc = broken("steps[0]", {"weight": "1%", "min_duration": 90})
    plan = parse_rollout("r", doc, metrics=METRICS)
    assert plan.steps[0] == Step(0.01, min_duration=90.0)
