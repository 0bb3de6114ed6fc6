"""Evidence: each guardrail's verdict with its numbers, the SRM check, and the snapshot citing them.

A :class:`Snapshot` is what a decision stores and a receipt cites: per metric and arm the units,
estimate and interval; the harm, its bounds, the margin (or limit) and tolerance; the verdict and
the test that produced it; the minimum sample the step needed; the SRM result; every gate; and a
rationale in words. It is immutable and self-contained, so it explains the decision years later
without the plan or the events at hand.

Arm intervals are each arm's own always-valid bounds (one-sided at ``alpha`` per side, so a
``1 - 2 alpha`` interval); the harm bounds are the guardrail's, the ones the verdict used.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rampgate.stats import (
    Baseline,
    Guardrail,
    GuardrailResult,
    MeanStats,
    ProportionStats,
    QuantileSketch,
    RatioStats,
    SampleSize,
    Threshold,
    Verdict,
    guardrail_sample_size,
    srm_test,
)

from .metrics import Aggregate, MetricKind
from .observations import Arms
from .plan import GateSettings, GuardrailSpec

__all__ = [
    "ArmEstimate",
    "Decision",
    "GateResult",
    "MetricEvidence",
    "Snapshot",
    "SrmEvidence",
    "evaluate_guardrail",
    "required_sample",
    "srm_evidence",
]

MISSING = "MISSING"
"""Reason of a guardrail whose metric the driver did not report: ``NODATA``."""
WRONG_KIND = "WRONG_KIND"
"""Reason of a guardrail given aggregates of another kind than its metric's: ``ERROR``."""


class Decision(enum.StrEnum):
    """What a reconcile decided, as recorded in its snapshot."""

    START = "start"
    ADVANCE = "advance"
    AWAIT_APPROVAL = "await_approval"
    APPROVE = "approve"
    HOLD = "hold"
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    ABORT = "abort"


@dataclass(frozen=True, slots=True)
class ArmEstimate:
    """One arm's value of a metric: units, estimate, always-valid bounds."""

    n: int
    estimate: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class MetricEvidence:
    """One guardrail at one look: the arms, the harm and its bounds, the verdict and the test.

    ``required`` is the per-arm minimum sample (stable, candidate) at the step's weight from the
    power rule, ``None`` where no planner applies (limits, quantiles, an unknown baseline);
    ``sample_met`` says whether both arms have it.
    """

    metric: str
    kind: MetricKind
    guardrail: str
    stable: ArmEstimate | None
    candidate: ArmEstimate | None
    harm: float
    harm_low: float
    harm_high: float
    margin: float | None
    relative: bool
    tolerance: float
    limit: float | None
    verdict: Verdict
    method: str
    alpha: float
    reason: str | None
    required: tuple[int, int] | None = None
    sample_met: bool = True


@dataclass(frozen=True, slots=True)
class SrmEvidence:
    """Units per arm (stable first) against the weights.

    ``p_value`` is always valid (see :func:`srm_evidence`); ``statistic`` is Pearson's
    chi-square, for the reader.
    """

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    p_value: float
    statistic: float
    threshold: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate of a step: ``guardrails``, ``srm``, ``sample``, ``min_units``, ``min_duration``,
    ``approval``, ``eval``, ``shadow_pairs``."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The immutable explanation of one decision.

    ``weights`` are those in effect while the evidence was gathered; ``status_from``/``step_from``
    and ``status_to``/``step_to`` the transition; ``actor`` who decided (``controller``, an
    operator's name, ``kill-switch``).
    """

    id: str
    rollout: str
    rollout_id: str
    flag: str
    environment: str
    at: float
    decision: Decision
    rationale: str
    actor: str
    status_from: str
    status_to: str
    step_from: int | None
    step_to: int | None
    weights: tuple[tuple[str, float], ...]
    evidence: tuple[MetricEvidence, ...] = ()
    srm: SrmEvidence | None = None
    gates: tuple[GateResult, ...] = ()


def _arm(agg: Aggregate, spec: GuardrailSpec, gates: GateSettings) -> ArmEstimate:
    """An arm's own bounds: a threshold at 0 returns the value's bounds as its harm bounds."""
    probe = Threshold(0.0, alpha=gates.alpha, tuning=gates.tuning, quantile=spec.metric.quantile)
    r = probe.evaluate(agg)
    return ArmEstimate(agg.n, r.harm, r.harm_low, r.harm_high)


def _no_evidence(
    spec: GuardrailSpec, gates: GateSettings, verdict: Verdict, reason: str
) -> MetricEvidence:
    return MetricEvidence(
        metric=spec.metric.name,
        kind=spec.metric.kind,
        guardrail=spec.describe(),
        stable=None,
        candidate=None,
        harm=math.nan,
        harm_low=-math.inf,
        harm_high=math.inf,
        margin=spec.margin,
        relative=spec.relative,
        tolerance=spec.tolerance,
        limit=spec.limit,
        verdict=verdict,
        method="",
        alpha=gates.alpha,
        reason=reason,
        sample_met=False,
    )


def evaluate_guardrail(
    spec: GuardrailSpec,
    arms: Arms | None,
    *,
    gates: GateSettings,
    weight: float | None = None,
    guardrail_count: int = 1,
) -> MetricEvidence:
    """The verdict of one guardrail on the arms' aggregates, with everything a snapshot shows.

    ``weight`` is the candidate's share of the split (``None`` in the shadow phase, where the
    power rule does not apply); ``guardrail_count`` spreads the power over the guardrails.
    """
    if arms is None:
        return _no_evidence(spec, gates, Verdict.NODATA, MISSING)
    expected = spec.metric.kind.aggregate
    if not (isinstance(arms.stable, expected) and isinstance(arms.candidate, expected)):
        return _no_evidence(spec, gates, Verdict.ERROR, WRONG_KIND)
    check = spec.check(alpha=gates.alpha, tuning=gates.tuning)
    result: GuardrailResult = (
        check.evaluate(arms.candidate)
        if isinstance(check, Threshold)
        else check.evaluate(arms.stable, arms.candidate)
    )
    required = None
    if weight is not None:
        need = required_sample(spec, arms.stable, weight, gates, guardrail_count)
        required = (need.control, need.treatment) if need is not None else None
    stable = _arm(arms.stable, spec, gates)
    candidate = _arm(arms.candidate, spec, gates)
    sample_met = required is None or (stable.n >= required[0] and candidate.n >= required[1])
    return MetricEvidence(
        metric=spec.metric.name,
        kind=spec.metric.kind,
        guardrail=spec.describe(),
        stable=stable,
        candidate=candidate,
        harm=result.harm,
        harm_low=result.harm_low,
        harm_high=result.harm_high,
        margin=spec.margin,
        relative=spec.relative,
        tolerance=spec.tolerance,
        limit=spec.limit,
        verdict=result.verdict,
        method=result.method,
        alpha=gates.alpha,
        reason=str(result.reason) if result.reason is not None else None,
        required=required,
        sample_met=sample_met,
    )


def _baseline(stable: Aggregate) -> Baseline | None:
    """What the stable arm looks like, for the planner; ``None`` when it cannot say yet."""
    if isinstance(stable, QuantileSketch):
        return None
    if isinstance(stable, ProportionStats):
        return Baseline.rate(stable.mean) if stable.n >= 2 and 0 < stable.mean < 1 else None
    summary = stable.summary()
    ok = (
        summary.reason is None
        and summary.n >= 2
        and math.isfinite(summary.mean)
        and math.isfinite(summary.variance)
        and summary.variance > 0
    )
    return Baseline(summary.mean, summary.variance) if ok else None


def required_sample(
    spec: GuardrailSpec,
    stable: Aggregate,
    weight: float,
    gates: GateSettings,
    guardrail_count: int = 1,
) -> SampleSize | None:
    """Units per arm a step at ``weight`` needs before this guardrail's ``PASS`` may advance it.

    ``guardrail_sample_size`` at the step's treatment share, with the baseline read from the
    stable arm and the power spread over the guardrails (each at ``1 - (1 - power)/G``, so the
    whole gate has the plan's power; see ``docs/statistics.md``). ``None`` when no planner
    applies: absolute limits, quantiles, a stable arm that does not vary yet — the guardrail's
    own ``PASS`` and the step's ``min_units`` then decide.
    """
    if spec.is_threshold or spec.metric.kind is MetricKind.QUANTILE or not 0 < weight < 1:
        return None
    if not isinstance(stable, ProportionStats | MeanStats | RatioStats):
        return None
    baseline = _baseline(stable)
    if baseline is None:
        return None
    check = spec.check(alpha=gates.alpha, tuning=gates.tuning)
    if not isinstance(check, Guardrail):
        return None
    power = 1.0 - (1.0 - gates.power) / max(guardrail_count, 1)
    try:
        return guardrail_sample_size(check, baseline, power=power, treatment_share=weight)
    except ValueError:
        # The planner refuses (a relative margin over a non-positive baseline, an effect no
        # practical sample detects): fall back to the verdict and min_units.
        return None


SRM_MIN_EXPECTED = 5.0
"""The check waits until each arm expects this many units.

Below it a handful of units says nothing about the split: at a 1% step, 2 candidate units out of
10 give p < 1e-8 by chi-square, while their exact binomial probability is 0.004.
"""

SRM_CONCENTRATION = 1000.0
"""``k`` of the Dirichlet(``k·w``) mixture behind the always-valid SRM check.

The prior spreads each arm's share by about ``√(w(1-w)/k)`` around its weight, which makes the
test most sensitive to imbalances of that size near ``16·k`` units (the normal mixture it
matches is tuned there at ``p < 0.001``): a leak of 2% of 20,000 units at 50/50 is still caught
in about 94% of runs when looked at every 500 units, against 99% for one chi-square at the end.
"""


def _srm_log_evalue(counts: Sequence[int], weights: Sequence[float]) -> float:
    """``log`` of the Dirichlet-multinomial Bayes factor against the configured shares.

    Lindon & Malek (2022), "Anytime-valid inference for multinomial count data" (NeurIPS): the
    ratio of the counts' probability under a Dirichlet(``k·w``) mixture of shares to their
    probability under the shares ``w`` is a nonnegative martingale when the split is right, so
    by Ville's inequality it ever reaches ``1/threshold`` with probability at most ``threshold``
    — however often it is looked at. Arms of weight 0 are left out (a unit there is a leak,
    flagged on its own).
    """
    live = [(c, w) for c, w in zip(counts, weights, strict=True) if w > 0]
    total_w = sum(w for _, w in live)
    n = sum(c for c, _ in live)
    k = SRM_CONCENTRATION
    log_e = math.lgamma(k) - math.lgamma(k + n)
    for c, w in live:
        share = w / total_w
        log_e += math.lgamma(k * share + c) - math.lgamma(k * share) - c * math.log(share)
    return log_e


def srm_evidence(units: Sequence[int], weights: Sequence[float], threshold: float) -> SrmEvidence:
    """Units per arm against the weights, by a test that stays valid at every look.

    A chi-square test at ``p < threshold`` on every reconcile is not: over the hundreds of looks
    of one step it raises a false alarm in about 2% of healthy splits (20 times its threshold),
    each rolling a healthy candidate back. So the alarm is the always-valid one of
    :func:`_srm_log_evalue`, with ``p_value = min(1, 1/E)``; the chi-square statistic and the
    expected counts stay in the evidence for the reader.
    """
    r = srm_test(list(units), list(weights), threshold=threshold)
    live = [e for e, w in zip(r.expected, weights, strict=False) if w > 0]
    enough = bool(live) and min(live) >= SRM_MIN_EXPECTED
    if math.isinf(r.statistic):  # a unit in an arm of weight 0: a leak no chance explains
        p_value = 0.0
    elif r.reason is not None:
        p_value = r.p_value
    elif not enough:
        p_value = 1.0
    else:
        p_value = min(1.0, math.exp(-_srm_log_evalue(units, weights)))
    return SrmEvidence(
        observed=tuple(int(u) for u in units),
        expected=r.expected or tuple(math.nan for _ in units),
        p_value=p_value,
        statistic=r.statistic,
        threshold=threshold,
        flagged=p_value < threshold,
    )
