"""Sample ratio mismatch: do the units per arm match the configured weights?

A split that sends 50% of units to each arm but records 52% in one has a bug somewhere between
assignment and logging (a crash in one variant, a redirect, a filter applied to one arm), and
every comparison of the arms is suspect. Pearson's chi-square goodness of fit (Fabijan et al.
2019, "Diagnosing sample ratio mismatch in online controlled experiments", KDD), flagged at
``p < 0.001`` by default, is a fixed-horizon test: valid for one look. A rollout looks at every
reconcile, so its controller (``rampgate.control.evidence.srm_evidence``) alarms on an
always-valid sequential test instead (Lindon & Malek 2022) and keeps this statistic for the
reader.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._scipy import chdtrc
from .reasons import ReasonCode

__all__ = ["DEFAULT_SRM_THRESHOLD", "SrmResult", "srm_test"]

DEFAULT_SRM_THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class SrmResult:
    """The chi-square statistic and p-value of the observed units against the weights."""

    p_value: float
    statistic: float
    dof: int
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    threshold: float
    reason: ReasonCode | None = None

    @property
    def flagged(self) -> bool:
        """True when the split is broken beyond chance (``p_value < threshold``)."""
        return self.p_value < self.threshold


def srm_test(
    observed: Sequence[int],
    weights: Sequence[float],
    *,
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SrmResult:
    """Pearson's chi-square test of units per arm against the configured weights.

    Arms with weight 0 take no part in the statistic, but a unit recorded in one is a leak that no
    chance explains: the result is then flagged with p-value 0. With no units yet the p-value is 1
    and ``reason`` is ``EMPTY_ARM``.
    """
    if len(observed) != len(weights):
        raise ValueError("one weight per arm is needed")
    if any(w < 0 or not math.isfinite(w) for w in weights) or not any(w > 0 for w in weights):
        raise ValueError("weights must be finite, non-negative, and not all zero")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    counts = tuple(int(o) for o in observed)
    if any(c < 0 for c in counts):
        return SrmResult(math.nan, math.nan, 0, counts, (), threshold, ReasonCode.INVALID_AGGREGATE)
    live = [i for i, w in enumerate(weights) if w > 0]
    total = sum(counts[i] for i in live)
    weight = sum(weights[i] for i in live)
    expected = tuple(
        weights[i] / weight * total if weights[i] > 0 else 0.0 for i in range(len(counts))
    )
    dof = len(live) - 1
    if any(counts[i] > 0 for i in range(len(counts)) if weights[i] <= 0):
        return SrmResult(0.0, math.inf, dof, counts, expected, threshold)
    if total == 0:
        return SrmResult(1.0, 0.0, dof, counts, expected, threshold, ReasonCode.EMPTY_ARM)
    statistic = sum((counts[i] - expected[i]) ** 2 / expected[i] for i in live)
    p_value = chdtrc(dof, statistic) if dof > 0 else 1.0
    return SrmResult(p_value, statistic, dof, counts, expected, threshold)
