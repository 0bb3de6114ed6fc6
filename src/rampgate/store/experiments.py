"""Experiments: registered contracts with a version, changed only by compare-and-swap.

The store keeps the contract and the controller's state as documents; which fields are frozen
once an experiment starts is the controller's rule (``control.amend``), applied by the server
before it calls :func:`save_experiment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .audit import lock_writes
from .db import insert_if_absent
from .environments import check_key, get_environment
from .errors import AlreadyExists, NotFound, VersionConflict
from .receipts import Receipt, record_change
from .schema import experiments, utcnow

__all__ = [
    "ExperimentRecord",
    "create_experiment",
    "experiment_resource",
    "get_experiment",
    "list_experiments",
    "save_experiment",
]


def experiment_resource(environment: str, name: str) -> str:
    return f"environments/{environment}/experiments/{name}"


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    environment: str
    name: str
    flag: str
    contract: dict[str, Any]
    state: dict[str, Any]
    status: str
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    @property
    def resource(self) -> str:
        return experiment_resource(self.environment, self.name)


def _record(row: sa.Row[Any]) -> ExperimentRecord:
    return ExperimentRecord(**{k: row._mapping[k] for k in ExperimentRecord.__slots__})


def create_experiment(
    conn: Connection,
    environment: str,
    name: str,
    *,
    flag: str,
    contract: Mapping[str, Any],
    state: Mapping[str, Any],
    status: str,
    actor: str,
    idempotency_key: str | None = None,
) -> tuple[ExperimentRecord, Receipt]:
    check_key(name, what="experiment")
    lock_writes(conn)
    get_environment(conn, environment)
    now = utcnow()
    values: dict[str, Any] = {
        "environment": environment,
        "name": name,
        "flag": flag,
        "contract": dict(contract),
        "state": dict(state),
        "status": status,
        "version": 1,
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    if not insert_if_absent(conn, experiments, values):
        raise AlreadyExists(experiment_resource(environment, name))
    receipt = record_change(
        conn,
        actor=actor,
        action="experiment.register",
        resource=experiment_resource(environment, name),
        after_version=1,
        idempotency_key=idempotency_key,
        detail={"environment": environment, "flag": flag, "status": status},
        now=now,
    )
    return ExperimentRecord(**values), receipt


def get_experiment(conn: Connection, environment: str, name: str) -> ExperimentRecord:
    row = conn.execute(
        sa.select(experiments).where(
            experiments.c.environment == environment, experiments.c.name == name
        )
    ).first()
    if row is None:
        raise NotFound(experiment_resource(environment, name))
    return _record(row)


def list_experiments(
    conn: Connection, environment: str, *, flag: str | None = None
) -> list[ExperimentRecord]:
    query = sa.select(experiments).where(experiments.c.environment == environment)
    if flag is not None:
        query = query.where(experiments.c.flag == flag)
    return [_record(r) for r in conn.execute(query.order_by(experiments.c.name))]


def save_experiment(
    conn: Connection,
    record: ExperimentRecord,
    *,
    contract: Mapping[str, Any],
    state: Mapping[str, Any],
    status: str,
    action: str,
    actor: str,
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> tuple[ExperimentRecord, Receipt]:
    """Write a new version if the stored one is still ``record.version``."""
    lock_writes(conn)
    now = utcnow()
    result = conn.execute(
        experiments.update()
        .where(
            experiments.c.environment == record.environment,
            experiments.c.name == record.name,
            experiments.c.version == record.version,
        )
        .values(
            contract=dict(contract),
            state=dict(state),
            status=status,
            version=record.version + 1,
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        current = get_experiment(conn, record.environment, record.name)
        raise VersionConflict(record.resource, expected=record.version, current=current.version)
    receipt = record_change(
        conn,
        actor=actor,
        action=action,
        resource=record.resource,
        before_version=record.version,
        after_version=record.version + 1,
        idempotency_key=idempotency_key,
        detail={**(detail or {}), "environment": record.environment, "status": status},
        now=now,
    )
    saved = ExperimentRecord(
        **{
            **{k: getattr(record, k) for k in ExperimentRecord.__slots__},
            "contract": dict(contract),
            "state": dict(state),
            "status": status,
            "version": record.version + 1,
            "updated_at": now,
        }
    )
    return saved, receipt
