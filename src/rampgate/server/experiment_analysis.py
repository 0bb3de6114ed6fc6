"""Checkpoints of an experiment: its events per arm, the risk-aware decision, the snapshot.

Every metric the contract names — primary, secondary and guardrails — is aggregated by the
store's analysis SQL, where the events are, over the units the experiment's own rule exposed
(``rule_id``, from the flag version that rule was written at) between the start and now, or the
stop; each variant's aggregates belong to the arm that serves it. ``control.checkpoint`` decides.

A recorded checkpoint is an immutable snapshot, ``{environment}/{name}/checkpoint/{n}``, cited by
the checkpoint's receipt. A decision that ends the experiment — ``guardrail_stop``, ``rollback``
or ``inconclusive`` — stops it in the same transaction (its rule leaves the flag, so everyone is
back on what the flag served before): guardrail-first, before anyone reads the lift. ``promote``
stops nothing: shipping the winner is an operator's ``stop`` with ``serve_winner``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Connection

from rampgate.control import (
    Aggregate,
    Checkpoint,
    ExperimentContract,
    ExperimentObservations,
    ExperimentStatus,
    Metric,
    checkpoint,
)
from rampgate.store.analysis import AnalysisSpec, UnitColumn, aggregate
from rampgate.store.evidence import record_snapshot
from rampgate.store.experiments import ExperimentRecord, save_experiment
from rampgate.store.receipts import Receipt

from .control_docs import jsonable
from .experiment_docs import experiment_of, rule_id
from .experiments import REGISTERED, RUNNING, stop
from .observe import arm_aggregate
from .problems import ApiError

__all__ = ["STOPS", "Analysis", "analyse", "record_checkpoint"]

STOPS = frozenset(
    {ExperimentStatus.GUARDRAIL_STOP, ExperimentStatus.ROLLBACK, ExperimentStatus.INCONCLUSIVE}
)
"""Decisions that end the experiment when a checkpoint is recorded."""


@dataclass(frozen=True, slots=True)
class Analysis:
    """One look: the decision, the window it looked at and the units per arm (for SRM)."""

    contract: ExperimentContract
    checkpoint: Checkpoint
    window: tuple[int, int]
    units: dict[str, int]
    flag_version: int | None

    def document(self) -> dict[str, Any]:
        """The look as JSON: what ``GET …/analysis`` returns and a snapshot keeps."""
        c = self.contract
        cp: dict[str, Any] = jsonable(self.checkpoint)
        variants = dict(c.arms)
        return {
            "experiment": c.name,
            "environment": c.environment,
            "flag": c.flag,
            "at": cp["at"],
            "decision": cp["status"],
            "rationale": cp["rationale"],
            "winner": cp["winner"],
            "serve": cp["serve"],
            "serve_variant": variants.get(cp["serve"]) if cp["serve"] else None,
            "arms": variants,
            "units": self.units,
            "window": {"start_ms": self.window[0], "end_ms": self.window[1]},
            "flag_version": self.flag_version,
            "rule_id": rule_id(c.name),
            "primary": cp["primary"],
            "secondary": cp["secondary"],
            "guardrails": [{"arm": arm, **evidence} for arm, evidence in cp["guardrails"]],
            "srm": cp["srm"],
        }


def analyse(conn: Connection, record: ExperimentRecord, now: float) -> Analysis:
    """The checkpoint of ``record`` at ``now`` (at its stop, once stopped), not stored."""
    if record.status == REGISTERED:
        raise ApiError(
            409,
            "Experiment not started",
            f"{record.resource} has not started: there is nothing to analyse yet",
            field="name",
            fix="start it (POST …/start), let exposures and events arrive, then look",
        )
    experiment = experiment_of(record)
    c = experiment.contract
    started = experiment.started_at if experiment.started_at is not None else now
    end = experiment.stopped_at if experiment.stopped_at is not None else now
    start_ms = int(started * 1000)
    end_ms = max(int(end * 1000) + 1, start_ms + 1)
    flag_version = record.state.get("flag_version")
    arm_of = {variant: arm for arm, variant in c.arms}
    metrics = {m.name: m for m in (c.primary, *c.secondary, *(g.metric for g in c.guardrails))}
    observed: dict[str, dict[str, Aggregate]] = {}
    units: dict[str, int] = {}
    for metric in metrics.values():
        spec = _spec(c, metric, start_ms, end_ms, flag_version)
        result = aggregate(conn, spec)
        observed[metric.name] = {arm_of[a.arm]: arm_aggregate(metric, a, spec) for a in result}
        if metric is c.primary:
            units = {arm_of[variant]: n for variant, n in result.exposed_units.items()}
    decided = checkpoint(experiment, ExperimentObservations(observed, units), end)
    return Analysis(c, decided, (start_ms, end_ms), units, flag_version)


def _spec(
    c: ExperimentContract, metric: Metric, start_ms: int, end_ms: int, flag_version: int | None
) -> AnalysisSpec:
    return AnalysisSpec(
        environment=c.environment,
        flag=c.flag,
        arms=tuple(variant for _, variant in c.arms),
        kind=metric.kind.value,
        event=metric.event,
        denominator=metric.denominator,
        per_unit=metric.per_unit.value if metric.per_unit else None,
        denominator_per_unit=metric.denominator_per_unit.value,
        unit=cast(UnitColumn, c.unit),  # Definition.parse admits only the analysable units
        start_ms=start_ms,
        end_ms=end_ms,
        min_flag_version=flag_version,
        rule_id=rule_id(c.name),
    )


def record_checkpoint(
    conn: Connection,
    record: ExperimentRecord,
    analysis: Analysis,
    *,
    actor: str,
    now: float,
    idempotency_key: str | None,
) -> tuple[ExperimentRecord, dict[str, Any], list[Receipt]]:
    """Store ``analysis`` as the next snapshot and act on it: stop on a decision in
    :data:`STOPS`. Returns the saved experiment, the snapshot document and the receipts."""
    if record.status != RUNNING:
        raise ApiError(
            409,
            f"Experiment is {record.status}",
            f"{record.resource} is {record.status}: its checkpoints are over",
            field="name",
            fix="read the analysis with GET …/analysis; checkpoints are for running experiments",
        )
    n = int(record.state.get("checkpoints", 0)) + 1
    snapshot_id = f"{record.environment}/{record.name}/checkpoint/{n}"
    document = {"id": snapshot_id, **analysis.document()}
    decision = ExperimentStatus(document["decision"])
    latest = {
        key: document[key] for key in ("id", "at", "decision", "rationale", "winner", "serve")
    }
    noted = dataclasses.replace(
        record, state={**record.state, "checkpoints": n, "last_checkpoint": latest}
    )
    detail = {"snapshot_id": snapshot_id, "decision": str(decision)}
    if decision in STOPS:
        saved, receipts = stop(
            conn,
            noted,
            actor=actor,
            now=now,
            reason=document["rationale"],
            idempotency_key=idempotency_key,
            action=f"experiment.{decision}",
            detail=detail,
        )
    else:
        saved, receipt = save_experiment(
            conn,
            noted,
            contract=record.contract,
            state=noted.state,
            status=record.status,
            action="experiment.checkpoint",
            actor=actor,
            idempotency_key=idempotency_key,
            detail=detail,
        )
        receipts = [receipt]
    document["receipts"] = [r.change_id for r in receipts]
    # The subject is the name alone (environment and name together may not fit its column);
    # the id names the environment.
    record_snapshot(conn, snapshot_id, record.name, document)
    return saved, document, receipts
