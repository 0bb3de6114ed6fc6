"""Planning: how many units, how small an effect, how many days — fixed or sequential designs.

Every calculation solves one equation: the effect must stand ``crit(N) + z_power`` standard
errors from zero, where ``se² = A/N`` for ``N`` units in total and ``A`` comes from the per-unit
variances under the alternative (``v_t/s + v_c/(1 - s)`` for a difference, the delta-method
analogue for a relative lift; ``s`` is the treatment's share of units). ``crit`` is the normal
quantile of a fixed design (Lachin 1981, "Introduction to sample size determination and power
analysis for clinical trials", Controlled Clinical Trials 2) or, for a sequential design, the
radius of the same mixture boundary the tests use at ``N`` — so a plan is exactly as
conservative as the analysis it plans for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ._scipy import brentq, ndtri
from .aggregates import MeanStats, ProportionStats
from .effect import ALTERNATIVES, Alternative
from .guardrail import Guardrail
from .mixture import one_sided_radius, two_sided_radius
from .sequential import DEFAULT_TUNING, mixture_scale

__all__ = [
    "Baseline",
    "Design",
    "ExperimentPlan",
    "SampleSize",
    "duration_days",
    "guardrail_sample_size",
    "minimum_detectable_effect",
    "plan_experiment",
    "sample_size",
]

_MAX_UNITS = 1e13


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the control arm looks like: its mean and per-unit variance.

    For a proportion the variance follows from the mean (``p(1 - p)``) and changes under the
    alternative; for a mean metric it is assumed the same in both arms.
    """

    mean: float
    variance: float
    proportion: bool = False

    def __post_init__(self) -> None:
        if self.proportion and not 0.0 < self.mean < 1.0:
            raise ValueError("a proportion baseline needs a rate strictly between 0 and 1")
        if not (math.isfinite(self.mean) and math.isfinite(self.variance)) or self.variance <= 0:
            raise ValueError("a baseline needs a finite mean and a positive variance")

    @classmethod
    def rate(cls, p: float) -> Baseline:
        """A proportion metric with rate ``p``."""
        return cls(p, p * (1.0 - p), proportion=True)

    @classmethod
    def from_stats(cls, stats: MeanStats | ProportionStats) -> Baseline:
        """From historical (or the stable arm's) aggregates."""
        if isinstance(stats, ProportionStats):
            return cls.rate(stats.mean)
        return cls(stats.mean, stats.variance)

    def variance_at(self, mean: float) -> float:
        if self.proportion:
            if not 0.0 < mean < 1.0:
                raise ValueError(f"the alternative rate {mean!r} lies outside (0, 1)")
            return mean * (1.0 - mean)
        return self.variance


@dataclass(frozen=True, slots=True)
class Design:
    """How the experiment will be analysed: what the plan must match."""

    alpha: float = 0.05
    power: float = 0.8
    sequential: bool = False
    tuning: float = DEFAULT_TUNING
    alternative: Alternative = "two-sided"
    treatment_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must lie in (0, 0.5), got {self.alpha!r}")
        if not 0.5 <= self.power < 1.0:
            raise ValueError(f"power must lie in [0.5, 1), got {self.power!r}")
        if not 0.0 < self.treatment_share < 1.0:
            raise ValueError("treatment_share must lie in (0, 1)")
        if self.alternative not in ALTERNATIVES:
            raise ValueError(f"alternative must be one of {ALTERNATIVES}")

    @property
    def one_sided(self) -> bool:
        return self.alternative != "two-sided"

    def critical(self, n_total: float) -> float:
        """How many standard errors from zero an estimate must be to be significant at ``N``."""
        if not self.sequential:
            return ndtri(1.0 - (self.alpha if self.one_sided else self.alpha / 2.0))
        a = mixture_scale(n_total, self.alpha, self.tuning, one_sided=self.one_sided)
        if self.one_sided:
            return one_sided_radius(a, self.alpha)
        return two_sided_radius(a, self.alpha)


@dataclass(frozen=True, slots=True)
class SampleSize:
    """Units needed in each arm."""

    control: int
    treatment: int

    @property
    def total(self) -> int:
        return self.control + self.treatment


def _arms(total: float, share: float) -> SampleSize:
    return SampleSize(math.ceil(total * (1.0 - share) - 1e-9), math.ceil(total * share - 1e-9))


def _spread(baseline: Baseline, treatment_mean: float, *, relative: bool, share: float) -> float:
    """``A`` with ``se² = A / N`` for the estimate's variance at ``N`` units in total."""
    v_c, v_t = baseline.variance, baseline.variance_at(treatment_mean)
    if not relative:
        return v_t / share + v_c / (1.0 - share)
    mu = baseline.mean
    return v_t / (mu**2 * share) + v_c * treatment_mean**2 / (mu**4 * (1.0 - share))


def _solve_total(
    effect: float, spread: float, critical: Callable[[float], float], z: float
) -> float:
    """The smallest ``N`` with ``effect / √(spread/N) >= critical(N) + z``."""

    def margin(n: float) -> float:
        return effect * math.sqrt(n / spread) - critical(n) - z

    low = 2.0
    if margin(low) >= 0:
        return low
    if margin(_MAX_UNITS) < 0:
        raise ValueError("the effect is too small to detect with any practical sample")
    return brentq(margin, low, _MAX_UNITS, xtol=1e-6, rtol=1e-10)


def _treatment_mean(baseline: Baseline, effect: float, relative: bool) -> float:
    return baseline.mean * (1.0 + effect) if relative else baseline.mean + effect


def sample_size(
    baseline: Baseline, effect: float, *, relative: bool = False, design: Design | None = None
) -> SampleSize:
    """Units per arm to detect ``effect`` (absolute, or a lift when ``relative``) with the power.

    For a sequential design this is the sample at which the always-valid test reaches the power
    at its last look; earlier looks only add to the chance of stopping.
    """
    design = design or Design()
    if effect == 0 or not math.isfinite(effect):
        raise ValueError("the effect to detect must be finite and non-zero")
    if relative and baseline.mean == 0:
        raise ValueError("a relative effect needs a non-zero baseline mean")
    mean_t = _treatment_mean(baseline, effect, relative)
    spread = _spread(baseline, mean_t, relative=relative, share=design.treatment_share)
    z = ndtri(design.power)
    total = _solve_total(abs(effect), spread, design.critical, z)
    return _arms(total, design.treatment_share)


def minimum_detectable_effect(
    baseline: Baseline, total_units: int, *, relative: bool = False, design: Design | None = None
) -> float:
    """The smallest positive effect (absolute, or a lift) detected with the power at ``N`` units."""
    design = design or Design()
    if total_units < 4:
        raise ValueError("at least two units per arm are needed")
    z = ndtri(design.power)
    crit = design.critical(float(total_units))

    def shortfall(effect: float) -> float:
        mean_t = _treatment_mean(baseline, effect, relative)
        spread = _spread(baseline, mean_t, relative=relative, share=design.treatment_share)
        return effect - math.sqrt(spread / total_units) * (crit + z)

    scale = abs(baseline.mean) if relative else 1.0
    if baseline.proportion:
        ceiling = (1.0 / baseline.mean - 1.0) if relative else 1.0 - baseline.mean
        high = ceiling * (1.0 - 1e-9)
        if shortfall(high) < 0:
            raise ValueError("no effect within the proportion's range is detectable")
    else:
        high = math.sqrt(baseline.variance) / max(scale, 1e-300)
        while shortfall(high) < 0:
            high *= 2.0
    return brentq(shortfall, 0.0, high, xtol=1e-15, rtol=1e-12)


def guardrail_sample_size(
    guardrail: Guardrail,
    baseline: Baseline,
    *,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> SampleSize:
    """Units per arm at which a guardrail decides with the given power, both ways.

    The larger of: the sample where a harm of exactly the margin gives ``FAIL`` (lower bound above
    the tolerance) with probability ``power``, and the sample where no harm gives ``PASS`` (upper
    bound below the margin) with probability ``power``. Gates use it as a step's minimum sample: a
    step that advances earlier could not have seen a margin-sized harm. For a relative margin it
    also waits until the control mean is known to be positive, as the guardrail does.
    """
    share = treatment_share
    if not 0.0 < share < 1.0:
        raise ValueError("treatment_share must lie in (0, 1)")
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must lie in [0.5, 1), got {power!r}")
    g = guardrail
    if g.quantile is not None:
        raise ValueError("there is no planner for quantile guardrails yet")
    if g.relative and baseline.mean <= 0:
        raise ValueError("a relative margin needs a positive baseline mean")

    def critical(n: float) -> float:
        return one_sided_radius(mixture_scale(n, g.alpha, g.tuning, one_sided=True), g.alpha)

    z = ndtri(power)
    worse = -g.margin if g.higher_is_better else g.margin
    harmed = _treatment_mean(baseline, worse, g.relative)
    fail = _solve_total(
        g.margin - g.tolerance,
        _spread(baseline, harmed, relative=g.relative, share=share),
        critical,
        z,
    )
    unharmed = _spread(baseline, baseline.mean, relative=g.relative, share=share)
    totals = [fail, _solve_total(g.margin, unharmed, critical, z)]
    if g.relative:
        totals.append(_solve_total(baseline.mean, baseline.variance / (1.0 - share), critical, 0.0))
    return _arms(max(totals), share)


def duration_days(units: int | SampleSize, *, units_per_day: float) -> float:
    """Days to collect ``units`` (in total) when ``units_per_day`` enter the experiment."""
    if units_per_day <= 0:
        raise ValueError("units_per_day must be positive")
    total = units.total if isinstance(units, SampleSize) else units
    return total / units_per_day


@dataclass(frozen=True, slots=True)
class ExperimentPlan:
    """What ``rampgate experiment plan`` prints."""

    baseline: Baseline
    effect: float
    relative: bool
    design: Design
    sample: SampleSize
    units_per_day: float
    days: float
    guardrails: tuple[tuple[Guardrail, SampleSize], ...] = field(default=())


def plan_experiment(
    baseline: Baseline,
    effect: float,
    *,
    units_per_day: float,
    relative: bool = False,
    design: Design | None = None,
    guardrails: tuple[tuple[Guardrail, Baseline], ...] = (),
) -> ExperimentPlan:
    """Sample size and duration for the primary metric, and each guardrail's minimum sample.

    ``units_per_day`` is the traffic that enters the experiment (after coverage). The duration is
    the longer of the primary metric's and the guardrails' needs.
    """
    design = design or Design()
    sample = sample_size(baseline, effect, relative=relative, design=design)
    needs = tuple(
        (g, guardrail_sample_size(g, b, power=design.power, treatment_share=design.treatment_share))
        for g, b in guardrails
    )
    longest = max([sample.total, *(s.total for _, s in needs)])
    return ExperimentPlan(
        baseline=baseline,
        effect=effect,
        relative=relative,
        design=design,
        sample=sample,
        units_per_day=units_per_day,
        days=duration_days(longest, units_per_day=units_per_day),
        guardrails=needs,
    )
