"""Metric definitions: the agent pack and the ``metrics:`` section."""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.control import DEFAULT_METRICS, Metric, MetricKind, PerUnit, parse_metrics
from rampgate.errors import ConfigError
from rampgate.stats import MeanStats, ProportionStats, QuantileSketch, RatioStats


def test_the_agent_pack() -> None:
    assert sorted(DEFAULT_METRICS) == sorted(
        [
            "task_success",
            "escalation",
            "fallback",
            "user_correction",
            "approval_override",
            "error",
            "latency_ms",
            "latency_p95",
            "cost_usd",
            "tokens",
            "cost_per_success",
        ]
    )
    kinds = {name: m.kind for name, m in DEFAULT_METRICS.items()}
    assert kinds["task_success"] is MetricKind.PROPORTION
    assert DEFAULT_METRICS["task_success"].higher_is_better
    assert not any(m.higher_is_better for n, m in DEFAULT_METRICS.items() if n != "task_success")
    latency = DEFAULT_METRICS["latency_ms"]
    assert latency.kind is MetricKind.RATIO and latency.denominator_per_unit is PerUnit.COUNT
    assert latency.events == ("latency_ms",)
    p95 = DEFAULT_METRICS["latency_p95"]
    assert (p95.kind, p95.quantile, p95.value_per_unit) == (MetricKind.QUANTILE, 0.95, PerUnit.MAX)
    cps = DEFAULT_METRICS["cost_per_success"]
    assert cps.events == ("cost_usd", "task_success")
    assert DEFAULT_METRICS["escalation"].event == "escalated"
    assert DEFAULT_METRICS["escalation"].value_per_unit is PerUnit.ANY


def test_each_kind_names_its_aggregate() -> None:
    assert MetricKind.PROPORTION.aggregate is ProportionStats
    assert MetricKind.MEAN.aggregate is MeanStats
    assert MetricKind.RATIO.aggregate is RatioStats
    assert MetricKind.QUANTILE.aggregate is QuantileSketch


def test_the_design_metrics_section() -> None:
    metrics = parse_metrics(
        {
            "task_success": {
                "kind": "proportion",
                "event": "task_success",
                "higher_is_better": True,
            },
            "latency_ms": {"kind": "mean", "event": "latency_ms", "higher_is_better": False},
            "latency_p95": {
                "kind": "quantile",
                "event": "latency_ms",
                "quantile": 0.95,
                "higher_is_better": False,
            },
            "cost_per_success": {
                "kind": "ratio",
                "numerator": "cost_usd",
                "denominator": "task_success",
                "higher_is_better": False,
            },
        }
    )
    assert metrics["latency_ms"].kind is MetricKind.MEAN  # the config replaces the default
    assert metrics["cost_per_success"].event == "cost_usd"
    assert "fallback" in metrics  # defaults stay
    assert parse_metrics(None) == dict(DEFAULT_METRICS)


CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "ratio", "event": "cost", "higher_is_better": False}, "denominator", "ratio"),
    (
        {"kind": "mean", "event": "x", "denominator": "y", "higher_is_better": False},
        "denominator",
        "only a ratio",
    ),
    ({"kind": "quantile", "event": "latency_ms", "higher_is_better": False}, "quantile", "(0, 1)"),
    (
        {"kind": "quantile", "event": "l", "quantile": 95, "higher_is_better": False},
        "quantile",
        "(0, 1)",
    ),
    (
        {"kind": "mean", "event": "x", "quantile": 0.5, "higher_is_better": False},
        "quantile",
        "only a quantile",
    ),
    ({"kind": "median", "event": "x", "higher_is_better": False}, "kind", "'proportion'"),
    (
        {"kind": "proportion", "event": "x", "per_unit": "sum", "higher_is_better": False},
        "per_unit",
        "always 'any'",
    ),
    (
        {"kind": "mean", "event": "x", "per_unit": "avg", "higher_is_better": False},
        "per_unit",
        "'sum'",
    ),
    ({"kind": "mean", "event": "x"}, "higher_is_better", "required"),
    ({"kind": "mean", "event": "x", "higher_is_better": "no"}, "higher_is_better", "true or false"),
    ({"kind": "mean", "higher_is_better": True}, "event", "required"),
    ({"kind": "mean", "event": "x", "numerator": "x", "higher_is_better": True}, "", "not both"),
    ({"kind": "mean", "numerator": "x", "higher_is_better": True}, "numerator", "only a ratio"),
    (
        {"kind": "mean", "event": "x", "higher_is_better": True, "direction": "up"},
        "direction",
        "unknown key",
    ),
]


@pytest.mark.parametrize(("raw", "key", "message"), CASES)
def test_errors_name_the_path(raw: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_metrics({"m": raw})
    assert info.value.path == ("metrics.m." + key).rstrip(".")
    assert message in str(info.value)


def test_the_constructor_checks_too() -> None:
    with pytest.raises(ConfigError, match="denominator"):
        Metric("m", MetricKind.RATIO, "x", higher_is_better=False)
