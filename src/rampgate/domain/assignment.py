"""Bucket ranges, variation choice and namespaces — GrowthBook's assignment functions.

A split of variants ``v0..vk`` with weights ``w`` and coverage ``c`` gives variant ``i`` the range
``[W_i, W_i + c * w_i)`` where ``W_i`` is the sum of earlier weights. Two consequences the rollout
controller relies on: raising ``c`` only extends each range to the right, and moving weight from
an earlier variant to the last one only extends the last range to the left — either way a unit
already in the candidate stays there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .hashing import gb_hash

__all__ = [
    "WEIGHT_SUM_MAX",
    "WEIGHT_SUM_MIN",
    "choose_variation",
    "get_bucket_ranges",
    "get_equal_weights",
    "in_namespace",
    "in_range",
    "normalized_weights",
]

# GrowthBook replaces weight vectors whose sum falls outside this band with equal weights.
WEIGHT_SUM_MIN = 0.99
WEIGHT_SUM_MAX = 1.01

Range = tuple[float, float]


def get_equal_weights(n: int) -> list[float]:
    if n < 1:
        return []
    return [1 / n] * n


def _checked_weights(weights: Sequence[object] | None, n: int) -> list[float] | None:
    if weights is None or len(weights) != n:
        return None
    out: list[float] = []
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            return None
        out.append(float(w))
    return out if WEIGHT_SUM_MIN <= sum(out) <= WEIGHT_SUM_MAX else None


def normalized_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    """The weights bucketing will use: ``weights`` when valid, equal weights otherwise."""
    checked = _checked_weights(weights, n)
    return checked if checked is not None else get_equal_weights(n)


def get_bucket_ranges(
    n: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[Range]:
    coverage = min(max(coverage, 0.0), 1.0)
    ranges: list[Range] = []
    cumulative = 0.0
    for w in normalized_weights(n, weights):
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


def in_range(x: float, r: Range) -> bool:
    return r[0] <= x < r[1]


def choose_variation(x: float, ranges: Sequence[Range]) -> int:
    for i, (start, end) in enumerate(ranges):
        if start <= x < end:
            return i
    return -1


def in_namespace(unit: str, namespace: tuple[str, float, float]) -> bool:
    x = gb_hash("__" + namespace[0], unit, 1)
    return x is not None and namespace[1] <= x < namespace[2]
