"""Multiple comparisons for secondary metrics: Holm and Benjamini-Hochberg.

Only secondary metrics are adjusted. Guardrails are not: each guardrail is its own decision with
its own error budget, and a correction would make the gate slower to see harm the more metrics a
team guards. Following the risk-aware framework of Schultzberg, Ankargren & Frånberg (2024),
"Risk-aware product decisions in A/B tests with multiple metrics", a launch requires *every*
guardrail to pass (an intersection-union test, which needs no correction for its false-PASS
rate), and the false-alarm rate of the gate is bounded by the sum of the guardrails' alphas, which
is the price of looking for harm in more places.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Adjusted", "benjamini_hochberg", "holm"]


@dataclass(frozen=True, slots=True)
class Adjusted:
    """Adjusted p-values in the input order, and which hypotheses are rejected at ``alpha``."""

    p_values: tuple[float, ...]
    rejected: tuple[bool, ...]
    alpha: float
    method: str


def _check(p_values: Sequence[float], alpha: float) -> list[float]:
    values = [float(p) for p in p_values]
    if any(not (0.0 <= p <= 1.0) or math.isnan(p) for p in values):
        raise ValueError("p-values must lie in [0, 1]")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    return values


def holm(p_values: Sequence[float], *, alpha: float = 0.05) -> Adjusted:
    """Holm's step-down adjustment, controlling the family-wise error rate.

    Holm (1979), "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6:
    the ``i``-th smallest p-value of ``m`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
    """
    values = _check(p_values, alpha)
    m = len(values)
    order = sorted(range(m), key=values.__getitem__)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[i]))
        adjusted[i] = running
    return Adjusted(tuple(adjusted), tuple(p <= alpha for p in adjusted), alpha, "holm")


def benjamini_hochberg(p_values: Sequence[float], *, alpha: float = 0.05) -> Adjusted:
    """Benjamini-Hochberg step-up adjustment, controlling the false discovery rate.

    Benjamini & Hochberg (1995), "Controlling the false discovery rate: a practical and powerful
    approach to multiple testing", JRSS B 57: the ``i``-th smallest p-value of ``m`` becomes
    ``min_{j >= i} min(1, m p_(j) / j)``. Valid for independent or positively dependent tests.
    """
    values = _check(p_values, alpha)
    m = len(values)
    order = sorted(range(m), key=values.__getitem__)
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, m * values[i] / (rank + 1))
        adjusted[i] = running
    return Adjusted(tuple(adjusted), tuple(p <= alpha for p in adjusted), alpha, "fdr_bh")
