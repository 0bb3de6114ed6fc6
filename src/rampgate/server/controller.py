"""The driver of the pure rollout controller: gather, reconcile, perform, push, verify.

Every ``interval`` seconds (and at once when an operator queues a command) the leading server
process runs, for each active rollout: read its state, commands and evidence in one read
transaction; call :func:`rampgate.control.reconcile`; perform the returned actions in one write
transaction (:mod:`.perform`); tell the streams (:class:`~.hub.ChangeHub`) the new ruleset
version so SDKs hear of it at once; read the flag back to check that the live version is the
intended one.

**One controller acts.** On PostgreSQL the leader holds a session advisory lock on a connection
of its own; the others try the lock at each interval and take over within one interval when the
leader's connection dies. On SQLite (one host) every process may act: the state's compare-and-
swap makes a second controller's turn fail whole, so nothing is ever done twice either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rampgate.config import flag_from_document
from rampgate.control import RolloutState, reconcile
from rampgate.store import db
from rampgate.store.errors import VersionConflict
from rampgate.store.evidence import record_alert
from rampgate.store.flags import current_flag
from rampgate.store.rollouts import RolloutRecord, get_rollout, list_rollouts, pending_commands

from .control_docs import plan_from_record, state_from_document
from .observe import observe
from .perform import Performed, perform, rule_id

__all__ = ["ADVISORY_LOCK_KEY", "Controller", "Leadership", "Turn"]

logger = logging.getLogger("rampgate.controller")

# The advisory lock's key: one per schema, so that deployments sharing a database in separate
# schemas (and parallel test runs) each elect their own leader. Locks are database-wide.
ADVISORY_LOCK_KEY = "hashtext('rampgate-controller:' || current_schema())"


@dataclass(frozen=True, slots=True)
class Turn:
    """One reconcile that changed something."""

    rollout_id: str
    environment: str
    status: str
    step: int | None
    actions: tuple[str, ...]
    snapshot_id: str | None
    receipts: tuple[str, ...]
    rationale: str


class Leadership:
    """Who may act: the holder of a PostgreSQL advisory lock, or anyone on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @property
    def exclusive(self) -> bool:
        return db.is_postgresql(self._engine)

    def acquire(self) -> bool:
        """True while this process leads; tries to take the lead when it does not."""
        if not self.exclusive:
            return True
        try:
            if self._conn is not None:
                self._conn.execute(sa.text("SELECT 1"))
                self._conn.commit()
                return True
            conn = self._engine.connect()
            got = conn.execute(
                sa.text(f"SELECT pg_try_advisory_lock({ADVISORY_LOCK_KEY})")
            ).scalar_one()
            conn.commit()  # the lock is the session's: it outlives the transaction
            if got:
                self._conn = conn
                logger.info("this process now leads the rollout controller")
                return True
            conn.invalidate()
            conn.close()
        except Exception:
            logger.warning("lost the controller lock's connection; will try again", exc_info=True)
            self.release()
        return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                # Invalidate, not just close: a pooled connection would keep its session, and
                # the session holds the lock.
                conn.invalidate()
                conn.close()
            except Exception:
                logger.debug("closing the lock connection failed", exc_info=True)


class Controller:
    """Runs the rollout controller over the store; :meth:`tick` is one pass, :meth:`start` a loop.

    ``clock`` gives the time the controller decides with (seconds); the demo passes a simulated
    one. ``publish(environment, ruleset_version)`` wakes the SDK streams after a change.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.time,
        publish: Callable[[str, int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.clock = clock
        self.publish = publish
        self.leadership = Leadership(engine)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    # --- one pass -------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[Turn]:
        """Reconcile every active rollout once; returns the turns that changed something."""
        now = self.clock() if now is None else now
        with db.read(self.engine) as conn:
            active = list_rollouts(conn, active_only=True)
        turns = []
        for record in active:
            try:
                turn = self.reconcile(record.environment, record.name, now)
            except Exception:
                # One broken rollout must not stop the others; it is retried at the next tick.
                self.errors += 1
                logger.exception("reconciling %s failed", record.id)
                continue
            if turn is not None:
                turns.append(turn)
        return turns

    def reconcile(self, environment: str, name: str, now: float) -> Turn | None:
        """One reconcile of the latest run of rollout ``name``."""
        with db.read(self.engine) as conn:
            record = get_rollout(conn, environment, name)
            if not record.active:
                return None
            plan = plan_from_record(record)
            state = state_from_document(record.state)
            commands = pending_commands(conn, record.id)
            observations = observe(conn, plan, state, commands, now)
        new_state, actions = reconcile(state, observations, now, plan)
        if new_state == state and not actions and not commands:
            return None
        try:
            with db.write(self.engine) as conn:
                done = perform(conn, plan, record, new_state, actions, commands=commands)
        except VersionConflict:
            logger.info("%s: another controller took this turn", record.id)
            return None
        if done.ruleset_version is not None and self.publish is not None:
            self.publish(environment, done.ruleset_version)
        if done.intended is not None:
            self._verify(record, plan.flag, rule_id(plan), done)
        return _turn(record, new_state, actions, done)

    def _verify(self, record: RolloutRecord, flag: str, rule: str, done: Performed) -> None:
        """Read the flag back: the live version must be the one written (or a later one)."""
        assert done.intended is not None
        version, weights = done.intended
        with db.read(self.engine) as conn:
            current = current_flag(conn, record.environment, flag)
        problem = None
        if current is None:
            problem = "the flag is gone"
        elif current.version < version:
            problem = f"live version {current.version} is older than the intended {version}"
        elif current.version == version and weights is not None:
            live = flag_from_document(flag, current.document)
            split = next((r.split for r in live.rules if r.id == rule), None)
            if split is None or tuple(split.weights.items()) != weights:
                problem = f"rule {rule} does not hold the intended weights {weights}"
        if problem is not None:
            logger.error("%s: post-state check failed: %s", record.id, problem)
            with db.write(self.engine) as conn:
                record_alert(
                    conn,
                    f"{record.id}/verify/{version}",
                    record.id,
                    kind="verify_failed",
                    level="critical",
                    message=problem,
                )

    # --- the loop -------------------------------------------------------------------------

    def nudge(self) -> None:
        """Run a pass soon (an operator command arrived) instead of at the next interval."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="rampgate-controller", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.leadership.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.leadership.acquire():
                    self.tick()
            except Exception:
                self.errors += 1
                logger.exception("controller pass failed")
            self._wake.wait(self.interval)
            self._wake.clear()


def _turn(
    record: RolloutRecord, state: RolloutState, actions: tuple[Any, ...], done: Performed
) -> Turn:
    return Turn(
        rollout_id=record.id,
        environment=record.environment,
        status=str(state.status),
        step=state.step,
        actions=tuple(type(a).__name__ for a in actions),
        snapshot_id=done.snapshot_id,
        receipts=tuple(r["change_id"] for r in done.receipts),
        rationale=state.rationale,
    )
