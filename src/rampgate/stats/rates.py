"""Always-valid bounds for a single rate, exact even with no events.

A normal approximation says nothing about a defect rate while no defect has been seen; the
beta-binomial mixture of :mod:`rampgate.stats.mixture` does: after 5,000 units without a defect,
the rate is below 0.2% at every look with 95% confidence. Bounds are found by inverting the
one-sided tests against each candidate rate ``p₀`` (Howard & Ramdas 2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ._scipy import brentq
from .aggregates import ProportionStats
from .mixture import beta_log_evalue, prior_concentration
from .sequential import DEFAULT_TUNING

__all__ = ["RateInterval", "rate_bound", "rate_interval"]

# Candidate rates closer than this to 0 or 1 are treated as 0 or 1: the bound is that exact.
_EDGE = 1e-12


@lru_cache(maxsize=8192)
def rate_bound(
    successes: int, trials: int, *, alpha: float, tuning: float = DEFAULT_TUNING, upper: bool
) -> float:
    """A one-sided, always-valid ``1 - alpha`` bound on a Bernoulli rate.

    The lower bound is the smallest ``p₀`` not rejected by the "rate above ``p₀``" mixture test;
    the upper bound, the largest ``p₀`` not rejected by the "rate below ``p₀``" test.
    """
    if trials <= 0:
        return 1.0 if upper else 0.0
    r = prior_concentration(2.0 * alpha, tuning)
    target = -math.log(alpha)
    mle = successes / trials
    if upper:
        if successes >= trials:
            return 1.0

        def excess(p0: float) -> float:
            return beta_log_evalue(successes, trials, p0, r, above=False) - target

        far = 1.0 - _EDGE
        if excess(far) < 0:
            return 1.0
        return brentq(excess, max(mle, _EDGE), far, xtol=1e-15, rtol=1e-12)
    if successes <= 0:
        return 0.0

    def evidence(p0: float) -> float:
        return beta_log_evalue(successes, trials, p0, r, above=True) - target

    if evidence(_EDGE) < 0:
        return 0.0
    return brentq(evidence, _EDGE, min(mle, 1.0 - _EDGE), xtol=1e-15, rtol=1e-12)


@dataclass(frozen=True, slots=True)
class RateInterval:
    """A rate's estimate and its always-valid bounds (each side at ``alpha / 2``)."""

    n: int
    successes: int
    estimate: float
    low: float
    high: float
    alpha: float


def rate_interval(
    stats: ProportionStats, *, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
) -> RateInterval:
    """A two-sided always-valid interval for one arm's rate (beta-binomial mixtures)."""
    n, s = stats.n, stats.successes
    return RateInterval(
        n=n,
        successes=s,
        estimate=stats.mean,
        low=rate_bound(s, n, alpha=alpha / 2.0, tuning=tuning, upper=False),
        high=rate_bound(s, n, alpha=alpha / 2.0, tuning=tuning, upper=True),
        alpha=alpha,
    )
