"""What the controller asks the driver to do. Actions are data; the driver performs them.

Every action carries an ``idempotency_key`` derived from the rollout run, the step and the
action (``{rollout_id}/step-2/set-weights``), never from the time or a counter of attempts: a
driver that crashes after applying an action and runs reconcile again from the old state gets
the same key, and the store answers with the first receipt instead of changing anything twice.
Changes cite the snapshot that justifies them (``snapshot_id``), so every receipt points at its
evidence.

Order matters and is part of the contract: a ``Rollback`` always comes first in its batch,
before the snapshot and the alert that explain it, so the slowest part of a reconcile never
delays taking the candidate out of traffic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .evidence import Snapshot
from .plan import RollbackMode

__all__ = [
    "Action",
    "Alert",
    "AlertLevel",
    "Promote",
    "RecordSnapshot",
    "Rollback",
    "SetShadow",
    "SetWeights",
]


@dataclass(frozen=True, slots=True)
class SetWeights:
    """Set the rollout's split to ``weights`` (stable first, candidate last, coverage 1.0)."""

    flag: str
    environment: str
    weights: tuple[tuple[str, float], ...]
    step: int
    idempotency_key: str
    snapshot_id: str


@dataclass(frozen=True, slots=True)
class SetShadow:
    """Shadow ``variant`` on a ``sample`` of calls (0 stops shadowing)."""

    flag: str
    environment: str
    variant: str
    sample: float
    idempotency_key: str
    snapshot_id: str


@dataclass(frozen=True, slots=True)
class Promote:
    """Serve ``variant`` to everyone: the rollout is done."""

    flag: str
    environment: str
    variant: str
    weights: tuple[tuple[str, float], ...]
    reason: str
    actor: str
    idempotency_key: str
    snapshot_id: str


@dataclass(frozen=True, slots=True)
class Rollback:
    """Take the candidate out of all traffic (shadow included) and serve ``variant``.

    ``hard``: overrides session pins at once (the driver raises the flag's pin generation);
    ``soft``: new sessions get stable, pinned sessions finish on the candidate.
    """

    flag: str
    environment: str
    variant: str
    weights: tuple[tuple[str, float], ...]
    mode: RollbackMode
    reason: str
    actor: str
    idempotency_key: str
    snapshot_id: str


class AlertLevel(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """Tell a human: a rollback happened, a step waits for approval or evidence, a gate errs.

    ``kind`` is a stable machine name (``rolled_back``, ``approval_needed``, ``inconclusive``,
    ``held``, ``measurement_error``, ``eval_missing``, ``refused``). Each is raised once per
    step: the controller remembers the keys it has raised in its state.
    """

    rollout: str
    kind: str
    level: AlertLevel
    message: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class RecordSnapshot:
    """Store the immutable evidence of a transition."""

    snapshot: Snapshot
    idempotency_key: str


Action = SetWeights | SetShadow | Promote | Rollback | Alert | RecordSnapshot
"""Anything :func:`rampgate.control.reconcile` may return."""
