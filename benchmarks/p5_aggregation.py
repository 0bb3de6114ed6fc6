"""Benchmark P5: aggregation where the events live, against the same analysis written by hand.

Loads ``--units`` units and ``--events`` rows (exposures + outcome events; default 1,000,000 /
10,000,000) into the ``events`` table of a SQLite file and of a fresh PostgreSQL schema, then
times, per metric kind, in the same run and taking turns (median of ``--runs``, default 3, after
one warm-up round):

- **rampgate**: ``rampgate.store.analysis.aggregate`` — first exposure decides the arm, events
  before it ignored, multi-arm units reported and excluded, zero-event units counted, per-unit
  values then per-arm sums (and a histogram for the quantile metric), plus its report
  (exposed units, multi-arm units, units without events, events before exposure);
- **hand-written**: the query an analyst would write for the same numbers
  (:func:`hand_written_sql`): each unit's first exposure and arms from a ``GROUP BY unit`` of
  the flag's exposures, its events from then on joined to it, per-unit values, then
  ``GROUP BY arm``; no report. The run checks that it returns the same n, sums (and
  histogram) as rampgate, and stops if not. **The goal (≤ 1.3x) is judged against this one**:
  it is the same work, written plainly;
- **GROUP BY variant**: ``SELECT variant, count(*), sum(value), sum(value*value) FROM events
  WHERE <the same rows> GROUP BY variant`` — the literal "one hand-written GROUP BY over the same
  table". Printed as the floor: it reads the same index ranges but groups them into three groups
  instead of a million units, and its numbers are no analysis at all (outcome events carry no
  variant), so no per-unit analysis can come near it on PostgreSQL, where it is a parallel scan;
- **per-unit floor** (``--per-unit-floor``): ``GROUP BY unit`` over the same rows, then sums over
  the units, with none of the exposure rules. Context only.

The data: one environment; the flag ``support-agent`` with arms ``stable``/``candidate`` (50/50),
every unit exposed once, 30% of them again (same arm), ``--multi-arm`` of them (default 0.5%)
also to the other arm later; a second flag exposed to 10% of the units (noise); the rest of the
rows are outcome events of four names (``task_success``, ``latency_ms``, ``cost_usd``,
``escalated``), 5% of them from units never exposed, spread over the week after each unit's
first exposure — except that ``--pre-exposure`` of the units (default 2%) have about half of
their events before it. Rows are in time order with time-ordered ids, as an SDK sends them.

Loading uses the bulk paths: SQLite ``executemany`` in batches of 100,000 rows in one
transaction with ``synchronous=OFF`` (a benchmark database), PostgreSQL ``COPY``; the secondary
indexes and the primary key are built after the load (faster than maintaining them row by row),
then ``ANALYZE``. ``--reuse`` keeps the loaded databases between runs (SQLite file and PostgreSQL
schema named after the sizes) to time again without loading.

Indexes: the migrations' (``schema.events``: migration 0002's covering indexes), rebuilt after
the load from the same definitions; ``--indexes 0001`` builds migration 0001's narrow ones
instead, to see what 0002 buys. Every contestant runs over the same indexes.

    uv run --frozen python -m benchmarks.p5_aggregation [--units N] [--events N]
        [--backend sqlite|postgresql|both] [--runs N] [--metrics mean,proportion,ratio,quantile]
        [--postgres-url URL] [--sqlite-path FILE] [--reuse] [--indexes 0002|0001]
        [--per-unit-floor]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from benchmarks._common import machine_summary, postgres_problem
from rampgate import store
from rampgate.store.analysis import AnalysisSpec, ArmAggregates, add_sqlite_math, aggregate
from rampgate.store.events import EVENT_FIELDS
from rampgate.store.schema import events

GOAL = 1.3
ENV = "prod"
FLAG = "support-agent"
ARMS = ("stable", "candidate")
NAMES = ("task_success", "latency_ms", "cost_usd", "escalated")
NAME_SHARE = (0.25, 0.35, 0.30, 0.10)
T0 = 1_700_000_000_000
DAY = 86_400_000
COLUMNS = (*EVENT_FIELDS, "received_at")  # the events table, as the store writes it
BATCH = 100_000

SPECS = {
    "mean": AnalysisSpec(ENV, FLAG, ARMS, "mean", "latency_ms"),
    "proportion": AnalysisSpec(ENV, FLAG, ARMS, "proportion", "task_success"),
    "ratio": AnalysisSpec(ENV, FLAG, ARMS, "ratio", "cost_usd", denominator="task_success"),
    "quantile": AnalysisSpec(ENV, FLAG, ARMS, "quantile", "latency_ms"),
}

# Migration 0001's secondary indexes on events (``--indexes 0001``); the default is the schema's.
INITIAL_INDEXES = {
    "ix_events_environment_flag": "(environment, flag, time_ms)",
    "ix_events_environment_name": "(environment, name, time_ms)",
    "ix_events_user_id": "(user_id)",
}


def index_ddl(dialect: sa.Dialect, which: str) -> list[str]:
    """``CREATE INDEX`` statements for the events table's secondary indexes."""
    if which == "0001":
        return [f"CREATE INDEX {name} ON events {cols}" for name, cols in INITIAL_INDEXES.items()]
    return [str(sa.schema.CreateIndex(ix).compile(dialect=dialect)) for ix in events.indexes]


# -- data ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Data:
    """Columns of every row, in time order (numpy arrays)."""

    unit: np.ndarray  # index into unit names
    exposure: np.ndarray  # bool
    flag: np.ndarray  # 0 the experiment's flag, 1 the noise flag
    arm: np.ndarray  # 0/1
    time_ms: np.ndarray
    name: np.ndarray  # index into NAMES
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.unit)


def generate(
    units: int, rows: int, *, multi_arm: float, pre_exposure: float, seed: int = 5
) -> Data:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, units)
    first = T0 + rng.integers(0, 14 * DAY, units)
    # Exposures: one per unit; 30% again in the same arm; multi_arm to the other arm; noise flag.
    again = rng.choice(units, int(units * 0.3))
    leak = rng.choice(units, int(units * multi_arm), replace=False)
    noise = rng.choice(units, int(units * 0.1), replace=False)
    e_unit = np.concatenate([np.arange(units), again, leak, noise])
    e_arm = np.concatenate([arm, arm[again], 1 - arm[leak], rng.integers(0, 2, len(noise))])
    e_time = np.concatenate(
        [
            first,
            first[again] + rng.integers(0, 3 * DAY, len(again)),
            first[leak] + rng.integers(1, 3 * DAY, len(leak)),
            T0 + rng.integers(0, 14 * DAY, len(noise)),
        ]
    )
    e_flag = np.concatenate(
        [np.zeros(units + len(again) + len(leak), np.int8), np.ones(len(noise), np.int8)]
    )
    n_events = rows - len(e_unit)
    if n_events < 0:
        raise SystemExit(
            f"--events {rows} is fewer than the {len(e_unit)} exposures of {units} units"
        )
    # Outcome events: 5% from units never exposed (index >= units), the rest from exposed units.
    v_unit = rng.integers(0, units, n_events)
    outside = rng.random(n_events) < 0.05
    v_unit[outside] = units + rng.integers(0, max(units // 10, 1), int(outside.sum()))
    base = np.where(
        outside, T0 + rng.integers(0, 14 * DAY, n_events), first[np.minimum(v_unit, units - 1)]
    )
    dirty_unit = np.zeros(units + max(units // 10, 1), bool)
    dirty_unit[rng.choice(units, int(units * pre_exposure), replace=False)] = True
    before = dirty_unit[v_unit] & (rng.random(n_events) < 0.5)
    v_time = np.where(
        before, base - rng.integers(1, DAY, n_events), base + rng.integers(0, 7 * DAY, n_events)
    )
    v_name = rng.choice(len(NAMES), n_events, p=NAME_SHARE)
    v_arm = arm[np.minimum(v_unit, units - 1)]
    latency = rng.lognormal(6.0, 0.8, n_events) * np.where(v_arm == 1, 0.97, 1.0)
    cost = rng.gamma(2.0, 0.01, n_events)
    v_value = np.select([v_name == 1, v_name == 2], [latency, cost], 1.0)
    order = np.argsort(np.concatenate([e_time, v_time]), kind="stable")
    cat = np.concatenate
    return Data(
        unit=cat([e_unit, v_unit])[order],
        exposure=cat([np.ones(len(e_unit), bool), np.zeros(n_events, bool)])[order],
        flag=cat([e_flag, np.zeros(n_events, np.int8)])[order],
        arm=cat([e_arm, np.zeros(n_events, np.int64)])[order],
        time_ms=cat([e_time, v_time])[order],
        name=cat([np.zeros(len(e_unit), np.int64), v_name])[order],
        value=cat([np.zeros(len(e_unit)), v_value])[order],
    )


def batches(data: Data, received_at: Any) -> Iterator[list[tuple[Any, ...]]]:
    """Rows as tuples in the order of :data:`COLUMNS`, ``BATCH`` at a time."""
    flags = (FLAG, "other-flag")
    for start in range(0, len(data), BATCH):
        stop = min(start + BATCH, len(data))
        out: list[tuple[Any, ...]] = []
        for i, unit, exposure, flag, arm, t, name, value in zip(
            range(start, stop),
            data.unit[start:stop].tolist(),
            data.exposure[start:stop].tolist(),
            data.flag[start:stop].tolist(),
            data.arm[start:stop].tolist(),
            data.time_ms[start:stop].tolist(),
            data.name[start:stop].tolist(),
            data.value[start:stop].tolist(),
            strict=True,
        ):
            row_id = f"00000000-0000-7000-8000-{i:012x}"
            if exposure:
                out.append(
                    (
                        row_id,
                        ENV,
                        "exposure",
                        t,
                        f"u{unit}",
                        None,
                        flags[flag],
                        ARMS[arm],
                        "SPLIT",
                        "canary",
                        3,
                        None,
                        None,
                        None,
                        received_at,
                    )
                )
            else:
                out.append(
                    (
                        row_id,
                        ENV,
                        "event",
                        t,
                        f"u{unit}",
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        NAMES[name],
                        value,
                        None,
                        received_at,
                    )
                )
        yield out


# -- loading ---------------------------------------------------------------------------------------


def load_sqlite(path: Path, data: Data, indexes: str) -> None:
    if path.exists():
        path.unlink()
    engine = store.create_engine(f"sqlite:///{path}")
    store.upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        for index in events.indexes:  # the migrations' secondary indexes: rebuilt after the load
            conn.execute(f"DROP INDEX {index.name}")
        sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        conn.execute("BEGIN")
        for batch in batches(data, "2024-01-01 00:00:00.000000"):
            conn.executemany(sql, batch)
        conn.execute("COMMIT")
        for ddl in index_ddl(sqlite_dialect(), indexes):
            conn.execute(ddl)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def load_postgresql(url: str, data: Data, indexes: str) -> None:
    from datetime import UTC, datetime

    import psycopg

    engine = store.create_engine(url)
    store.upgrade(engine)
    dialect = engine.dialect
    engine.dispose()
    schema = _search_path(url)
    with psycopg.connect(_plain_url(url), options=f"-csearch_path={schema}") as conn:
        for index in events.indexes:  # the migrations' secondary indexes: rebuilt after the load
            conn.execute(f"DROP INDEX {index.name}")
        conn.execute("ALTER TABLE events DROP CONSTRAINT pk_events")
        received = datetime(2024, 1, 1, tzinfo=UTC)
        with conn.cursor().copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for batch in batches(data, received):
                for row in batch:
                    copy.write_row(row)
        conn.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (id)")
        for ddl in index_ddl(dialect, indexes):
            conn.execute(ddl)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE events")


def sqlite_dialect() -> sa.Dialect:
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect()


def _plain_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)


def _search_path(url: str) -> str:
    options = str(make_url(url).query.get("options", ""))
    return options.removeprefix("-csearch_path=")


# -- timing ----------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def floor_sql(spec: AnalysisSpec, *, per_unit: bool) -> str:
    names = ", ".join(_quote(n) for n in spec.event_names)
    arms = ", ".join(_quote(a) for a in spec.arms)
    where = (
        f"environment = {_quote(spec.environment)} AND ("
        f"(type = 'exposure' AND flag = {_quote(spec.flag)} AND variant IN ({arms})) OR "
        f"(type = 'event' AND name IN ({names})))"
    )
    if per_unit:
        return (
            "SELECT count(*), sum(s), sum(s * s) FROM "
            f"(SELECT {spec.unit}, sum(value) AS s FROM events WHERE {where} "
            f"GROUP BY {spec.unit}) AS per_unit"
        )
    return (
        "SELECT variant, count(*), sum(value), sum(value * value) FROM events "
        f"WHERE {where} GROUP BY variant"
    )


def hand_written_sql(spec: AnalysisSpec) -> str:
    """The same numbers as ``aggregate(conn, spec)`` — per arm n, Σx, Σx² (a ratio's Σy, Σy²,
    Σxy; a quantile's histogram) — the way an analyst would write them, without the report.

    ``MIN(variant) = MAX(variant)`` keeps the units seen in one arm only, which is then the arm
    of their first exposure; their events count from that exposure on (``time_ms >= t0``); the
    ``LEFT JOIN`` keeps units without events (value 0). No window or time filter: the P5 specs
    have none.
    """
    unit, names = spec.unit, spec.event_names
    one = len(names) == 1

    def value_of(name: str, how: str) -> str:
        value = "e.value" if one else f"CASE WHEN e.name = {_quote(name)} THEN e.value END"
        seen = "e.time_ms" if one else f"CASE WHEN e.name = {_quote(name)} THEN 1 END"
        return {
            "sum": f"COALESCE(SUM({value}), 0)",
            "max": f"COALESCE(MAX({value}), 0)",
            "count": f"COUNT({seen})",
            "any": f"CASE WHEN COUNT({seen}) > 0 THEN 1 ELSE 0 END",
        }[how]

    values = [f"{value_of(spec.event, spec.value_per_unit)} AS x"]
    sums = ["SUM(x) AS sum_x", "SUM(x * x) AS sum_xx"]
    if spec.denominator is not None:
        values.append(f"{value_of(spec.denominator, spec.denominator_per_unit)} AS y")
        sums += ["SUM(y) AS sum_y", "SUM(y * y) AS sum_yy", "SUM(x * y) AS sum_xy"]
    group, having = "arm", ""
    if spec.kind == "quantile":
        b = spec.bins
        k = f"floor(ln(x / {b.lowest!r}) / {b.log_growth!r})"
        top = b.geometric_bins
        sums.append(
            f"CASE WHEN x < {b.lowest!r} THEN 0 WHEN {k} >= {top} THEN {top + 1} "
            f"ELSE CAST({k} AS INTEGER) + 1 END AS bin"
        )
        group, having = "arm, bin", "HAVING COUNT(e.time_ms) > 0"
    name_is = f"= {_quote(names[0])}" if one else f"IN ({', '.join(map(_quote, names))})"
    env = _quote(spec.environment)
    return f"""
WITH exposed AS (
  SELECT {unit} AS unit, MIN(time_ms) AS t0, MIN(variant) AS arm
  FROM events
  WHERE environment = {env} AND type = 'exposure' AND flag = {_quote(spec.flag)}
    AND variant IN ({", ".join(map(_quote, spec.arms))}) AND {unit} IS NOT NULL
  GROUP BY {unit}
  HAVING MIN(variant) = MAX(variant)
), per_unit AS (
  SELECT ex.unit, ex.arm, {", ".join(values)}
  FROM exposed AS ex LEFT JOIN events AS e
    ON e.{unit} = ex.unit AND e.environment = {env} AND e.type = 'event'
   AND e.name {name_is} AND e.time_ms >= ex.t0
  GROUP BY ex.unit, ex.arm
  {having}
)
SELECT arm, COUNT(*) AS n, {", ".join(sums)} FROM per_unit GROUP BY {group}
"""


# Per arm: n, (Σx, Σx², Σy, Σy², Σxy), histogram.
Numbers = dict[str, tuple[int, tuple[float, ...], dict[int, int]]]


def hand_written_numbers(rows: Sequence[sa.RowMapping], spec: AnalysisSpec) -> Numbers:
    keys = ("sum_x", "sum_xx", "sum_y", "sum_yy", "sum_xy")
    out: Numbers = {arm: (0, (0.0,) * 5, {}) for arm in spec.arms}
    for row in rows:
        n, sums, histogram = out[row["arm"]]
        more = tuple(float(row[k]) if k in row and row[k] is not None else 0.0 for k in keys)
        if spec.kind == "quantile":
            histogram = {**histogram, int(row["bin"]): int(row["n"])}
        out[row["arm"]] = (
            n + int(row["n"]),
            tuple(a + b for a, b in zip(sums, more, strict=True)),
            histogram,
        )
    return out


def rampgate_numbers(result: ArmAggregates) -> Numbers:
    return {
        a.arm: (
            a.n,
            (a.sum, a.sum_squares, a.den_sum, a.den_sum_squares, a.sum_products),
            dict(a.histogram),
        )
        for a in result
    }


def same_numbers(ours: Numbers, theirs: Numbers) -> bool:
    """Counts equal; sums equal but for the order of floating-point additions."""
    return all(
        ours[arm][0] == theirs[arm][0]
        and ours[arm][2] == theirs[arm][2]
        and all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
            for a, b in zip(ours[arm][1], theirs[arm][1], strict=True)
        )
        for arm in ours
    )


@dataclass(slots=True)
class Timing:
    name: str
    seconds: list[float]
    cpu: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def race(contestants: Sequence[tuple[str, Callable[[], object]]], runs: int) -> list[Timing]:
    """Wall and this process's CPU seconds (all of SQLite's work; none of PostgreSQL's)."""
    timings = [Timing(name, [], []) for name, _ in contestants]
    for round_no in range(runs + 1):  # one warm-up round: caches, statistics, plans
        for (_, run), timing in zip(contestants, timings, strict=True):
            start, cpu = time.perf_counter(), time.process_time()
            run()
            if round_no:
                timing.seconds.append(time.perf_counter() - start)
                timing.cpu.append(time.process_time() - cpu)
    return timings


def _text_query(engine: Engine, sql: str, out: list[Any]) -> Callable[[], None]:
    def run() -> None:
        with engine.connect() as conn:
            try:
                out[:] = [row._mapping for row in conn.execute(sa.text(sql))]
            except sa.exc.OperationalError as exc:
                # The quantile peer's ln()/floor() on a SQLite without math functions.
                if "no such function" not in str(exc.orig):
                    raise
                conn.rollback()
                add_sqlite_math(conn)
                out[:] = [row._mapping for row in conn.execute(sa.text(sql))]

    return run


def bench_backend(
    label: str, engine: Engine, metrics: Sequence[str], runs: int, per_unit_floor: bool
) -> list[str]:
    lines = []
    in_process = engine.dialect.name == "sqlite"
    for metric in metrics:
        spec = SPECS[metric]
        result: list[ArmAggregates] = []
        peer: list[Any] = []

        def ours(spec: AnalysisSpec = spec, result: list[ArmAggregates] = result) -> None:
            with store.read(engine) as conn:
                result[:] = [aggregate(conn, spec)]

        contestants = [
            ("rampgate", ours),
            ("hand-written", _text_query(engine, hand_written_sql(spec), peer)),
            ("GROUP BY variant", _text_query(engine, floor_sql(spec, per_unit=False), [])),
        ]
        if per_unit_floor:
            contestants.append(
                ("per-unit floor", _text_query(engine, floor_sql(spec, per_unit=True), []))
            )
        timings = race(contestants, runs)
        if not same_numbers(rampgate_numbers(result[0]), hand_written_numbers(peer, spec)):
            raise SystemExit(
                f"{label} {metric}: the hand-written query disagrees with rampgate:\n"
                f"  rampgate     {rampgate_numbers(result[0])}\n"
                f"  hand-written {hand_written_numbers(peer, spec)}"
            )
        mine, hand, floor = (t.median for t in timings[:3])
        ratio = mine / hand
        cpu = ""
        if in_process:
            cpu_ratio = timings[0].cpu_median / timings[1].cpu_median
            cpu = f" (CPU {cpu_ratio:4.2f}x)"
        extra = ""
        if per_unit_floor:
            extra = f"   per-unit floor {timings[3].median:6.2f} s {mine / timings[3].median:4.2f}x"
        arms = " ".join(f"{a.arm} n={a.n:,}" for a in result[0])
        lines.append(
            f"{label:<10} {metric:<10} rampgate {mine:6.2f} s   hand-written {hand:6.2f} s "
            f"{ratio:4.2f}x{cpu} (goal <= {GOAL}x: {'met' if ratio <= GOAL else 'MISSED'})   "
            f"GROUP BY variant {floor:6.2f} s {mine / floor:4.2f}x{extra}   "
            f"[same numbers; {arms}; multi-arm {result[0].multi_arm_units:,}; "
            f"before exposure {result[0].events_before_exposure:,}]"
        )
        print(lines[-1], flush=True)
    return lines


@contextlib.contextmanager
def postgres_database(base_url: str, name: str, reuse: bool) -> Iterator[tuple[str, bool]]:
    """(url, loaded already) of schema ``name``; dropped at the end unless ``reuse``."""
    engine = store.create_engine(base_url)
    with engine.begin() as conn:
        exists = conn.execute(
            sa.text(
                "SELECT 1 FROM information_schema.tables "
                "WHERE table_schema = :s AND table_name = 'events'"
            ),
            {"s": name},
        ).first()
        if not (reuse and exists):
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False), bool(reuse and exists)
    finally:
        if not reuse:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000, help="rows in all")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--metrics", default="mean,proportion,ratio,quantile")
    parser.add_argument("--multi-arm", type=float, default=0.005)
    parser.add_argument("--pre-exposure", type=float, default=0.02)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "RAMPGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--sqlite-path", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep (and reuse) loaded databases")
    parser.add_argument(
        "--indexes",
        choices=["0002", "0001"],
        default="0002",
        help="the events indexes: the migrations' (0002) or migration 0001's narrow ones",
    )
    parser.add_argument(
        "--per-unit-floor", action="store_true", help="also time a plain per-unit GROUP BY"
    )
    return parser.parse_args(argv)


class _Run:
    """One benchmark run: the arguments, the data (generated once, when first needed)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        self.indexes = args.indexes
        self.tag = f"p5_{args.units}_{args.events}_ix{self.indexes}"
        self._data: Data | None = None

    def data(self) -> Data:
        if self._data is None:
            a, t = self.args, time.perf_counter()
            self._data = generate(
                a.units, a.events, multi_arm=a.multi_arm, pre_exposure=a.pre_exposure
            )
            print(f"generated {len(self._data):,} rows in {time.perf_counter() - t:.1f} s")
        return self._data

    def bench(self, label: str, engine: Engine) -> list[str]:
        try:
            return bench_backend(
                label, engine, self.metrics, self.args.runs, self.args.per_unit_floor
            )
        finally:
            engine.dispose()

    def sqlite(self, scratch: Path) -> list[str]:
        a = self.args
        default = Path(tempfile.gettempdir()) / f"{self.tag}.db" if a.reuse else scratch / "p5.db"
        path = a.sqlite_path or default
        if not (a.reuse and path.exists()):
            t = time.perf_counter()
            load_sqlite(path, self.data(), self.indexes)
            size = path.stat().st_size / 2**30
            print(f"sqlite: loaded in {time.perf_counter() - t:.0f} s ({size:.2f} GiB)", flush=True)
        return self.bench("sqlite", store.create_engine(f"sqlite:///{path}"))

    def postgresql(self) -> list[str]:
        problem = postgres_problem(self.args.postgres_url)
        if problem:
            print(f"postgresql: skipped ({problem})")
            return []
        with postgres_database(self.args.postgres_url, self.tag, self.args.reuse) as (url, done):
            if not done:
                t = time.perf_counter()
                load_postgresql(url, self.data(), self.indexes)
                print(f"postgresql: loaded in {time.perf_counter() - t:.0f} s", flush=True)
            return self.bench("postgresql", store.create_engine(url))


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    run = _Run(args)
    indexes = {"0002": "migration 0002's", "0001": "migration 0001's"}[run.indexes]
    print(f"P5 aggregation benchmark — {machine_summary()}")
    print(
        f"data: {args.units:,} units, {args.events:,} rows (exposures + events); multi-arm "
        f"{args.multi_arm:.1%} of units, events before first exposure for {args.pre_exposure:.1%}"
        f"; indexes: {indexes}; median of {args.runs} runs, taking turns, after a warm-up"
    )
    started = time.perf_counter()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.backend in ("sqlite", "both"):
            lines += run.sqlite(Path(scratch))
        if args.backend in ("postgresql", "both"):
            lines += run.postgresql()
    print(f"\ntotal {time.perf_counter() - started:.0f} s (loading included)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
