"""Guardrail and threshold verdicts: the rule, its edge cases, and that it never relaxes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate.stats import (
    Guardrail,
    GuardrailResult,
    MeanStats,
    ProportionStats,
    QuantileSketch,
    RatioStats,
    ReasonCode,
    SketchLayout,
    Threshold,
    Verdict,
)


def arm(n: int, mean: float, sd: float) -> MeanStats:
    return MeanStats(n, n * mean, (n - 1) * sd**2 + n * mean**2)


def assert_rule(result: GuardrailResult) -> None:
    """The verdict is the documented function of the bounds."""
    assert result.harm_low <= result.harm <= result.harm_high
    if result.harm_low > result.tolerance:
        assert result.verdict is Verdict.FAIL
    elif result.harm_high < result.margin:
        assert result.verdict is Verdict.PASS
    else:
        assert result.verdict is Verdict.INCONCLUSIVE


@pytest.mark.parametrize("higher_is_better", [False, True])
@pytest.mark.parametrize("relative", [False, True])
def test_the_three_outcomes(higher_is_better: bool, relative: bool) -> None:
    guard = Guardrail(
        margin=0.05 if relative else 0.5, relative=relative, higher_is_better=higher_is_better
    )
    worse = -1.0 if higher_is_better else 1.0
    control = arm(20_000, 10.0, 2.0)
    harmful = guard.evaluate(control, arm(20_000, 10.0 + worse * 2.0, 2.0))
    harmless = guard.evaluate(control, arm(20_000, 10.0, 2.0))
    unclear = guard.evaluate(arm(50, 10.0, 2.0), arm(50, 10.0 + worse * 0.3, 2.0))
    assert harmful.verdict is Verdict.FAIL
    assert harmful.harm > 0
    assert harmless.verdict is Verdict.PASS
    assert unclear.verdict is Verdict.INCONCLUSIVE
    for result in (harmful, harmless, unclear):
        assert_rule(result)
        assert result.method == "normal-mixture"
    # Improvement is negative harm, and passes.
    better = guard.evaluate(control, arm(20_000, 10.0 - worse * 2.0, 2.0))
    assert better.harm < 0
    assert better.verdict is Verdict.PASS


def test_relative_harm_is_a_fraction_of_control() -> None:
    result = Guardrail(margin=0.1, relative=True).evaluate(
        arm(10_000, 200.0, 20.0), arm(10_000, 230.0, 20.0)
    )
    assert result.harm == pytest.approx(0.15)
    assert result.verdict is Verdict.FAIL


def test_tolerance_allows_an_established_small_harm() -> None:
    control, treatment = arm(200_000, 10.0, 1.0), arm(200_000, 10.05, 1.0)
    strict = Guardrail(margin=0.2)
    tolerant = Guardrail(margin=0.2, tolerance=0.1)
    assert strict.evaluate(control, treatment).verdict is Verdict.FAIL
    assert tolerant.evaluate(control, treatment).verdict is Verdict.PASS
    assert strict.evaluate(control, treatment).harm_high < 0.2  # within the margin, yet established


@pytest.mark.parametrize(
    ("control", "treatment", "relative", "verdict", "reason"),
    [
        (MeanStats(), arm(10, 1.0, 1.0), False, Verdict.NODATA, ReasonCode.EMPTY_ARM),
        (
            MeanStats.from_values([1.0]),
            arm(10, 1.0, 1.0),
            False,
            Verdict.NODATA,
            ReasonCode.TOO_FEW_UNITS,
        ),
        (arm(10, 1.0, 0.0), arm(10, 2.0, 0.0), False, Verdict.NODATA, ReasonCode.ZERO_VARIANCE),
        (
            MeanStats(10, 5.0, 1.0),
            arm(10, 1.0, 1.0),
            False,
            Verdict.ERROR,
            ReasonCode.INVALID_AGGREGATE,
        ),
        (arm(10, 0.0, 1.0), arm(10, 1.0, 1.0), True, Verdict.ERROR, ReasonCode.ZERO_BASELINE),
        (
            arm(100, -5.0, 1.0),
            arm(100, -4.0, 1.0),
            True,
            Verdict.ERROR,
            ReasonCode.NEGATIVE_BASELINE,
        ),
        (
            arm(20, 1.0, 5.0),
            arm(20, 9.0, 5.0),
            True,
            Verdict.INCONCLUSIVE,
            ReasonCode.UNCERTAIN_BASELINE,
        ),
        (
            RatioStats(10, 5.0, 0.0, 3.0, 0.0, 0.0),
            RatioStats.from_values([1, 2], [1, 1]),
            False,
            Verdict.NODATA,
            ReasonCode.ZERO_DENOMINATOR,
        ),
    ],
)
def test_what_cannot_be_measured_says_why(
    control: MeanStats | RatioStats,
    treatment: MeanStats | RatioStats,
    relative: bool,
    verdict: Verdict,
    reason: ReasonCode,
) -> None:
    result = Guardrail(margin=0.1, relative=relative).evaluate(control, treatment)
    assert (result.verdict, result.reason) == (verdict, reason)
    assert (result.harm_low, result.harm_high) == (-math.inf, math.inf)


def test_no_events_in_either_arm_can_still_pass() -> None:
    """A zero variance estimate says nothing; Wilson bounds at the mixture radius do."""
    guard = Guardrail(margin=0.01)
    early = guard.evaluate(ProportionStats(100, 0), ProportionStats(100, 0))
    late = guard.evaluate(ProportionStats(5_000, 0), ProportionStats(5_000, 0))
    assert early.verdict is Verdict.INCONCLUSIVE
    assert late.verdict is Verdict.PASS
    assert late.method == "wilson-mover"
    assert_rule(late)


def test_events_against_a_silent_control_can_fail_a_relative_margin() -> None:
    guard = Guardrail(margin=0.1, relative=True)
    result = guard.evaluate(ProportionStats(5_000, 0), ProportionStats(5_000, 40))
    assert result.verdict is Verdict.FAIL
    assert result.harm == math.inf
    assert result.harm_high == math.inf
    quiet = guard.evaluate(ProportionStats(5_000, 0), ProportionStats(5_000, 1))
    assert quiet.verdict is Verdict.INCONCLUSIVE


def test_a_candidate_that_always_escalates_fails() -> None:
    """Zero variance in the candidate alone must not hide the harm (gbstats would refuse)."""
    result = Guardrail(margin=0.05).evaluate(ProportionStats(400, 40), ProportionStats(400, 400))
    assert result.verdict is Verdict.FAIL


def test_quantile_guardrail() -> None:
    rng = np.random.default_rng(4)
    layout = SketchLayout(lowest=1.0, highest=1e5, relative_accuracy=0.01)
    control = QuantileSketch.from_values(rng.lognormal(5, 0.7, 40_000), layout)
    slower = QuantileSketch.from_values(1.4 * rng.lognormal(5, 0.7, 40_000), layout)
    same = QuantileSketch.from_values(rng.lognormal(5, 0.7, 40_000), layout)
    guard = Guardrail(margin=0.15, relative=True, quantile=0.95)
    assert guard.evaluate(control, slower).verdict is Verdict.FAIL
    assert guard.evaluate(control, same).verdict is Verdict.PASS
    assert guard.evaluate(control, slower).harm == pytest.approx(0.4, abs=0.06)
    for result in (guard.evaluate(control, slower), guard.evaluate(control, same)):
        assert result.method == "beta-binomial-quantile"
        assert_rule(result)
    assert Guardrail(margin=0.1).evaluate(control, same).reason is ReasonCode.NO_QUANTILE
    assert guard.evaluate(QuantileSketch(), same).reason is ReasonCode.EMPTY_ARM
    other = QuantileSketch.from_values([1.0, 2.0])
    assert guard.evaluate(control, other).reason is ReasonCode.MISMATCHED_ARMS
    assert guard.evaluate(control, MeanStats()).verdict is Verdict.ERROR


def test_thresholds_on_the_candidate_alone() -> None:
    defects = Threshold(limit=0.02)
    assert defects.evaluate(ProportionStats(5_000, 0)).verdict is Verdict.PASS
    assert defects.evaluate(ProportionStats(500, 30)).verdict is Verdict.FAIL
    assert defects.evaluate(ProportionStats(50, 1)).verdict is Verdict.INCONCLUSIVE
    assert defects.evaluate(ProportionStats()).verdict is Verdict.NODATA
    success = Threshold(limit=0.9, higher_is_better=True)
    assert success.evaluate(ProportionStats(5_000, 4_900)).verdict is Verdict.PASS
    assert success.evaluate(ProportionStats(5_000, 4_000)).verdict is Verdict.FAIL
    cost = Threshold(limit=0.05)
    assert cost.evaluate(arm(10_000, 0.04, 0.01)).verdict is Verdict.PASS
    assert cost.evaluate(arm(10_000, 0.06, 0.01)).verdict is Verdict.FAIL
    assert cost.evaluate(arm(10, 0.04, 0.0)).reason is ReasonCode.ZERO_VARIANCE
    latency = Threshold(limit=500.0, quantile=0.95)
    rng = np.random.default_rng(8)
    fast = QuantileSketch.from_values(rng.lognormal(5, 0.5, 20_000))  # p95 about 340
    slow = QuantileSketch.from_values(rng.lognormal(6, 0.5, 20_000))  # p95 about 920
    assert latency.evaluate(fast).verdict is Verdict.PASS
    assert latency.evaluate(slow).verdict is Verdict.FAIL
    assert Threshold(limit=1.0).evaluate(fast).reason is ReasonCode.NO_QUANTILE
    for result in (
        defects.evaluate(ProportionStats(500, 30)),
        cost.evaluate(arm(10_000, 0.06, 0.01)),
    ):
        assert result.harm_low <= result.harm <= result.harm_high


def test_configuration_errors_raise() -> None:
    with pytest.raises(ValueError, match="margin"):
        Guardrail(margin=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        Guardrail(margin=0.1, tolerance=0.1)
    with pytest.raises(ValueError, match="alpha"):
        Guardrail(margin=0.1, alpha=0.6)
    with pytest.raises(ValueError, match="quantile"):
        Threshold(limit=1.0, quantile=1.5)


# Properties: a gate never relaxes as the evidence of harm grows.

sizes = st.integers(2, 100_000)
means = st.floats(0.5, 1000.0)
cvs = st.floats(0.01, 3.0)


@settings(max_examples=150, deadline=None)
@given(
    n_c=sizes,
    n_t=sizes,
    mean=means,
    cv=cvs,
    relative=st.booleans(),
    higher_is_better=st.booleans(),
    margin=st.floats(0.01, 0.5),
)
def test_verdict_never_relaxes_as_the_mean_harm_grows(
    *,
    n_c: int,
    n_t: int,
    mean: float,
    cv: float,
    relative: bool,
    higher_is_better: bool,
    margin: float,
) -> None:
    sd = mean * cv
    guard = Guardrail(
        margin=margin if relative else margin * mean,
        relative=relative,
        higher_is_better=higher_is_better,
    )
    control = arm(n_c, mean, sd)
    worse = -1.0 if higher_is_better else 1.0
    severities = []
    for harm in np.linspace(-0.9, 3.0, 60):
        result = guard.evaluate(control, arm(n_t, mean * (1 + worse * harm), sd))
        assert_rule(result) if result.reason is None else None
        severities.append(result.verdict.severity)
    assert severities == sorted(severities)


@settings(max_examples=150, deadline=None)
@given(
    n_c=st.integers(2, 20_000),
    n_t=st.integers(2, 20_000),
    rate=st.floats(0.0, 1.0),
    relative=st.booleans(),
    margin=st.floats(0.005, 0.3),
)
def test_verdict_never_relaxes_as_candidate_events_grow(
    *, n_c: int, n_t: int, rate: float, relative: bool, margin: float
) -> None:
    guard = Guardrail(margin=margin, relative=relative)
    control = ProportionStats(n_c, round(rate * n_c))
    steps = sorted({round(k) for k in np.linspace(0, n_t, 80)})
    severities = [guard.evaluate(control, ProportionStats(n_t, k)).verdict.severity for k in steps]
    assert severities == sorted(severities)


@settings(max_examples=100, deadline=None)
@given(n=sizes, mean=means, cv=cvs, shift=st.floats(-0.5, 0.5))
def test_a_larger_alpha_never_undoes_a_decision(
    n: int, mean: float, cv: float, shift: float
) -> None:
    """Looser bounds keep a FAIL; a PASS may only turn into FAIL (a small harm now established)."""
    control, treatment = arm(n, mean, mean * cv), arm(n, mean * (1 + shift), mean * cv)
    strict = Guardrail(margin=0.05, relative=True, alpha=0.01).evaluate(control, treatment)
    loose = Guardrail(margin=0.05, relative=True, alpha=0.1).evaluate(control, treatment)
    assert loose.harm_low >= strict.harm_low
    assert loose.harm_high <= strict.harm_high
    if strict.verdict is Verdict.FAIL:
        assert loose.verdict is Verdict.FAIL
    if strict.verdict is Verdict.PASS:
        assert loose.verdict in {Verdict.PASS, Verdict.FAIL}
