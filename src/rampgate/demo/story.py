"""``rampgate demo``: two rollouts of a support agent, from nothing, through the real parts.

A temporary SQLite file, the real server on a loopback port (its controller driven by hand on a
simulated clock, so hours of traffic pass in seconds), the real SDK streaming the flag over SSE
and buffering its events into the store, the real analysis SQL and the real pure controller:

1. ``support-agent-a`` ramps ``candidate-a`` — cheaper, but it hides an escalation and latency
   regression. The gates catch it and the controller rolls it back by itself, with a receipt and
   the snapshot that explains why; every user is back on stable.
2. ``support-agent-b`` shadows ``candidate-b`` beside stable, then ramps it 1% → 5% → 25% → 100%
   while every guardrail passes, and promotes it.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from rampgate import Client, ClientSettings
from rampgate.config import flag_to_document, load_text
from rampgate.server.app import create_app
from rampgate.server.controller import Controller, Turn
from rampgate.server.embedded import serving
from rampgate.server.settings import ServerSettings
from rampgate.store import (
    create_engine,
    create_environment,
    create_token,
    db,
    insert_events,
    upgrade,
    verify,
)
from rampgate.testing import FakeClock

from .world import FLAG, Traffic

__all__ = ["DemoOptions", "Story", "run_demo"]

ENV = "prod"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp()  # a Monday morning


@dataclass(frozen=True, slots=True)
class DemoOptions:
    seed: int = 2026
    users_per_tick: int = 16_000  # conversations per reconcile interval (48,000 an hour)
    tick_seconds: float = 1200.0  # the controller's interval, simulated
    shadow_users_per_tick: int = 400
    max_ticks: int = 60
    database: Path | None = None


@dataclass
class Story:
    rollout: str
    candidate: str
    outcome: str = ""
    rationale: str = ""
    simulated_hours: float = 0.0
    users: int = 0
    candidate_users: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)
    snapshot: str | None = None
    propagation_ms: list[float] = field(default_factory=list)
    final_weights: dict[str, float] | None = None


Say = Callable[[str], None]


def run_demo(
    options: DemoOptions, say: Say, *, serve: Callable[[str, str], None] | None = None
) -> dict[str, Any]:
    """Run both stories; ``say`` narrates; ``serve(url, admin_token)`` runs before shutdown."""
    began = time.monotonic()
    with _database(options.database) as url:
        engine = create_engine(url)
        upgrade(engine)
        with db.write(engine) as conn:
            create_environment(conn, ENV, actor="demo")
            _, admin = create_token(conn, "admin", None, "operator", actor="demo")
            _, sdk = create_token(conn, "sdk", ENV, "agent-service", actor="demo")
        clock = FakeClock(START)
        # Frequent heartbeats: a stream whose client has gone is noticed (and shut) at the next one.
        settings = ServerSettings(
            database_url=url, controller_interval=0, change_poll_seconds=0.5, heartbeat_seconds=0.5
        )
        app = create_app(settings, engine=engine)
        controller: Controller = app.state.controller
        controller.clock = clock
        config = load_text(
            resources.files("rampgate.demo").joinpath("support_agent.yaml").read_text("utf-8"),
            source="support_agent.yaml",
        )
        with (
            serving(app) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=30
            ) as http,
        ):
            say(f"[bold]rampgate demo[/] — database {url}, server {base}")
            flag = config.flags_for(ENV)[0]
            _ok(
                http.put(
                    f"/api/v1/environments/{ENV}/flags/{FLAG}",
                    json=flag_to_document(flag, wire=False),
                )
            )
            client = Client(
                url=base,
                sdk_key=sdk,
                clock=clock,
                sink=StoreSink(engine, ENV),
                settings=ClientSettings(buffer_size=1_000_000, batch_size=10_000),
            )
            try:
                if not client.wait_ready(10):
                    raise RuntimeError("the SDK did not receive the ruleset")
                say(f"SDK connected over Server-Sent Events: {FLAG} v{_version(client)}")
                traffic = Traffic(client, clock, options.seed)
                stories = [
                    _story(
                        http=http,
                        controller=controller,
                        client=client,
                        traffic=traffic,
                        config=config,
                        options=options,
                        say=say,
                        name=name,
                        candidate=cand,
                    )
                    for name, cand in (
                        ("support-agent-a", "candidate-a"),
                        ("support-agent-b", "candidate-b"),
                    )
                ]
            finally:
                client.close()
            with db.read(engine) as conn:
                chain = verify(conn)
            summary = {
                "database": url,
                "stories": [s.__dict__ for s in stories],
                "audit": {"ok": chain.ok, "entries": chain.rows_checked},
                "seconds": round(time.monotonic() - began, 1),
            }
            say(
                f"\nAudit chain verified: {chain.rows_checked} entries, "
                f"{'intact' if chain.ok else 'BROKEN'} · {summary['seconds']} s wall time"
            )
            if serve is not None:
                serve(base, admin)
        engine.dispose()
    return summary


def _story(
    *,
    http: httpx.Client,
    controller: Controller,
    client: Client,
    traffic: Traffic,
    config: Any,
    options: DemoOptions,
    say: Say,
    name: str,
    candidate: str,
) -> Story:
    story = Story(name, candidate)
    plan = config.sections["rollouts"][name]
    say(f"\n[bold]{name}[/]: stable → {candidate}")
    created = _ok(
        http.post(f"/api/v1/environments/{ENV}/rollouts", json={"name": name, "plan": plan})
    )
    story.receipts.append(created["receipt"]["change_id"])
    began = traffic.clock.now
    status = "pending"
    for _ in range(options.max_ticks):
        if status in ("promoted", "rolled_back", "aborted"):
            break
        if status == "shadow":
            served = traffic.run(options.shadow_users_per_tick, options.tick_seconds, shadow=True)
        elif status == "pending":
            served = traffic.run(0, 0)
        else:
            served = traffic.run(options.users_per_tick, options.tick_seconds)
        story.users += sum(served.values())
        story.candidate_users += served.get(candidate, 0)
        if not _flushed(client):
            raise RuntimeError("the SDK could not deliver its events")
        turns = controller.tick()
        decided = time.monotonic()
        for turn in turns:
            status = turn.status
            story.receipts.extend(turn.receipts)
            story.snapshot = turn.snapshot_id or story.snapshot
            _narrate(
                say,
                story,
                turn=turn,
                elapsed=traffic.clock.now - began,
                client=client,
                http=http,
                decided=decided,
            )
    story.outcome = status
    story.simulated_hours = round((traffic.clock.now - began) / 3600, 2)
    view = _ok(http.get(f"/api/v1/environments/{ENV}/rollouts/{name}"))
    story.rationale = view["rationale"]
    story.final_weights = view["traffic"]
    return story


def _narrate(
    say: Say,
    story: Story,
    *,
    turn: Turn,
    elapsed: float,
    client: Client,
    http: httpx.Client,
    decided: float,
) -> None:
    clock = f"{int(elapsed // 3600):02d}:{int(elapsed % 3600 // 60):02d}"
    if "SetWeights" in turn.actions or "Promote" in turn.actions or "Rollback" in turn.actions:
        ms = _propagation(client, http, decided)
        story.propagation_ms.append(ms)
        pushed = f" · the SDK served it {ms:.0f} ms after the commit"
    else:
        pushed = ""
    story.steps.append(
        {"at": clock, "status": turn.status, "step": turn.step, "rationale": turn.rationale}
    )
    style = {"rolled_back": "bold red", "promoted": "bold green"}.get(turn.status, "")
    label = f"[{style}]{turn.status}[/]" if style else turn.status
    say(f"  {clock}  {label:<12} {turn.rationale}{pushed}")
    if turn.status in ("rolled_back", "promoted"):
        receipts = ", ".join(r[:8] for r in turn.receipts)
        say(f"         receipts {receipts} · snapshot {turn.snapshot_id}")


def _propagation(client: Client, http: httpx.Client, began: float) -> float:
    """Milliseconds from ``began`` (the reconcile's commit) until the SDK serves the flag's new
    version, pushed over SSE. (``benchmarks/rollback_latency`` times the whole path, from the
    deciding event's arrival.)"""
    target = _ok(http.get(f"/api/v1/environments/{ENV}/flags/{FLAG}"))["version"]
    while _version(client) < target and time.monotonic() - began < 10:
        time.sleep(0.001)
    return (time.monotonic() - began) * 1000


def _version(client: Client) -> int:
    flag = client.ruleset.flags.get(FLAG)
    return int(flag.version) if flag is not None else 0


def _flushed(client: Client) -> bool:
    client.flush(timeout=60)
    return client.stats().get("events_dropped", 0) == 0


class StoreSink:
    """The SDK's events straight into the store's events table, as the server would write them.

    The demo pushes hours of traffic through in seconds; going through HTTP would measure the
    ingestion path (benchmark P4 does) rather than tell the story. The rows, their ids and the
    deduplication are the same.
    """

    def __init__(self, engine: Any, environment: str) -> None:
        self.engine = engine
        self.environment = environment

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
        with db.write(self.engine) as conn:
            insert_events(conn, batch, environment=self.environment)

    def close(self) -> None:
        pass


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json()


@contextlib.contextmanager
def _database(path: Path | None) -> Iterator[str]:
    if path is not None:
        yield f"sqlite:///{path}"
        return
    with tempfile.TemporaryDirectory(prefix="rampgate-demo-") as tmp:
        yield f"sqlite:///{tmp}/rampgate.db"
