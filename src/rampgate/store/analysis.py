"""Aggregation where the events live: exposures and outcome events → per-arm sufficient statistics.

One SQL statement per metric, built with SQLAlchemy Core (:mod:`rampgate.store.analysis_sql`),
turns the ``events`` table into per-unit values and those into per-arm sums, on SQLite and
PostgreSQL alike, in the shape each runs fastest (:func:`statement_shape`; same result). The
rules (``docs/analysis-sql.md`` has the details and the reasons):

- A unit's **arm is the arm of its first exposure** in the window (earliest ``time_ms``, ties
  broken by event ``id``); exposures to variants outside the spec's arms are ignored.
- **Units exposed to two or more arms** are counted and reported (``multi_arm_units``, under
  the arm of their first exposure) and **left out of the arm statistics** — the usual practice
  (GrowthBook removes them automatically; PostHog offers it and advises against "first seen"):
  such a unit's outcome mixes both treatments, and keeping it in either arm biases the
  comparison toward zero. A leak shows up in the report and in SRM.
- An outcome event counts only **at or after the unit's first exposure** and before the
  window's end; the events before it are counted in the report (``events_before_exposure``).
- **Every exposed unit counts**, with value 0 when it has no events (sum, count, any, max);
  a quantile metric's histogram holds only the units with at least one event.

The result holds plain numbers; the caller turns each arm into a ``rampgate.stats`` aggregate
(the store may not import ``stats``)::

    MeanStats(arm.n, arm.sum, arm.sum_squares)
    ProportionStats(arm.n, arm.successes)
    RatioStats(arm.n, arm.sum, arm.den_sum, arm.sum_squares, arm.den_sum_squares, arm.sum_products)
    QuantileSketch.from_bins(dict(arm.histogram), SketchLayout(*astuple(spec.bins)))
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from .analysis_spec import (
    DEFAULT_PER_UNIT,
    AnalysisSpec,
    HistogramBins,
    MetricKind,
    PerUnit,
    UnitColumn,
)
from .analysis_sql import (
    build_query,
    histogram_bin,
    mean_query,
    proportion_query,
    quantile_query,
    ratio_query,
)
from .analysis_units import Shape

__all__ = [
    "DEFAULT_PER_UNIT",
    "AnalysisSpec",
    "ArmAggregate",
    "ArmAggregates",
    "HistogramBins",
    "MetricKind",
    "PerUnit",
    "Shape",
    "UnitColumn",
    "add_sqlite_math",
    "aggregate",
    "build_query",
    "histogram_bin",
    "mean_query",
    "proportion_query",
    "quantile_query",
    "ratio_query",
    "statement_shape",
]


@dataclass(frozen=True, slots=True)
class ArmAggregate:
    """One arm's sufficient statistics over its units, and what was left out of them.

    ``n`` units are in the statistics: every unit whose exposures were all to this arm (for a
    quantile metric, those of them with at least one event). ``sum``/``sum_squares`` are Σx and
    Σx² of their values — the numerator's for a ratio, whose denominator adds ``den_sum``,
    ``den_sum_squares`` and the cross-product ``sum_products`` (Σxy). ``histogram`` is the
    quantile metric's ``(bin, units)`` pairs, non-empty bins only, in bin order.

    The report: ``exposed_units`` (units with all exposures in this arm: the SRM count),
    ``multi_arm_units`` (units first exposed to this arm that also saw another; not in ``n``),
    ``units_without_events`` (among ``exposed_units``) and ``events_before_exposure`` (events
    of the exposed units in the window before their first exposure, ignored).
    """

    arm: str
    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0
    den_sum: float = 0.0
    den_sum_squares: float = 0.0
    sum_products: float = 0.0
    histogram: tuple[tuple[int, int], ...] = ()
    exposed_units: int = 0
    multi_arm_units: int = 0
    units_without_events: int = 0
    events_before_exposure: int = 0

    @property
    def successes(self) -> int:
        """A proportion metric's units with the event (``sum``, an integer)."""
        return round(self.sum)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class ArmAggregates:
    """The result of :func:`aggregate`: one :class:`ArmAggregate` per arm of the spec, in order."""

    spec: AnalysisSpec
    arms: tuple[ArmAggregate, ...]
    multi_arm_units: int = 0
    events_before_exposure: int = 0
    window: tuple[int | None, int | None] = field(default=(None, None))

    def __getitem__(self, arm: str) -> ArmAggregate:
        for aggregate_ in self.arms:
            if aggregate_.arm == arm:
                return aggregate_
        raise KeyError(arm)

    def __iter__(self) -> Iterator[ArmAggregate]:
        return iter(self.arms)

    def __len__(self) -> int:
        return len(self.arms)

    @property
    def exposed_units(self) -> dict[str, int]:
        """Units per arm for an SRM check (units seen in several arms excluded)."""
        return {a.arm: a.exposed_units for a in self.arms}

    @property
    def first_exposures(self) -> dict[str, int]:
        """Units per arm of their first exposure, multi-arm units included."""
        return {a.arm: a.exposed_units + a.multi_arm_units for a in self.arms}


@dataclass(slots=True)
class _Tally:
    n: int = 0
    sums: list[float] = field(default_factory=lambda: [0.0] * 5)
    histogram: dict[int, int] = field(default_factory=dict)
    exposed: int = 0
    multi: int = 0
    without_events: int = 0
    before: int = 0


# The statement's column prefixes for Σx, Σx², Σy, Σy², Σxy.
_SUMS = ("sum", "sq", "den", "den_sq", "prod")


def _number(value: Any) -> float:
    """A SUM from either database (PostgreSQL's ``numeric`` arrives as ``Decimal``); NULL is 0."""
    return 0.0 if value is None else float(value)


def _ln(x: float | None) -> float | None:
    return math.log(x) if x is not None and x > 0 else None


def _floor(x: float | None) -> float | None:
    return float(math.floor(x)) if x is not None and math.isfinite(x) else None


def add_sqlite_math(conn: Connection) -> None:
    """Give a SQLite connection ``ln`` and ``floor`` (what a quantile's bins are computed with)."""
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection always has one
        raise RuntimeError("no driver connection")
    driver.create_function("ln", 1, _ln, deterministic=True)
    driver.create_function("floor", 1, _floor, deterministic=True)


def _tally(spec: AnalysisSpec, rows: Sequence[RowMapping]) -> tuple[dict[str, _Tally], int]:
    """Add up the rows of the statement (one per branch, or per branch and histogram bin)."""
    tallies = {arm: _Tally() for arm in spec.arms}
    quantile = spec.kind == "quantile"
    multi_before = 0
    for row in rows:
        multi_before += int(_number(row["multi_before"]))
        bin_ = int(row["bin"]) if quantile else 0
        for i, tally in enumerate(tallies.values()):
            units = int(_number(row[f"units_{i}"]))
            tally.exposed += units
            tally.without_events += int(_number(row[f"without_{i}"]))
            tally.before += int(_number(row[f"before_{i}"]))
            tally.multi += int(_number(row[f"multi_{i}"]))
            if bin_ < 0 or not units:
                continue  # bin -1: a quantile metric's units without events
            tally.n += units
            if quantile:
                tally.histogram[bin_] = tally.histogram.get(bin_, 0) + units
            for k, name in enumerate(_SUMS):
                if f"{name}_{i}" in row:
                    tally.sums[k] += _number(row[f"{name}_{i}"])
    return tallies, multi_before


def statement_shape(dialect_name: str, unit: UnitColumn = "user_id") -> Shape:
    """The statement shape :func:`aggregate` runs (``docs/analysis-sql.md``).

    SQLite groups by sorting: finding each exposed user's events through the covering
    ``user_id`` index, in unit order, sorts far less than grouping every event by unit.
    PostgreSQL (and a warehouse) aggregates by hashing, where one grouped pass over exposures
    and events wins — the join would be a million index searches in random order. Sessions take
    the grouped pass on SQLite too: they have no index of their own (it would slow inserts).
    """
    return "join" if dialect_name == "sqlite" and unit == "user_id" else "union"


def aggregate(conn: Connection, spec: AnalysisSpec) -> ArmAggregates:
    """Run ``spec``'s statement (one round trip) and return the per-arm aggregates.

    Runs in the caller's transaction; :func:`rampgate.store.read` gives a consistent snapshot
    that never waits for writers.
    """
    statement = build_query(spec, shape=statement_shape(conn.dialect.name, spec.unit))
    try:
        rows = [row._mapping for row in conn.execute(statement)]
    except sa.exc.OperationalError as exc:
        # SQLite built without its math functions (before 3.35, or without
        # SQLITE_ENABLE_MATH_FUNCTIONS) has no ln()/floor(): give this connection Python's.
        if conn.dialect.name != "sqlite" or "no such function" not in str(exc.orig):
            raise
        add_sqlite_math(conn)
        rows = [row._mapping for row in conn.execute(statement)]
    tallies, multi_before = _tally(spec, rows)
    ratio = spec.kind == "ratio"
    arms = tuple(
        ArmAggregate(
            arm,
            t.n,
            sum=t.sums[0],
            sum_squares=t.sums[1],
            den_sum=t.sums[2] if ratio else 0.0,
            den_sum_squares=t.sums[3] if ratio else 0.0,
            sum_products=t.sums[4] if ratio else 0.0,
            histogram=tuple(sorted(t.histogram.items())),
            exposed_units=t.exposed,
            multi_arm_units=t.multi,
            units_without_events=t.without_events,
            events_before_exposure=t.before,
        )
        for arm, t in tallies.items()
    )
    return ArmAggregates(
        spec,
        arms,
        multi_arm_units=sum(t.multi for t in tallies.values()),
        events_before_exposure=sum(t.before for t in tallies.values()) + multi_before,
        window=(spec.start_ms, spec.end_ms),
    )
