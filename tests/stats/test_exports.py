"""The statistics' public surface changes only on purpose: update this list in the same change."""

import rampgate.stats

EXPECTED = [
    "Adjusted",
    "Alternative",
    "ArmSummary",
    "Baseline",
    "CupedAdjustment",
    "CupedStats",
    "Design",
    "Effect",
    "ExperimentPlan",
    "Guardrail",
    "GuardrailResult",
    "MeanStats",
    "ProportionStats",
    "QuantileEffect",
    "QuantileInterval",
    "QuantileSketch",
    "RateInterval",
    "RatioStats",
    "ReasonCode",
    "SampleSize",
    "SketchLayout",
    "SrmResult",
    "SupportsSummary",
    "Threshold",
    "Verdict",
    "benjamini_hochberg",
    "cuped",
    "duration_days",
    "guardrail_sample_size",
    "holm",
    "minimum_detectable_effect",
    "plan_experiment",
    "quantile_interval",
    "quantile_test",
    "rate_interval",
    "sample_size",
    "sequential_test",
    "srm_test",
    "verdict_for_reason",
    "welch_test",
]


def test_all_is_pinned_and_sorted() -> None:
    assert rampgate.stats.__all__ == EXPECTED
    assert sorted(EXPECTED) == EXPECTED


def test_every_name_is_importable() -> None:
    for name in rampgate.stats.__all__:
        assert getattr(rampgate.stats, name) is not None, name
