"""Controller values ⇄ the JSON documents the store keeps and the API returns.

The store may not import ``control`` and ``control`` knows nothing of JSON, so the server is
where a ``RolloutState`` becomes a document and back, and where a snapshot — a tree of frozen
dataclasses, enums and tuples — becomes the JSON an operator reads. A rollout is stored as
``{"plan": <the YAML shape>, "metrics": <custom metric definitions>}`` so that the plan is
re-parsed, and so re-checked, by the same code that read the config file.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

from rampgate.control import (
    Command,
    CommandKind,
    RollbackMode,
    RolloutPlan,
    RolloutState,
    Status,
    parse_metrics,
    parse_rollout,
)
from rampgate.store.rollouts import CommandRecord, RolloutRecord

__all__ = [
    "command_from_record",
    "jsonable",
    "plan_from_record",
    "state_from_document",
    "state_to_document",
]


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples, sets and non-finite floats as plain JSON values.

    Non-finite floats become ``None`` (JSON has no infinity); sets are sorted so that the same
    value always gives the same document (snapshots are hashed into the audit chain).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return [jsonable(v) for v in sorted(value, key=repr)]
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    return value


def state_to_document(state: RolloutState) -> dict[str, Any]:
    document: dict[str, Any] = jsonable(state)
    document["approved"] = sorted(state.approved)
    document["alerted"] = sorted(state.alerted)
    return document


def state_from_document(document: Mapping[str, Any]) -> RolloutState:
    paused = document.get("paused_from")
    return RolloutState(
        rollout_id=document["rollout_id"],
        status=Status(document["status"]),
        step=document.get("step"),
        started_at=document.get("started_at"),
        phase_started_at=document.get("phase_started_at"),
        paused_from=Status(paused) if paused else None,
        approved=frozenset(int(x) for x in document.get("approved", ())),
        alerted=frozenset(str(x) for x in document.get("alerted", ())),
        revision=int(document.get("revision", 0)),
        rationale=str(document.get("rationale", "")),
        updated_at=document.get("updated_at"),
    )


def plan_from_record(record: RolloutRecord) -> RolloutPlan:
    """Parse the stored plan again (it was checked the same way when the rollout was created)."""
    metrics = parse_metrics(record.plan.get("metrics"))
    return parse_rollout(record.name, record.plan["plan"], metrics=metrics)


def command_from_record(record: CommandRecord) -> Command:
    return Command(
        kind=CommandKind(record.kind),
        actor=record.actor,
        reason=record.reason,
        step=record.step,
        mode=RollbackMode(record.mode) if record.mode else None,
    )
