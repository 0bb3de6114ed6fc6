"""What to aggregate: :class:`AnalysisSpec`, and the histogram bins of quantile metrics.

A spec names one flag in one environment, the arms (variants) compared, one metric — its kind,
its event (two for a ratio) and how a unit's events become one number — the unit, the window
and the oldest flag version that counts. It is plain data: the SQL is built from it by
:mod:`rampgate.store.analysis_sql` and run by :func:`rampgate.store.analysis.aggregate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "DEFAULT_PER_UNIT",
    "AnalysisSpec",
    "HistogramBins",
    "MetricKind",
    "PerUnit",
    "UnitColumn",
]

MetricKind = Literal["proportion", "mean", "ratio", "quantile"]
PerUnit = Literal["sum", "count", "any", "max"]
UnitColumn = Literal["user_id", "session_id"]

# How a unit's events become its value when the spec does not say.
DEFAULT_PER_UNIT: dict[str, PerUnit] = {
    "proportion": "any",
    "mean": "sum",
    "ratio": "sum",
    "quantile": "max",
}


@dataclass(frozen=True, slots=True)
class HistogramBins:
    """Fixed log-spaced bins for quantile metrics: the layout of ``rampgate.stats.SketchLayout``.

    The same three numbers and the same maths (DDSketch-style), so a histogram computed in SQL
    is a ``QuantileSketch`` bin for bin: bin 0 holds ``[0, lowest)`` (and negative values),
    bin ``k`` in ``1..geometric_bins`` holds ``[lowest·g^(k-1), lowest·g^k)`` with
    ``g = (1 + ε)/(1 - ε)``, and bin ``geometric_bins + 1`` everything above. The store may not
    import ``rampgate.stats``; the caller converts with
    ``QuantileSketch.from_bins(dict(arm.histogram), SketchLayout(b.lowest, b.highest,
    b.relative_accuracy))``.
    """

    lowest: float = 1e-3
    highest: float = 1e9
    relative_accuracy: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.lowest < self.highest or not math.isfinite(self.highest):
            raise ValueError("histogram bins need 0 < lowest < highest < inf")
        if not 0 < self.relative_accuracy < 1:
            raise ValueError("relative_accuracy must lie in (0, 1)")

    @property
    def growth(self) -> float:
        return (1.0 + self.relative_accuracy) / (1.0 - self.relative_accuracy)

    @property
    def log_growth(self) -> float:
        return math.log(self.growth)

    @property
    def geometric_bins(self) -> int:
        return math.ceil(math.log(self.highest / self.lowest) / self.log_growth)

    @property
    def size(self) -> int:
        """Number of bins: underflow, the geometric bins, overflow."""
        return self.geometric_bins + 2

    def index(self, value: float) -> int:
        """The bin of ``value``, as the SQL computes it (for reference implementations)."""
        if not value >= self.lowest:
            return 0
        k = math.floor(math.log(value / self.lowest) / self.log_growth)
        return self.geometric_bins + 1 if k >= self.geometric_bins else k + 1

    def lower_edge(self, k: int) -> float:
        return 0.0 if k <= 0 else self.lowest * self.growth ** (k - 1)

    def upper_edge(self, k: int) -> float:
        return math.inf if k > self.geometric_bins else self.lowest * self.growth**k


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """One metric of one flag's arms in one environment.

    - ``arms``: the variants compared, control first by convention. Exposures to any other
      variant are ignored (as if they had not happened).
    - ``kind``: ``proportion`` (did the event happen at least once: 0/1), ``mean`` (of the
      per-unit value), ``ratio`` (Σ numerator / Σ denominator over units, for the delta method)
      or ``quantile`` (a histogram of per-unit values).
    - ``event``: the metric's event name (the numerator of a ratio); ``denominator``: a ratio's
      denominator event (may be the same name, e.g. ``latency_ms`` sum over its count is the
      mean latency per request).
    - ``per_unit``: how one unit's events become its value — ``sum`` of values, ``count`` of
      events, ``any`` (1 if at least one event, else 0) or ``max`` of values; ``None`` means the
      kind's default (:data:`DEFAULT_PER_UNIT`). A proportion is always ``any``.
      ``denominator_per_unit`` is the same for a ratio's denominator.
    - ``unit``: the column that identifies a unit, ``user_id`` or ``session_id``.
    - ``start_ms``/``end_ms``: the window ``[start, end)`` in epoch milliseconds (``time_ms``),
      either open. Exposures count inside it; events count from the unit's first exposure up to
      ``end``.
    - ``min_flag_version``: only exposures served by this flag version or newer count
      (exposures without a version then do not count).
    - ``rule_id``: only exposures served by this rule count (an experiment's rule: units that
      an earlier rule served the same variant are not in the experiment).
    - ``unlabelled``: with ``min_flag_version`` or ``rule_id``, exposures that carry neither a
      version nor a rule still count. The SDK labels every exposure it evaluates (a default
      served because a prerequisite failed has a version and no rule, and does not count); a
      producer posting events by hand may label nothing, and its exposures would otherwise
      vanish from the analysis without a word.
    - ``bins``: the histogram layout of a quantile metric.
    """

    environment: str
    flag: str
    arms: tuple[str, ...]
    kind: MetricKind
    event: str
    denominator: str | None = None
    per_unit: PerUnit | None = None
    denominator_per_unit: PerUnit = "sum"
    unit: UnitColumn = "user_id"
    start_ms: int | None = None
    end_ms: int | None = None
    min_flag_version: int | None = None
    rule_id: str | None = None
    unlabelled: bool = False
    bins: HistogramBins = field(default_factory=HistogramBins)

    def __post_init__(self) -> None:
        if isinstance(self.arms, str) or not isinstance(self.arms, tuple):
            raise TypeError("arms must be a tuple of variant keys")
        if not self.arms or len(set(self.arms)) != len(self.arms):
            raise ValueError("arms must name at least one variant, each once")
        if self.kind not in get_args(MetricKind):
            raise ValueError(f"kind must be one of {get_args(MetricKind)}, not {self.kind!r}")
        for name, value in (
            ("per_unit", self.per_unit),
            ("denominator_per_unit", self.denominator_per_unit),
        ):
            if value is not None and value not in get_args(PerUnit):
                raise ValueError(f"{name} must be one of {get_args(PerUnit)}, not {value!r}")
        if self.unit not in get_args(UnitColumn):
            raise ValueError(f"unit must be one of {get_args(UnitColumn)}, not {self.unit!r}")
        if (self.kind == "ratio") != (self.denominator is not None):
            raise ValueError("a ratio metric needs a denominator event, and only a ratio has one")
        if self.kind == "proportion" and self.per_unit not in (None, "any"):
            raise ValueError("a proportion's per-unit value is always 'any' (0 or 1)")
        if self.start_ms is not None and self.end_ms is not None and self.start_ms >= self.end_ms:
            raise ValueError("the window needs start_ms < end_ms")

    @property
    def value_per_unit(self) -> PerUnit:
        """The per-unit aggregation of ``event`` actually used."""
        return self.per_unit or DEFAULT_PER_UNIT[self.kind]

    @property
    def event_names(self) -> tuple[str, ...]:
        """The distinct event names read: one, or two for a ratio of different events."""
        if self.denominator is None or self.denominator == self.event:
            return (self.event,)
        return (self.event, self.denominator)
