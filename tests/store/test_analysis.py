"""Aggregation where the events live: hand-built cases, a reference implementation, properties.

Every test runs on SQLite and on PostgreSQL (the ``engine`` fixture). The reference below is the
specification in plain Python; the randomized and property tests hold the SQL to it exactly
(integers) and to 1e-9 relative (floating-point sums, whose order differs).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from rampgate import store
from rampgate.store import analysis
from rampgate.store.analysis import (
    AnalysisSpec,
    ArmAggregate,
    ArmAggregates,
    HistogramBins,
    Shape,
    aggregate,
    build_query,
    mean_query,
    proportion_query,
)

ENV, FLAG = "prod", "support-agent"
ARMS = ("stable", "candidate")
_ids = itertools.count(1)


def exposure(unit: str | None, variant: str, t: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": extra.pop("id", f"e{next(_ids):08d}"),
        "environment": extra.pop("environment", ENV),
        "type": "exposure",
        "time_ms": t,
        "user_id": unit,
        "session_id": extra.pop("session_id", None),
        "flag": extra.pop("flag", FLAG),
        "variant": variant,
        "reason": "SPLIT",
        "flag_version": extra.pop("flag_version", 3),
        **extra,
    }


def event(
    unit: str | None, name: str, t: int, value: float | None = 1.0, **extra: Any
) -> dict[str, Any]:
    return {
        "id": extra.pop("id", f"v{next(_ids):08d}"),
        "environment": extra.pop("environment", ENV),
        "type": "event",
        "time_ms": t,
        "user_id": unit,
        "session_id": extra.pop("session_id", None),
        "name": name,
        "value": value,
        **extra,
    }


def spec(kind: str = "mean", event_name: str = "latency_ms", **kwargs: Any) -> AnalysisSpec:
    return AnalysisSpec(
        kwargs.pop("environment", ENV), FLAG, kwargs.pop("arms", ARMS), kind, event_name, **kwargs
    )  # type: ignore[arg-type]


def run(engine: Engine, rows: Sequence[Mapping[str, Any]], s: AnalysisSpec) -> ArmAggregates:
    if rows:
        with store.write(engine) as conn:
            store.insert_events(conn, rows)
    with store.read(engine) as conn:
        return aggregate(conn, s)


# -- the specification, in Python ---------------------------------------------------------------


@dataclass
class _Arm:
    n: int = 0
    sums: list[float] = field(default_factory=lambda: [0.0] * 5)
    histogram: dict[int, int] = field(default_factory=dict)
    exposed: int = 0
    multi: int = 0
    without: int = 0
    before: int = 0


def _per_unit(values: list[float | None], count: int, how: str) -> float:
    present = [v for v in values if v is not None]
    if how == "sum":
        return float(sum(present))
    if how == "count":
        return float(count)
    if how == "any":
        return 1.0 if count else 0.0
    return float(max(present)) if present else 0.0


def reference(rows: Iterable[Mapping[str, Any]], s: AnalysisSpec) -> dict[str, Any]:
    """What ``aggregate`` must return, computed the slow and obvious way."""
    rows = list(rows)
    start = -math.inf if s.start_ms is None else s.start_ms
    end = math.inf if s.end_ms is None else s.end_ms
    exposures: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        if (
            r["type"] == "exposure"
            and r["environment"] == s.environment
            and r.get("flag") == s.flag
            and r.get("variant") in s.arms
            and r.get(s.unit) is not None
            and start <= r["time_ms"] < end
            and (
                s.min_flag_version is None
                or (r.get("flag_version") is not None and r["flag_version"] >= s.min_flag_version)
            )
        ):
            exposures[r[s.unit]].append(r)
    outcomes: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        if (
            r["type"] == "event"
            and r["environment"] == s.environment
            and r.get("name") in s.event_names
            and r.get(s.unit) is not None
            and start <= r["time_ms"] < end
        ):
            outcomes[r[s.unit]].append(r)
    arms = {a: _Arm() for a in s.arms}
    values = [(s.event, s.value_per_unit)]
    if s.kind == "ratio":
        assert s.denominator is not None
        values.append((s.denominator, s.denominator_per_unit))
    for unit, seen in exposures.items():
        first = min(seen, key=lambda r: (r["time_ms"], r["id"]))
        arm = arms[first["variant"]]
        events = outcomes.get(unit, [])
        kept = [e for e in events if e["time_ms"] >= first["time_ms"]]
        before = len(events) - len(kept)
        if len({r["variant"] for r in seen}) > 1:
            arm.multi += 1
            continue
        arm.exposed += 1
        arm.before += before
        arm.without += not kept
        xs = [
            _per_unit(
                [e["value"] for e in kept if e["name"] == name],
                sum(e["name"] == name for e in kept),
                how,
            )
            for name, how in values
        ]
        if s.kind == "quantile":
            if not kept:
                continue
            k = s.bins.index(xs[0])
            arm.histogram[k] = arm.histogram.get(k, 0) + 1
        arm.n += 1
        x = xs[0]
        arm.sums[0] += x
        arm.sums[1] += x * x
        if s.kind == "ratio":
            y = xs[1]
            arm.sums[2] += y
            arm.sums[3] += y * y
            arm.sums[4] += x * y
    return {
        "arms": arms,
        "multi": sum(a.multi for a in arms.values()),
        "before": sum(a.before for a in arms.values())
        + sum(
            sum(1 for e in outcomes.get(u, []) if e["time_ms"] < min(r["time_ms"] for r in seen))
            for u, seen in exposures.items()
            if len({r["variant"] for r in seen}) > 1
        ),
    }


def assert_matches(result: ArmAggregates, expected: Mapping[str, Any]) -> None:
    assert [a.arm for a in result] == list(expected["arms"])
    for got in result:
        want: _Arm = expected["arms"][got.arm]
        assert (got.n, got.exposed_units, got.multi_arm_units) == (
            want.n,
            want.exposed,
            want.multi,
        ), got
        assert (got.units_without_events, got.events_before_exposure) == (
            want.without,
            want.before,
        ), got
        assert dict(got.histogram) == want.histogram
        sums = (got.sum, got.sum_squares, got.den_sum, got.den_sum_squares, got.sum_products)
        for name, g, w in zip(
            ("sum", "sum_squares", "den_sum", "den_sum_squares", "sum_products"),
            sums,
            want.sums,
            strict=True,
        ):
            assert g == pytest.approx(w, rel=1e-9, abs=1e-9), (got.arm, name)
    assert result.multi_arm_units == expected["multi"]
    assert result.events_before_exposure == expected["before"]


# -- hand-built cases ---------------------------------------------------------------------------


def test_first_exposure_decides_and_multi_arm_units_are_reported_not_counted(
    engine: Engine,
) -> None:
    rows = [
        exposure("a", "stable", 100),
        exposure("a", "candidate", 200),  # a: stable first, then candidate -> multi-arm
        exposure("b", "candidate", 100),
        exposure("b", "candidate", 300),  # b: candidate twice -> one unit
        exposure("c", "stable", 150),
        exposure("d", "candidate", 50),
        exposure("d", "stable", 60),  # d: candidate first -> multi-arm under candidate
        event("a", "latency_ms", 250, 10.0),
        event("b", "latency_ms", 120, 2.0),
        event("b", "latency_ms", 310, 3.0),
        event("c", "latency_ms", 160, 4.0),
        event("d", "latency_ms", 70, 99.0),
    ]
    result = run(engine, rows, spec())
    stable, candidate = result["stable"], result["candidate"]
    assert (stable.n, stable.sum, stable.sum_squares) == (1, 4.0, 16.0)
    assert (candidate.n, candidate.sum, candidate.sum_squares) == (1, 5.0, 25.0)
    assert (stable.exposed_units, stable.multi_arm_units) == (1, 1)
    assert (candidate.exposed_units, candidate.multi_arm_units) == (1, 1)
    assert result.multi_arm_units == 2
    assert result.exposed_units == {"stable": 1, "candidate": 1}
    assert result.first_exposures == {"stable": 2, "candidate": 2}
    assert_matches(result, reference(rows, spec()))


def test_a_tie_on_time_is_broken_by_event_id(engine: Engine) -> None:
    rows = [
        exposure("a", "stable", 100, id="x-2"),
        exposure("a", "candidate", 100, id="x-1"),  # same millisecond, smaller id: first
        exposure("b", "stable", 100, id="y-1"),
        exposure("b", "candidate", 100, id="y-2"),
    ]
    result = run(engine, rows, spec())
    assert result["candidate"].multi_arm_units == 1
    assert result["stable"].multi_arm_units == 1
    assert result.multi_arm_units == 2


def test_events_before_the_first_exposure_are_ignored_and_counted(engine: Engine) -> None:
    rows = [
        event("a", "latency_ms", 50, 100.0),  # before a's exposure: ignored
        event("a", "latency_ms", 99, 100.0),  # ignored
        exposure("a", "stable", 100),
        event("a", "latency_ms", 100, 5.0),  # at the exposure: counts
        event("a", "latency_ms", 400, 6.0),
        exposure("b", "candidate", 10),
        event("b", "latency_ms", 20, 7.0),
    ]
    result = run(engine, rows, spec())
    assert (result["stable"].n, result["stable"].sum) == (1, 11.0)
    assert result["stable"].events_before_exposure == 2
    assert result["candidate"].events_before_exposure == 0
    assert result.events_before_exposure == 2
    # The same unit all before its exposure: counts as a unit with no events.
    rows2 = [
        event("z", "latency_ms", 5, 1.0, environment="e2"),
        exposure("z", "stable", 6, environment="e2"),
    ]
    result2 = run(engine, rows2, spec(environment="e2"))
    assert (result2["stable"].n, result2["stable"].sum, result2["stable"].units_without_events) == (
        1,
        0.0,
        1,
    )
    assert result2["stable"].events_before_exposure == 1


def test_units_without_events_count_as_zero(engine: Engine) -> None:
    rows = [exposure(f"u{i}", ARMS[i % 2], 100 + i) for i in range(6)]
    rows += [
        event("u0", "task_success", 500),
        event("u0", "task_success", 501),
        event("u1", "task_success", 500),
    ]
    result = run(engine, rows, spec("proportion", "task_success"))
    assert (result["stable"].n, result["stable"].successes) == (3, 1)
    assert (result["candidate"].n, result["candidate"].successes) == (3, 1)
    assert result["stable"].units_without_events == 2
    mean = run(engine, [], spec("mean", "task_success", per_unit="count"))
    assert (mean["stable"].n, mean["stable"].sum, mean["stable"].sum_squares) == (3, 2.0, 4.0)


def test_window_bounds_exposures_and_events(engine: Engine) -> None:
    rows = [
        exposure("early", "stable", 5),  # before the window: not exposed
        event("early", "latency_ms", 15, 1.0),
        exposure("a", "stable", 10),  # at the start: in
        event("a", "latency_ms", 19, 2.0),
        event("a", "latency_ms", 20, 50.0),  # at the end: out
        exposure("late", "candidate", 20),  # at the end: out
        exposure("b", "candidate", 12),
        event("b", "latency_ms", 11, 9.0),  # in the window but before b's exposure
    ]
    s = spec(start_ms=10, end_ms=20)
    result = run(engine, rows, s)
    assert (result["stable"].n, result["stable"].sum) == (1, 2.0)
    assert (result["candidate"].n, result["candidate"].sum) == (1, 0.0)
    assert result.window == (10, 20)
    assert result.events_before_exposure == 1
    assert_matches(result, reference(rows, s))


def test_min_flag_version_drops_older_exposures(engine: Engine) -> None:
    rows = [
        exposure("a", "stable", 10, flag_version=1),  # too old: ignored, so a is candidate only
        exposure("a", "candidate", 20, flag_version=2),
        event("a", "latency_ms", 15, 100.0),  # before a's first counted exposure
        event("a", "latency_ms", 25, 1.0),
        exposure("b", "stable", 10, flag_version=1),  # only old exposures: not a unit at all
        exposure("c", "stable", 10, flag_version=None),
    ]
    s = spec(min_flag_version=2)
    result = run(engine, rows, s)
    assert result["candidate"].n == 1 and result["candidate"].sum == 1.0
    assert result["stable"].n == 0 and result.multi_arm_units == 0
    assert_matches(result, reference(rows, s))
    everything = run(engine, [], spec())
    assert everything.multi_arm_units == 1 and everything["stable"].n == 2


def test_only_the_flag_arms_environment_and_event_count(engine: Engine) -> None:
    rows = [
        exposure("a", "stable", 10),
        exposure("a", "staff", 5),  # not an arm: ignored (a is not multi-arm)
        exposure("a", "candidate", 6, flag="other-flag"),  # another flag
        exposure("a", "candidate", 7, environment="dev"),  # another environment
        exposure(None, "stable", 10),  # no unit
        event("a", "latency_ms", 20, 3.0),
        event("a", "cost_usd", 20, 1000.0),  # another event
        event("a", "latency_ms", 20, 1000.0, environment="dev"),
        event(None, "latency_ms", 20, 1000.0),
    ]
    result = run(engine, rows, spec())
    assert (result["stable"].n, result["stable"].sum) == (1, 3.0)
    assert result["candidate"].n == 0 and result.multi_arm_units == 0
    three = run(engine, [], spec(arms=("stable", "candidate", "staff")))
    assert three.multi_arm_units == 1 and three["staff"].multi_arm_units == 1


@pytest.mark.parametrize(
    ("per_unit", "expected"),
    [("sum", (6.0, 36.0)), ("count", (4.0, 16.0)), ("any", (1.0, 1.0)), ("max", (3.0, 9.0))],
)
def test_per_unit_aggregations(
    engine: Engine, per_unit: str, expected: tuple[float, float]
) -> None:
    rows = [
        exposure("a", "stable", 10),
        event("a", "latency_ms", 11, 1.0),
        event("a", "latency_ms", 12, 2.0),
        event("a", "latency_ms", 13, 3.0),
        event("a", "latency_ms", 14, None),  # no value: counted, not summed
        exposure("b", "stable", 10),  # no events: 0 whatever the aggregation
    ]
    result = run(engine, rows, spec(per_unit=per_unit))
    assert (result["stable"].n, result["stable"].sum, result["stable"].sum_squares) == (
        2,
        *expected,
    )


def test_ratio_metric_sums_and_cross_products(engine: Engine) -> None:
    rows = [
        exposure("a", "stable", 10),
        event("a", "cost_usd", 11, 0.5),
        event("a", "cost_usd", 12, 0.25),
        event("a", "task_success", 13),
        exposure("b", "stable", 10),
        event("b", "cost_usd", 11, 1.0),
        exposure("c", "candidate", 10),
        event("c", "task_success", 11),
        event("c", "task_success", 12),
    ]
    s = spec("ratio", "cost_usd", denominator="task_success", denominator_per_unit="count")
    result = run(engine, rows, s)
    st_ = result["stable"]
    assert (st_.n, st_.sum, st_.den_sum) == (2, 1.75, 1.0)
    assert (st_.sum_squares, st_.den_sum_squares, st_.sum_products) == (0.75**2 + 1.0, 1.0, 0.75)
    ca = result["candidate"]
    assert (ca.n, ca.sum, ca.den_sum, ca.den_sum_squares, ca.sum_products) == (
        1,
        0.0,
        2.0,
        4.0,
        0.0,
    )
    assert_matches(result, reference(rows, s))
    # One event for both: mean latency per request = Σ latency / Σ count.
    rows2 = [
        exposure("a", "stable", 10, environment="e2"),
        event("a", "latency_ms", 11, 100.0, environment="e2"),
        event("a", "latency_ms", 12, 300.0, environment="e2"),
    ]
    s2 = spec(
        "ratio",
        "latency_ms",
        environment="e2",
        denominator="latency_ms",
        denominator_per_unit="count",
    )
    per_request = run(engine, rows2, s2)["stable"]
    assert (per_request.sum, per_request.den_sum, per_request.sum_products) == (400.0, 2.0, 800.0)


def test_quantile_histogram_matches_the_stats_sketch(engine: Engine) -> None:
    from rampgate.stats import QuantileSketch, quantile_interval
    from rampgate.stats.quantiles import SketchLayout

    rng = random.Random(3)
    rows = []
    latencies: dict[str, list[float]] = {"stable": [], "candidate": []}
    for i in range(300):
        arm = ARMS[i % 2]
        rows.append(exposure(f"u{i}", arm, 10))
        if i % 7 == 0:
            continue  # no events: not in the histogram
        value = rng.lognormvariate(5, 1) if i % 11 else rng.choice([0.0, 1e-4, 2e9])
        rows.append(event(f"u{i}", "latency_ms", 20, value))
        latencies[arm].append(value)
    s = spec("quantile")
    result = run(engine, rows, s)
    layout = SketchLayout(*astuple(s.bins))
    assert layout.size == s.bins.size
    for arm in ARMS:
        got = result[arm]
        sketch = QuantileSketch.from_bins(dict(got.histogram), layout)
        assert sketch == QuantileSketch.from_values(latencies[arm], layout)
        assert got.n == len(latencies[arm]) == sketch.n
        assert got.units_without_events == result[arm].exposed_units - got.n
        assert math.isfinite(quantile_interval(sketch, 0.5).estimate)
    assert_matches(result, reference(rows, s))


def test_sqlite_without_math_functions_gets_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    rows = [exposure(f"u{i}", ARMS[i % 2], 10) for i in range(20)]
    rows += [event(f"u{i}", "latency_ms", 20, 1.5**i) for i in range(20)]
    expected = run(engine, rows, spec("quantile"))
    with store.read(engine) as conn:
        real_execute = conn.execute
        calls = []

        def execute(statement: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(statement)
            if len(calls) == 1:  # as SQLite built without SQLITE_ENABLE_MATH_FUNCTIONS answers
                raise sa.exc.OperationalError("SELECT ln(x)", {}, Exception("no such function: ln"))
            return real_execute(statement, *args, **kwargs)

        monkeypatch.setattr(conn, "execute", execute)
        assert aggregate(conn, spec("quantile")) == expected
        assert len(calls) == 2

        def locked(statement: Any, *args: Any, **kwargs: Any) -> Any:
            raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))

        monkeypatch.setattr(conn, "execute", locked)  # any other error is the caller's
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            aggregate(conn, spec("quantile"))


def test_bin_edges_agree_with_the_stats_layout() -> None:
    from rampgate.stats.quantiles import SketchLayout

    for bins in (HistogramBins(), HistogramBins(0.5, 1e4, 0.05)):
        layout = SketchLayout(bins.lowest, bins.highest, bins.relative_accuracy)
        assert (bins.growth, bins.geometric_bins, bins.size) == (
            layout.growth,
            layout.geometric_bins,
            layout.size,
        )
        values = [0.0, -1.0, bins.lowest / 2, bins.lowest, bins.highest, bins.highest * 10]
        values += [random.Random(k).lognormvariate(0, 4) for k in range(2000)]
        assert [bins.index(v) for v in values] == list(layout.index(values))
        for k in range(bins.size):
            assert (bins.lower_edge(k), bins.upper_edge(k)) == (
                layout.lower_edge(k),
                layout.upper_edge(k),
            )


def test_sessions_as_units(engine: Engine) -> None:
    rows = [
        exposure("alice", "stable", 10, session_id="s1"),
        exposure("alice", "candidate", 30, session_id="s2"),  # alice: two sessions, two arms
        event("alice", "task_success", 20, session_id="s1"),
        event("alice", "task_success", 40, session_id="s2"),
        event("alice", "task_success", 41, session_id="s2"),
    ]
    by_session = run(engine, rows, spec("proportion", "task_success", unit="session_id"))
    assert (by_session["stable"].n, by_session["stable"].successes) == (1, 1)
    assert (by_session["candidate"].n, by_session["candidate"].successes) == (1, 1)
    by_user = run(engine, [], spec("proportion", "task_success"))
    assert by_user.multi_arm_units == 1 and by_user["stable"].n == 0


def test_the_aggregates_become_stats_inputs(engine: Engine) -> None:
    from rampgate.stats import MeanStats, ProportionStats, RatioStats, welch_test

    rng = random.Random(7)
    rows = []
    for i in range(400):
        arm = ARMS[i % 2]
        rows.append(exposure(f"u{i}", arm, 10))
        for _ in range(rng.randrange(3)):
            rows.append(
                event(
                    f"u{i}",
                    "latency_ms",
                    20,
                    rng.uniform(50, 150) + (10 if arm == "candidate" else 0),
                )
            )
            rows.append(event(f"u{i}", "task_success", 20))
    result = run(engine, rows, spec())
    control, treatment = (MeanStats(a.n, a.sum, a.sum_squares) for a in result)
    assert control.n == treatment.n == 200
    effect = welch_test(control, treatment)
    assert math.isfinite(effect.estimate) and effect.ci_low <= effect.estimate <= effect.ci_high
    proportions = run(engine, [], spec("proportion", "task_success"))
    c, t = (ProportionStats(a.n, a.successes) for a in proportions)
    assert 0 < c.successes <= c.n and 0 < t.successes <= t.n
    ratio = run(
        engine,
        [],
        spec("ratio", "latency_ms", denominator="task_success", denominator_per_unit="count"),
    )
    stats = [
        RatioStats(a.n, a.sum, a.den_sum, a.sum_squares, a.den_sum_squares, a.sum_products)
        for a in ratio
    ]
    assert stats[0].summary().reason is None
    assert welch_test(*stats).p_value <= 1.0


def test_empty_arms_and_no_data(engine: Engine) -> None:
    result = run(engine, [], spec())
    assert [a.arm for a in result] == list(ARMS)
    assert all(a == ArmAggregate(a.arm) for a in result)
    assert len(result) == 2 and result.multi_arm_units == 0
    with pytest.raises(KeyError):
        result["nope"]


def test_one_statement_per_call(engine: Engine) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    with store.read(engine) as conn:
        sa.event.listen(conn, "before_cursor_execute", count)
        for kind, name, extra in (
            ("mean", "latency_ms", {}),
            ("quantile", "latency_ms", {}),
            ("ratio", "cost_usd", {"denominator": "x"}),
            ("proportion", "x", {}),
        ):
            before = len(statements)
            aggregate(conn, spec(kind, name, **extra))
            assert len(statements) - before == 1
        sa.event.remove(conn, "before_cursor_execute", count)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arms": ()}, "at least one"),
        ({"arms": ("a", "a")}, "each once"),
        ({"kind": "median"}, "kind"),
        ({"per_unit": "avg"}, "per_unit"),
        ({"unit": "tenant"}, "unit"),
        ({"kind": "ratio"}, "denominator"),
        ({"denominator": "x"}, "denominator"),
        ({"kind": "proportion", "per_unit": "sum"}, "always 'any'"),
        ({"start_ms": 5, "end_ms": 5}, "start_ms < end_ms"),
    ],
)
def test_bad_specs_are_refused(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "environment": ENV,
        "flag": FLAG,
        "arms": ARMS,
        "kind": "mean",
        "event": "e",
    }
    with pytest.raises(ValueError, match=message):
        AnalysisSpec(**(base | kwargs))
    with pytest.raises(TypeError):
        AnalysisSpec(ENV, FLAG, "stable", "mean", "e")  # type: ignore[arg-type]


def test_queries_compile_for_both_dialects() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    for kind, name, extra in (
        ("mean", "latency_ms", {}),
        ("ratio", "a", {"denominator": "b"}),
        ("quantile", "latency_ms", {}),
    ):
        s = spec(kind, name, **extra)
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            sql = str(build_query(s).compile(dialect=dialect))
            # exposures UNION ALL events, one GROUP BY unit, then the per-unit subquery kept whole
            assert sql.count("UNION ALL") == 1 and "OFFSET" in sql, dialect.name
            joined = str(build_query(s, shape="join").compile(dialect=dialect))
            # exposures grouped by unit, LEFT JOIN the unit's events, grouped again, kept whole
            assert "UNION" not in joined and joined.count("LEFT OUTER JOIN") == 1, dialect.name
            assert "OFFSET" in joined, dialect.name
    assert "GROUP BY" not in str(mean_query(spec()).compile()).split("per_unit")[-1]
    with pytest.raises(ValueError, match="not proportion"):
        proportion_query(spec())


# -- randomized: against the reference ----------------------------------------------------------


def random_rows(rng: random.Random, n: int, environment: str = ENV) -> list[dict[str, Any]]:
    """Exposures and events with every complication: ties, leaks, old versions, strangers."""
    units = [f"u{i}" for i in range(max(n // 12, 3))]
    sessions = [f"s{i}" for i in range(max(n // 8, 3))]
    rows = []
    for _ in range(n):
        unit = rng.choice(units) if rng.random() > 0.01 else None
        t = rng.randrange(0, 300)  # coarse: ties between exposures, events at t0
        common = {
            "environment": environment if rng.random() > 0.03 else "elsewhere",
            "session_id": rng.choice(sessions),
        }
        if rng.random() < 0.3:
            variant = rng.choices(["stable", "candidate", "staff"], [0.5, 0.45, 0.05])[0]
            flag = FLAG if rng.random() > 0.05 else "other-flag"
            version = rng.choice([1, 2, 3, 3, 3, None])
            t -= t % 10  # exposures on a coarser clock: ties between arms at a unit's first
            rows.append(exposure(unit, variant, t, flag=flag, flag_version=version, **common))
        else:
            name = rng.choices(
                ["latency_ms", "task_success", "cost_usd", "other"], [0.4, 0.3, 0.2, 0.1]
            )[0]
            value = (
                None
                if rng.random() < 0.05
                else round(rng.lognormvariate(4, 1.5), 6)
                if rng.random() > 0.02
                else -1.5
            )
            rows.append(event(unit, name, t, value, **common))
    return rows


SPEC_VARIANTS: list[dict[str, Any]] = [
    {"kind": "mean"},
    {"kind": "mean", "per_unit": "count"},
    {"kind": "mean", "per_unit": "any"},
    {"kind": "mean", "per_unit": "max", "unit": "session_id"},
    {"kind": "proportion", "event": "task_success"},
    {"kind": "proportion", "event": "task_success", "start_ms": 60, "end_ms": 240},
    {
        "kind": "ratio",
        "event": "cost_usd",
        "denominator": "task_success",
        "denominator_per_unit": "count",
    },
    {
        "kind": "ratio",
        "event": "latency_ms",
        "denominator": "latency_ms",
        "denominator_per_unit": "count",
        "min_flag_version": 3,
    },
    {
        "kind": "ratio",
        "event": "cost_usd",
        "per_unit": "max",
        "denominator": "latency_ms",
        "unit": "session_id",
    },
    {"kind": "quantile"},
    {
        "kind": "quantile",
        "per_unit": "sum",
        "start_ms": 30,
        "arms": ("candidate", "stable", "staff"),
    },
    {"kind": "quantile", "bins": HistogramBins(0.5, 1e4, 0.05), "end_ms": 270},
]


def make_spec(variant: Mapping[str, Any], environment: str = ENV) -> AnalysisSpec:
    options = dict(variant)
    kind = options.pop("kind")
    name = options.pop("event", "latency_ms")
    return spec(kind, name, environment=environment, **options)


@pytest.mark.parametrize("shape", ["union", "join"])
def test_both_statement_shapes_on_both_databases(
    engine: Engine, shape: Shape, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``aggregate`` picks one shape per database; either must give the same result anywhere."""
    monkeypatch.setattr(analysis, "statement_shape", lambda dialect_name, unit: shape)
    rows = random_rows(random.Random(20241121), 1500)
    with store.write(engine) as conn:
        store.insert_events(conn, rows)
    with store.read(engine) as conn:
        for variant in SPEC_VARIANTS:
            s = make_spec(variant)
            assert_matches(aggregate(conn, s), reference(rows, s))


def test_randomized_against_the_reference(engine: Engine) -> None:
    rows = random_rows(random.Random(20240601), 4000)
    with store.write(engine) as conn:
        store.insert_events(conn, rows)
    with store.read(engine) as conn:
        for variant in SPEC_VARIANTS:
            s = make_spec(variant)
            expected = reference(rows, s)
            result = aggregate(conn, s)
            assert_matches(result, expected)
            assert sum(a.exposed_units + a.multi_arm_units for a in result) > 50, variant
    # The data has every complication the rules are about.
    full = reference(rows, make_spec({"kind": "mean"}))
    assert full["multi"] > 0 and full["before"] > 0


_environments = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(0, 120),
    variant=st.sampled_from(SPEC_VARIANTS),
)
def test_property_sql_equals_reference(
    engine: Engine, seed: int, size: int, variant: Mapping[str, Any]
) -> None:
    environment = f"h{next(_environments)}"  # each example its own environment: no cleanup
    rows = random_rows(random.Random(seed), size, environment)
    s = make_spec(variant, environment)
    assert_matches(run(engine, rows, s), reference(rows, s))
