"""Sequential tests: intervals and p-values that stay valid however often anyone looks.

The two-sided test reproduces gbstats' ``SequentialTwoSidedTTest`` (asymptotic confidence
sequences of Waudby-Smith et al. 2023, tuning parameter ``N*``); the one-sided tests use the
one-sided normal mixture of Howard et al. 2021. See :mod:`rampgate.stats.mixture` for formulas.
"""

from __future__ import annotations

import math

from .aggregates import SupportsSummary
from .effect import Alternative, Difference, Effect, check_alpha, difference, no_evidence
from .mixture import (
    one_sided_log_evalue,
    one_sided_radius,
    rho_squared,
    two_sided_log_evalue,
    two_sided_radius,
)

__all__ = ["mixture_scale", "sequential_test"]

DEFAULT_TUNING = 5000.0


def mixture_scale(n_total: float, alpha: float, tuning: float, *, one_sided: bool) -> float:
    """``a = N ρ²``. A one-sided test at ``alpha`` is tuned like a two-sided one at ``2 alpha``."""
    return n_total * rho_squared(2.0 * alpha if one_sided else alpha, tuning)


def sequential_test(
    control: SupportsSummary,
    treatment: SupportsSummary,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
    alternative: Alternative = "two-sided",
    null: float = 0.0,
) -> Effect:
    """An always-valid test of ``treatment - control`` from two aggregates.

    Two-sided: the interval is ``estimate ± r₂ se`` with
    ``r₂ = √((1 + a)/a · (log(1 + a) + 2 log(1/alpha)))``, ``a = N ρ²``, ``N = n_c + n_t``, and the
    p-value is ``min(1, 1/E₂)`` with ``E₂ = exp(a Z²/(2(1 + a))) / √(1 + a)`` — eq. 9 and eq. 155
    of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central limit theory
    and asymptotic confidence sequences". One-sided (``"greater"``/``"less"``): the one-sided
    normal mixture of Howard, Ramdas, McAuliffe & Sekhon (2021), ``E₁ = 2 Φ(Z √(a/(1+a))) E₂``.

    The probability that the interval ever misses the true effect, over all looks at all sample
    sizes, is at most ``alpha`` (asymptotically: it needs enough units for the CLT). ``tuning`` is
    ``N*``, the total sample size where the interval is tightest. Standard errors come from the
    same delta-method variances as :func:`welch_test`.
    """
    check_alpha(alpha, alternative)
    summary_c, summary_t = control.summary(), treatment.summary()
    diff = difference(summary_c, summary_t, relative=relative)
    if not isinstance(diff, Difference):
        reason, estimate = diff
        return no_evidence(
            reason,
            estimate,
            alpha=alpha,
            relative=relative,
            alternative=alternative,
            method="sequential",
        )
    one_sided = alternative != "two-sided"
    a = mixture_scale(summary_c.n + summary_t.n, alpha, tuning, one_sided=one_sided)
    se = diff.se
    statistic = (diff.estimate - null) / se
    if not one_sided:
        width = two_sided_radius(a, alpha) * se
        low, high = diff.estimate - width, diff.estimate + width
        log_evalue = two_sided_log_evalue(statistic, a)
    else:
        width = one_sided_radius(a, alpha) * se
        if alternative == "greater":
            low, high = diff.estimate - width, math.inf
            log_evalue = one_sided_log_evalue(statistic, a)
        else:
            low, high = -math.inf, diff.estimate + width
            log_evalue = one_sided_log_evalue(-statistic, a)
    return Effect(
        estimate=diff.estimate,
        ci_low=low,
        ci_high=high,
        p_value=math.exp(-log_evalue) if log_evalue > 0 else 1.0,
        se=se,
        statistic=statistic,
        dof=math.inf,
        alpha=alpha,
        relative=relative,
        alternative=alternative,
        method="sequential",
    )
