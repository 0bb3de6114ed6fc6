"""rampgate's statistics: aggregates in, intervals, p-values and verdicts out.

Pure: the standard library, numpy and scipy only, nothing else of rampgate, so it can be used and
tested alone. Every test works on per-arm aggregates (see :mod:`.aggregates`); statistical edge
cases return a :class:`ReasonCode` instead of raising. ``docs/statistics.md`` describes the
methods and how they were validated.
"""

from .aggregates import ArmSummary, MeanStats, ProportionStats, RatioStats, SupportsSummary
from .cuped import CupedAdjustment, CupedStats, cuped
from .effect import Alternative, Effect
from .fixed import welch_test
from .guardrail import Guardrail, GuardrailResult, verdict_for_reason
from .multiple import Adjusted, benjamini_hochberg, holm
from .planning import (
    Baseline,
    Design,
    ExperimentPlan,
    SampleSize,
    duration_days,
    guardrail_sample_size,
    minimum_detectable_effect,
    plan_experiment,
    sample_size,
)
from .quantiles import (
    QuantileEffect,
    QuantileInterval,
    QuantileSketch,
    SketchLayout,
    quantile_interval,
    quantile_test,
)
from .rates import RateInterval, rate_interval
from .reasons import ReasonCode
from .sequential import sequential_test
from .srm import SrmResult, srm_test
from .threshold import Threshold
from .verdict import Verdict

__all__ = [
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
