"""Sticky bucketing over time, against GrowthBook's SDK with its in-memory sticky bucket service.

The spec cases check one evaluation each; a sticky bucket matters across evaluations. Here 200
units go through four payload versions — a 50/50 split, a weight change (assignments must hold),
a bucket version bump (reassignment), and a ``minBucketVersion`` (earlier units are kept out) —
while some units start with only a fallback id and later log in. rampgate and GrowthBook must
agree on every result and on the stored documents.
"""

from __future__ import annotations

import copy
from typing import Any

from growthbook import GrowthBook, InMemoryStickyBucketService

from rampgate.compat.growthbook import Evaluator, StickyBucketStore, UserContext


def _features(weights: list[float], bucket_version: int, min_bucket_version: int) -> dict[str, Any]:
    return {
        "checkout": {
            "defaultValue": "old",
            "rules": [
                {
                    "key": "checkout-exp",
                    "hashAttribute": "id",
                    "fallbackAttribute": "deviceId",
                    "hashVersion": 2,
                    "variations": ["old", "new"],
                    "weights": weights,
                    "meta": [{"key": "control"}, {"key": "treatment"}],
                    "bucketVersion": bucket_version,
                    "minBucketVersion": min_bucket_version,
                }
            ],
        }
    }


PHASES = [
    _features([0.5, 0.5], 0, 0),
    _features([0.1, 0.9], 0, 0),  # a weight change: stored assignments hold
    _features([0.1, 0.9], 1, 0),  # a new bucket version: everyone is assigned afresh
    _features([0.5, 0.5], 2, 2),  # units assigned before version 2 stay out
]


def _attributes(unit: int, phase: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {"deviceId": f"device-{unit}"}
    # Odd units log in during the second phase: their id appears beside the device id.
    if unit % 2 == 0 or phase >= 1:
        attributes["id"] = f"user-{unit}"
    return attributes


def test_sticky_buckets_agree_with_growthbook_over_time() -> None:
    service = InMemoryStickyBucketService()
    store = StickyBucketStore()
    sticky_used = 0
    for phase, features in enumerate(PHASES):
        evaluator = Evaluator(features, sticky_buckets=store)
        for unit in range(200):
            attributes = _attributes(unit, phase)
            gb = GrowthBook(
                attributes=copy.deepcopy(attributes),
                features=copy.deepcopy(features),
                sticky_bucket_service=service,
            )
            theirs = gb.eval_feature("checkout").to_dict()
            ours = evaluator.eval_feature("checkout", UserContext(attributes=attributes))
            assert ours["value"] == theirs["value"], (phase, unit)
            assert ours.get("experimentResult") == theirs.get("experimentResult"), (phase, unit)
            sticky_used += bool(ours.get("experimentResult", {}).get("stickyBucketUsed"))
    assert store.docs == service.docs
    assert sticky_used > 100  # the scenario does exercise stored assignments
