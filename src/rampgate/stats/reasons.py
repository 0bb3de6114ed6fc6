"""Reason codes: why a comparison produced no evidence.

A statistical edge case is an outcome, not an exception (an empty arm early in a rollout is
normal). Each code maps to a verdict in :func:`rampgate.stats.guardrail.verdict_for_reason`.
"""

from __future__ import annotations

import enum

__all__ = ["ReasonCode"]


class ReasonCode(enum.StrEnum):
    """Why a comparison produced no evidence."""

    EMPTY_ARM = "EMPTY_ARM"
    """An arm has no units."""
    TOO_FEW_UNITS = "TOO_FEW_UNITS"
    """An arm has a single unit, so its variance is undefined."""
    ZERO_VARIANCE = "ZERO_VARIANCE"
    """Neither arm varies (for a proportion: no events, or only events, in both)."""
    ZERO_DENOMINATOR = "ZERO_DENOMINATOR"
    """A ratio metric whose denominator sums to zero in an arm."""
    ZERO_BASELINE = "ZERO_BASELINE"
    """A relative effect over a control mean of zero."""
    NEGATIVE_BASELINE = "NEGATIVE_BASELINE"
    """A relative guardrail margin over a negative control mean, where "worse" has no meaning."""
    UNCERTAIN_BASELINE = "UNCERTAIN_BASELINE"
    """A relative guardrail whose control mean is not yet known to be away from zero."""
    INVALID_AGGREGATE = "INVALID_AGGREGATE"
    """Counts or sums that no data could produce (negative counts, NaN, negative variance)."""
    MISMATCHED_ARMS = "MISMATCHED_ARMS"
    """Arms that cannot be compared: a sketch against a mean, or sketches of different layouts."""
    NO_QUANTILE = "NO_QUANTILE"
    """A guardrail given sketches but no quantile to compare."""
