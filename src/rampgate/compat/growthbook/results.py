"""rampgate evaluations reported in GrowthBook's result shapes.

The value always comes from rampgate's :class:`~rampgate.domain.model.Evaluation`; the rule
metadata kept by the importer says which GrowthBook rule and variation it stands for. What an
evaluation does not carry — the bucket, the hash value — is recomputed here with the same hash
functions the engine used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rampgate.domain.frozen import thaw
from rampgate.domain.hashing import gb_hash, hash_string

from .definitions import ExperimentDef, Leaf

__all__ = ["experiment_result", "feature_result", "hash_attribute", "js_truthy"]


def js_truthy(value: Any) -> bool:
    """JavaScript's ``!!value``: empty arrays and objects are true, 0, "" and NaN false."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def hash_attribute(
    attributes: Mapping[str, Any], attribute: str, fallback: str | None
) -> tuple[str, Any]:
    """GrowthBook's ``getHashAttribute``: the attribute used and its raw value ("" if none).

    A value identifies a unit when the engine can hash it (a non-empty string, a finite non-zero
    number), which is GrowthBook's ``isHashable``.
    """
    value = attributes.get(attribute)
    if not hash_string(value) and fallback:
        other = attributes.get(fallback)
        if hash_string(other):
            return fallback, other
    return attribute, value if hash_string(value) else ""


def feature_result(
    value: Any,
    source: str,
    rule_id: str = "",
    experiment_result: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """GrowthBook's ``FeatureResult`` (``value``, ``on``, ``off``, ``source``, ``ruleId``…)."""
    out: dict[str, Any] = {
        "value": thaw(value),
        "on": js_truthy(value),
        "off": not js_truthy(value),
        "source": source,
        "ruleId": rule_id,
    }
    if experiment_result is not None:
        out["experimentResult"] = dict(experiment_result)
    return out


def experiment_result(
    exp: ExperimentDef,
    index: int,
    value: Any,
    *,
    in_experiment: bool,
    hash_used: bool,
    feature_id: str | None,
    attributes: Mapping[str, Any],
    fallback: str | None = None,
    sticky_used: bool = False,
    leaf: Leaf | None = None,
    bandit_version: Any = None,
) -> dict[str, Any]:
    """GrowthBook's experiment ``Result`` for variation ``index`` of ``exp``."""
    if not 0 <= index < len(exp.variations):
        index, in_experiment = 0, False
    attribute, hash_value = hash_attribute(attributes, exp.hash_attribute, fallback)
    meta = exp.meta_at(index)
    out: dict[str, Any] = {
        "key": exp.variation_key(index),
        "featureId": feature_id,
        "inExperiment": in_experiment,
        "hashUsed": hash_used,
        "variationId": index,
        "value": thaw(value),
        "hashAttribute": attribute,
        "hashValue": hash_value,
        "stickyBucketUsed": sticky_used,
    }
    if meta.get("name"):
        out["name"] = meta["name"]
    if in_experiment and hash_used:
        # The engine does not hand the bucket out; the same hash gives it back.
        out["bucket"] = gb_hash(exp.seed, hash_string(hash_value), exp.hash_version)
    if leaf is not None:
        out["leafId"] = leaf.leaf_id
        out["variationWeights"] = list(leaf.weights)
        if bandit_version is not None:
            out["banditVersion"] = bandit_version
    return out
