"""What a comparison of two arms returns, and the reason codes for comparisons that cannot be made.

A statistical edge case — an empty arm, no variation yet, a relative lift over a baseline of zero
— is an outcome, not an exception: the result carries a :class:`ReasonCode` and an interval that
claims nothing (``-inf`` to ``+inf``, p-value 1), so code that forgets to look at the reason still
cannot conclude anything from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .aggregates import ArmSummary
from .reasons import ReasonCode

__all__ = ["Alternative", "Difference", "Effect", "difference"]

Alternative = Literal["two-sided", "greater", "less"]
"""The alternative hypothesis about ``treatment - control``, spelled as in scipy."""

ALTERNATIVES: tuple[Alternative, ...] = ("two-sided", "greater", "less")


@dataclass(frozen=True, slots=True)
class Effect:
    """The effect of treatment over control: a point estimate, an interval and a p-value.

    ``estimate`` is ``treatment - control`` (``relative=False``) or
    ``(treatment - control) / control`` (``relative=True``). ``ci_low``/``ci_high`` is the
    ``1 - alpha`` interval for the alternative (one-sided intervals are infinite on one side).
    ``statistic`` is ``(estimate - null) / se``. ``dof`` is the Welch-Satterthwaite degrees of
    freedom for the t test, ``inf`` for the normal-theory sequential test. When ``reason`` is set,
    the interval is ``(-inf, inf)``, the p-value 1 and ``estimate`` whatever could be computed
    (``nan`` if nothing).
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    statistic: float
    dof: float
    alpha: float
    relative: bool
    alternative: Alternative
    method: str
    reason: ReasonCode | None = None

    @property
    def ok(self) -> bool:
        """True when the comparison could be made."""
        return self.reason is None

    @property
    def significant(self) -> bool:
        """True when the p-value is below ``alpha``."""
        return self.reason is None and self.p_value < self.alpha


@dataclass(frozen=True, slots=True)
class Difference:
    """The point estimate of an effect, its variance and the Welch-Satterthwaite dof."""

    estimate: float
    variance: float
    dof: float

    @property
    def se(self) -> float:
        return math.sqrt(self.variance)


def difference(
    control: ArmSummary, treatment: ArmSummary, *, relative: bool
) -> Difference | tuple[ReasonCode, float]:
    """The effect of ``treatment`` over ``control``, or a reason and whatever estimate exists.

    Absolute: ``m_t - m_c`` with variance ``v_t/n_t + v_c/n_c`` (Welch 1947). Relative:
    ``(m_t - m_c) / u_c`` with the delta-method variance
    ``v_t / (u_c² n_t) + v_c u_t² / (u_c⁴ n_c)`` (Deng, Knoblich & Lu 2018, "Applying the delta
    method in metric analytics", KDD), where ``u`` is the unadjusted mean — they differ from ``m``
    only after CUPED, which is how gbstats defines the relative lift too.

    Welch's statistic needs only one arm to vary, so one arm of zero variance is allowed (gbstats
    refuses it; a candidate whose every unit escalated must still be able to fail a guardrail).
    """
    for arm in (control, treatment):
        if arm.reason is not None:
            return arm.reason, math.nan
        if arm.n == 0:
            return ReasonCode.EMPTY_ARM, math.nan
    if relative:
        estimate = (
            (treatment.mean - control.mean) / control.unadjusted_mean
            if control.unadjusted_mean != 0
            else math.nan
        )
    else:
        estimate = treatment.mean - control.mean
    if control.n < 2 or treatment.n < 2:
        return ReasonCode.TOO_FEW_UNITS, estimate
    v_c = max(control.variance, 0.0) / control.n
    v_t = max(treatment.variance, 0.0) / treatment.n
    if v_c + v_t <= 0.0:
        return ReasonCode.ZERO_VARIANCE, estimate
    if relative and (control.mean == 0 or control.unadjusted_mean == 0):
        return ReasonCode.ZERO_BASELINE, estimate
    dof = (v_c + v_t) ** 2 / (v_c**2 / (control.n - 1) + v_t**2 / (treatment.n - 1))
    if relative:
        u_c = control.unadjusted_mean
        variance = v_t / u_c**2 + v_c * treatment.unadjusted_mean**2 / u_c**4
    else:
        variance = v_c + v_t
    return Difference(estimate, variance, dof)


def no_evidence(
    reason: ReasonCode,
    estimate: float,
    *,
    alpha: float,
    relative: bool,
    alternative: Alternative,
    method: str,
) -> Effect:
    """The result of a comparison that could not be made: an interval that claims nothing."""
    return Effect(
        estimate=estimate,
        ci_low=-math.inf,
        ci_high=math.inf,
        p_value=1.0,
        se=math.nan,
        statistic=math.nan,
        dof=math.nan,
        alpha=alpha,
        relative=relative,
        alternative=alternative,
        method=method,
        reason=reason,
    )


def check_alpha(alpha: float, alternative: str) -> None:
    """Configuration errors are programming errors: they raise, unlike statistical edge cases."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
