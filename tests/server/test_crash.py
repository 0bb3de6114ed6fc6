"""Crash test: ``rampgate serve`` killed with SIGKILL at 50 random moments during a rollout while
an SDK sends events. After each restart the rollout resumes; at the end no event is lost or
stored twice, and no controller action was applied twice — the receipts, the idempotency
records, the snapshots and the audit chain prove it. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import rampgate
from rampgate import store
from rampgate.config import flag_from_document
from rampgate.control import RolloutState
from rampgate.server.control_docs import state_to_document
from rampgate.store.rollouts import create_rollout, get_rollout
from rampgate.store.schema import events, idempotency, receipts, snapshots

from .live import free_port, wait_until_answering

KILLS = 50
FLAG = {
    "variants": {"stable": {"v": 1}, "candidate": {"v": 2}},
    "default": "stable",
}
PLAN = {
    "environment": "prod",
    "flag": "agent",
    "from": "stable",
    "to": "candidate",
    "steps": [
        {"weight": 0.2, "min_duration": 2, "min_units": 20},
        {"weight": 0.4, "min_duration": 2, "min_units": 20},
        {"weight": 0.7, "min_duration": 2, "min_units": 20},
        {"weight": 1.0},
    ],
    # Generous: the test is about crashes, not statistics; the candidate is healthy.
    "guardrails": [{"metric": "task_success", "margin": 0.5}],
}


class Server:
    """The app served by children of one launcher process (see ``forker``): restartable fast."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {
            **os.environ,
            "RAMPGATE_DATABASE_URL": url,
            "RAMPGATE_CONTROLLER_INTERVAL": "0.2",
            "RAMPGATE_HEARTBEAT_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        with self.log.open("ab") as out:
            self.launcher = subprocess.Popen(
                [sys.executable, "-m", "tests.server.forker", str(self.port)],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=out,
                text=True,
            )
        self.pid: int | None = None

    def _send(self, line: str) -> str:
        assert self.launcher.stdin is not None and self.launcher.stdout is not None
        if line:
            self.launcher.stdin.write(line + "\n")
            self.launcher.stdin.flush()
        answer = self.launcher.stdout.readline().strip()
        if not answer:
            pytest.fail(f"the launcher died:\n{self.tail()}")
        return answer

    def start(self) -> None:
        self.pid = int(self._send("start"))
        wait_until_answering(f"{self.base}/readyz", timeout=30, output=self.tail)

    def kill(self) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        assert self._send("") == "reaped"
        self.pid = None

    def stop(self) -> None:
        if self.pid is not None:
            self.kill()
        self.launcher.terminate()
        self.launcher.communicate(timeout=10)  # closes the pipes

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Traffic(threading.Thread):
    """An agent service: users evaluated and outcomes tracked at ~300/s through the real SDK."""

    def __init__(self, client: rampgate.Client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.tracked = 0
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(3)
        i = 0
        while not self.stop.is_set():
            i += 1
            ctx = rampgate.Context(user_id=f"u{i}")
            self.client.evaluate("agent", ctx)
            if rng.random() < 0.6:
                self.client.track("task_success", ctx, value=1)
                self.tracked += 1
            time.sleep(0.003)


def _setup(engine: Engine) -> tuple[str, str]:
    with store.write(engine) as conn:
        store.create_environment(conn, "prod", actor="setup")
        _, sdk = store.create_token(conn, "sdk", "prod", "agent-service", actor="setup")
        store.create_flag(conn, "prod", flag_from_document("agent", FLAG), actor="setup")
        record, _ = create_rollout(
            conn,
            "prod",
            "agent-v2",
            flag="agent",
            plan={"plan": PLAN, "metrics": None},
            initial_state=lambda rid: state_to_document(RolloutState(rid)),
            status="pending",
            actor="setup",
        )
    return sdk, record.id


def test_sigkill_at_random_moments_loses_nothing_and_repeats_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    sdk, rollout_id = _setup(engine)
    server = Server(engine.url.render_as_string(hide_password=False), tmp_path / "serve.log")
    rng = random.Random(11)
    server.start()
    client = rampgate.Client(
        url=server.base,
        sdk_key=sdk,
        remote=rampgate.RemoteSettings(backoff_initial=0.05, backoff_max=0.5),
        settings=rampgate.ClientSettings(flush_interval=0.1),
    )
    traffic = Traffic(client)
    try:
        assert client.wait_ready(10)
        traffic.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.05, 0.6))  # a random moment of the server's work
            server.kill()
            server.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store.read(engine) as conn:
                if not get_rollout(conn, "prod", "agent-v2").active:
                    break
            time.sleep(0.2)
        traffic.stop.set()
        traffic.join(5)
        client.close(timeout=30)
    finally:
        server.stop()

    stats = client.stats()
    with store.read(engine) as conn:
        record = get_rollout(conn, "prod", "agent-v2")
        stored_events = conn.execute(
            sa.select(sa.func.count()).select_from(events).where(events.c.type == "event")
        ).scalar_one()
        stored_all = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        keys = conn.execute(
            sa.select(receipts.c.idempotency_key, sa.func.count())
            .where(receipts.c.idempotency_key.like(f"{rollout_id}/%"))
            .group_by(receipts.c.idempotency_key)
        ).all()
        controller_keys = (
            conn.execute(sa.select(idempotency.c.key).where(idempotency.c.scope == "controller"))
            .scalars()
            .all()
        )
        snapshot_ids = conn.execute(sa.select(snapshots.c.id)).scalars().all()
        chain = store.verify(conn)
    # The rollout resumed after every restart and finished.
    # The rationale first: pytest cuts a long state short, and it says why the rollout ended.
    assert record.status == "promoted", (record.state.get("rationale"), record.state, server.tail())
    # No event lost, none stored twice (the id is the primary key; counts must match exactly).
    assert stats["events_dropped"] == 0 and stats["events_buffered"] == 0
    assert stored_events == traffic.tracked
    assert stored_all == stats["events_sent"]
    # No action applied twice: each controller idempotency key has one receipt, and the flag
    # changed exactly once per step (3 set-weights and the promotion).
    assert all(count == 1 for _, count in keys), keys
    assert sorted(controller_keys) == sorted(
        [f"{rollout_id}/step-{i}/set-weights" for i in range(3)] + [f"{rollout_id}/promote"]
    )
    revisions = sorted(int(s.rsplit("/", 1)[1]) for s in snapshot_ids)
    assert revisions == list(range(len(revisions)))  # one snapshot per turn, none skipped
    assert chain.ok, chain
