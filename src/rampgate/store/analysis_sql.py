"""The aggregation SQL, built with SQLAlchemy Core: one statement per metric.

The statement, as common table expressions (``docs/analysis-sql.md`` walks through it):

``unit_rows``
    The flag's exposures in the window (to the spec's arms, from ``min_flag_version``) and the
    metric's events in the window, as one ``UNION ALL``: each branch can use its own index
    (``environment, flag, time_ms`` and ``environment, name, time_ms``).
``units``
    One ``GROUP BY unit`` over those rows: the first exposure ``t0``, the smallest and largest
    arm seen, the first event ``e0``, and per event name the sums, counts and maxima of *all* the
    unit's events in the window. Units never exposed are dropped (``HAVING``).
``late``
    The units whose first event came before their first exposure (``e0 < t0``) — and only those,
    usually a few — have their aggregates recomputed from the events at or after ``t0``. Every
    other unit's aggregates are already right, so the table is read once for almost all units.
``first_arm``
    The units exposed to two or more arms — again only those — get the arm of their first
    exposure (earliest ``time_ms``, ties broken by ``id``), to be reported under it.
final
    Per unit: its value (``sum``, ``count``, ``any``, ``max``), then per arm (and per histogram
    bin for a quantile metric): units, Σx, Σx² (and Σy, Σy², Σxy for a ratio), units without
    events and events before exposure — separately for units seen in one arm and in several.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, FromClause, Select

from .analysis_spec import AnalysisSpec, HistogramBins, PerUnit
from .schema import events

__all__ = [
    "build_query",
    "histogram_bin",
    "mean_query",
    "proportion_query",
    "quantile_query",
    "ratio_query",
]

EXPOSURE = "exposure"
EVENT = "event"
# What each per-unit aggregation reads from the GROUP BY.
_NEEDS: dict[PerUnit, str] = {"sum": "sum", "count": "count", "any": "count", "max": "max"}


@dataclass(frozen=True, slots=True)
class _Metric:
    """The value(s) a spec needs per unit: (event name, per-unit aggregation) each."""

    spec: AnalysisSpec
    values: tuple[tuple[str, PerUnit], ...]

    @classmethod
    def of(cls, spec: AnalysisSpec) -> _Metric:
        values: list[tuple[str, PerUnit]] = [(spec.event, spec.value_per_unit)]
        if spec.kind == "ratio" and spec.denominator is not None:
            values.append((spec.denominator, spec.denominator_per_unit))
        return cls(spec, tuple(values))

    @property
    def names(self) -> tuple[str, ...]:
        return self.spec.event_names

    def slot(self, name: str) -> int:
        return self.names.index(name)

    def needs(self) -> list[tuple[int, str]]:
        """(slot, aggregate) pairs the GROUP BY must compute, without repeats."""
        out: list[tuple[int, str]] = []
        for name, how in self.values:
            need = (self.slot(name), _NEEDS[how])
            if need not in out:
                out.append(need)
        return out


def _unit(table: FromClause, spec: AnalysisSpec) -> ColumnElement[str]:
    column: ColumnElement[str] = table.c[spec.unit]
    return column


def _exposure_filter(table: FromClause, spec: AnalysisSpec) -> list[ColumnElement[bool]]:
    c = table.c
    where: list[ColumnElement[bool]] = [
        c.environment == spec.environment,
        c.flag == spec.flag,
        c.type == EXPOSURE,
        c.variant.in_(spec.arms),
        _unit(table, spec).is_not(None),
    ]
    if spec.min_flag_version is not None:
        where.append(c.flag_version >= spec.min_flag_version)
    if spec.start_ms is not None:
        where.append(c.time_ms >= spec.start_ms)
    if spec.end_ms is not None:
        where.append(c.time_ms < spec.end_ms)
    return where


def _event_filter(table: FromClause, metric: _Metric) -> list[ColumnElement[bool]]:
    spec, c = metric.spec, table.c
    names = metric.names
    where: list[ColumnElement[bool]] = [
        c.environment == spec.environment,
        c.type == EVENT,
        c.name == names[0] if len(names) == 1 else c.name.in_(names),
        _unit(table, spec).is_not(None),
    ]
    # Events before the window start are before every first exposure in it: never counted.
    if spec.start_ms is not None:
        where.append(c.time_ms >= spec.start_ms)
    if spec.end_ms is not None:
        where.append(c.time_ms < spec.end_ms)
    return where


def _slot_value(table: FromClause, metric: _Metric, slot: int) -> ColumnElement[float]:
    """The event's value if it is the slot's event (all events are, with one name)."""
    if len(metric.names) == 1:
        value: ColumnElement[float] = table.c.value
        return value
    return sa.case((table.c.name == metric.names[slot], table.c.value))


def _slot_marker(table: FromClause, metric: _Metric, slot: int) -> ColumnElement[int]:
    """Non-NULL when the row is an event of the slot: what ``COUNT`` counts.

    ``time_ms`` for a single event name: never NULL in a stored event, and NULL in the row a
    ``LEFT JOIN`` adds for a unit without events.
    """
    if len(metric.names) == 1:
        marker: ColumnElement[int] = table.c.time_ms
        return marker
    return sa.case((table.c.name == metric.names[slot], 1))


def _slot_aggregate(
    aggregate: str, value: ColumnElement[float], marker: ColumnElement[int]
) -> ColumnElement[float] | ColumnElement[int]:
    if aggregate == "sum":
        return sa.func.sum(value)
    if aggregate == "max":
        return sa.func.max(value)
    return sa.func.count(marker)


@dataclass(frozen=True, slots=True)
class _Rows:
    """Where ``units`` reads from: per row its unit, exposure time and arm, event time, values."""

    source: FromClause
    unit: ColumnElement[str]
    exp_ms: ColumnElement[int]
    arm: ColumnElement[str]
    evt_ms: ColumnElement[int]
    values: tuple[ColumnElement[float], ...]
    markers: tuple[ColumnElement[int], ...]
    where: tuple[ColumnElement[bool], ...] = ()


def _scan_rows(metric: _Metric) -> _Rows:
    """One scan of ``events`` with ``exposure filter OR event filter`` (PostgreSQL, others).

    The database estimates the number of units from the column's statistics (it cannot through
    a ``UNION ALL``), and can still combine both indexes with a bitmap OR.
    """
    spec, c = metric.spec, events.c
    exposure, event = c.type == EXPOSURE, c.type == EVENT
    slots = range(len(metric.names))
    is_slot = [event if len(metric.names) == 1 else c.name == n for n in metric.names]
    return _Rows(
        source=events,
        unit=_unit(events, spec),
        exp_ms=sa.case((exposure, c.time_ms)),
        arm=sa.case((exposure, c.variant)),
        evt_ms=sa.case((event, c.time_ms)),
        values=tuple(sa.case((is_slot[i], c.value)) for i in slots),
        markers=tuple(sa.case((is_slot[i], 1)) for i in slots),
        where=(
            sa.or_(
                sa.and_(*_exposure_filter(events, spec)),
                sa.and_(*_event_filter(events, metric)),
            ),
        ),
    )


def _union_rows(metric: _Metric) -> _Rows:
    """Exposures ``UNION ALL`` events (SQLite): each branch searches its own index.

    SQLite's planner turns the ``OR`` of :func:`_scan_rows` into a walk of the ``user_id`` index
    for the ``GROUP BY`` with a table lookup per row, several times slower than these two index
    range scans and a sort.
    """
    spec = metric.spec
    slots = range(len(metric.names))
    exposures = sa.select(
        _unit(events, spec).label("unit"),
        events.c.time_ms.label("exp_ms"),
        events.c.variant.label("arm"),
        sa.cast(sa.null(), sa.BigInteger).label("evt_ms"),
        *(sa.cast(sa.null(), sa.Float).label(f"v{i}") for i in slots),
        *(sa.cast(sa.null(), sa.Integer).label(f"m{i}") for i in slots),
    ).where(*_exposure_filter(events, spec))
    outcomes = sa.select(
        _unit(events, spec).label("unit"),
        sa.cast(sa.null(), sa.BigInteger).label("exp_ms"),
        sa.cast(sa.null(), events.c.variant.type).label("arm"),
        events.c.time_ms.label("evt_ms"),
        *(_slot_value(events, metric, i).label(f"v{i}") for i in slots),
        *(_slot_marker(events, metric, i).label(f"m{i}") for i in slots),
    ).where(*_event_filter(events, metric))
    rows = sa.union_all(exposures, outcomes).subquery("unit_rows")
    return _Rows(
        source=rows,
        unit=rows.c.unit,
        exp_ms=rows.c.exp_ms,
        arm=rows.c.arm,
        evt_ms=rows.c.evt_ms,
        values=tuple(rows.c[f"v{i}"] for i in slots),
        markers=tuple(rows.c[f"m{i}"] for i in slots),
    )


def _units(metric: _Metric, dialect: str) -> CTE:
    """``units``: one pass over the exposures and events, grouped by unit."""
    rows = _union_rows(metric) if dialect == "sqlite" else _scan_rows(metric)
    t0 = sa.func.min(rows.exp_ms)
    return (
        sa.select(
            rows.unit.label("unit"),
            t0.label("t0"),
            sa.func.min(rows.arm).label("arm_lo"),
            sa.func.max(rows.arm).label("arm_hi"),
            sa.func.min(rows.evt_ms).label("e0"),
            sa.func.count(rows.evt_ms).label("n_events"),
            *(
                _slot_aggregate(what, rows.values[slot], rows.markers[slot]).label(f"{what}{slot}")
                for slot, what in metric.needs()
            ),
        )
        .select_from(rows.source)
        .where(*rows.where)
        .group_by(rows.unit)
        .having(t0.is_not(None))
        .cte("units")
    )


def _late(metric: _Metric, units: CTE, dialect: str) -> CTE:
    """The units with events before their first exposure, re-aggregated from ``t0`` on.

    PostgreSQL: a ``LATERAL`` aggregate per such unit (an index search each; the planner
    cannot know they are few, and would otherwise hash the metric's every event). Elsewhere a
    ``LEFT JOIN`` and ``GROUP BY`` (SQLite searches the ``user_id`` index per unit).
    """
    spec = metric.spec
    e = events.alias("late_events")
    on = [_unit(e, spec) == units.c.unit, e.c.time_ms >= units.c.t0, *_event_filter(e, metric)]
    aggregates = [
        _slot_aggregate(what, _slot_value(e, metric, slot), _slot_marker(e, metric, slot)).label(
            f"{what}{slot}"
        )
        for slot, what in metric.needs()
    ]
    keys = (units.c.unit, units.c.t0, units.c.arm_lo, units.c.arm_hi, units.c.n_events)
    dirty = units.c.e0 < units.c.t0
    if dialect == "postgresql":
        per_unit = (
            sa.select(sa.func.count().label("kept"), *aggregates).where(*on).lateral("late_unit")
        )
        return (
            sa.select(*keys, *per_unit.c)
            .select_from(units.join(per_unit, sa.true()))
            .where(dirty)
            .cte("late")
        )
    return (
        sa.select(*keys, sa.func.count(e.c.id).label("kept"), *aggregates)
        .select_from(units.outerjoin(e, sa.and_(*on)))
        .where(dirty)
        .group_by(*keys)
        .cte("late")
    )


def _first_arm(metric: _Metric, units: FromClause) -> ColumnElement[str]:
    """The arm of a unit's first exposure: earliest ``time_ms``, ties broken by ``id``.

    A correlated subquery, evaluated only for units seen in several arms (it sits in the
    ``ELSE`` of a ``CASE``); it searches the ``environment, flag, time_ms`` index at ``t0``.
    """
    spec = metric.spec
    x = events.alias("first_exposure")
    return (
        sa.select(x.c.variant)
        .where(_unit(x, spec) == units.c.unit, x.c.time_ms == units.c.t0)
        .where(*_exposure_filter(x, spec))
        .order_by(x.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _value(source: CTE, slot: int, how: PerUnit) -> ColumnElement[float]:
    """A unit's value from the GROUP BY columns of ``units`` or ``late``."""
    column = source.c[f"{_NEEDS[how]}{slot}"]
    if how == "any":
        return sa.case((column > 0, 1.0), else_=0.0)
    return sa.cast(sa.func.coalesce(column, 0), sa.Float)


def _per_unit(metric: _Metric, dialect: str) -> sa.Subquery:
    """One row per exposed unit: its arm, whether it saw several, its value(s), its counts.

    The units whose events all came after their first exposure (nearly all) straight from
    ``units``, the others from ``late``: a ``UNION ALL``, not a join of every unit.
    """
    units = _units(metric, dialect)
    late = _late(metric, units, dialect)

    def rows(source: CTE, kept: ColumnElement[int], before: ColumnElement[int]) -> Select[Any]:
        return sa.select(
            source.c.unit,
            source.c.t0,
            source.c.arm_lo,
            source.c.arm_hi,
            *(
                _value(source, metric.slot(name), how).label(label)
                for (name, how), label in zip(metric.values, ("x", "y"), strict=False)
            ),
            kept.label("kept"),
            before.label("before"),
        )

    clean = rows(units, units.c.n_events, sa.literal(0, sa.Integer)).where(
        sa.or_(units.c.e0.is_(None), units.c.e0 >= units.c.t0)
    )
    dirty = rows(late, late.c.kept, late.c.n_events - late.c.kept)
    per_unit = sa.union_all(clean, dirty).subquery("per_unit_rows")
    single = per_unit.c.arm_lo == per_unit.c.arm_hi
    return sa.select(
        sa.case((single, per_unit.c.arm_lo), else_=_first_arm(metric, per_unit)).label("arm"),
        sa.case((single, 0), else_=1).label("multi"),
        *(per_unit.c[label] for label in ("x", "y")[: len(metric.values)]),
        per_unit.c.kept,
        per_unit.c.before,
    ).subquery("per_unit")


def histogram_bin(value: ColumnElement[float], bins: HistogramBins) -> ColumnElement[int]:
    """The bin of ``value`` in SQL: ``HistogramBins.index`` (and ``SketchLayout.index``)."""
    k = sa.func.floor(sa.func.ln(value / bins.lowest) / bins.log_growth)
    return sa.case(
        (value < bins.lowest, 0),
        (k >= bins.geometric_bins, bins.geometric_bins + 1),
        else_=sa.cast(k, sa.Integer) + 1,
    )


def _arm_select(
    p: sa.Subquery, extra: Sequence[ColumnElement[float]]
) -> Select[tuple[object, ...]]:
    x = p.c.x
    return sa.select(
        p.c.arm,
        p.c.multi,
        sa.func.count().label("units"),
        sa.func.sum(x).label("sum"),
        sa.func.sum(x * x).label("sum_squares"),
        *extra,
        sa.func.sum(sa.case((p.c.kept == 0, 1), else_=0)).label("without_events"),
        sa.func.sum(p.c.before).label("before"),
    )


def _check(spec: AnalysisSpec, kind: str) -> _Metric:
    if spec.kind != kind:
        raise ValueError(f"a {spec.kind} spec, not {kind}")
    return _Metric.of(spec)


def proportion_query(spec: AnalysisSpec, dialect: str = "postgresql") -> Select[tuple[object, ...]]:
    """Per (arm, multi): units, units with the event (``sum``; Σx² is the same), report columns."""
    p = _per_unit(_check(spec, "proportion"), dialect)
    return _arm_select(p, ()).group_by(p.c.arm, p.c.multi)


def mean_query(spec: AnalysisSpec, dialect: str = "postgresql") -> Select[tuple[object, ...]]:
    """Per (arm, multi): units, Σx, Σx² of the per-unit values, report columns."""
    p = _per_unit(_check(spec, "mean"), dialect)
    return _arm_select(p, ()).group_by(p.c.arm, p.c.multi)


def ratio_query(spec: AnalysisSpec, dialect: str = "postgresql") -> Select[tuple[object, ...]]:
    """Per (arm, multi): units, Σx, Σx², Σy, Σy², Σxy (x numerator, y denominator), report."""
    p = _per_unit(_check(spec, "ratio"), dialect)
    y = p.c.y
    extra = [
        sa.func.sum(y).label("den_sum"),
        sa.func.sum(y * y).label("den_sum_squares"),
        sa.func.sum(p.c.x * y).label("sum_products"),
    ]
    return _arm_select(p, extra).group_by(p.c.arm, p.c.multi)


def quantile_query(spec: AnalysisSpec, dialect: str = "postgresql") -> Select[tuple[object, ...]]:
    """Per (arm, multi, bin): units, Σx, Σx², report. Units without events get bin -1."""
    p = _per_unit(_check(spec, "quantile"), dialect)
    counted = sa.and_(p.c.multi == 0, p.c.kept > 0)
    bin_ = sa.case((counted, histogram_bin(p.c.x, spec.bins)), else_=-1).label("bin")
    return _arm_select(p, (bin_,)).group_by(p.c.arm, p.c.multi, bin_)


_BUILDERS = {
    "proportion": proportion_query,
    "mean": mean_query,
    "ratio": ratio_query,
    "quantile": quantile_query,
}


def build_query(spec: AnalysisSpec, dialect: str = "postgresql") -> Select[tuple[object, ...]]:
    """The statement for ``spec``'s kind, shaped for ``dialect`` (``Dialect.name``).

    SQLite gets a ``UNION ALL`` of exposures and events, every other database (PostgreSQL, and
    the warehouses SQLAlchemy speaks to) one scan with an ``OR``; the results are the same.
    """
    return _BUILDERS[spec.kind](spec, dialect)
