"""A published contextual bandit imports as one split per context (leaf), first match wins.

The spec's ``contextualBandit`` category counts as a GrowthBook service feature (the weights are
learned by GrowthBook) and is skipped in the conformance run; the importer still has to map a
*published* bandit faithfully, since the ``feature`` category contains bandit rules. Its cases
are the test data here.
"""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.compat.growthbook import Evaluator, UserContext, translate_features
from tests.conformance.spec import cases, require

COMPARED = ("value", "on", "off", "source", "ruleId", "experimentResult")


def _params() -> list[Any]:
    out = []
    for param in cases("contextualBandit"):
        case = param.values[0]
        if isinstance(case, list) and "url" in case[1]:
            reason = f"skip-browser: variation forced by the page URL ({case[0]})"
            out.append(pytest.param(case, marks=pytest.mark.skip(reason=reason), id=reason))
        else:
            out.append(param)
    return out


@pytest.mark.parametrize("case", _params())
def test_bandit_case(case: Any) -> None:
    require(case)
    _, ctx, key, expected = case
    evaluator = Evaluator(
        ctx.get("features"),
        saved_groups=ctx.get("savedGroups"),
        contextual_bandits=ctx.get("contextualBandits"),
    )
    got = evaluator.eval_feature(key, UserContext.from_json(ctx))
    assert {k: got.get(k) for k in COMPARED} == {k: expected.get(k) for k in COMPARED}


def test_leaves_become_exclusive_splits() -> None:
    features = {
        "f": {
            "defaultValue": "d",
            "rules": [
                {
                    "key": "cb",
                    "contextualVariations": ["a", "b"],
                    "weights": [0.5, 0.5],
                    "contextualBanditRef": "x",
                }
            ],
        }
    }
    bandits = {
        "x": {
            "banditVersion": 3,
            "contexts": [
                {"leafId": 1, "condition": {"plan": "pro"}, "weights": [1, 0]},
                {"leafId": 2, "condition": {"country": "US"}, "weights": [0, 1]},
            ],
        }
    }
    (imported,) = translate_features(features, contextual_bandits=bandits)
    rules = imported.flag.rules
    assert [r.id for r in rules] == ["#0/leaf0", "#0/leaf1", "#0"]
    # A later leaf (and the marginal fallback) excludes units an earlier leaf matched.
    assert rules[1].condition == {"$and": [{"country": "US"}, {"$nor": [{"plan": "pro"}]}]}
    assert rules[2].condition == {"$nor": [{"plan": "pro"}, {"country": "US"}]}
    assert [imported.rules[r.id].leaf.leaf_id for r in rules] == [1, 2, -1]  # type: ignore[union-attr]
