"""Quantiles (p50, p95, p99 latency) from mergeable sketches, with always-valid intervals.

The sketch
    Fixed log-spaced histogram bins, as in DDSketch (Masson, Rim & Lee 2019, "DDSketch: a fast and
    fully-mergeable quantile sketch with relative-error guarantees", VLDB): bin ``k >= 1`` holds
    ``[lowest g^(k-1), lowest g^k)`` with growth ``g = (1 + eps)/(1 - eps)``, bin 0 holds
    ``[0, lowest)`` and the last bin everything from ``highest`` up. A bin's representative value
    is within relative error ``eps`` of every value in it. Because the layout is fixed, sketches
    add bin by bin - across days, shards or SQL ``GROUP BY`` rows (``layout.index`` gives the bin
    of a value) - and the sum is exactly the sketch of the union. The sketch is for non-negative
    measurements; a negative value counts as 0.

The interval
    A quantile's confidence sequence inverts the exact beta-binomial mixture test on the number of
    units at or below a candidate value (Howard & Ramdas 2022, "Sequential estimation of quantiles
    with applications to A/B-testing and best-arm identification", Bernoulli 28(3)): the count is
    Binomial(n, p) at the true ``p``-quantile whatever the distribution, so the bounds hold at
    every look with no normal approximation. Order statistics are only known to their bin, so a
    bound is the outer edge of its bin: wider by at most a factor ``g``, never narrower. A
    difference (or ratio) of two arms' quantiles combines the arms' bounds with a union bound.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from .effect import ALTERNATIVES, Alternative
from .mixture import beta_log_evalue, prior_concentration
from .reasons import ReasonCode
from .sequential import DEFAULT_TUNING

__all__ = [
    "QuantileEffect",
    "QuantileInterval",
    "QuantileSketch",
    "SketchLayout",
    "quantile_interval",
    "quantile_test",
]


@dataclass(frozen=True, slots=True)
class SketchLayout:
    """Where the bins of a :class:`QuantileSketch` lie; sketches add only with the same layout."""

    lowest: float = 1e-3
    highest: float = 1e9
    relative_accuracy: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.lowest < self.highest or not math.isfinite(self.highest):
            raise ValueError("a sketch layout needs 0 < lowest < highest < inf")
        if not 0 < self.relative_accuracy < 1:
            raise ValueError("relative_accuracy must lie in (0, 1)")

    @property
    def growth(self) -> float:
        return (1.0 + self.relative_accuracy) / (1.0 - self.relative_accuracy)

    @property
    def geometric_bins(self) -> int:
        return math.ceil(math.log(self.highest / self.lowest) / math.log(self.growth))

    @property
    def size(self) -> int:
        """Number of bins: underflow, the geometric bins, overflow."""
        return self.geometric_bins + 2

    def index(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The bin of each value (for building sketches in bulk, or in SQL with the same maths)."""
        x = np.asarray(values, dtype=np.float64)
        ratio = np.maximum(x, self.lowest) / self.lowest
        k = np.floor(np.log(ratio) / math.log(self.growth)).astype(np.int64) + 1
        k = np.where(x < self.lowest, 0, k)
        return np.minimum(k, self.geometric_bins + 1)

    def lower_edge(self, k: int) -> float:
        if k == 0:
            return 0.0
        return self.lowest * self.growth ** (k - 1)

    def upper_edge(self, k: int) -> float:
        if k > self.geometric_bins:
            return math.inf
        return self.lowest * self.growth**k

    def representative(self, k: int) -> float:
        """A value within relative error ``relative_accuracy`` of every value in bin ``k``."""
        if k == 0:
            return self.lowest / 2.0
        if k > self.geometric_bins:
            return self.lower_edge(k)
        return 2.0 * self.lower_edge(k) * self.growth / (1.0 + self.growth)


DEFAULT_LAYOUT = SketchLayout()


@dataclass(frozen=True, slots=True)
class QuantileSketch:
    """Counts per bin of one arm's per-unit values; ``()`` is the empty sketch."""

    counts: tuple[int, ...] = ()
    layout: SketchLayout = DEFAULT_LAYOUT

    def __post_init__(self) -> None:
        if self.counts and len(self.counts) != self.layout.size:
            raise ValueError(f"a sketch with this layout has {self.layout.size} bins")

    def __add__(self, other: QuantileSketch) -> QuantileSketch:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        # The empty sketch is the zero of every layout, so sum(sketches, QuantileSketch()) works.
        if not other.counts:
            return self
        if not self.counts:
            return other
        if other.layout != self.layout:
            raise ValueError("cannot add sketches with different layouts")
        return QuantileSketch(tuple(map(int.__add__, self.counts, other.counts)), self.layout)

    @classmethod
    def from_values(
        cls, values: Iterable[float] | npt.ArrayLike, layout: SketchLayout = DEFAULT_LAYOUT
    ) -> QuantileSketch:
        bins = layout.index(np.asarray(values, dtype=np.float64).ravel())
        counts = np.bincount(bins, minlength=layout.size)
        return cls(tuple(int(c) for c in counts), layout)

    @classmethod
    def from_bins(
        cls, counts: Mapping[int, int], layout: SketchLayout = DEFAULT_LAYOUT
    ) -> QuantileSketch:
        """From ``{bin index: count}``, as a ``GROUP BY`` on ``layout.index`` returns it."""
        dense = [0] * layout.size
        for k, c in counts.items():
            dense[k] += int(c)
        return cls(tuple(dense), layout)

    @property
    def n(self) -> int:
        return sum(self.counts)

    def _cumulative(self) -> list[int]:
        return list(itertools.accumulate(self.counts))

    def estimate(self, quantile: float) -> float:
        """The representative value of the bin holding the ``⌈q n⌉``-th smallest unit."""
        cumulative = self._cumulative()
        n = cumulative[-1] if cumulative else 0
        if n == 0:
            return math.nan
        rank = min(max(math.ceil(quantile * n), 1), n)
        return self.layout.representative(bisect.bisect_left(cumulative, rank))


@dataclass(frozen=True, slots=True)
class QuantileInterval:
    """One arm's quantile estimate and always-valid bounds (each side at ``alpha / 2``)."""

    quantile: float
    n: int
    estimate: float
    low: float
    high: float
    alpha: float


@lru_cache(maxsize=4096)
def rank_bounds(n: int, quantile: float, side_alpha: float, tuning: float) -> tuple[int, int]:
    """``(s_low, s_high)``: the range of "units at or below the quantile" not rejected at ``n``.

    The lower bound on the quantile is the ``s_low``-th smallest unit, the upper bound the
    ``(s_high + 1)``-th. They depend on ``n`` alone, not on the data, hence the cache.
    """
    r = prior_concentration(2.0 * side_alpha, tuning)
    target = -math.log(side_alpha)
    # Evidence that the quantile lies above a value with s units at or below it falls as s grows:
    # s_low is the first s where it drops under the target.
    lo, hi = 0, n + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if beta_log_evalue(mid, n, quantile, r, above=False) >= target:
            lo = mid + 1
        else:
            hi = mid
    s_low = lo
    # Evidence that the quantile lies below the value grows with s: s_high is the last s under it.
    lo, hi = -1, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if beta_log_evalue(mid, n, quantile, r, above=True) < target:
            lo = mid
        else:
            hi = mid - 1
    return s_low, lo


def quantile_bounds(
    sketch: QuantileSketch, quantile: float, side_alpha: float, tuning: float
) -> tuple[float, float]:
    """Lower and upper bounds on the ``quantile``, each valid at ``side_alpha`` at every look."""
    cumulative = sketch._cumulative()
    n = cumulative[-1] if cumulative else 0
    if n == 0:
        return 0.0, math.inf
    layout = sketch.layout
    s_low, s_high = rank_bounds(n, quantile, side_alpha, tuning)
    # s_low > n would mean no value at all is plausible: impossible at any alpha < 1/2.
    low = layout.lower_edge(bisect.bisect_left(cumulative, min(s_low, n))) if s_low >= 1 else 0.0
    if s_high + 1 > n:
        high = math.inf
    else:
        high = layout.upper_edge(bisect.bisect_left(cumulative, s_high + 1))
    return low, high


def _check_quantile(quantile: float) -> None:
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")


def quantile_interval(
    sketch: QuantileSketch,
    quantile: float,
    *,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
) -> QuantileInterval:
    """A two-sided always-valid ``1 - alpha`` interval for one arm's ``quantile``."""
    _check_quantile(quantile)
    low, high = quantile_bounds(sketch, quantile, alpha / 2.0, tuning)
    return QuantileInterval(quantile, sketch.n, sketch.estimate(quantile), low, high, alpha)


@dataclass(frozen=True, slots=True)
class QuantileEffect:
    """``treatment - control`` (or ``treatment/control - 1``) for a quantile, with its interval."""

    quantile: float
    estimate: float
    ci_low: float
    ci_high: float
    alpha: float
    relative: bool
    alternative: Alternative
    control: QuantileInterval | None
    treatment: QuantileInterval | None
    reason: ReasonCode | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def combine(
    control: tuple[float, float], treatment: tuple[float, float], *, relative: bool
) -> tuple[float, float]:
    """Bounds on the difference (or relative change) from each arm's (low, high) bounds."""
    (c_low, c_high), (t_low, t_high) = control, treatment
    if relative:
        low = t_low / c_high - 1.0 if c_high > 0 else -1.0
        high = t_high / c_low - 1.0 if c_low > 0 else math.inf
        return low, high
    return t_low - c_high, t_high - c_low


def quantile_test(
    control: QuantileSketch,
    treatment: QuantileSketch,
    *,
    quantile: float,
    relative: bool = False,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
    alternative: Alternative = "two-sided",
) -> QuantileEffect:
    """An always-valid interval for the difference of two arms' quantiles.

    Each of the bounds the interval needs is computed at ``alpha`` divided by their number, so by
    the union bound the interval misses with probability at most ``alpha`` over all looks:
    two-sided uses four one-sided bounds (``alpha/4`` each), one-sided two (``alpha/2``).
    ``relative=True`` bounds ``q_t/q_c - 1`` by ratios of the same bounds.
    """
    _check_quantile(quantile)
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")

    def result(
        estimate: float,
        low: float,
        high: float,
        arms: tuple[QuantileInterval, QuantileInterval] | None,
        reason: ReasonCode | None,
    ) -> QuantileEffect:
        c, t = arms if arms else (None, None)
        return QuantileEffect(
            quantile, estimate, low, high, alpha, relative, alternative, c, t, reason
        )

    if control.n == 0 or treatment.n == 0:
        return result(math.nan, -math.inf, math.inf, None, ReasonCode.EMPTY_ARM)
    if control.layout != treatment.layout:
        return result(math.nan, -math.inf, math.inf, None, ReasonCode.MISMATCHED_ARMS)
    side_alpha = alpha / 4.0 if alternative == "two-sided" else alpha / 2.0
    c_bounds = quantile_bounds(control, quantile, side_alpha, tuning)
    t_bounds = quantile_bounds(treatment, quantile, side_alpha, tuning)
    c_est, t_est = control.estimate(quantile), treatment.estimate(quantile)
    estimate = (t_est / c_est - 1.0) if relative else t_est - c_est
    low, high = combine(c_bounds, t_bounds, relative=relative)
    if alternative == "greater":
        high = math.inf
    elif alternative == "less":
        low = -math.inf
    arm_alpha = 2.0 * side_alpha
    arms = (
        QuantileInterval(quantile, control.n, c_est, *c_bounds, arm_alpha),
        QuantileInterval(quantile, treatment.n, t_est, *t_bounds, arm_alpha),
    )
    return result(estimate, low, high, arms, None)
