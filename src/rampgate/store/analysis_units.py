"""The per-unit half of the aggregation SQL: one row per exposed unit, with its arm and value.

``units`` (a common table expression)
    One ``GROUP BY unit`` over the flag's exposures in the window (to the spec's arms, from
    ``min_flag_version``) ``UNION ALL`` the metric's events in the window — two index range
    scans, and narrow rows (unit, time, arm index, values), because sorting them is most of
    SQLite's work: the first exposure ``t0``, the smallest and largest arm seen, the first and
    last events ``e0`` and ``e1``, and per event name the sum, count or maximum of *all* the
    unit's events in the window. Units never exposed are dropped.
``per_unit`` (a subquery kept whole by ``OFFSET 0``)
    Per unit: the arms seen; for a unit seen in several arms, the arm of its first exposure
    (earliest ``time_ms``, ties broken by ``id``), looked up for those units only; the value(s) —
    as ``units`` has them when the unit's first event did not precede its first exposure
    (nearly every unit), else re-aggregated from ``t0`` on by a correlated subquery for that
    unit alone; the events kept and all the unit's events in the window.

So the events are read once for almost every unit, and ``units`` is streamed, never
materialized. That is the ``union`` shape, for PostgreSQL and the warehouses (hash
aggregation). SQLite groups by sorting, and sorting every event by unit costs it more than
finding each unit's events through the unit index in unit order; for it the ``join`` shape:

``exposed`` (a subquery)
    One ``GROUP BY unit`` over the flag's exposures: ``t0`` and the arms seen.
``per_unit``
    ``exposed LEFT JOIN`` the unit's events in the window (a search of the ``user_id`` index
    per unit, in unit order: it needs an index on the unit, which sessions do not have),
    grouped by unit — the join delivers the rows already in that order, so the grouping sort
    is cheap — with the aggregates taken over the events from ``t0`` on.

``docs/analysis-sql.md`` walks through both. Arms travel as their index in ``spec.arms``
(small integers sort and compare faster than text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, FromClause

from .analysis_spec import AnalysisSpec, PerUnit
from .schema import events

__all__ = ["Metric", "Shape", "per_unit"]

# How the per-unit rows are made (see the module docstring).
Shape = Literal["union", "join"]

EXPOSURE = "exposure"
EVENT = "event"
# What each per-unit aggregation reads from the GROUP BY.
_NEEDS: dict[PerUnit, str] = {"sum": "sum", "count": "count", "any": "count", "max": "max"}


@dataclass(frozen=True, slots=True)
class Metric:
    """The value(s) a spec needs per unit: (event name, per-unit aggregation) each."""

    spec: AnalysisSpec
    values: tuple[tuple[str, PerUnit], ...]

    @classmethod
    def of(cls, spec: AnalysisSpec) -> Metric:
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


def _arm_code(table: FromClause, spec: AnalysisSpec) -> ColumnElement[int]:
    """The variant's index in ``spec.arms``."""
    return sa.case({arm: i for i, arm in enumerate(spec.arms)}, value=table.c.variant)


def _exposure_filter(table: FromClause, spec: AnalysisSpec) -> list[ColumnElement[bool]]:
    c = table.c
    where: list[ColumnElement[bool]] = [
        c.environment == spec.environment,
        c.flag == spec.flag,
        c.type == EXPOSURE,
        c.variant.in_(spec.arms),
        _unit(table, spec).is_not(None),
    ]
    served: list[ColumnElement[bool]] = []
    if spec.min_flag_version is not None:
        served.append(c.flag_version >= spec.min_flag_version)
    if spec.rule_id is not None:
        served.append(c.rule_id == spec.rule_id)
    if served:
        test = sa.and_(*served)
        if spec.unlabelled:
            # The SDK gives every evaluated exposure a version, so one with neither a version
            # nor a rule came from a producer that labels nothing.
            test = sa.or_(test, sa.and_(c.flag_version.is_(None), c.rule_id.is_(None)))
        where.append(test)
    if spec.start_ms is not None:
        where.append(c.time_ms >= spec.start_ms)
    if spec.end_ms is not None:
        where.append(c.time_ms < spec.end_ms)
    return where


def _event_filter(table: FromClause, metric: Metric) -> list[ColumnElement[bool]]:
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


def _slot_value(table: FromClause, metric: Metric, slot: int) -> ColumnElement[float]:
    """The event's value if it is the slot's event (every event is, with one name)."""
    if len(metric.names) == 1:
        value: ColumnElement[float] = table.c.value
        return value
    return sa.case((table.c.name == metric.names[slot], table.c.value))


def _slot_marker(table: FromClause, metric: Metric, slot: int) -> ColumnElement[int]:
    """Non-NULL when the row is an event of the slot: what ``COUNT`` counts.

    ``time_ms`` for a single event name: never NULL in a stored event, and NULL in the row a
    ``LEFT JOIN`` adds for a unit without events.
    """
    if len(metric.names) == 1:
        marker: ColumnElement[int] = table.c.time_ms
        return marker
    return sa.case((table.c.name == metric.names[slot], 1))


def _aggregate(what: str, value: ColumnElement[float], marker: ColumnElement[Any]) -> Any:
    if what == "sum":
        return sa.func.sum(value)
    if what == "max":
        return sa.func.max(value)
    return sa.func.count(marker)


@dataclass(frozen=True, slots=True)
class _Rows:
    """What ``units`` groups: per row the unit, exposure time and arm, event time and values."""

    source: FromClause
    unit: ColumnElement[str]
    exp_ms: ColumnElement[int]
    arm: ColumnElement[int]
    evt_ms: ColumnElement[int]
    values: tuple[ColumnElement[float], ...]
    markers: tuple[ColumnElement[Any], ...]


def _union_rows(metric: Metric) -> _Rows:
    """Exposures ``UNION ALL`` events: each branch searches its own index.

    Not one scan with ``exposure filter OR event filter``: SQLite answers that with a walk of
    the ``user_id`` index (to spare the ``GROUP BY`` a sort) and a table lookup per row, several
    times slower than two range scans and a sort. PostgreSQL runs both shapes about as fast;
    through a ``UNION ALL`` it cannot read the column statistics and assumes few units, which
    keeps its cost estimate — and the JIT compilation that follows a large one — small.
    """
    spec = metric.spec
    slots = range(len(metric.names))
    many = len(metric.names) > 1
    exposures = sa.select(
        _unit(events, spec).label("unit"),
        events.c.time_ms.label("t"),
        _arm_code(events, spec).label("a"),
        *(sa.cast(sa.null(), sa.Float).label(f"v{i}") for i in slots),
        *(sa.cast(sa.null(), sa.Integer).label(f"m{i}") for i in slots if many),
    ).where(*_exposure_filter(events, spec))
    outcomes = sa.select(
        _unit(events, spec).label("unit"),
        events.c.time_ms.label("t"),
        sa.cast(sa.null(), sa.Integer).label("a"),
        *(_slot_value(events, metric, i).label(f"v{i}") for i in slots),
        *(_slot_marker(events, metric, i).label(f"m{i}") for i in slots if many),
    ).where(*_event_filter(events, metric))
    rows = sa.union_all(exposures, outcomes).subquery("unit_rows")
    is_event = rows.c.a.is_(None)
    event_marker = sa.case((is_event, 1))
    return _Rows(
        source=rows,
        unit=rows.c.unit,
        exp_ms=sa.case((rows.c.a.is_not(None), rows.c.t)),
        arm=rows.c.a,
        evt_ms=sa.case((is_event, rows.c.t)),
        values=tuple(rows.c[f"v{i}"] for i in slots),
        markers=tuple(rows.c[f"m{i}"] for i in slots) if many else (event_marker,),
    )


def _units(metric: Metric) -> CTE:
    rows = _union_rows(metric)
    t0 = sa.func.min(rows.exp_ms)
    return (
        sa.select(
            rows.unit.label("unit"),
            t0.label("t0"),
            sa.func.min(rows.arm).label("arm_lo"),
            sa.func.max(rows.arm).label("arm_hi"),
            sa.func.min(rows.evt_ms).label("e0"),
            sa.func.max(rows.evt_ms).label("e1"),
            sa.func.count(rows.evt_ms).label("n_events"),
            *(
                _aggregate(what, rows.values[slot], rows.markers[slot]).label(f"{what}{slot}")
                for slot, what in metric.needs()
            ),
        )
        .select_from(rows.source)
        .group_by(rows.unit)
        .having(t0.is_not(None))
        .cte("units")
    )


def _late(metric: Metric, units: FromClause, what: str, slot: int | None) -> Any:
    """One aggregate of a unit's events from its first exposure on (``slot=None``: their count).

    A correlated subquery; :func:`per_unit` evaluates it only for the units whose first event
    came before their first exposure — usually a few. Every other unit's aggregates are right as
    they are. A user's events are one search of the ``user_id`` index; sessions have no index
    of their own (it would cost inserts more than it saves here), so a session's are read from
    the metric's name index between its first exposure and its last event (``e1``): the events
    of that name during the conversation, index only.
    """
    spec = metric.spec
    e = events.alias(f"late_{what}{'' if slot is None else slot}")
    if slot is None:
        aggregate = sa.func.count()
    else:
        aggregate = _aggregate(what, _slot_value(e, metric, slot), _slot_marker(e, metric, slot))
    return (
        sa.select(aggregate)
        .where(
            _unit(e, spec) == units.c.unit,
            e.c.time_ms >= units.c.t0,
            e.c.time_ms <= units.c.e1,
        )
        .where(*_event_filter(e, metric))
        .scalar_subquery()
    )


def _first_arm(metric: Metric, units: FromClause) -> ColumnElement[int]:
    """The arm of a unit's first exposure: earliest ``time_ms``, ties broken by ``id``.

    A correlated subquery, evaluated only for the units seen in several arms; it searches the
    ``environment, flag, time_ms`` index at ``t0``.
    """
    spec = metric.spec
    x = events.alias("first_exposure")
    return (
        sa.select(_arm_code(x, spec))
        .where(_unit(x, spec) == units.c.unit, x.c.time_ms == units.c.t0)
        .where(*_exposure_filter(x, spec))
        .order_by(x.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _value(aggregate: ColumnElement[Any], how: PerUnit) -> ColumnElement[float]:
    """A unit's value from its aggregate (a sum, a count or a maximum)."""
    if how == "any":
        return sa.case((aggregate > 0, 1.0), else_=0.0)
    return sa.cast(sa.func.coalesce(aggregate, 0), sa.Float)


def per_unit(metric: Metric, shape: Shape = "union") -> sa.Subquery:
    """One row per exposed unit: ``arm_lo``, ``arm_hi`` (arm indexes; equal unless the unit saw
    several arms), ``first`` (the arm of its first exposure, for those that did), the value(s)
    ``x`` [``y``], ``kept`` (events counted) and ``n_events`` (all its events in the window:
    the difference is the events before its first exposure).

    ``OFFSET 0`` keeps the subquery from being merged into the per-arm ``SELECT`` (PostgreSQL
    and SQLite both honour it), so each correlated subquery runs once per unit that needs it,
    and each per-unit value is computed once, however often the per-arm sums name it.
    """
    if shape == "join":
        return _per_unit_joined(metric)
    units = _units(metric)
    dirty = units.c.e0 < units.c.t0
    kept_late = _late(metric, units, "count", None)
    late: dict[tuple[int, str], Any] = {}
    for slot, what in metric.needs():
        if what == "count" and len(metric.names) == 1:
            late[slot, what] = kept_late  # the same search: count them once
        else:
            late[slot, what] = _late(metric, units, what, slot)
    values = [
        sa.case(
            (dirty, _value(late[metric.slot(name), _NEEDS[how]], how)),
            else_=_value(units.c[f"{_NEEDS[how]}{metric.slot(name)}"], how),
        ).label(label)
        for (name, how), label in zip(metric.values, ("x", "y"), strict=False)
    ]
    kept = sa.case((dirty, kept_late), else_=units.c.n_events)
    return (
        sa.select(
            units.c.arm_lo,
            units.c.arm_hi,
            sa.case((units.c.arm_lo < units.c.arm_hi, _first_arm(metric, units))).label("first"),
            *values,
            kept.label("kept"),
            units.c.n_events,
        )
        .offset(0)
        .subquery("per_unit")
    )


def _per_unit_joined(metric: Metric) -> sa.Subquery:
    """:func:`per_unit` in the ``join`` shape: each exposed unit's events found by unit."""
    spec = metric.spec
    unit, arm = _unit(events, spec), _arm_code(events, spec)
    exposed = (
        sa.select(
            unit.label("unit"),
            sa.func.min(events.c.time_ms).label("t0"),
            sa.func.min(arm).label("arm_lo"),
            sa.func.max(arm).label("arm_hi"),
        )
        .where(*_exposure_filter(events, spec))
        .group_by(unit)
        .subquery("exposed")
    )
    e = events.alias("unit_events")
    after = e.c.time_ms >= exposed.c.t0
    # NULL for an event before t0 (and in the row of a unit without events): not aggregated.
    kept = sa.func.count(sa.case((after, e.c.time_ms)))
    aggregates: dict[tuple[int, str], Any] = {}
    for slot, what in metric.needs():
        if what == "count" and len(metric.names) == 1:
            aggregates[slot, what] = kept
        else:
            aggregates[slot, what] = _aggregate(
                what,
                sa.case((after, _slot_value(e, metric, slot))),
                sa.case((after, _slot_marker(e, metric, slot))),
            )
    values = [
        _value(aggregates[metric.slot(name), _NEEDS[how]], how).label(label)
        for (name, how), label in zip(metric.values, ("x", "y"), strict=False)
    ]
    multi = exposed.c.arm_lo < exposed.c.arm_hi
    joined = exposed.outerjoin(
        e, sa.and_(_unit(e, spec) == exposed.c.unit, *_event_filter(e, metric))
    )
    return (
        sa.select(
            exposed.c.arm_lo,
            exposed.c.arm_hi,
            sa.case((multi, _first_arm(metric, exposed))).label("first"),
            *values,
            kept.label("kept"),
            sa.func.count(e.c.time_ms).label("n_events"),
        )
        .select_from(joined)
        # t0 and the arms are the unit's: grouping by them too keeps the SQL standard.
        .group_by(exposed.c.unit, exposed.c.t0, exposed.c.arm_lo, exposed.c.arm_hi)
        .offset(0)
        .subquery("per_unit")
    )
