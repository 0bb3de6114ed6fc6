"""Fixed-horizon tests: Welch's t test on aggregates, absolute or relative.

Valid for one look at a sample size chosen in advance. For gates that look at every checkpoint
use :func:`rampgate.stats.sequential_test`, whose intervals stay valid however often anyone looks.
"""

from __future__ import annotations

import math

from ._scipy import stdtr, stdtrit
from .aggregates import SupportsSummary
from .effect import Alternative, Difference, Effect, check_alpha, difference, no_evidence

__all__ = ["welch_test"]


def welch_test(
    control: SupportsSummary,
    treatment: SupportsSummary,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    null: float = 0.0,
) -> Effect:
    """Welch's unequal-variance t test of ``treatment - control`` from two aggregates.

    The statistic is ``(estimate - null) / se`` with ``se² = v_t/n_t + v_c/n_c`` and the
    Welch-Satterthwaite degrees of freedom
    ``(v_t/n_t + v_c/n_c)² / ((v_t/n_t)²/(n_t - 1) + (v_c/n_c)²/(n_c - 1))``
    (Welch 1947, "The generalization of Student's problem when several different population
    variances are involved", Biometrika 34). With ``relative=True`` the estimate is the lift
    ``(m_t - m_c)/m_c`` with a delta-method standard error and the same degrees of freedom, as in
    gbstats. Proportions use the Bernoulli variance ``p(1 - p)``; ratio metrics their
    delta-method variance (see :class:`RatioStats`).

    ``alternative`` is about ``treatment - control`` (``"greater"``: the treatment is higher).
    Edge cases return a result with a ``reason`` instead of raising.
    """
    check_alpha(alpha, alternative)
    diff = difference(control.summary(), treatment.summary(), relative=relative)
    if not isinstance(diff, Difference):
        reason, estimate = diff
        return no_evidence(
            reason,
            estimate,
            alpha=alpha,
            relative=relative,
            alternative=alternative,
            method="welch",
        )
    se = diff.se
    statistic = (diff.estimate - null) / se
    if alternative == "two-sided":
        p_value = 2.0 * stdtr(diff.dof, -abs(statistic))
        width = stdtrit(diff.dof, 1.0 - alpha / 2.0) * se
        low, high = diff.estimate - width, diff.estimate + width
    else:
        width = stdtrit(diff.dof, 1.0 - alpha) * se
        if alternative == "greater":
            p_value = stdtr(diff.dof, -statistic)
            low, high = diff.estimate - width, math.inf
        else:
            p_value = stdtr(diff.dof, statistic)
            low, high = -math.inf, diff.estimate + width
    return Effect(
        estimate=diff.estimate,
        ci_low=low,
        ci_high=high,
        p_value=min(p_value, 1.0),
        se=se,
        statistic=statistic,
        dof=diff.dof,
        alpha=alpha,
        relative=relative,
        alternative=alternative,
        method="welch",
    )
