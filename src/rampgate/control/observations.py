"""What the driver tells the controller at each reconcile: evidence, results, commands, kill.

Everything here is plain data gathered by the driver (the server) before it calls
:func:`rampgate.control.reconcile`: per-arm aggregates since the current phase started, units per
arm for the SRM check, offline-evaluation results, operator commands, and whether the flag (or
its environment) is killed. The controller reads nothing else — no clock, no database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from .metrics import Aggregate
from .plan import RollbackMode

__all__ = ["Arms", "Command", "CommandKind", "EvalResult", "Observations"]


class Arms(NamedTuple):
    """One metric's aggregates in the stable and the candidate arm."""

    stable: Aggregate
    candidate: Aggregate


class CommandKind(enum.StrEnum):
    """What an operator can ask of a rollout."""

    PAUSE = "pause"
    RESUME = "resume"
    APPROVE = "approve"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class Command:
    """An operator's request, applied at the next reconcile.

    ``step`` names the step an approval is for (``None``: the current one), so an approval
    given for 5% cannot be spent on 25%. ``promote`` needs a ``reason``: skipping the remaining
    steps is an override a later reader must be able to understand. ``mode`` overrides the
    plan's rollback mode for a ``rollback``.
    """

    kind: CommandKind
    actor: str
    reason: str = ""
    step: int | None = None
    mode: RollbackMode | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CommandKind(self.kind))
        if not self.actor:
            raise ValueError("a command needs an actor")
        if self.kind is CommandKind.PROMOTE and not self.reason.strip():
            raise ValueError("promote skips the remaining steps and needs a reason")
        if self.step is not None and self.kind is not CommandKind.APPROVE:
            raise ValueError("only an approval names a step")
        if self.mode is not None:
            if self.kind is not CommandKind.ROLLBACK:
                raise ValueError("only a rollback has a mode")
            object.__setattr__(self, "mode", RollbackMode(self.mode))


@dataclass(frozen=True, slots=True)
class EvalResult:
    """The outcome of an offline evaluation suite run against the candidate, posted to the API."""

    suite: str
    passed: bool
    id: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Observations:
    """Everything the controller knows at one reconcile.

    - ``metrics``: metric name → :class:`Arms`, counting units exposed since the current step
      (or the shadow phase) started, at the step's weights. A guardrail whose metric is missing
      has no data yet (``NODATA``).
    - ``units``: (stable, candidate) units exposed since the step started, for the SRM check.
    - ``shadow_pairs`` / ``shadow_metrics``: paired comparisons made in the shadow phase, and
      the guardrail metrics that can be measured on them (latency, cost, errors — not outcomes
      the user never saw).
    - ``evals``: suite name → latest result for the candidate.
    - ``commands``: operator commands received since the last reconcile, in arrival order.
    - ``killed``: the kill switch is on for the flag or its environment.
    """

    metrics: Mapping[str, Arms] = field(default_factory=dict)
    units: tuple[int, int] = (0, 0)
    shadow_pairs: int = 0
    shadow_metrics: Mapping[str, Arms] = field(default_factory=dict)
    evals: Mapping[str, EvalResult] = field(default_factory=dict)
    commands: tuple[Command, ...] = ()
    killed: bool = False
