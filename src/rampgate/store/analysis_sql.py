"""The per-arm half of the aggregation SQL, and one query builder per metric kind.

Each builder returns one ``SELECT`` (SQLAlchemy Core; no raw SQL) over the per-unit rows of
:func:`rampgate.store.analysis_units.per_unit`, grouped by arm (its index in ``spec.arms``) and
by whether the unit saw several arms — and, for a quantile metric, by histogram bin:

``arm, multi[, bin], units, sum, sum_squares[, den_sum, den_sum_squares, sum_products],
without_events, before``

:func:`rampgate.store.analysis.aggregate` runs it and reads the rows into ``ArmAggregates``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from .analysis_spec import AnalysisSpec, HistogramBins
from .analysis_units import Metric, Shape, per_unit

__all__ = [
    "Query",
    "build_query",
    "histogram_bin",
    "mean_query",
    "proportion_query",
    "quantile_query",
    "ratio_query",
]


def histogram_bin(value: ColumnElement[float], bins: HistogramBins) -> ColumnElement[int]:
    """The bin of ``value`` in SQL: ``HistogramBins.index`` (and ``SketchLayout.index``)."""
    k = sa.func.floor(sa.func.ln(value / bins.lowest) / bins.log_growth)
    return sa.case(
        (value < bins.lowest, 0),
        (k >= bins.geometric_bins, bins.geometric_bins + 1),
        else_=sa.cast(k, sa.Integer) + 1,
    )


Query: TypeAlias = "Select[Any]"


def _sum_if(condition: ColumnElement[bool], value: ColumnElement[Any] | None = None) -> Any:
    """``SUM(CASE WHEN condition THEN value END)`` (``THEN 1 ELSE 0`` without a value)."""
    if value is None:
        return sa.func.sum(sa.case((condition, 1), else_=0))
    return sa.func.sum(sa.case((condition, value)))


def _per_arm(metric: Metric, bins: HistogramBins | None, shape: Shape) -> Query:
    """Per arm ``i`` (its index in ``spec.arms``), as conditional sums in one pass over the
    units — no ``GROUP BY`` (SQLite sorts for every one), except by bin for a quantile metric:

    ``units_i, sum_i, sq_i[, den_i, den_sq_i, prod_i], without_i, before_i, multi_i``,
    ``multi_before`` [, ``bin``]
    """
    p = per_unit(metric, shape)
    single = p.c.arm_lo == p.c.arm_hi
    before = p.c.n_events - p.c.kept
    x = p.c.x
    columns: list[Any] = []
    for i in range(len(metric.spec.arms)):
        mine = sa.and_(p.c.arm_lo == i, p.c.arm_hi == i)
        columns += [
            _sum_if(mine).label(f"units_{i}"),
            _sum_if(mine, x).label(f"sum_{i}"),
            _sum_if(mine, x * x).label(f"sq_{i}"),
        ]
        if metric.spec.kind == "ratio":
            y = p.c.y
            columns += [
                _sum_if(mine, y).label(f"den_{i}"),
                _sum_if(mine, y * y).label(f"den_sq_{i}"),
                _sum_if(mine, x * y).label(f"prod_{i}"),
            ]
        columns += [
            _sum_if(sa.and_(mine, p.c.kept == 0)).label(f"without_{i}"),
            _sum_if(mine, before).label(f"before_{i}"),
            _sum_if(p.c.first == i).label(f"multi_{i}"),
        ]
    columns.append(_sum_if(~single, before).label("multi_before"))
    query = sa.select(*columns)
    if bins is None:
        return query
    bin_ = sa.case((sa.and_(single, p.c.kept > 0), histogram_bin(x, bins)), else_=-1)
    return query.add_columns(bin_.label("bin")).group_by(bin_)


def _check(spec: AnalysisSpec, kind: str) -> Metric:
    if spec.kind != kind:
        raise ValueError(f"a {spec.kind} spec, not {kind}")
    return Metric.of(spec)


def proportion_query(spec: AnalysisSpec, *, shape: Shape = "union") -> Query:
    """Units and units with the event (``sum_i``; ``sq_i`` is the same) per arm, and the report."""
    return _per_arm(_check(spec, "proportion"), None, shape)


def mean_query(spec: AnalysisSpec, *, shape: Shape = "union") -> Query:
    """Units, Σx and Σx² of the per-unit values per arm, and the report."""
    return _per_arm(_check(spec, "mean"), None, shape)


def ratio_query(spec: AnalysisSpec, *, shape: Shape = "union") -> Query:
    """Units, Σx, Σx², Σy, Σy², Σxy per arm (x the numerator, y the denominator), the report."""
    return _per_arm(_check(spec, "ratio"), None, shape)


def quantile_query(spec: AnalysisSpec, *, shape: Shape = "union") -> Query:
    """Per histogram bin: units, Σx, Σx² per arm, and the report; bin -1 holds the units left
    out of the histogram (no events, or several arms)."""
    return _per_arm(_check(spec, "quantile"), spec.bins, shape)


_BUILDERS = {
    "proportion": proportion_query,
    "mean": mean_query,
    "ratio": ratio_query,
    "quantile": quantile_query,
}


def build_query(spec: AnalysisSpec, *, shape: Shape = "union") -> Query:
    """The statement for ``spec``'s kind (standard SQL: SQLite, PostgreSQL, the warehouses).

    ``shape`` is how the per-unit rows are made (:mod:`rampgate.store.analysis_units`):
    ``union`` (one grouped pass over exposures and events: databases that aggregate by hashing)
    or ``join`` (each exposed unit's events through the unit index: SQLite). Same result.
    """
    return _BUILDERS[spec.kind](spec, shape=shape)
