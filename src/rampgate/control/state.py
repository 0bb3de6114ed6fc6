"""A rollout's state: where it is, since when, and what it has already said and been told.

::

    PENDING ──▶ SHADOW ──▶ RUNNING(step i) ⇄ AWAITING_APPROVAL ──▶ … ──▶ PROMOTED
       │          │           │   ▲                                  (last step = 100%)
       │          │           ▼   │ resume
       │          │         PAUSED ──── (any live status may pause; resume returns to it)
       │          │           │
       │          │         HELD (max_duration ended without a decision: a human decides)
       ▼          ▼           ▼
    ABORTED    ROLLED_BACK  ROLLED_BACK     (kill switch: ABORTED from anywhere)

The state is small and serialisable: the driver stores it after each reconcile, together with
the actions that reconcile returned (an outbox), so a crash between the two replays the same
actions under the same idempotency keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["RolloutState", "Status"]


class Status(enum.StrEnum):
    """Where a rollout is."""

    PENDING = "pending"
    SHADOW = "shadow"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    PAUSED = "paused"
    HELD = "held"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        """Nothing happens to a rollout in this status any more."""
        return self in _TERMINAL


_TERMINAL = frozenset({Status.PROMOTED, Status.ROLLED_BACK, Status.ABORTED})


@dataclass(frozen=True, slots=True)
class RolloutState:
    """One run of a rollout plan.

    - ``rollout_id`` names this run (the plan's name and a run number, say): it prefixes every
      idempotency key, so a plan run again after a rollback never collides with its past.
    - ``step`` is the index of the current step (``None`` before the first).
    - ``started_at`` is when the rollout left ``PENDING`` (``max_duration`` counts from it);
      ``phase_started_at`` when the current step or the shadow phase began.
    - ``paused_from`` is where ``resume`` returns to.
    - ``approved`` holds the steps an operator has approved (ahead of time, too).
    - ``alerted`` holds the keys of alerts already raised, so each is raised once.
    - ``revision`` counts recorded snapshots and numbers the next one.
    """

    rollout_id: str
    status: Status = Status.PENDING
    step: int | None = None
    started_at: float | None = None
    phase_started_at: float | None = None
    paused_from: Status | None = None
    approved: frozenset[int] = frozenset()
    alerted: frozenset[str] = frozenset()
    revision: int = 0
    rationale: str = ""
    updated_at: float | None = None

    def __post_init__(self) -> None:
        if not self.rollout_id:
            raise ValueError("a rollout state needs a rollout_id")
        object.__setattr__(self, "status", Status(self.status))
        if self.status is Status.PAUSED and self.paused_from is None:
            raise ValueError("a paused rollout must remember what it was doing")

    @property
    def active(self) -> Status:
        """The status that decides what to measure: the one a pause interrupted, if paused."""
        if self.status is Status.PAUSED and self.paused_from is not None:
            return self.paused_from
        return self.status

    @property
    def phase(self) -> str:
        """``pending``, ``shadow``, ``step-{i}`` or ``done``: the label in idempotency keys."""
        if self.status.terminal:
            return "done"
        active = self.active
        if active is Status.PENDING:
            return "pending"
        if active is Status.SHADOW or self.step is None:
            return "shadow"
        return f"step-{self.step}"

    @property
    def live(self) -> bool:
        """Is the candidate receiving traffic (shadow or a step), so that evidence matters?"""
        return self.phase not in ("pending", "done")
