"""Mixture martingales: the boundaries behind every always-valid interval in rampgate.

Normal mixtures (for means, proportions, ratios; asymptotic)
    With ``a = N ρ²`` (``N`` units in both arms) and ``Z`` the estimate over its standard error,
    mixing ``exp(λS - λ²V/2)`` over ``λ ~ N(0, ρ²)`` gives the e-value
    ``log E₂ = a Z² / (2(1 + a)) - ½ log(1 + a)``; Ville's inequality makes
    ``{|Z| < r₂}`` with ``r₂ = √((1 + a)/a · (log(1 + a) + 2 log(1/alpha)))`` hold at every ``N`` at
    once with probability ``1 - alpha`` (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021,
    "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49(2)).
    Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central limit theory and
    asymptotic confidence sequences" (arXiv:2103.06476, eq. 9 and §B), show the same boundary with
    an estimated variance is an asymptotic confidence sequence; this is gbstats'
    ``SequentialTwoSidedTTest``. ``ρ² = (-2 log alpha + log(1 - 2 log alpha)) / N*`` makes the
    boundary tightest near ``N*`` units (the tuning parameter, default 5,000).

    The one-sided version mixes over ``λ ~ N(0, ρ²)`` restricted to ``λ ≥ 0`` (Howard et al.
    2021, one-sided normal mixture): ``E₁ = 2 Φ(Z √(a/(1 + a))) E₂``; its radius ``r₁`` solves
    ``E₁ = 1/alpha`` and lies between the two-sided radii at ``2 alpha`` and ``alpha``.

Beta-binomial mixtures (for rates and quantiles; exact)
    For 0/1 observations with ``s`` events in ``t`` trials, mixing the likelihood ratio of
    ``Bernoulli(θ)`` against ``Bernoulli(p₀)`` over a ``Beta(r p₀, r (1 - p₀))`` prior restricted
    to ``θ > p₀`` (or ``θ < p₀``) gives a nonnegative supermartingale under ``θ ≤ p₀`` (or
    ``θ ≥ p₀``): a one-sided test that is valid at every look without any normal approximation,
    and that works with no events at all (Robbins 1970; Howard & Ramdas 2022, "Sequential
    estimation of quantiles with applications to A/B-testing and best-arm identification",
    Bernoulli 28(3)). ``r = 1/ρ² - 1`` matches the prior's spread to the normal mixture's.
"""

from __future__ import annotations

import math
from functools import lru_cache

from ._scipy import betainc, betaincc, betaln, brentq, log_ndtr

__all__ = [
    "beta_log_evalue",
    "one_sided_log_evalue",
    "one_sided_radius",
    "prior_concentration",
    "rho_squared",
    "two_sided_log_evalue",
    "two_sided_radius",
]

_LOG2 = math.log(2.0)


def rho_squared(alpha: float, tuning: float) -> float:
    """Mixing variance that minimises the two-sided ``alpha`` boundary at ``tuning`` units.

    Waudby-Smith et al. (2023), eq. 161; gbstats uses the same ``N*`` parametrisation.
    """
    if tuning <= 0:
        raise ValueError(f"tuning must be positive, got {tuning!r}")
    minus_two_log_alpha = -2.0 * math.log(alpha)
    return (minus_two_log_alpha + math.log(minus_two_log_alpha + 1.0)) / tuning


def two_sided_radius(a: float, alpha: float) -> float:
    """``r₂``: the two-sided confidence sequence is ``estimate ± r₂ · se``."""
    return math.sqrt((1.0 + a) / a * (math.log1p(a) - 2.0 * math.log(alpha)))


def two_sided_log_evalue(z: float, a: float) -> float:
    """``log E₂`` for standardised statistic ``z``; the always-valid p-value is ``1/E₂``."""
    return a * z * z / (2.0 * (1.0 + a)) - 0.5 * math.log1p(a)


def one_sided_log_evalue(z: float, a: float) -> float:
    """``log E₁``: evidence that the standardised effect is positive."""
    k = math.sqrt(a / (1.0 + a))
    return _LOG2 + two_sided_log_evalue(z, a) + log_ndtr(k * z)


@lru_cache(maxsize=8192)
def one_sided_radius(a: float, alpha: float) -> float:
    """``r₁``: the one-sided lower bound is ``estimate - r₁ · se`` (cached: depends on N only)."""
    target = -math.log(alpha)
    low = two_sided_radius(a, 2.0 * alpha)
    high = two_sided_radius(a, alpha)
    return brentq(lambda z: one_sided_log_evalue(z, a) - target, low, high, xtol=1e-13, rtol=1e-14)


def prior_concentration(alpha: float, tuning: float) -> float:
    """The beta prior's ``r`` whose variance ``p(1 - p)/(r + 1)`` is the normal mixture's ``ρ²``."""
    return max(1.0 / rho_squared(alpha, tuning) - 1.0, 1.0)


def beta_log_evalue(successes: float, trials: float, p0: float, r: float, *, above: bool) -> float:
    """``log`` of the one-sided beta-binomial mixture e-value against ``θ = p₀``.

    ``above=True`` measures evidence that the rate exceeds ``p₀``; ``above=False`` that it is
    below. Both are nondecreasing in the evidence: in ``successes`` for ``above=True``, in
    failures for ``above=False``.
    """
    s, f = successes, trials - successes
    a, b = r * p0, r * (1.0 - p0)
    tail = betaincc if above else betainc
    posterior_mass, prior_mass = tail(a + s, b + f, p0), tail(a, b, p0)
    # No posterior mass on the alternative's side (or none a priori): no evidence for it.
    if posterior_mass <= 0.0 or prior_mass <= 0.0:
        return -math.inf
    return (
        betaln(a + s, b + f)
        - betaln(a, b)
        + math.log(posterior_mass)
        - math.log(prior_mass)
        - s * math.log(p0)
        - f * math.log1p(-p0)
    )
