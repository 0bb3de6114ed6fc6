"""GrowthBook spec cases ``stickyBucket``: stored assignments that win over the hash.

The case's features are imported with sticky bucketing on; ``StickyBucketStore`` holds
GrowthBook's assignment documents. Before each evaluation the unit's stored assignments go into
the reserved context attribute, where the importer's sticky rules (one per variation, ahead of
the split) read them; rampgate's engine picks the variant; afterwards the assignment is stored.
Compared: the experiment result (or its absence) and every document the case expects, as the
GrowthBook SDKs' own runners do (extra documents in the store are allowed).
"""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.compat.growthbook import Evaluator, StickyBucketStore, UserContext

from .spec import cases, require


@pytest.mark.parametrize("case", cases("stickyBucket"))
def test_sticky_bucket(case: Any) -> None:
    require(case)
    _, ctx, stored, key, expected_result, expected_docs = case
    store = StickyBucketStore(stored)
    # Documents may also come with the context itself (already loaded by the SDK).
    for doc in (ctx.get("stickyBucketAssignmentDocs") or {}).values():
        store.save(doc)
    evaluator = Evaluator(
        ctx.get("features"), saved_groups=ctx.get("savedGroups"), sticky_buckets=store
    )
    got = evaluator.eval_feature(key, UserContext.from_json(ctx))
    assert got.get("experimentResult") == expected_result
    docs = store.docs
    for doc_key, doc in expected_docs.items():
        assert docs.get(doc_key) == doc, doc_key
