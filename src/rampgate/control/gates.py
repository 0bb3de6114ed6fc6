"""Gates: everything that decides a step, computed from the state and observations at ``now``.

:func:`assess` does not decide anything; it measures. ``reconcile`` reads the result, and so can
``rampgate rollout status`` (per-guardrail verdicts with intervals, time left) without acting.

A step's gates, all of which must pass to leave it:

- ``guardrails`` — every guardrail ``PASS`` (``FAIL`` on any rolls back before anything else);
- ``srm`` — the units per arm match the weights (a flagged split rolls back: the comparison
  cannot be trusted);
- ``sample`` — each guardrail's arms have the power rule's minimum sample at the step's weight;
- ``min_units`` — both arms have the step's ``min_units``;
- ``min_duration`` — the step has lasted its ``min_duration``;
- ``eval`` — the required offline evaluation has passed;
- ``approval`` — an operator approved the step, when it asks for one.

The shadow phase has ``shadow_pairs`` (enough paired comparisons), ``guardrails`` (those
measurable on shadow pairs) and ``eval``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rampgate.stats import Verdict

from .evidence import GateResult, MetricEvidence, SrmEvidence, evaluate_guardrail, srm_evidence
from .observations import Observations
from .plan import GateSettings, RolloutPlan
from .state import RolloutState

__all__ = ["Assessment", "assess"]

_WAITING = (Verdict.INCONCLUSIVE, Verdict.NODATA)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The gates of the current phase at one look."""

    phase: str
    weight: float
    evidence: tuple[MetricEvidence, ...]
    srm: SrmEvidence | None
    gates: tuple[GateResult, ...]
    elapsed: float
    time_left: float

    @property
    def verdict(self) -> Verdict:
        """The worst guardrail verdict (``PASS`` when no guardrail could be measured here)."""
        return Verdict.worst(Verdict.PASS, *(e.verdict for e in self.evidence))

    @property
    def failed(self) -> tuple[MetricEvidence, ...]:
        """Guardrails whose harm is established."""
        return tuple(e for e in self.evidence if e.verdict is Verdict.FAIL)

    @property
    def errors(self) -> tuple[MetricEvidence, ...]:
        return tuple(e for e in self.evidence if e.verdict is Verdict.ERROR)

    @property
    def srm_alarm(self) -> bool:
        return self.srm is not None and self.srm.flagged

    def gate(self, name: str) -> GateResult:
        return next(g for g in self.gates if g.name == name)

    def ready(self, *, ignore: tuple[str, ...] = ()) -> bool:
        """Every gate passes (apart from those in ``ignore``)."""
        return all(g.passed for g in self.gates if g.name not in ignore)

    @property
    def waiting(self) -> bool:
        """A step's time is up but its guardrails are still undecided: it holds."""
        return self.phase.startswith("step") and self.time_left <= 0 and self.verdict in _WAITING


def _fmt(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else ("-inf" if x < 0 else "inf")


def describe(e: MetricEvidence) -> str:
    """``escalation margin 10%: FAIL, harm 0.18 in [0.12, 0.25] (wilson-mover)``."""
    if e.reason is not None and not math.isfinite(e.harm_low) and not math.isfinite(e.harm_high):
        return f"{e.guardrail}: {e.verdict} ({e.reason})"
    return (
        f"{e.guardrail}: {e.verdict}, harm {_fmt(e.harm)} in "
        f"[{_fmt(e.harm_low)}, {_fmt(e.harm_high)}] ({e.method})"
    )


def _guardrail_gate(evidence: tuple[MetricEvidence, ...]) -> GateResult:
    pending = [describe(e) for e in evidence if e.verdict is not Verdict.PASS]
    if not evidence:
        return GateResult("guardrails", True, "no guardrail measurable in this phase")
    return GateResult("guardrails", not pending, "; ".join(pending) or "all PASS")


def _eval_gate(plan: RolloutPlan, observations: Observations) -> GateResult | None:
    if plan.requires_eval is None:
        return None
    result = observations.evals.get(plan.requires_eval)
    if result is None:
        return GateResult("eval", False, f"no result of {plan.requires_eval} yet")
    outcome = "passed" if result.passed else "failed"
    return GateResult("eval", result.passed, f"{plan.requires_eval} {outcome} {result.id}".strip())


FIRST_STEP_SHARE = 0.5
"""The part of each guardrail's ``alpha`` spent at the first step when other phases test too."""


def _alpha_share(plan: RolloutPlan, step: int | None) -> float:
    """The part of each guardrail's ``alpha/G`` spent at one phase (``None``: the shadow phase).

    The phases that can test guardrails are the shadow phase and every step before the last
    (the last is the promotion, never measured; a one-step plan measures its only step). The
    first step takes :data:`FIRST_STEP_SHARE`, the other phases split the rest equally; alone,
    the first step takes everything. The shares sum to 1 whatever the plan.
    """
    steps = max(len(plan.steps) - 1, 1)
    others = steps - 1 + (plan.shadow is not None)
    if others == 0:
        return 1.0
    if step == 0:
        return FIRST_STEP_SHARE
    return (1.0 - FIRST_STEP_SHARE) / others


def _phase_settings(plan: RolloutPlan, step: int | None) -> GateSettings:
    """The statistics one phase (``step``, or ``None`` for the shadow phase) tests with.

    **alpha.** Each phase — the shadow phase and every step before the last — measures from its
    own start, so its always-valid bounds start afresh, and each of the ``G`` guardrails can fail
    on its own: a healthy candidate is rolled back if *any* of these tests, one per phase and
    guardrail, gives a false ``FAIL``. Each guardrail gets ``alpha/G``, spread over the phases by
    :func:`_alpha_share`; the shares sum to 1, so by Bonferroni's inequality the plan's ``alpha``
    bounds the chance of a false rollback over the whole rollout, however often it is looked at.
    Dividing a budget unevenly over looks planned in advance is alpha spending (Lan & DeMets
    1983); here the looks are whole phases, each always valid within itself.

    The uneven split is for detection. The first step is where a harmful candidate is cheapest to
    catch — the fewest users see it — and where most rollbacks happen: a harm the candidate has
    from the start is seen there first. So it gets half of each guardrail's share
    (``alpha/(2G)``) and the other phases split the other half: with three tested steps,
    ``alpha/6`` at the first instead of ``alpha/9`` for an equal split — 6-9% fewer units to a
    rollback in the rollout benchmark — and ``alpha/12`` at the later ones, where the candidate's
    larger share gathers the extra sample quickly. The shadow phase serves no one, so it is one
    of the others.

    The power rule plans with the same ``alpha``: a step waits for the sample at which its own
    test would see a margin-sized harm.

    **tuning.** ``N*`` counts units in both arms, where the normal mixture's bound is tightest
    (Waudby-Smith et al. 2023; Howard et al. 2021). A difference measured at a candidate share
    ``w`` has the precision of ``4w(1-w)`` times as many units split 50/50, so the plan's
    ``N*`` (a 50/50 figure, as in gbstats) becomes ``N*/(4w(1-w))`` at the step: at 1% the
    bound is tightest at 126,000 units — 1,263 candidate units — rather than at 50 candidate
    units, far before any decision. The shadow phase compares pairs and keeps ``N*``.
    """
    alpha = plan.gates.alpha * _alpha_share(plan, step) / max(len(plan.guardrails), 1)
    tuning = plan.gates.tuning
    weight = plan.steps[step].weight if step is not None else None
    if weight is not None and 0.0 < weight < 1.0:
        tuning /= 4.0 * weight * (1.0 - weight)
    return replace(plan.gates, alpha=alpha, tuning=tuning)


def assess(
    plan: RolloutPlan, state: RolloutState, observations: Observations, now: float
) -> Assessment:
    """Measure the current phase's gates. In ``PENDING``, only the eval gate is measured."""
    since = state.phase_started_at if state.phase_started_at is not None else now
    elapsed = max(now - since, 0.0)
    phase = state.phase
    eval_gate = _eval_gate(plan, observations)
    extra = (eval_gate,) if eval_gate is not None else ()
    if phase == "shadow" and plan.shadow is not None:
        evidence = tuple(
            evaluate_guardrail(
                g, observations.shadow_metrics[g.metric.name], gates=_phase_settings(plan, None)
            )
            for g in plan.guardrails
            if g.metric.name in observations.shadow_metrics
        )
        pairs = observations.shadow_pairs
        gates = (
            _guardrail_gate(evidence),
            GateResult(
                "shadow_pairs",
                pairs >= plan.shadow.min_pairs,
                f"{pairs} of {plan.shadow.min_pairs} pairs",
            ),
            *extra,
        )
        return Assessment(phase, 0.0, evidence, None, gates, elapsed, 0.0)
    if state.step is None:
        return Assessment(phase, 0.0, (), None, extra, elapsed, 0.0)
    step = plan.steps[state.step]
    count = len(plan.guardrails)
    settings = _phase_settings(plan, state.step)
    evidence = tuple(
        evaluate_guardrail(
            g,
            observations.metrics.get(g.metric.name),
            gates=settings,
            weight=step.weight,
            guardrail_count=count,
        )
        for g in plan.guardrails
    )
    weights = tuple(w for _, w in plan.weights(state.step))
    srm = srm_evidence(observations.units, weights, plan.gates.srm_threshold)
    short = [
        f"{e.metric} needs {e.required[0]:,}/{e.required[1]:,}"
        for e in evidence
        if not e.sample_met and e.required is not None
    ]
    missing = [e.metric for e in evidence if not e.sample_met and e.required is None]
    stable_n, candidate_n = observations.units
    time_left = max(step.min_duration - elapsed, 0.0)
    approved = not step.approval or state.step in state.approved
    gates = (
        _guardrail_gate(evidence),
        GateResult(
            "srm",
            not srm.flagged,
            f"units {srm.observed[0]:,}/{srm.observed[1]:,}, p = {srm.p_value:.3g}",
        ),
        GateResult(
            "sample",
            not short and not missing,
            "; ".join([*short, *(f"{m} has no data" for m in missing)]) or "reached",
        ),
        GateResult(
            "min_units",
            min(stable_n, candidate_n) >= step.min_units,
            f"{stable_n:,}/{candidate_n:,} of {step.min_units:,} per arm",
        ),
        GateResult(
            "min_duration",
            time_left <= 0,
            f"{time_left:.0f} s left" if time_left > 0 else f"{elapsed:.0f} s elapsed",
        ),
        *extra,
        GateResult(
            "approval",
            approved,
            "approved" if step.approval and approved else "needed" if step.approval else "none",
        ),
    )
    return Assessment(phase, step.weight, evidence, srm, gates, elapsed, time_left)
