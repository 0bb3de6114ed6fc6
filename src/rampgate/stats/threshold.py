"""Thresholds: an absolute limit on the candidate alone, e.g. ``defect_rate`` below 2%.

The same verdict rule as a guardrail (see :mod:`rampgate.stats.guardrail`), with the candidate's
own always-valid bounds against the limit instead of bounds on a difference between arms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .aggregates import ProportionStats, SupportsSummary
from .guardrail import GuardrailResult, check_settings, decide, verdict_for_reason
from .mixture import one_sided_radius
from .quantiles import QuantileSketch, quantile_bounds
from .rates import rate_bound
from .reasons import ReasonCode
from .sequential import DEFAULT_TUNING, mixture_scale

__all__ = ["Threshold"]


@dataclass(frozen=True, slots=True)
class Threshold:
    """An absolute limit on the candidate alone, e.g. ``defect_rate`` below 0.02.

    Harm is ``value - limit`` (``limit - value`` when higher is better): ``FAIL`` when its lower
    bound is above 0, ``PASS`` when its upper bound is below 0. Rates use exact beta-binomial
    bounds (a run with no defect can pass), quantile sketches the quantile confidence sequence,
    means and ratios the one-sided normal mixture over the candidate's own units.
    """

    limit: float
    higher_is_better: bool = False
    alpha: float = 0.05
    tuning: float = DEFAULT_TUNING
    quantile: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.limit):
            raise ValueError(f"limit must be finite, got {self.limit!r}")
        check_settings(self.alpha, self.tuning, self.quantile)

    def _result(
        self,
        value: float,
        bounds: tuple[float, float],
        n: int,
        method: str,
        reason: ReasonCode | None = None,
    ) -> GuardrailResult:
        low, high = bounds
        if self.higher_is_better:
            harm, harm_low, harm_high = self.limit - value, self.limit - high, self.limit - low
        else:
            harm, harm_low, harm_high = value - self.limit, low - self.limit, high - self.limit
        if reason is not None:
            verdict = verdict_for_reason(reason)
            harm_low, harm_high = -math.inf, math.inf
        else:
            verdict = decide(harm_low, harm_high, 0.0, 0.0)
        return GuardrailResult(
            verdict,
            harm,
            harm_low,
            harm_high,
            0.0,
            0.0,
            False,
            self.alpha,
            method,
            0,
            n,
            reason,
        )

    def evaluate(self, candidate: SupportsSummary | QuantileSketch) -> GuardrailResult:
        """The verdict for one look at the candidate's aggregate."""
        unbounded = (-math.inf, math.inf)
        if isinstance(candidate, QuantileSketch):
            method = "beta-binomial-quantile"
            if self.quantile is None:
                return self._result(
                    math.nan, unbounded, candidate.n, method, ReasonCode.NO_QUANTILE
                )
            if candidate.n == 0:
                return self._result(math.nan, unbounded, 0, method, ReasonCode.EMPTY_ARM)
            bounds = quantile_bounds(candidate, self.quantile, self.alpha, self.tuning)
            return self._result(candidate.estimate(self.quantile), bounds, candidate.n, method)
        summary = candidate.summary()
        if isinstance(candidate, ProportionStats) and summary.reason is None:
            if candidate.n == 0:
                return self._result(math.nan, unbounded, 0, "beta-binomial", ReasonCode.EMPTY_ARM)
            s, n = candidate.successes, candidate.n
            bounds = (
                rate_bound(s, n, alpha=self.alpha, tuning=self.tuning, upper=False),
                rate_bound(s, n, alpha=self.alpha, tuning=self.tuning, upper=True),
            )
            return self._result(candidate.mean, bounds, n, "beta-binomial")
        method = "normal-mixture"
        reason = summary.reason
        if reason is None and summary.n == 0:
            reason = ReasonCode.EMPTY_ARM
        elif reason is None and summary.n < 2:
            reason = ReasonCode.TOO_FEW_UNITS
        elif reason is None and summary.variance <= 0:
            reason = ReasonCode.ZERO_VARIANCE
        if reason is not None:
            return self._result(summary.mean, unbounded, summary.n, method, reason)
        a = mixture_scale(summary.n, self.alpha, self.tuning, one_sided=True)
        width = one_sided_radius(a, self.alpha) * math.sqrt(summary.variance / summary.n)
        bounds = (summary.mean - width, summary.mean + width)
        return self._result(summary.mean, bounds, summary.n, method)
