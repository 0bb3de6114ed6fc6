"""GrowthBook spec cases ``feature``: each case's features imported, then evaluated by rampgate.

``rampgate.compat.growthbook`` turns the case's features into rampgate flags and evaluates them
with rampgate's engine; the result is compared with the spec in GrowthBook's shape: value,
on/off, source, ruleId and, for experiments, the whole experiment result (variationId,
inExperiment, hashUsed, hashAttribute, hashValue, bucket, key, stickyBucketUsed, name, and a
contextual bandit's leafId/variationWeights/banditVersion).

Not compared: ``experiment``, which echoes the definition the SDK built from the rule (its
input, not an outcome of evaluation).
"""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.compat.growthbook import Evaluator, UserContext
from rampgate.domain.frozen import thaw
from rampgate.domain.model import Reason

from .spec import cases, require

COMPARED = ("value", "on", "off", "source", "ruleId", "experimentResult")


@pytest.mark.parametrize("case", cases("feature"))
def test_feature(case: Any) -> None:
    require(case)
    _, ctx, key, expected = case
    evaluator = Evaluator(
        ctx.get("features"),
        saved_groups=ctx.get("savedGroups"),
        contextual_bandits=ctx.get("contextualBandits"),
    )
    got = evaluator.eval_feature(key, UserContext.from_json(ctx))
    assert {k: got.get(k) for k in COMPARED} == {k: expected.get(k) for k in COMPARED}


@pytest.mark.parametrize("case", cases("feature"))
def test_value_comes_from_rampgate(case: Any) -> None:
    """The reported value is the engine's own evaluation, not something the adapter made up."""
    require(case)
    _, ctx, key, expected = case
    evaluator = Evaluator(
        ctx.get("features"),
        saved_groups=ctx.get("savedGroups"),
        contextual_bandits=ctx.get("contextualBandits"),
    )
    evaluation = evaluator.ruleset.evaluate(key, evaluator.context(UserContext.from_json(ctx)))
    if expected["source"] == "unknownFeature":
        assert evaluation is None
    elif expected["source"] == "cyclicPrerequisite":
        # rampgate's own answer to a cycle is the safe default with reason ERROR.
        assert evaluation is not None
        assert evaluation.reason is Reason.ERROR
    else:
        assert evaluation is not None
        assert thaw(evaluation.value) == expected["value"]
