"""Gather what the controller needs for one reconcile, from the store, in one read transaction.

Per guardrail metric, the arms' aggregates over the units exposed since the current phase
began (the store's analysis SQL, where the events are); the units per arm for SRM; in the shadow
phase, the paired comparisons the SDK recorded; the newest offline-eval results; the operator
commands not yet read; and whether the flag is killed.

A step's evidence is the exposures its own split served: the rollout's rule, at the flag version
that set the step's weights or a newer one. An SDK still serving the previous step's ruleset (a
poller between polls, a stream reconnecting) keeps recording exposures at the old weights for a
while after each change; counted, they made the sample ratio test see a mismatch that was only
propagation, and rolled healthy candidates back. Users a targeted rule serves (staff first, say)
were never randomised, and are left out for the same reason.
"""

from __future__ import annotations

from dataclasses import astuple, replace
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampgate.control import (
    Aggregate,
    Arms,
    EvalResult,
    Metric,
    MetricKind,
    Observations,
    RolloutPlan,
    RolloutState,
    Status,
    set_weights_key,
)
from rampgate.domain.shadow import shadow_event, shadow_pair_event
from rampgate.stats import MeanStats, ProportionStats, QuantileSketch, RatioStats, SketchLayout
from rampgate.store.analysis import AnalysisSpec, ArmAggregate, UnitColumn, aggregate
from rampgate.store.evidence import latest_evals
from rampgate.store.flags import current_flag, flag_resource
from rampgate.store.receipts import find_receipt
from rampgate.store.rollouts import CommandRecord
from rampgate.store.schema import events

from .control_docs import command_from_record
from .perform import rule_id

__all__ = ["arm_aggregate", "observe"]

# Measures the SDK records per arm for each shadowed call (see rampgate.domain.shadow).
SHADOW_MEASURES = ("latency_ms", "cost_usd", "error")


def observe(
    conn: Connection,
    plan: RolloutPlan,
    state: RolloutState,
    commands: list[CommandRecord],
    now: float,
) -> Observations:
    """Everything :func:`rampgate.control.reconcile` reads, as of ``now`` (seconds)."""
    flag = current_flag(conn, plan.environment, plan.flag)
    killed = flag is None or bool(flag.document.get("killed"))
    evals = {
        suite: EvalResult(suite, r.passed, r.id, r.detail)
        for suite, r in latest_evals(conn, plan.environment, plan.flag, plan.candidate).items()
    }
    observations = Observations(
        evals=evals,
        commands=tuple(command_from_record(c) for c in commands),
        killed=killed,
    )
    since = state.phase_started_at
    if not state.live or since is None:
        return observations
    start_ms, end_ms = int(since * 1000), int(now * 1000) + 1
    if start_ms >= end_ms:
        return observations
    if state.active is Status.SHADOW:
        pairs, shadow = _shadow(conn, plan, start_ms, end_ms)
        return replace(observations, shadow_pairs=pairs, shadow_metrics=shadow)
    metrics: dict[str, Arms] = {}
    units = (0, 0)
    version = _step_version(conn, plan, state)
    for g in plan.guardrails:
        result = aggregate(conn, _spec(plan, g.metric, start_ms, end_ms, version))
        stable, candidate = result[plan.stable], result[plan.candidate]
        metrics[g.metric.name] = Arms(
            arm_aggregate(g.metric, stable, result.spec),
            arm_aggregate(g.metric, candidate, result.spec),
        )
        if g.metric.kind is not MetricKind.QUANTILE and units == (0, 0):
            units = (stable.exposed_units, candidate.exposed_units)
    return replace(observations, metrics=metrics, units=units)


def _step_version(conn: Connection, plan: RolloutPlan, state: RolloutState) -> int | None:
    """The flag version that put the current step's weights live (``None`` if none is on record:
    then the rule and the window decide without it)."""
    if state.step is None:
        return None
    receipt = find_receipt(
        conn,
        flag_resource(plan.environment, plan.flag),
        set_weights_key(state.rollout_id, state.step),
    )
    return None if receipt is None else receipt.after_version


def _spec(
    plan: RolloutPlan, metric: Metric, start_ms: int, end_ms: int, version: int | None
) -> AnalysisSpec:
    return AnalysisSpec(
        environment=plan.environment,
        flag=plan.flag,
        arms=(plan.stable, plan.candidate),
        kind=metric.kind.value,
        event=metric.event,
        denominator=metric.denominator,
        per_unit=metric.per_unit.value if metric.per_unit else None,
        denominator_per_unit=metric.denominator_per_unit.value,
        unit=cast(UnitColumn, plan.unit),
        start_ms=start_ms,
        end_ms=end_ms,
        min_flag_version=version,
        rule_id=rule_id(plan),
        # Exposures posted with no labels at all (by hand, another SDK) still count by their time.
        unlabelled=True,
    )


def arm_aggregate(metric: Metric, arm: ArmAggregate, spec: AnalysisSpec) -> Aggregate:
    kind = metric.kind
    if kind is MetricKind.PROPORTION:
        return ProportionStats(arm.n, arm.successes)
    if kind is MetricKind.MEAN:
        return MeanStats(arm.n, arm.sum, arm.sum_squares)
    if kind is MetricKind.RATIO:
        return RatioStats(
            arm.n, arm.sum, arm.den_sum, arm.sum_squares, arm.den_sum_squares, arm.sum_products
        )
    return QuantileSketch.from_bins(dict(arm.histogram), SketchLayout(*astuple(spec.bins)))


def _shadow(
    conn: Connection, plan: RolloutPlan, start_ms: int, end_ms: int
) -> tuple[int, dict[str, Arms]]:
    """Paired shadow comparisons: per (arm, measure) the count, Σx and Σx² of per-call values.

    The unit of a shadow comparison is the call, and each call gives one value per arm, so the
    arms are aggregated as independent samples of calls. Pairing would only narrow the
    intervals (the two arms of one call are positively correlated), so this is conservative.
    """
    names = [shadow_pair_event(plan.flag)] + [
        shadow_event(plan.flag, arm, measure)
        for arm in ("stable", "candidate")
        for measure in SHADOW_MEASURES
    ]
    rows = conn.execute(
        sa.select(
            events.c.name,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(events.c.value), 0.0),
            sa.func.coalesce(sa.func.sum(events.c.value * events.c.value), 0.0),
        )
        .where(
            events.c.environment == plan.environment,
            events.c.name.in_(names),
            events.c.time_ms >= start_ms,
            events.c.time_ms < end_ms,
        )
        .group_by(events.c.name)
    ).all()
    sums = {name: (int(n), float(s), float(q)) for name, n, s, q in rows}
    pairs = sums.get(names[0], (0, 0.0, 0.0))[0]
    out: dict[str, Arms] = {}
    for g in plan.guardrails:
        m = g.metric
        if m.event not in SHADOW_MEASURES:
            continue
        arms = [
            _shadow_aggregate(m, sums.get(shadow_event(plan.flag, arm, m.event)))
            for arm in ("stable", "candidate")
        ]
        if arms[0] is not None and arms[1] is not None:
            out[m.name] = Arms(arms[0], arms[1])
    return pairs, out


def _shadow_aggregate(metric: Metric, sums: tuple[int, float, float] | None) -> Aggregate | None:
    if sums is None:
        return None
    n, s, q = sums
    if metric.kind is MetricKind.PROPORTION:
        return ProportionStats(n, round(s))
    if metric.kind is MetricKind.MEAN:
        return MeanStats(n, s, q)
    if metric.kind is MetricKind.RATIO and metric.denominator == metric.event:
        # Σx over the number of calls: each call's denominator is 1.
        return RatioStats(n, s, float(n), q, float(n), s)
    return None  # quantiles and other ratios cannot be rebuilt from per-call sums
