"""Benchmark: from the arrival of the deciding event to every connected SDK serving stable.

A ``rampgate serve`` child process (its controller reconciling every 0.5 s, as the goal states)
over a SQLite file, then a fresh PostgreSQL schema. 20 streaming SDK clients are connected. Each
trial starts a new run of a rollout at 50% and seeds its window with healthy exposures and
outcomes for 2,000 units (written straight into the store: they are history, not what is
timed). Then the deciding batch — escalations for most candidate units — is posted to
``POST /api/v1/events`` as an SDK would. The clock starts when the server has answered that
request (the events are stored: they have arrived) and stops when the last client serves the
rolled-back flag version. The wait for the next reconcile is part of the figure: with a 0.5 s
interval it is uniform on [0, 0.5] s, so 0.25 s on average is the floor any polling controller
pays, printed beside the result.

    uv run --frozen python -m benchmarks.rollback_latency [--trials N] [--clients N]
        [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

import rampgate
from rampgate import store
from rampgate.config import flag_from_document
from rampgate.control import RolloutState
from rampgate.server.control_docs import state_to_document
from rampgate.store.rollouts import create_rollout, get_rollout

from ._common import machine_summary, percentile, postgres_problem, postgres_schema, server_process

INTERVAL = 0.5
GOAL = 1.0
UNITS = 2_000
FLAG = {"variants": {"stable": {"v": 1}, "candidate": {"v": 2}}, "default": "stable"}
PLAN = {
    "environment": "prod",
    "flag": "agent",
    "from": "stable",
    "to": "candidate",
    "steps": [{"weight": 0.5, "min_duration": 3600}, {"weight": 1.0}],
    "guardrails": [{"metric": "escalation", "margin": "20%"}],
}


def _events(arm_of: dict[str, str], t_ms: int, *, harmful: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rng = random.Random(len(arm_of) + harmful)
    for user, arm in arm_of.items():
        p = 0.6 if harmful and arm == "candidate" else 0.1
        if rng.random() < p:
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "type": "event",
                    "time_ms": t_ms,
                    "user_id": user,
                    "name": "escalated",
                    "value": 1.0,
                }
            )
    return rows


def _trial(engine: Any, base: str, sdk: str, clients: list[rampgate.Client], n: int) -> float:
    with store.write(engine) as conn:
        create_rollout(
            conn,
            "prod",
            "agent-v2",
            flag="agent",
            plan={"plan": PLAN, "metrics": None},
            initial_state=lambda rid: state_to_document(RolloutState(rid)),
            status="pending",
            actor="bench",
        )
    _wait(lambda: _status(engine) == "running", 10)
    started = time.time()
    arm_of = {f"t{n}-u{i}": ("candidate" if i % 2 else "stable") for i in range(UNITS)}
    t_ms = int(started * 1000) + 1
    exposures = [
        {
            "id": str(uuid.uuid4()),
            "type": "exposure",
            "time_ms": t_ms,
            "user_id": u,
            "flag": "agent",
            "variant": arm,
        }
        for u, arm in arm_of.items()
    ]
    with store.write(engine) as conn:
        store.insert_events(
            conn, exposures + _events(arm_of, t_ms, harmful=False), environment="prod"
        )
    time.sleep(2 * INTERVAL)  # the controller has looked at the healthy window: nothing to do
    assert _status(engine) == "running", "the healthy window must not roll back"
    deciding = _events(arm_of, t_ms + 1, harmful=True)
    response = httpx.post(
        f"{base}/api/v1/events",
        json={"events": deciding},
        headers={"Authorization": f"Bearer {sdk}"},
        timeout=10,
    )
    response.raise_for_status()
    arrived = time.perf_counter()
    target = _wait(lambda: _rolled_back_version(engine), 10)
    _wait(lambda: all(_serves(c) >= target for c in clients), 10, poll=0.0005)
    return time.perf_counter() - arrived


def _status(engine: Any) -> str:
    with store.read(engine) as conn:
        return get_rollout(conn, "prod", "agent-v2").status


def _rolled_back_version(engine: Any) -> int | None:
    with store.read(engine) as conn:
        if get_rollout(conn, "prod", "agent-v2").status != "rolled_back":
            return None
        return store.get_flag(conn, "prod", "agent").version


def _serves(client: rampgate.Client) -> int:
    flag = client.ruleset.flags.get("agent")
    return int(flag.version) if flag is not None else 0


def _wait(check: Any, timeout: float, poll: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError("the rollout did not get there in time")


def run(url: str, label: str, trials: int, n_clients: int) -> list[float]:
    engine = store.create_engine(url)
    store.upgrade(engine)
    with store.write(engine) as conn:
        store.create_environment(conn, "prod", actor="bench")
        _, sdk = store.create_token(conn, "sdk", "prod", "bench", actor="bench")
        store.create_flag(conn, "prod", flag_from_document("agent", FLAG), actor="bench")
    figures = []
    with server_process(url, controller_interval=INTERVAL, heartbeat_seconds=5.0) as (base, _):
        clients = [rampgate.Client(url=base, sdk_key=sdk) for _ in range(n_clients)]
        try:
            for c in clients:
                c.wait_ready(10)
            for n in range(trials):
                figures.append(_trial(engine, base, sdk, clients, n))
        finally:
            for c in clients:
                c.close(timeout=1)
    engine.dispose()
    print(
        f"{label:<11} p50 {percentile(figures, 0.5) * 1000:6.0f} ms · p95 "
        f"{percentile(figures, 0.95) * 1000:6.0f} ms · max {max(figures) * 1000:6.0f} ms "
        f"({trials} trials, {n_clients} SDKs) · floor: mean wait for the next reconcile "
        f"{INTERVAL / 2 * 1000:.0f} ms · goal ≤ {GOAL * 1000:.0f} ms: "
        f"{'met' if max(figures) <= GOAL else 'NOT met'}"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"Rollback latency, deciding event → every SDK serving stable · {machine_summary()}")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", args.trials, args.clients)
    if args.backend in ("postgresql", "both"):
        problem = postgres_problem(args.postgres_url)
        if problem:
            print(f"PostgreSQL skipped: {problem}")
        else:
            with postgres_schema(args.postgres_url) as url:
                run(url, "PostgreSQL", args.trials, args.clients)


if __name__ == "__main__":
    main()
