"""CUPED: variance reduction with a pre-exposure covariate.

Deng, Xu, Kohavi & Walker (2013), "Improving the sensitivity of online controlled experiments by
utilizing pre-experiment data", WSDM. Each unit's metric ``y`` is replaced by
``y - theta x``, where ``x`` is the same unit's value before exposure (so it cannot be affected by
the treatment) and ``theta = Cov(y, x) / Var(x)`` pooled over both arms. The difference of adjusted
means is unbiased for the same effect, with variance smaller by the factor ``1 - corr(y, x)²``.
As in gbstats, the relative lift stays expressed over the unadjusted control mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .aggregates import ArmSummary, MeanStats, add_fields

__all__ = ["CupedAdjustment", "CupedStats", "cuped"]


@dataclass(frozen=True, slots=True)
class CupedStats:
    """A mean metric ``y`` with its pre-exposure covariate ``x``: n, Σy, Σy², Σx, Σx², Σxy."""

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0
    pre_sum: float = 0.0
    pre_sum_squares: float = 0.0
    sum_products: float = 0.0

    def __add__(self, other: CupedStats) -> CupedStats:
        if not isinstance(other, CupedStats):
            return NotImplemented
        return add_fields(self, other)

    @classmethod
    def from_values(
        cls,
        values: Iterable[float] | npt.ArrayLike,
        covariates: Iterable[float] | npt.ArrayLike,
    ) -> CupedStats:
        y = np.asarray(values, dtype=np.float64).ravel()
        x = np.asarray(covariates, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError("values and covariates need one value per unit each")
        return cls(
            int(y.size),
            float(y.sum()),
            float(np.dot(y, y)),
            float(x.sum()),
            float(np.dot(x, x)),
            float(np.dot(x, y)),
        )

    @property
    def post(self) -> MeanStats:
        return MeanStats(self.n, self.sum, self.sum_squares)

    @property
    def pre(self) -> MeanStats:
        return MeanStats(self.n, self.pre_sum, self.pre_sum_squares)

    @property
    def covariance(self) -> float:
        if self.n <= 1:
            return 0.0
        return (self.sum_products - self.sum * self.pre_sum / self.n) / (self.n - 1)


@dataclass(frozen=True, slots=True)
class CupedAdjustment:
    """Adjusted arms to pass to any two-sample test, ``theta``, and the variance reduction.

    ``variance_reduction`` is ``1 - Var(adjusted effect) / Var(unadjusted effect)`` for the
    absolute difference of means: 0.3 means the same precision from 30% fewer units.
    """

    theta: float
    control: ArmSummary
    treatment: ArmSummary
    variance_reduction: float


def _adjusted(arm: CupedStats, theta: float) -> ArmSummary:
    post = arm.post.summary()
    if post.reason is not None or arm.pre.summary().reason is not None or theta == 0.0:
        return post
    variance = post.variance + theta**2 * arm.pre.variance - 2.0 * theta * arm.covariance
    mean = post.mean - theta * arm.pre.mean
    return ArmSummary(arm.n, mean, max(variance, 0.0), post.mean)


def _effect_variance(control: ArmSummary, treatment: ArmSummary) -> float:
    if control.n < 1 or treatment.n < 1:
        return 0.0
    return control.variance / control.n + treatment.variance / treatment.n


def cuped(control: CupedStats, treatment: CupedStats) -> CupedAdjustment:
    """Adjust both arms with the pooled ``theta = Cov(y, x) / Var(x)``.

    ``theta`` is 0 (no adjustment) when the covariate or the metric does not vary, as in gbstats.
    """
    pooled = control + treatment
    var_pre, var_post = pooled.pre.variance, pooled.post.variance
    theta = pooled.covariance / var_pre if var_pre > 0 and var_post > 0 else 0.0
    adjusted_c, adjusted_t = _adjusted(control, theta), _adjusted(treatment, theta)
    before = _effect_variance(control.post.summary(), treatment.post.summary())
    after = _effect_variance(adjusted_c, adjusted_t)
    reduction = 1.0 - after / before if before > 0 else 0.0
    return CupedAdjustment(theta, adjusted_c, adjusted_t, reduction)
