"""Guardrail verdicts: has the candidate made a metric worse, and by how much at most?

Harm is signed so that positive is worse: ``treatment - control`` for a metric where lower is
better, ``control - treatment`` where higher is better (divided by the control mean for a relative
margin). With always-valid one-sided ``1 - alpha`` bounds ``[low, high]`` on the harm:

- ``FAIL`` when ``low > tolerance``: a regression is established. At ``tolerance = 0`` these are the
  safe-rollout semantics of LaunchDarkly and GrowthBook. ``FAIL`` wins over ``PASS``: a harm
  established to be small is still an established harm unless a tolerance allows it.
- ``PASS`` when ``high < margin``: non-inferiority (the harm is below the margin).
- ``INCONCLUSIVE`` otherwise; ``NODATA`` / ``ERROR`` when it cannot be measured (see
  :func:`verdict_for_reason`).

Each bound is one-sided at ``alpha``, valid at every look at once, so checking at every checkpoint
keeps the chance of a false ``FAIL`` under ``alpha`` (and of a false ``PASS`` too). Guardrails are
not corrected for multiplicity; see ``docs/statistics.md`` (Schultzberg, Ankargren & Frånberg 2024,
"Risk-aware product decisions in A/B tests with multiple metrics").

Methods, one per kind of aggregate:

- means and ratios: the one-sided normal mixture (asymptotic confidence sequences) on the Welch
  standard error;
- two rates: Wilson bounds per arm at the same mixture radius, combined by MOVER
  (:mod:`rampgate.stats.mover`), so that arms without events still bound the harm and the bounds
  never fall as the candidate's events grow;
- quantile sketches, and a threshold on one rate: exact beta-binomial mixtures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .aggregates import ArmSummary, ProportionStats, SupportsSummary
from .effect import Difference, difference
from .mixture import one_sided_radius
from .mover import difference_bounds, ratio_bounds, wilson_bounds
from .quantiles import QuantileSketch, combine, quantile_bounds
from .reasons import ReasonCode
from .sequential import DEFAULT_TUNING, mixture_scale
from .verdict import Verdict

__all__ = ["Guardrail", "GuardrailResult", "decide", "verdict_for_reason"]

_REASON_VERDICTS: dict[ReasonCode, Verdict] = {
    ReasonCode.EMPTY_ARM: Verdict.NODATA,
    ReasonCode.TOO_FEW_UNITS: Verdict.NODATA,
    ReasonCode.ZERO_VARIANCE: Verdict.NODATA,
    ReasonCode.ZERO_DENOMINATOR: Verdict.NODATA,
    ReasonCode.UNCERTAIN_BASELINE: Verdict.INCONCLUSIVE,
    ReasonCode.ZERO_BASELINE: Verdict.ERROR,
    ReasonCode.NEGATIVE_BASELINE: Verdict.ERROR,
    ReasonCode.INVALID_AGGREGATE: Verdict.ERROR,
    ReasonCode.MISMATCHED_ARMS: Verdict.ERROR,
    ReasonCode.NO_QUANTILE: Verdict.ERROR,
}


def verdict_for_reason(reason: ReasonCode) -> Verdict:
    """Not enough data yet is ``NODATA``; input that can never be measured is ``ERROR``."""
    return _REASON_VERDICTS[reason]


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    """A guardrail's verdict and the evidence behind it, ready for a snapshot.

    ``harm`` is the point estimate and ``harm_low``/``harm_high`` its one-sided always-valid
    bounds (each at ``alpha``), in the units of the margin (absolute, or a fraction of control).
    """

    verdict: Verdict
    harm: float
    harm_low: float
    harm_high: float
    margin: float
    tolerance: float
    relative: bool
    alpha: float
    method: str
    n_control: int
    n_treatment: int
    reason: ReasonCode | None = None


def decide(low: float, high: float, margin: float, tolerance: float) -> Verdict:
    if low > tolerance:
        return Verdict.FAIL
    if high < margin:
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def check_settings(alpha: float, tuning: float, quantile: float | None) -> None:
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    if not tuning > 0:
        raise ValueError(f"tuning must be positive, got {tuning!r}")
    if quantile is not None and not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A non-inferiority guardrail of the candidate (treatment) against the stable arm (control).

    ``margin`` is the largest harm that is acceptable (a fraction of the control mean when
    ``relative``); ``tolerance`` (``0 ≤ tolerance < margin``) the harm that may be established
    without failing. ``quantile`` is required when the arms are :class:`QuantileSketch` values.
    """

    margin: float
    higher_is_better: bool = False
    relative: bool = False
    tolerance: float = 0.0
    alpha: float = 0.05
    tuning: float = DEFAULT_TUNING
    quantile: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"margin must be positive, got {self.margin!r}")
        if not 0.0 <= self.tolerance < self.margin:
            raise ValueError("tolerance must satisfy 0 <= tolerance < margin")
        check_settings(self.alpha, self.tuning, self.quantile)

    def _result(
        self,
        harm: float,
        low: float,
        high: float,
        *,
        n: tuple[int, int],
        method: str,
        reason: ReasonCode | None = None,
    ) -> GuardrailResult:
        verdict = (
            verdict_for_reason(reason)
            if reason is not None
            else decide(low, high, self.margin, self.tolerance)
        )
        return GuardrailResult(
            verdict,
            harm,
            low,
            high,
            self.margin,
            self.tolerance,
            self.relative,
            self.alpha,
            method,
            n[0],
            n[1],
            reason,
        )

    def _oriented(self, estimate: float, low: float, high: float) -> tuple[float, float, float]:
        """Bounds on ``treatment - control`` turned into bounds on harm."""
        if self.higher_is_better:
            return -estimate, -high, -low
        return estimate, low, high

    def evaluate(
        self,
        control: SupportsSummary | QuantileSketch,
        treatment: SupportsSummary | QuantileSketch,
    ) -> GuardrailResult:
        """The verdict for one look at the two arms' aggregates."""
        if isinstance(control, QuantileSketch) or isinstance(treatment, QuantileSketch):
            return self._quantiles(control, treatment)
        summary_c, summary_t = control.summary(), treatment.summary()
        n = (summary_c.n, summary_t.n)
        if isinstance(control, ProportionStats) and isinstance(treatment, ProportionStats):
            return self._rates(control, treatment)
        diff = difference(summary_c, summary_t, relative=self.relative)
        if not isinstance(diff, Difference):
            reason, estimate = diff
            harm = -estimate if self.higher_is_better else estimate
            return self._result(
                harm, -math.inf, math.inf, n=n, method="normal-mixture", reason=reason
            )
        radius = self._radius(n[0] + n[1])
        if self.relative:
            baseline = self._baseline_reason(summary_c, radius)
            if baseline is not None:
                harm, _, _ = self._oriented(diff.estimate, 0.0, 0.0)
                return self._result(
                    harm, -math.inf, math.inf, n=n, method="normal-mixture", reason=baseline
                )
        width = radius * diff.se
        harm, low, high = self._oriented(
            diff.estimate, diff.estimate - width, diff.estimate + width
        )
        return self._result(harm, low, high, n=n, method="normal-mixture")

    @staticmethod
    def _baseline_reason(control: ArmSummary, radius: float) -> ReasonCode | None:
        """A relative harm needs a control mean known to be positive.

        Until the control mean's own bound excludes zero, the delta-method interval for the lift
        is meaningless — and not monotone in the treatment mean — so the verdict waits.
        """
        base = control.unadjusted_mean
        if base < 0:
            return ReasonCode.NEGATIVE_BASELINE
        if radius * math.sqrt(max(control.variance, 0.0) / control.n) >= base:
            return ReasonCode.UNCERTAIN_BASELINE
        return None

    def _radius(self, n_total: int) -> float:
        """How many standard errors a one-sided always-valid bound lies from the estimate."""
        a = mixture_scale(n_total, self.alpha, self.tuning, one_sided=True)
        return one_sided_radius(a, self.alpha)

    def _rates(self, control: ProportionStats, treatment: ProportionStats) -> GuardrailResult:
        n = (control.n, treatment.n)
        method = "wilson-mover"
        reason = None
        for arm in (control, treatment):
            reason = reason or arm.summary().reason
        if reason is None and min(n) == 0:
            reason = ReasonCode.EMPTY_ARM
        elif reason is None and min(n) < 2:
            reason = ReasonCode.TOO_FEW_UNITS
        if reason is not None:
            return self._result(math.nan, -math.inf, math.inf, n=n, method=method, reason=reason)
        radius = self._radius(n[0] + n[1])
        c = wilson_bounds(control.successes, control.n, radius)
        t = wilson_bounds(treatment.successes, treatment.n, radius)
        if self.relative:
            ratio_low, ratio_high = ratio_bounds(c, t)
            estimate, low, high = _lift(c[0], t[0]), ratio_low - 1.0, ratio_high - 1.0
        else:
            estimate = t[0] - c[0]
            low, high = difference_bounds(c, t)
        harm, low, high = self._oriented(estimate, low, high)
        return self._result(harm, low, high, n=n, method=method)

    def _quantiles(self, control: object, treatment: object) -> GuardrailResult:
        method = "beta-binomial-quantile"
        if not (isinstance(control, QuantileSketch) and isinstance(treatment, QuantileSketch)):
            return self._result(
                math.nan, -math.inf, math.inf, n=(0, 0), method=method, reason=_MISMATCH
            )
        n = (control.n, treatment.n)
        reason = None
        if self.quantile is None:
            reason = ReasonCode.NO_QUANTILE
        elif min(n) == 0:
            reason = ReasonCode.EMPTY_ARM
        elif control.layout != treatment.layout:
            reason = _MISMATCH
        if reason is not None or self.quantile is None:
            return self._result(math.nan, -math.inf, math.inf, n=n, method=method, reason=reason)
        q = self.quantile
        # Two arms, each bound used once per side: alpha/2 per arm keeps each side at alpha.
        c = quantile_bounds(control, q, self.alpha / 2.0, self.tuning)
        t = quantile_bounds(treatment, q, self.alpha / 2.0, self.tuning)
        low, high = combine(c, t, relative=self.relative)
        c_est, t_est = control.estimate(q), treatment.estimate(q)
        estimate = _lift(c_est, t_est) if self.relative else t_est - c_est
        harm, low, high = self._oriented(estimate, low, high)
        return self._result(harm, low, high, n=n, method=method)


def _lift(control: float, treatment: float) -> float:
    if control > 0:
        return treatment / control - 1.0
    return math.inf if treatment > 0 else math.nan


_MISMATCH = ReasonCode.MISMATCHED_ARMS
