"""Metric definitions: how outcome events become a number per unit, and which way is better.

A metric is data the analysis (in the store) and the gates (here) agree on: its ``kind`` picks the
aggregate the analysis returns and the test the gate runs —

============  =======================  ==============================================
kind          aggregate                per-unit value
============  =======================  ==============================================
proportion    ``ProportionStats``      1 if the unit had the event at least once
mean          ``MeanStats``            ``per_unit`` of the event's values (sum…)
ratio         ``RatioStats``           Σ numerator / Σ denominator over units
quantile      ``QuantileSketch``       ``per_unit`` of the event's values (max…)
============  =======================  ==============================================

The field names (``event``, ``denominator``, ``per_unit``, ``denominator_per_unit``) are those
of the store's analysis spec, so a driver maps one onto the other field by field.
:data:`DEFAULT_METRICS` is the pack every agent team needs on day one; a config's ``metrics:``
section adds to it or replaces entries by name.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rampgate.errors import ConfigError
from rampgate.stats import MeanStats, ProportionStats, QuantileSketch, RatioStats

from ._reader import E, Field, choice

__all__ = [
    "DEFAULT_METRICS",
    "Aggregate",
    "Metric",
    "MetricKind",
    "PerUnit",
    "parse_metrics",
]

Aggregate = MeanStats | ProportionStats | RatioStats | QuantileSketch
"""One arm's aggregate for one metric, as the analysis returns it."""


class MetricKind(enum.StrEnum):
    """How units become an arm statistic, and so which test a gate runs."""

    PROPORTION = "proportion"
    MEAN = "mean"
    RATIO = "ratio"
    QUANTILE = "quantile"

    @property
    def aggregate(self) -> type[Aggregate]:
        """The aggregate type the analysis must return for this kind."""
        return _AGGREGATES[self]


_AGGREGATES: dict[MetricKind, type[Aggregate]] = {
    MetricKind.PROPORTION: ProportionStats,
    MetricKind.MEAN: MeanStats,
    MetricKind.RATIO: RatioStats,
    MetricKind.QUANTILE: QuantileSketch,
}


class PerUnit(enum.StrEnum):
    """How one unit's events become its value."""

    SUM = "sum"
    COUNT = "count"
    ANY = "any"
    MAX = "max"


# The per-unit aggregation a kind uses when the definition does not say (the store's defaults).
_DEFAULT_PER_UNIT: dict[MetricKind, PerUnit] = {
    MetricKind.PROPORTION: PerUnit.ANY,
    MetricKind.MEAN: PerUnit.SUM,
    MetricKind.RATIO: PerUnit.SUM,
    MetricKind.QUANTILE: PerUnit.MAX,
}


@dataclass(frozen=True, slots=True)
class Metric:
    """A named metric: source event(s), per-unit aggregation, direction.

    ``event`` is the numerator of a ratio; ``denominator`` its denominator event (only a ratio
    has one). ``quantile`` (only for ``quantile``) is the quantile compared, e.g. 0.95.
    """

    name: str
    kind: MetricKind
    event: str
    higher_is_better: bool
    per_unit: PerUnit | None = None
    denominator: str | None = None
    denominator_per_unit: PerUnit = PerUnit.SUM
    quantile: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        where = f"metrics.{self.name}"
        if not self.name:
            raise ConfigError("a metric needs a non-empty name", path="metrics")
        if not self.event:
            raise ConfigError("a metric needs an event", path=f"{where}.event")
        object.__setattr__(self, "kind", choice(MetricKind, self.kind, f"{where}.kind"))
        if self.per_unit is not None:
            object.__setattr__(
                self, "per_unit", choice(PerUnit, self.per_unit, f"{where}.per_unit")
            )
        object.__setattr__(
            self,
            "denominator_per_unit",
            choice(PerUnit, self.denominator_per_unit, f"{where}.denominator_per_unit"),
        )
        if (self.kind is MetricKind.RATIO) != (self.denominator is not None):
            raise ConfigError(
                "a ratio metric needs a denominator event, and only a ratio has one",
                path=f"{where}.denominator",
            )
        if self.kind is MetricKind.PROPORTION and self.per_unit not in (None, PerUnit.ANY):
            raise ConfigError(
                "a proportion's per-unit value is always 'any' (did the unit have the event)",
                path=f"{where}.per_unit",
            )
        if self.kind is MetricKind.QUANTILE:
            q = self.quantile
            if q is None or not (math.isfinite(q) and 0.0 < q < 1.0):
                raise ConfigError(
                    f"quantile is {q!r}", path=f"{where}.quantile", expected="a number in (0, 1)"
                )
        elif self.quantile is not None:
            raise ConfigError("only a quantile metric has a quantile", path=f"{where}.quantile")

    @property
    def value_per_unit(self) -> PerUnit:
        """The per-unit aggregation of ``event`` actually used."""
        return self.per_unit or _DEFAULT_PER_UNIT[self.kind]

    @property
    def events(self) -> tuple[str, ...]:
        """The distinct event names the metric reads."""
        if self.denominator is None or self.denominator == self.event:
            return (self.event,)
        return (self.event, self.denominator)


def _proportion(name: str, event: str, *, higher: bool, description: str) -> Metric:
    return Metric(name, MetricKind.PROPORTION, event, higher, description=description)


DEFAULT_METRICS: Mapping[str, Metric] = {
    m.name: m
    for m in (
        _proportion(
            "task_success", "task_success", higher=True, description="the agent finished the task"
        ),
        _proportion("escalation", "escalated", higher=False, description="handed over to a human"),
        _proportion(
            "fallback", "fallback", higher=False, description="fell back to a default answer"
        ),
        _proportion(
            "user_correction",
            "user_correction",
            higher=False,
            description="the user corrected or retried the agent",
        ),
        _proportion(
            "approval_override",
            "approval_override",
            higher=False,
            description="a reviewer overrode an action the agent asked to take",
        ),
        _proportion("error", "error", higher=False, description="a request failed"),
        # Mean latency per request, not per unit: a unit with ten requests weighs ten times as
        # much, and the delta method keeps the variance honest about it.
        Metric(
            "latency_ms",
            MetricKind.RATIO,
            "latency_ms",
            higher_is_better=False,
            denominator="latency_ms",
            denominator_per_unit=PerUnit.COUNT,
            description="mean latency per request (ms)",
        ),
        Metric(
            "latency_p95",
            MetricKind.QUANTILE,
            "latency_ms",
            higher_is_better=False,
            per_unit=PerUnit.MAX,
            quantile=0.95,
            description="95th percentile over units of each unit's slowest request (ms)",
        ),
        Metric(
            "cost_usd",
            MetricKind.MEAN,
            "cost_usd",
            higher_is_better=False,
            per_unit=PerUnit.SUM,
            description="spend per unit (USD)",
        ),
        Metric(
            "tokens",
            MetricKind.MEAN,
            "tokens",
            higher_is_better=False,
            per_unit=PerUnit.SUM,
            description="tokens per unit",
        ),
        Metric(
            "cost_per_success",
            MetricKind.RATIO,
            "cost_usd",
            higher_is_better=False,
            denominator="task_success",
            description="spend per successful task (USD)",
        ),
    )
}
"""The agent pack: success, escalation, fallback, corrections, overrides, errors, latency, cost."""

_METRIC_KEYS = (
    "kind",
    "event",
    "numerator",
    "denominator",
    "per_unit",
    "denominator_per_unit",
    "higher_is_better",
    "quantile",
    "description",
)


def parse_metrics(
    raw: Mapping[str, Any] | None,
    *,
    path: str = "metrics",
    defaults: Mapping[str, Metric] = DEFAULT_METRICS,
) -> dict[str, Metric]:
    """The ``metrics:`` section on top of ``defaults`` (an entry of the same name replaces one).

    A ratio names its events ``numerator`` and ``denominator`` (``event`` is accepted for the
    numerator too).
    """
    out = dict(defaults)
    if raw is None:
        return out
    for name, node in Field(raw, path).items():
        node.mapping(allowed=_METRIC_KEYS, required=("kind", "higher_is_better"))
        kind = choice(MetricKind, node.value["kind"], f"{node.path}.kind")
        if node.has("numerator") and node.has("event"):
            raise node.error("give 'numerator' or 'event', not both")
        event_key = "numerator" if node.has("numerator") else "event"
        if not node.has(event_key):
            raise ConfigError(
                "an event is required",
                path=f"{node.path}.{event_key}",
                expected="the name of the event the metric reads",
            )
        if node.has("numerator") and kind is not MetricKind.RATIO:
            raise node.child("numerator").error(
                "only a ratio has a numerator", expected="event: NAME"
            )

        def optionalchoice(key: str, cls: type[E], n: Field = node) -> E | None:
            return choice(cls, n.value[key], f"{n.path}.{key}") if n.has(key) else None

        out[name] = Metric(
            name=name,
            kind=kind,
            event=node.child(event_key).string(),
            higher_is_better=node.child("higher_is_better").boolean(),
            per_unit=optionalchoice("per_unit", PerUnit),
            denominator=node.child("denominator").string() if node.has("denominator") else None,
            denominator_per_unit=optionalchoice("denominator_per_unit", PerUnit) or PerUnit.SUM,
            quantile=node.child("quantile").number() if node.has("quantile") else None,
            description=node.child("description").string() if node.has("description") else "",
        )
    return out
