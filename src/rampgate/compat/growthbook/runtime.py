"""GrowthBook's per-request state as a context attribute, and the conditions that read it.

Some of what the GrowthBook SDK decides comes with the request, not with the definitions:
variations forced for a user (``forcedVariations``), QA mode, a disabled context, and sticky
bucket assignments remembered from earlier visits. rampgate's model has one place for
per-request facts — context attributes — and one way to act on them — targeting rules. So the
evaluator writes these facts into the reserved attribute :data:`RESERVED_ATTRIBUTE`::

    {"enabled": true, "qaMode": false,
     "forced": [{"key": "exp", "index": 1}],
     "sticky": [{"attribute": "id", "key": "exp__0", "variation": "1"}]}

and the importer (with :class:`~rampgate.compat.growthbook.importer.ImportOptions`) emits rules
whose GrowthBook-syntax conditions read it. Nothing else in rampgate knows about it.

:class:`StickyBucketStore` holds GrowthBook's sticky bucket documents
(``{"attributeName", "attributeValue", "assignments": {"<key>__<bucketVersion>": "<variation
key>"}}``), keyed ``attributeName||attributeValue`` as GrowthBook keys them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from rampgate.domain.hashing import hash_string
from rampgate.errors import ConfigError

from .definitions import ExperimentDef

__all__ = [
    "RESERVED_ATTRIBUTE",
    "StickyBucketStore",
    "bucket_key",
    "experiments_enabled",
    "forced",
    "not_blocked",
    "not_forced",
    "not_qa_mode",
    "request_attribute",
    "sticky_assignment",
]

RESERVED_ATTRIBUTE = "__growthbook__"
_ENABLED = f"{RESERVED_ATTRIBUTE}.enabled"
_QA = f"{RESERVED_ATTRIBUTE}.qaMode"
_FORCED = f"{RESERVED_ATTRIBUTE}.forced"
_STICKY = f"{RESERVED_ATTRIBUTE}.sticky"

Condition = Mapping[str, Any]


def bucket_key(experiment_key: str, bucket_version: int) -> str:
    return f"{experiment_key}__{bucket_version}"


# --- conditions the importer emits -------------------------------------------------------------


def experiments_enabled() -> Condition:
    """``enabled: false`` in the GrowthBook context switches every experiment off."""
    return {_ENABLED: {"$ne": False}}


def not_qa_mode() -> Condition:
    """QA mode keeps units out of experiments unless a variation is forced."""
    return {_QA: {"$ne": True}}


def forced(experiment_key: str, index: int) -> Condition:
    return {_FORCED: {"$elemMatch": {"key": experiment_key, "index": index}}}


def not_forced(experiment_key: str) -> Condition:
    return {_FORCED: {"$not": {"$elemMatch": {"key": experiment_key}}}}


def sticky_assignment(exp: ExperimentDef, fallback: str | None, variation_key: str) -> Condition:
    """The stored assignment of ``exp`` is ``variation_key``.

    GrowthBook merges the fallback attribute's document under the hash attribute's, so the hash
    attribute's entry wins when both have one.
    """
    key = bucket_key(exp.key, exp.bucket_version)
    own = {"$elemMatch": {"attribute": exp.hash_attribute, "key": key, "variation": variation_key}}
    if not fallback:
        return {_STICKY: own}
    has_own = {"$elemMatch": {"attribute": exp.hash_attribute, "key": key}}
    other = {"$elemMatch": {"attribute": fallback, "key": key, "variation": variation_key}}
    return {"$or": [{_STICKY: own}, {"$and": [{_STICKY: {"$not": has_own}}, {_STICKY: other}]}]}


def not_blocked(exp: ExperimentDef, fallback: str | None) -> Condition:
    """No stored assignment from a bucket version below ``minBucketVersion`` (those units are
    kept out of the experiment for good)."""
    keys = [bucket_key(exp.key, v) for v in range(exp.min_bucket_version)]
    attributes = [exp.hash_attribute, *([fallback] if fallback else [])]
    blocked = {"$elemMatch": {"attribute": {"$in": attributes}, "key": {"$in": keys}}}
    return {_STICKY: {"$not": blocked}}


# --- the attribute the evaluator writes ----------------------------------------------------------


def request_attribute(
    *,
    enabled: bool,
    qa_mode: bool,
    forced_variations: Mapping[str, Any],
    sticky: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "qaMode": qa_mode,
        "forced": [{"key": k, "index": v} for k, v in forced_variations.items()],
        "sticky": list(sticky),
    }


class StickyBucketStore:
    """GrowthBook sticky bucket documents in memory (the evaluator reads and updates them)."""

    def __init__(self, docs: Iterable[Mapping[str, Any]] = ()) -> None:
        self._docs: dict[str, dict[str, Any]] = {}
        for doc in docs:
            self.save(doc)

    def save(self, doc: Mapping[str, Any]) -> None:
        """Store (replace) one document."""
        name, value = doc.get("attributeName"), doc.get("attributeValue")
        assignments = doc.get("assignments") or {}
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigError(
                f"got {doc!r}",
                path="stickyBucketAssignmentDocs",
                expected="attributeName and attributeValue strings",
            )
        if not isinstance(assignments, Mapping):
            raise ConfigError(f"got {assignments!r}", path="assignments", expected="an object")
        self._docs[f"{name}||{value}"] = {
            "attributeName": name,
            "attributeValue": value,
            "assignments": dict(assignments),
        }

    def get(self, attribute: str, value: str) -> Mapping[str, Any] | None:
        return self._docs.get(f"{attribute}||{value}")

    def assign(self, attribute: str, value: str, key: str, variation: str) -> bool:
        """Record ``key`` → ``variation`` in the document of ``attribute``=``value``.

        Returns whether anything changed (GrowthBook saves a document only then).
        """
        doc = self._docs.get(f"{attribute}||{value}")
        if doc is not None and doc["assignments"].get(key) == variation:
            return False
        assignments = {**(doc["assignments"] if doc else {}), key: variation}
        self.save({"attributeName": attribute, "attributeValue": value, "assignments": assignments})
        return True

    def records(self, attributes: Mapping[str, Any], names: Iterable[str]) -> list[dict[str, str]]:
        """The stored assignments of a unit, for the attributes ``names`` that key them."""
        out = []
        for name in sorted(set(names)):
            # GrowthBook looks a document up by the attribute's current value ("" if missing).
            doc = self.get(name, hash_string(attributes.get(name)))
            if doc is None:
                continue
            for key, variation in doc["assignments"].items():
                out.append({"attribute": name, "key": key, "variation": variation})
        return out

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        """A copy of every document, keyed ``attributeName||attributeValue``."""
        return copy.deepcopy(self._docs)
