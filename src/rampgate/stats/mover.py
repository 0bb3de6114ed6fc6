"""Bounds on a difference or ratio of two rates that behave at zero events and never relax.

Each arm gets Wilson score bounds at the radius ``r`` of the two-sample normal mixture — the set
of rates ``p`` with ``|p̂ - p| <= r √(p(1 - p)/n)`` — which exist with no events at all and grow
with the count. They are combined by MOVER, the method of variance estimates recovery (Newcombe
1998, "Interval estimation for the difference between independent proportions", Statistics in
Medicine 17, method 10; Zou & Donner 2008, "Construction of confidence limits about effect
measures: a general approach", Statistics in Medicine 27):

    lower(p_t - c p_c) = p_t - c p_c - √((p_t - l_t)² + c² (u_c - p_c)²)
    upper(p_t - c p_c) = p_t - c p_c + √((u_t - p_t)² + c² (p_c - l_c)²)

With symmetric bounds ``p̂ ± r se`` this is exactly the normal-mixture interval; near 0 or 1 the
Wilson bounds carry the uncertainty a zero variance estimate would hide. Both bounds increase with
the treatment's count (each term's slope is at most the estimate's), so a guardrail on a rate can
only move towards ``FAIL`` as events accumulate. A ratio ``p_t/p_c`` is bounded by the ``c`` where
the bound on ``p_t - c p_c`` crosses zero (Fieller's construction, Donner & Zou 2012).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._scipy import brentq

__all__ = ["difference_bounds", "ratio_bounds", "wilson_bounds"]

Arm = tuple[float, float, float]
"""``(estimate, lower bound, upper bound)`` of one arm's rate."""


def wilson_bounds(successes: int, n: int, radius: float) -> Arm:
    """The arm's rate with its Wilson score bounds at ``radius`` standard errors."""
    p = successes / n
    r2n = radius * radius / n
    centre = (p + r2n / 2.0) / (1.0 + r2n)
    half = radius / (1.0 + r2n) * math.sqrt(p * (1.0 - p) / n + r2n / (4.0 * n))
    return p, max(centre - half, 0.0), min(centre + half, 1.0)


def _lower(control: Arm, treatment: Arm, c: float) -> float:
    (p_c, _, u_c), (p_t, l_t, _) = control, treatment
    return p_t - c * p_c - math.hypot(p_t - l_t, c * (u_c - p_c))


def _upper(control: Arm, treatment: Arm, c: float) -> float:
    (p_c, l_c, _), (p_t, _, u_t) = control, treatment
    return p_t - c * p_c + math.hypot(u_t - p_t, c * (p_c - l_c))


def difference_bounds(control: Arm, treatment: Arm) -> tuple[float, float]:
    """Lower and upper bounds on ``p_t - p_c``."""
    return _lower(control, treatment, 1.0), _upper(control, treatment, 1.0)


def _root(
    bound: Callable[[Arm, Arm, float], float], control: Arm, treatment: Arm, start: float
) -> float:
    """The ``c >= start`` where a decreasing bound on ``p_t - c p_c`` reaches zero (inf: never)."""

    def f(c: float) -> float:
        return bound(control, treatment, c)

    low = start
    if f(low) <= 0.0:
        return low
    high = max(2.0 * low, 1.0)
    while f(high) > 0.0:
        if high > 1e12:
            return math.inf
        low, high = high, 2.0 * high
    return brentq(f, low, high, xtol=1e-15, rtol=1e-12)


def ratio_bounds(control: Arm, treatment: Arm) -> tuple[float, float]:
    """Lower and upper bounds on ``p_t / p_c`` (the upper one is ``inf`` while ``l_c`` is 0).

    Both bounds on ``p_t - c p_c`` decrease in ``c``, so each crosses zero once: the lower bound
    on the ratio is the largest ``c`` whose lower bound is still positive, the upper bound the
    largest ``c`` whose upper bound is.
    """
    low = _root(_lower, control, treatment, 0.0)
    high = _root(_upper, control, treatment, max(low, 0.0))
    return low, high
