"""Ramping never moves a unit out of where it was: the property a canary rollout relies on.

Variant ``i`` of a split owns ``[W_i, W_i + coverage·w_i)`` (``W_i``: the earlier weights). Raising
coverage only extends every range to the right; moving weight from the first variant to the last
(the candidate) only extends the candidate's range to the left — at full coverage.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate import Client, Context, Evaluation, Flag, Reason, Rule, Split

from .strategies import coverages, split_weights, unit_ids

KEY = "support-agent"
ids = st.lists(unit_ids, min_size=1, max_size=30, unique=True)
# Many ids per example: the rare unit near a range boundary is the one that matters.
PROBE = [f"user-{i}" for i in range(400)]


def _flag(weights: Sequence[float], coverage: float = 1.0, version: int = 1) -> Flag:
    names = [f"v{i}" for i in range(len(weights))]
    return Flag(
        KEY,
        variants={"off": None, **{n: i for i, n in enumerate(names)}},
        default="off",
        version=version,
        rules=(
            Rule(
                "split",
                split=Split(weights=dict(zip(names, weights, strict=True)), coverage=coverage),
            ),
        ),
    )


def _assign(flag: Flag, units: Sequence[str]) -> list[Evaluation]:
    client = Client.from_flags([flag], environment="test")
    return [client.evaluate(KEY, Context(user_id=u), expose=False) for u in units]


@settings(max_examples=150, deadline=None)
@given(weights=split_weights, c1=coverages, c2=coverages, extra=ids)
def test_raising_coverage_never_moves_a_unit_out_of_its_variant(
    weights: list[float], c1: float, c2: float, extra: list[str]
) -> None:
    low, high = sorted((c1, c2))
    units = [*PROBE, *extra]
    before = _assign(_flag(weights, low), units)
    after = _assign(_flag(weights, high, version=2), units)
    for unit, b, a in zip(units, before, after, strict=True):
        if b.reason is Reason.SPLIT:
            assert (a.variant, a.reason) == (b.variant, Reason.SPLIT), (unit, b, a)


@settings(max_examples=150, deadline=None)
@given(weights=split_weights, share=st.floats(0.0, 1.0), extra=ids)
def test_moving_weight_from_first_to_last_never_moves_a_unit_out_of_the_candidate(
    weights: list[float], share: float, extra: list[str]
) -> None:
    shift = weights[0] * share
    ramped = [weights[0] - shift, *weights[1:-1], weights[-1] + shift]
    candidate = f"v{len(weights) - 1}"
    units = [*PROBE, *extra]
    before = _assign(_flag(weights), units)
    after = _assign(_flag(ramped, version=2), units)
    for unit, b, a in zip(units, before, after, strict=True):
        if b.variant == candidate:
            assert a.variant == candidate, (unit, weights, ramped, b, a)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6).map(sorted))
def test_a_canary_ramp_only_ever_adds_units_to_the_candidate(steps: list[float]) -> None:
    units = [f"u-{i}" for i in range(2_000)]
    previous: set[str] = set()
    for version, w in enumerate(steps, start=1):
        results = _assign(_flag([1 - w, w], version=version), units)
        now = {u for u, ev in zip(units, results, strict=True) if ev.variant == "v1"}
        assert previous <= now, (steps, sorted(previous - now)[:5])
        previous = now


def test_the_documented_canary_steps_grow_as_expected() -> None:
    units = [f"user-{i}" for i in range(20_000)]
    sizes = []
    previous: set[str] = set()
    for version, w in enumerate([0.01, 0.05, 0.25, 1.0], start=1):
        results = _assign(_flag([1 - w, w], version=version), units)
        now = {u for u, ev in zip(units, results, strict=True) if ev.variant == "v1"}
        assert previous <= now
        sizes.append(len(now) / len(units))
        previous = now
    assert sizes == pytest.approx([0.01, 0.05, 0.25, 1.0], abs=0.01)


def test_weight_ramp_under_partial_coverage_is_not_monotone() -> None:
    """GrowthBook's ranges scale each weight by coverage, so below full coverage moving weight
    to the candidate also pulls the candidate range's *end* left: some units leave it. A rollout
    therefore ramps weights at coverage 1 (or ramps coverage). Pinned so parity is never "fixed"
    away by accident."""
    units = [f"user-{i}" for i in range(5_000)]
    before = _assign(_flag([0.5, 0.5], coverage=0.5), units)
    after = _assign(_flag([0.4, 0.6], coverage=0.5, version=2), units)
    left = [
        u for u, b, a in zip(units, before, after, strict=True) if b.variant == "v1" != a.variant
    ]
    assert left  # candidate range [0.5, 0.75) became [0.4, 0.7)
