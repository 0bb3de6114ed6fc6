"""Checkpoints: the risk-aware decision on an experiment at one look.

:func:`checkpoint` applies the rule of Schultzberg, Ankargren & Frånberg (2024): **promote** only
when the primary metric is significantly better AND every guardrail is non-inferior (``PASS``) AND
the split shows no SRM. Otherwise, in order:

- SRM → ``rollback``: the comparison cannot be trusted;
- a guardrail ``FAIL`` → ``guardrail_stop``: harm established, stop before any talk of lift;
- the primary significantly worse in every treatment → ``rollback``;
- ``max_duration`` reached → ``inconclusive`` (serve control; never promote);
- else ``running``.

Every test is always valid (sequential), so checking at every checkpoint keeps its error rates.
With several treatments the primary's p-values are Holm-adjusted across them; secondary metrics
are adjusted with Holm (or Benjamini-Hochberg) across metrics and arms, and reported only.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rampgate.stats import (
    QuantileSketch,
    Verdict,
    benjamini_hochberg,
    holm,
    quantile_test,
    sequential_test,
)

from .evidence import MetricEvidence, SrmEvidence, evaluate_guardrail, srm_evidence
from .experiment import Correction, Experiment, ExperimentContract
from .metrics import Aggregate, Metric
from .observations import Arms
from .plan import GateSettings

__all__ = [
    "Checkpoint",
    "Comparison",
    "ExperimentObservations",
    "ExperimentStatus",
    "checkpoint",
]

PASS = Verdict.PASS


class ExperimentStatus(enum.StrEnum):
    """A checkpoint's decision."""

    RUNNING = "running"
    GUARDRAIL_STOP = "guardrail_stop"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class ExperimentObservations:
    """Per metric and arm the aggregates since start, and units per arm (for SRM)."""

    metrics: Mapping[str, Mapping[str, Aggregate]] = field(default_factory=dict)
    units: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One treatment arm against control on one metric: effect, interval, p-values.

    ``better`` / ``worse`` say whether the effect is significant (after adjustment) in the
    metric's good / bad direction.
    """

    metric: str
    arm: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    adjusted_p: float
    better: bool
    worse: bool
    method: str
    relative: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The decision at one look, and everything it rests on.

    ``serve`` is the arm everyone should get when the experiment stops here (control unless
    promoted), ``None`` while it runs; ``winner`` the promoted arm.
    """

    experiment: str
    at: float
    status: ExperimentStatus
    rationale: str
    serve: str | None
    winner: str | None
    primary: tuple[Comparison, ...]
    secondary: tuple[Comparison, ...]
    guardrails: tuple[tuple[str, MetricEvidence], ...]
    srm: SrmEvidence


_Result = tuple[float, float, float, float, str, str | None]


def _compare(
    metric: Metric, control: Aggregate, treatment: Aggregate, *, relative: bool, alpha: float
) -> _Result:
    """(estimate, low, high, p-value, method, reason) of treatment against control."""
    if isinstance(control, QuantileSketch) and isinstance(treatment, QuantileSketch):
        q = metric.quantile or 0.5
        e = quantile_test(control, treatment, quantile=q, relative=relative, alpha=alpha)
        # No p-value for quantiles: significance is the interval excluding zero.
        p = 0.0 if e.ok and (e.ci_low > 0 or e.ci_high < 0) else 1.0
        reason = str(e.reason) if e.reason else None
        return e.estimate, e.ci_low, e.ci_high, p, "beta-binomial-quantile", reason
    if isinstance(control, QuantileSketch) or isinstance(treatment, QuantileSketch):
        return math.nan, -math.inf, math.inf, 1.0, "", "MISMATCHED_ARMS"
    r = sequential_test(control, treatment, relative=relative, alpha=alpha)
    return r.estimate, r.ci_low, r.ci_high, r.p_value, r.method, str(r.reason) if r.reason else None


def _comparisons(
    contract: ExperimentContract,
    metrics: Sequence[Metric],
    obs: ExperimentObservations,
    *,
    relative: bool,
    correction: Correction,
) -> tuple[Comparison, ...]:
    raw: list[tuple[Metric, str, _Result]] = []
    for m in metrics:
        per_arm = obs.metrics.get(m.name, {})
        for arm in contract.treatments:
            c, t = per_arm.get(contract.control), per_arm.get(arm)
            if c is None or t is None:
                raw.append((m, arm, (math.nan, -math.inf, math.inf, 1.0, "", "MISSING")))
            else:
                raw.append((m, arm, _compare(m, c, t, relative=relative, alpha=contract.alpha)))
    if not raw:
        return ()
    p_values = [max(0.0, min(1.0, r[2][3])) for r in raw]
    adjust = benjamini_hochberg if correction is Correction.BH else holm
    adjusted = adjust(p_values, alpha=contract.alpha)
    out = []
    for (m, arm, (est, low, high, p, method, reason)), q, rejected in zip(
        raw, adjusted.p_values, adjusted.rejected, strict=True
    ):
        up = rejected and est > 0
        down = rejected and est < 0
        better, worse = (up, down) if m.higher_is_better else (down, up)
        out.append(
            Comparison(m.name, arm, est, low, high, p, q, better, worse, method, relative, reason)
        )
    return tuple(out)


def checkpoint(
    experiment: Experiment, observations: ExperimentObservations, now: float
) -> Checkpoint:
    """The risk-aware decision at ``now`` (see the module docstring)."""
    c = experiment.contract
    names = [a for a, _ in c.arms]
    srm = srm_evidence(
        [observations.units.get(a, 0) for a in names],
        [c.weight(a) for a in names],
        GateSettings().srm_threshold,
    )
    gates = GateSettings(alpha=c.alpha, power=c.power)
    guardrails = tuple(
        (
            arm,
            evaluate_guardrail(g, _arms(observations, g.metric.name, c.control, arm), gates=gates),
        )
        for arm in c.treatments
        for g in c.guardrails
    )
    primary = _comparisons(
        c, [c.primary], observations, relative=c.relative, correction=Correction.HOLM
    )
    secondary = _comparisons(
        c, c.secondary, observations, relative=c.relative, correction=c.correction
    )
    started = experiment.started_at if experiment.started_at is not None else now
    over = now - started >= c.max_duration

    def done(status: ExperimentStatus, why: str, winner: str | None = None) -> Checkpoint:
        serve = None if status is ExperimentStatus.RUNNING else (winner or c.control)
        return Checkpoint(
            c.name, now, status, why, serve, winner, primary, secondary, guardrails, srm
        )

    if srm.flagged:
        return done(
            ExperimentStatus.ROLLBACK,
            f"sample ratio mismatch: units {srm.observed} against weights "
            f"(p = {srm.p_value:.2g}); the comparison cannot be trusted",
        )
    failed = [(arm, e) for arm, e in guardrails if e.verdict is Verdict.FAIL]
    if failed:
        what = "; ".join(
            f"{arm}: {e.guardrail} harm {e.harm:.4g} ≥ {e.harm_low:.4g}" for arm, e in failed
        )
        return done(ExperimentStatus.GUARDRAIL_STOP, f"guardrail failed: {what}")
    safe = {
        arm
        for arm in c.treatments
        if all(e.verdict is Verdict.PASS for a, e in guardrails if a == arm)
    }
    winners = [p for p in primary if p.better and p.arm in safe]
    if winners:
        best = max(winners, key=lambda p: p.estimate if c.primary.higher_is_better else -p.estimate)
        return done(
            ExperimentStatus.PROMOTE,
            f"{best.arm}: {c.primary.name} better by {best.estimate:.4g} "
            f"[{best.ci_low:.4g}, {best.ci_high:.4g}], adjusted p = {best.adjusted_p:.3g}; "
            "every guardrail non-inferior; no SRM",
            winner=best.arm,
        )
    if primary and all(p.worse for p in primary):
        return done(
            ExperimentStatus.ROLLBACK,
            f"{c.primary.name} significantly worse in every treatment",
        )
    if over:
        pending = [
            f"{p.arm}: {p.metric} not significantly better" for p in primary if not p.better
        ] + [
            f"{arm}: {e.guardrail} {e.verdict}"
            for arm, e in guardrails
            if e.verdict is not Verdict.PASS
        ]
        return done(
            ExperimentStatus.INCONCLUSIVE,
            "max_duration reached without a winner: " + ", ".join(pending),
        )
    missing = [
        f"{p.arm}: {p.metric} not yet significantly better (p = {p.adjusted_p:.3g})"
        for p in primary
        if not p.better
    ]
    missing += [f"{a}: {e.guardrail} {e.verdict}" for a, e in guardrails if e.verdict > PASS]
    return done(ExperimentStatus.RUNNING, "collecting evidence: " + "; ".join(missing))


def _arms(obs: ExperimentObservations, metric: str, control: str, arm: str) -> Arms | None:
    per_arm = obs.metrics.get(metric, {})
    c, t = per_arm.get(control), per_arm.get(arm)
    return Arms(c, t) if c is not None and t is not None else None
