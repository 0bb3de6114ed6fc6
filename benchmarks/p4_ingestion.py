"""Benchmark P4: how many events a second flow from SDKs into the store, end to end?

A rampgate server (``rampgate serve`` itself, default settings: one process, or
``--pg-workers`` processes on PostgreSQL) runs over a SQLite file, then over a fresh
PostgreSQL schema. In this process, ``--clients`` real ``rampgate.Client`` instances in server
mode (``batch_size`` 5,000, a buffer large enough never to drop) record ``--events`` records,
half exposures (``evaluate`` of a flag served by the server) and half outcome events (``track``
with a value), for distinct users, round-robin over the clients. Each client's background
thread drains its buffer (``to_record``) and its HTTP sink POSTs the batches, one list per
field (``{"columns": …}``), to ``/api/v1/events``, several at once
(``HttpSink.max_in_flight``), where they are parsed and checked column by column (pydantic
``EventColumnsIn`` only for a batch that is not plainly valid) and stored
(``store.insert_event_columns``).

Timed, end to end: from the first ``evaluate``/``track`` call until every client's ``flush()``
has returned — i.e. the server has answered 200 to every batch, which it does only after the
batch's transaction committed. Then the store is asked: ``count_events`` must equal the number
of records sent (no loss; the primary key on the event id rules out duplicates), and each
client must report nothing dropped or failed.

Baseline, in the same run, into the same ``events`` table (emptied first, same indexes): a raw
batched insert of the same number of records of the same shape, made by the SDK's own
``to_record``, in batches of the same size, one transaction per batch: ``executemany`` of a
plain ``INSERT`` on SQLite (the store's connection settings: WAL, ``synchronous=NORMAL``),
``COPY … FROM STDIN`` through psycopg on PostgreSQL. Its rows are built before its timer starts.

Then where the time goes: each stage of the path timed alone, in this process, on the same
records — the SDK's drain (``to_record``, the HTTP sink's JSON encoding), the server's parse
and checks, and ``store.insert_event_columns`` — as µs per event.

    uv run --frozen python -m benchmarks.p4_ingestion [--events N] [--clients N] [--runs N]
        [--backend sqlite|postgresql|both] [--postgres-url URL] [--pg-workers N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import rampgate
from benchmarks._common import (
    cli_server_process,
    cpu_seconds,
    machine_summary,
    percentile,
    postgres_problem,
    postgres_schema,
    tree_cpu_seconds,
)
from rampgate import store
from rampgate.config import flag_from_document
from rampgate.sdk.records import IdFactory, RawRecord, to_record
from rampgate.store.events import EVENT_FIELDS
from rampgate.store.schema import utcnow

GOAL_EVENTS_PER_S = 50_000
GOAL_VS_RAW = 0.5
BATCH = 5_000
FLAG = "p4-agent"
OUTCOMES = ("resolved", "escalated", "latency_ms", "cost_usd")
POSTGRES_URL = os.environ.get(
    "RAMPGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
DEADLINE_S = 180.0  # one end-to-end run must finish within this
# PostgreSQL stores batches in its own processes, so a second server process can parse while
# the first waits on it (RAMPGATE_WORKERS); SQLite allows one process.
PG_WORKERS = 1


def flag_document() -> dict[str, Any]:
    return {
        "variants": {
            "stable": {"model": "gpt-4o-2024-08", "prompt_version": "v3"},
            "candidate": {"model": "claude-sonnet-4", "prompt_version": "v4"},
        },
        "default": "stable",
        "rules": [{"id": "canary", "split": {"weights": {"stable": 0.9, "candidate": 0.1}}}],
    }


def contexts(n: int) -> list[rampgate.Context]:
    return [rampgate.Context(user_id=f"u-{i:07d}", session_id=f"s-{i:07d}") for i in range(n)]


def prepare(url: str) -> str:
    """Migrate ``url``; the environment ``prod`` with one flag; return an SDK token for it."""
    engine = store.create_engine(url)
    try:
        store.upgrade(engine)
        with store.write(engine) as conn:
            store.create_environment(conn, "prod", actor="bench")
            # An admin token too, or the server's first start prints a new one.
            store.create_token(conn, "admin", None, "bench-admin", actor="bench")
            _, sdk = store.create_token(conn, "sdk", "prod", "bench-sdk", actor="bench")
            store.create_flag(
                conn, "prod", flag_from_document(FLAG, flag_document()), actor="bench"
            )
    finally:
        engine.dispose()
    return sdk


def wait_for_ruleset(client: rampgate.Client, timeout: float = 30.0) -> None:
    """Until the client serves the flag.

    ``wait_ready()`` alone is not enough: a streaming client is "ready" as soon as the stream is
    connected, before the first ruleset has arrived (reported as a bug), so right after it an
    ``evaluate`` may still answer "unknown flag".
    """
    deadline = time.monotonic() + timeout
    client.wait_ready(timeout)
    while FLAG not in client.ruleset.flags:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no ruleset from the server within {timeout:.0f} s")
        time.sleep(0.01)


# -- end to end -----------------------------------------------------------------------------------


@dataclass
class EndToEnd:
    events: int
    seconds: float
    track_seconds: float  # of which the evaluate/track calls themselves
    server_cpu: float  # CPU seconds the server process used meanwhile
    client_cpu: float  # CPU seconds this process (app calls + SDK threads) used meanwhile
    stored: int
    stats: list[dict[str, int]]

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def end_to_end(
    base: str, server_pid: int, sdk: str, ctxs: list[rampgate.Context], n_clients: int
) -> EndToEnd:
    n = len(ctxs)
    settings = rampgate.ClientSettings(batch_size=BATCH, buffer_size=n + BATCH, close_timeout=30)
    with ExitStack() as stack:
        clients = []
        for _ in range(n_clients):
            c = rampgate.Client(url=base, sdk_key=sdk, settings=settings)
            stack.callback(c.close, 5.0)
            clients.append(c)
        for c in clients:
            wait_for_ruleset(c)
        server_cpu, client_cpu = tree_cpu_seconds(server_pid), cpu_seconds()
        start = time.perf_counter()
        for i in range(0, n, 2):  # one exposure, one outcome event: two records per context
            c = clients[(i // 2) % n_clients]
            ctx = ctxs[i]
            c.evaluate(FLAG, ctx)
            c.track(OUTCOMES[i % 4], ctx, value=1.0)
        tracked = time.perf_counter()
        deadline = start + DEADLINE_S
        for c in clients:
            c.flush(max(0.0, deadline - time.perf_counter()))
        end = time.perf_counter()
        server_cpu = tree_cpu_seconds(server_pid) - server_cpu
        client_cpu = cpu_seconds() - client_cpu
        stats = [c.stats() for c in clients]
    return EndToEnd(n - n % 2, end - start, tracked - start, server_cpu, client_cpu, -1, stats)


def count(url: str) -> int:
    engine = store.create_engine(url)
    try:
        with store.read(engine) as conn:
            return store.count_events(conn, environment="prod")
    finally:
        engine.dispose()


def empty_events(url: str) -> None:
    """Empty the events table as if new: TRUNCATE on PostgreSQL, DELETE + VACUUM on SQLite."""
    engine = store.create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with store.write(engine) as conn:
                conn.execute(sa.text("TRUNCATE events"))
            return
        with store.write(engine) as conn:
            conn.execute(sa.text("DELETE FROM events"))
        raw = engine.raw_connection()  # autocommit (the store's SQLite connections are)
        try:
            raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
        finally:
            raw.close()
    finally:
        engine.dispose()


# -- the raw insert -------------------------------------------------------------------------------


def sdk_records(ctxs: list[rampgate.Context], client: rampgate.Client) -> list[dict[str, Any]]:
    """The records the SDK would send for these contexts (exposure + event each)."""
    ids = IdFactory()
    now = time.time_ns()
    raws: list[RawRecord] = []
    for i in range(0, len(ctxs) - len(ctxs) % 2, 2):
        ctx = ctxs[i]
        ev = client.evaluate(FLAG, ctx, expose=False)
        raws.append((now, ev.signature, ctx.user_id, ctx.session_id))
        raws.append((now, OUTCOMES[i % 4], ctx.user_id, ctx.session_id, 1.0, None))
    return [to_record(raw, ids, "prod") for raw in raws]


def _row(record: dict[str, Any], received: Any, properties: Any) -> tuple[Any, ...]:
    values = [record.get(name) for name in EVENT_FIELDS]
    values[EVENT_FIELDS.index("properties")] = properties
    return (*values, received)


_COLUMNS = ", ".join((*EVENT_FIELDS, "received_at"))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def raw_insert(url: str, records: list[dict[str, Any]]) -> float:
    """Seconds to store ``records`` with the driver's bulk path, one transaction per batch."""
    engine = store.create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            received = utcnow().replace(tzinfo=None).isoformat(sep=" ")
            rows = [_row(r, received, _json(r.get("properties"))) for r in records]
            return _raw_sqlite(engine, rows)
        received_dt = utcnow()
        rows = [_row(r, received_dt, _json(r.get("properties"))) for r in records]
        return _raw_postgresql(engine, rows)
    finally:
        engine.dispose()


def _raw_sqlite(engine: sa.Engine, rows: list[tuple[Any, ...]]) -> float:
    marks = ", ".join("?" * len(rows[0]))
    sql = f"INSERT INTO events ({_COLUMNS}) VALUES ({marks})"
    raw = engine.raw_connection()  # the store's connection: WAL, synchronous=NORMAL, autocommit
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            cursor.execute("BEGIN")
            cursor.executemany(sql, rows[i : i + BATCH])
            cursor.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        raw.close()


def _raw_postgresql(engine: sa.Engine, rows: list[tuple[Any, ...]]) -> float:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY events ({_COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows[i : i + BATCH]:
                    copy.write_row(row)
            conn.commit()
        return time.perf_counter() - start
    finally:
        raw.close()


# -- where the time goes --------------------------------------------------------------------------


@dataclass
class Stages:
    us_per_event: dict[str, float] = field(default_factory=dict)


def stages(url: str, client: rampgate.Client, ctxs: list[rampgate.Context]) -> Stages:
    """Each stage of the path alone, on one batch of the same records; µs per event.

    The minimum of several repeats: on a shared machine that is the best estimate of the cost.
    The server's parse and checks are ``ingest.lean_columns`` (what ``POST /events`` runs),
    with pydantic's ``EventColumnsIn`` beside it: what a batch that is not plainly valid costs.
    """
    from rampgate.sdk.http_sink import _columns, _encode
    from rampgate.server.ingest import lean_columns
    from rampgate.server.models import EventColumnsIn
    from rampgate.store.events import insert_event_columns

    result = Stages()
    ctxs = ctxs[: 2 * BATCH]
    ids = IdFactory()
    now = time.time_ns()
    raws: list[RawRecord] = []
    for i in range(0, len(ctxs), 2):
        ev = client.evaluate(FLAG, ctxs[i], expose=False)
        raws.append((now, ev.signature, ctxs[i].user_id, ctxs[i].session_id))
        raws.append((now, OUTCOMES[i % 4], ctxs[i].user_id, ctxs[i].session_id, 1.0, None))
    raws = raws[:BATCH]
    records = [to_record(raw, ids, "prod") for raw in raws]
    body = _encode({"columns": _columns(records)})

    def timed(name: str, fn: Any, repeat: int = 9) -> None:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        result.us_per_event[name] = min(samples) / len(raws) * 1e6

    timed("SDK: to_record", lambda: [to_record(raw, ids, "prod") for raw in raws])
    timed("SDK: JSON body (HttpSink)", lambda: _encode({"columns": _columns(records)}))
    timed("server: parse + check columns", lambda: lean_columns(body, BATCH))
    columns = lean_columns(body, BATCH)
    if columns is None:
        raise RuntimeError("the server's lean path refused the SDK's own batch")
    engine = store.create_engine(url)
    try:
        samples = []
        for _ in range(9):
            fresh = {**columns, "id": [ids.make(now) for _ in columns["id"]]}
            start = time.perf_counter()
            with store.write(engine) as conn:
                insert_event_columns(conn, fresh, environment="prod")
            samples.append(time.perf_counter() - start)
        result.us_per_event["store: insert_event_columns + commit"] = min(samples) / BATCH * 1e6
    finally:
        engine.dispose()
    empty_events(url)
    # Not on the path of a valid batch: what one that needs pydantic to name its errors costs.
    timed(
        "(pydantic EventColumnsIn.model_validate_json)",
        lambda: EventColumnsIn.model_validate_json(body),
    )
    return result


# -- one backend, several runs --------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    workers: int
    e2e: list[EndToEnd]
    raw_seconds: list[float]
    events: int
    stages: Stages
    failures: list[str]


def run_backend(
    backend: str, url: str, *, events: int, n_clients: int, runs: int, workers: int
) -> BackendResult:
    sdk = prepare(url)
    ctxs = contexts(events)
    failures: list[str] = []
    e2e: list[EndToEnd] = []
    raw_seconds: list[float] = []
    with (
        cli_server_process(url, workers=workers) as (base, pid),
        rampgate.Client(url=base, sdk_key=sdk) as probe,
    ):
        wait_for_ruleset(probe)
        records = sdk_records(ctxs, probe)
        for run in range(runs):
            result = end_to_end(base, pid, sdk, ctxs, n_clients)
            result.stored = count(url)
            e2e.append(result)
            sent = sum(s["events_sent"] for s in result.stats)
            lost = {
                k: sum(s.get(k, 0) for s in result.stats)
                for k in ("events_dropped", "events_failed", "sink_error", "sync_error")
            }
            if result.stored != result.events or sent != result.events or any(lost.values()):
                failures.append(
                    f"run {run + 1}: recorded {result.events}, sent {sent}, stored "
                    f"{result.stored}, {lost}"
                )
            empty_events(url)
            raw_seconds.append(raw_insert(url, records))
            stored_raw = count(url)
            if stored_raw != len(records):
                failures.append(f"raw insert stored {stored_raw}, not {len(records)}")
            empty_events(url)
        breakdown = stages(url, probe, ctxs)
    return BackendResult(backend, workers, e2e, raw_seconds, len(records), breakdown, failures)


# -- report ---------------------------------------------------------------------------------------


def report(result: BackendResult, n_clients: int) -> bool:
    rates = [r.rate for r in result.e2e]
    raw_rates = [result.events / s for s in result.raw_seconds]
    rate, raw_rate = percentile(rates, 0.5), percentile(raw_rates, 0.5)
    ratio = rate / raw_rate
    ok_rate = rate >= GOAL_EVENTS_PER_S
    ok_ratio = ratio >= GOAL_VS_RAW
    runs = len(rates)
    workers = f", {result.workers} server processes" if result.workers > 1 else ""
    print(
        f"\n== {result.backend}: {result.events:,} events, {n_clients} client(s){workers}, "
        f"{runs} runs =="
    )
    print(f"{'':44} {'median':>12} {'best':>12} {'worst':>12}")

    def row(label: str, values: Sequence[float], note: str = "") -> None:
        print(
            f"{label:44} {percentile(values, 0.5):>12,.0f} {max(values):>12,.0f} "
            f"{min(values):>12,.0f}  {note}"
        )

    row(
        "end to end (SDK → HTTP → store), events/s",
        rates,
        f"goal ≥ {GOAL_EVENTS_PER_S:,}: {'MET' if ok_rate else 'MISSED'}",
    )
    row(
        "  of which recording (evaluate/track), ev/s",
        [r.events / r.track_seconds for r in result.e2e],
        "(the app's own calls; the drain runs meanwhile)",
    )
    label = "raw executemany" if result.backend == "sqlite" else "raw COPY"
    row(f"{label}, same rows, events/s", raw_rates)
    print(
        f"{'end to end / raw':44} {ratio:>12.2f} {'':>12} {'':>12}  goal ≥ {GOAL_VS_RAW}: "
        f"{'MET' if ok_ratio else 'MISSED'}"
    )
    print(
        "stored == sent, nothing dropped or failed: "
        + ("yes, every run" if not result.failures else "NO")
    )
    cpu_server = percentile([r.server_cpu / r.events * 1e6 for r in result.e2e], 0.5)
    cpu_client = percentile([r.client_cpu / r.events * 1e6 for r in result.e2e], 0.5)
    print(
        f"CPU per event, end to end: server process {cpu_server:.1f} µs "
        f"(→ {1e6 / cpu_server:,.0f} events/s on one core), SDK process {cpu_client:.1f} µs"
        + (" (+ PostgreSQL's own)" if result.backend == "postgresql" else "")
    )
    print("stage alone, one batch of 5,000 (min)         µs/event   ceiling events/s")
    for name, us in result.stages.us_per_event.items():
        print(f"  {name:45} {us:8.2f}   {1e6 / us:>14,.0f}")
    sdk_us = sum(v for k, v in result.stages.us_per_event.items() if k.startswith("SDK"))
    server_us = sum(
        v for k, v in result.stages.us_per_event.items() if k[:6] in ("server", "store:")
    )
    print(
        f"  {'sum, SDK side':45} {sdk_us:8.2f}   {1e6 / sdk_us:>14,.0f}\n"
        f"  {'sum, server side (without HTTP)':45} {server_us:8.2f}   {1e6 / server_us:>14,.0f}"
    )
    for failure in result.failures:
        print(f"FAILURE: {failure}")
    return ok_rate and ok_ratio and not result.failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument(
        "--pg-workers", type=int, default=PG_WORKERS, help="server processes on PostgreSQL"
    )
    args = parser.parse_args(argv)
    if args.events < 2 * BATCH or args.clients < 1 or args.runs < 1:
        parser.error(f"--events must be at least {2 * BATCH}; --clients and --runs at least 1")

    print(__doc__.splitlines()[0])
    print(machine_summary())
    # The SDK's failures are counted (and checked: see run_backend) rather than read from logs:
    # closing a streaming client logs a spurious sync_error with a traceback (reported).
    logging.getLogger("rampgate").setLevel(logging.CRITICAL)
    ok = True
    for backend in ("sqlite", "postgresql"):
        if args.backend not in (backend, "both"):
            continue
        with _database(backend, args.postgres_url) as url:
            if url is None:
                ok = False
                continue
            workers = args.pg_workers if backend == "postgresql" else 1
            result = run_backend(
                backend,
                url,
                events=args.events,
                n_clients=args.clients,
                runs=args.runs,
                workers=workers,
            )
        ok = report(result, args.clients) and ok
    return 0 if ok else 1


@contextmanager
def _database(backend: str, postgres_url: str) -> Iterator[str | None]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="rampgate-p4-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'rampgate.db'}"
        return
    problem = postgres_problem(postgres_url)
    if problem is not None:
        print(f"\n== postgresql: SKIPPED, {postgres_url} unreachable: {problem} ==")
        yield None
        return
    with postgres_schema(postgres_url) as url:
        yield url


if __name__ == "__main__":
    sys.exit(main())
