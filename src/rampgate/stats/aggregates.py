"""Sufficient statistics of one arm: small frozen values that add with ``+``.

Analysis aggregates events per unit, then units per arm, to these — in SQL where the events
live — and every test works from them alone. Each aggregate adds with ``+`` (merge two days, two
shards, two dimension slices), and its zero (``MeanStats()``) is the empty arm. ``summary()``
reduces an aggregate to what a two-sample test needs: an :class:`ArmSummary`.

Variances follow gbstats so results can be compared with it: the sample variance
``(Σx² - (Σx)²/n) / (n - 1)`` for means, ``p(1 - p)`` for proportions, and the delta-method
variance of a ratio of means for ratio metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from .reasons import ReasonCode

__all__ = [
    "ArmSummary",
    "MeanStats",
    "ProportionStats",
    "RatioStats",
    "SupportsSummary",
]

_Sums = TypeVar("_Sums")


def add_fields(a: _Sums, b: _Sums) -> _Sums:
    """Field-wise sum of two aggregates of one dataclass type: sufficient statistics add."""
    parts: list[Any] = [getattr(a, f.name) + getattr(b, f.name) for f in fields(a)]  # type: ignore[arg-type]
    return type(a)(*parts)


# Σx² - (Σx)²/n loses about this many ulps of Σx² to cancellation; below it, "negative" is noise.
_CANCELLATION = 1e-9


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """What a two-sample test needs from an arm: n, mean, per-unit variance.

    ``unadjusted_mean`` differs from ``mean`` only for CUPED-adjusted arms, where the relative
    lift is still expressed over the raw control mean.
    """

    n: int
    mean: float
    variance: float
    unadjusted_mean: float
    reason: ReasonCode | None = None

    def summary(self) -> ArmSummary:
        return self


class SupportsSummary(Protocol):
    """Anything a two-sample test accepts: every aggregate here, and :class:`ArmSummary`."""

    def summary(self) -> ArmSummary: ...


def _sample_variance(n: int, total: float, squares: float) -> float | None:
    """The n - 1 variance, or None when the sums are inconsistent (a negative variance)."""
    if n <= 1:
        return 0.0
    centred = squares - total * total / n
    if centred < -_CANCELLATION * max(abs(squares), 1.0):
        return None
    return max(centred, 0.0) / (n - 1)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


@dataclass(frozen=True, slots=True)
class MeanStats:
    """A mean metric in one arm: units ``n``, ``Σx`` and ``Σx²`` over per-unit values."""

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0

    def __add__(self, other: MeanStats) -> MeanStats:
        if not isinstance(other, MeanStats):
            return NotImplemented
        return add_fields(self, other)

    @classmethod
    def from_values(cls, values: Iterable[float] | npt.ArrayLike) -> MeanStats:
        x = np.asarray(values, dtype=np.float64).ravel()
        return cls(int(x.size), float(x.sum()), float(np.dot(x, x)))

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Sample variance (``n - 1``); 0 for fewer than two units or inconsistent sums."""
        return _sample_variance(self.n, self.sum, self.sum_squares) or 0.0

    def summary(self) -> ArmSummary:
        variance = _sample_variance(self.n, self.sum, self.sum_squares)
        if self.n < 0 or variance is None or not _finite(self.sum, self.sum_squares):
            return ArmSummary(self.n, math.nan, math.nan, math.nan, ReasonCode.INVALID_AGGREGATE)
        return ArmSummary(self.n, self.mean, variance, self.mean)


@dataclass(frozen=True, slots=True)
class ProportionStats:
    """A 0/1 metric in one arm: units ``n`` and the number of units with the event."""

    n: int = 0
    successes: int = 0

    def __add__(self, other: ProportionStats) -> ProportionStats:
        if not isinstance(other, ProportionStats):
            return NotImplemented
        return add_fields(self, other)

    @classmethod
    def from_values(cls, values: Iterable[float] | npt.ArrayLike) -> ProportionStats:
        x = np.asarray(values).ravel()
        return cls(int(x.size), int(np.count_nonzero(x)))

    @property
    def mean(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """``p(1 - p)``, the Bernoulli variance (as gbstats; no ``n - 1`` correction)."""
        p = self.mean
        return p * (1.0 - p)

    def as_mean(self) -> MeanStats:
        """The same data as a mean metric (``Σx² = Σx`` for 0/1 values)."""
        return MeanStats(self.n, float(self.successes), float(self.successes))

    def summary(self) -> ArmSummary:
        if self.n < 0 or not 0 <= self.successes <= max(self.n, 0):
            return ArmSummary(self.n, math.nan, math.nan, math.nan, ReasonCode.INVALID_AGGREGATE)
        return ArmSummary(self.n, self.mean, self.variance, self.mean)


@dataclass(frozen=True, slots=True)
class RatioStats:
    """A ratio metric such as cost per success: ``Σx / Σy`` over units, not a mean of ratios.

    Fields are per-unit sums: ``n`` units, numerator ``Σx``, denominator ``Σy``, ``Σx²``, ``Σy²``
    and the cross-product ``Σxy``. The per-unit variance of the ratio comes from the delta method
    (Deng, Knoblich & Lu 2018, "Applying the delta method in metric analytics", KDD):
    ``Var(x)/μy² - 2 Cov(x, y) μx/μy³ + μx² Var(y)/μy⁴``.
    """

    n: int = 0
    num_sum: float = 0.0
    den_sum: float = 0.0
    num_sum_squares: float = 0.0
    den_sum_squares: float = 0.0
    sum_products: float = 0.0

    def __add__(self, other: RatioStats) -> RatioStats:
        if not isinstance(other, RatioStats):
            return NotImplemented
        return add_fields(self, other)

    @classmethod
    def from_values(
        cls,
        numerators: Iterable[float] | npt.ArrayLike,
        denominators: Iterable[float] | npt.ArrayLike,
    ) -> RatioStats:
        x = np.asarray(numerators, dtype=np.float64).ravel()
        y = np.asarray(denominators, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError("numerators and denominators need one value per unit each")
        return cls(
            int(x.size),
            float(x.sum()),
            float(y.sum()),
            float(np.dot(x, x)),
            float(np.dot(y, y)),
            float(np.dot(x, y)),
        )

    @property
    def mean(self) -> float:
        """``Σx / Σy``; 0 when the denominator is 0."""
        return self.num_sum / self.den_sum if self.den_sum else 0.0

    @property
    def covariance(self) -> float:
        if self.n <= 1:
            return 0.0
        return (self.sum_products - self.num_sum * self.den_sum / self.n) / (self.n - 1)

    def summary(self) -> ArmSummary:
        var_x = _sample_variance(self.n, self.num_sum, self.num_sum_squares)
        var_y = _sample_variance(self.n, self.den_sum, self.den_sum_squares)
        finite = _finite(
            self.num_sum,
            self.den_sum,
            self.num_sum_squares,
            self.den_sum_squares,
            self.sum_products,
        )
        if self.n < 0 or var_x is None or var_y is None or not finite:
            return ArmSummary(self.n, math.nan, math.nan, math.nan, ReasonCode.INVALID_AGGREGATE)
        if self.n == 0:
            return ArmSummary(0, 0.0, 0.0, 0.0)
        if self.den_sum == 0:
            return ArmSummary(self.n, 0.0, 0.0, 0.0, ReasonCode.ZERO_DENOMINATOR)
        mu_x = self.num_sum / self.n
        mu_y = self.den_sum / self.n
        variance = 0.0
        if self.n > 1:
            variance = (
                var_x / mu_y**2 - 2.0 * self.covariance * mu_x / mu_y**3 + mu_x**2 * var_y / mu_y**4
            )
        return ArmSummary(self.n, self.mean, variance, self.mean)
