"""GrowthBook's SDK payload, read into typed values with GrowthBook's defaults applied.

The payload is loose JSON; the SDKs read it leniently and so does this module — an unknown key
is ignored, a missing one takes the SDK's default (``hashAttribute`` ``id``, ``hashVersion`` 1
for rules and 2 for filters, ``seed`` = the experiment key, whose own default is the feature id).
A value of the wrong type is a :class:`~rampgate.errors.ConfigError` naming where it is
(``features.checkout.rules[2].ranges[1]``), because rampgate must build a valid flag from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rampgate.errors import ConfigError

__all__ = [
    "Bandit",
    "ExperimentDef",
    "FilterDef",
    "ForceDef",
    "Leaf",
    "ParentDef",
    "RuleDef",
    "read_experiment",
    "read_rule",
]

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class ParentDef:
    """A ``parentConditions`` entry: a condition on another feature's ``{"value": …}``."""

    flag: str
    condition: Mapping[str, Any]
    gate: bool


@dataclass(frozen=True, slots=True)
class FilterDef:
    attribute: str
    seed: str
    ranges: tuple[Range, ...]
    hash_version: int


@dataclass(frozen=True, slots=True)
class Leaf:
    """One context of a contextual bandit: the weights for units matching ``condition``."""

    leaf_id: Any
    condition: Mapping[str, Any]
    weights: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Bandit:
    version: Any  # None when the payload leaves it out: the result then omits it
    leaves: tuple[Leaf, ...]


@dataclass(frozen=True, slots=True)
class ExperimentDef:
    """An experiment (a feature's experiment rule, or one passed to ``run``)."""

    key: str
    variations: tuple[Any, ...]
    weights: tuple[float, ...] | None
    coverage: float
    ranges: tuple[Range, ...] | None
    hash_attribute: str
    fallback_attribute: str | None
    seed: str
    hash_version: int
    namespace: tuple[str, float, float] | None
    filters: tuple[FilterDef, ...]
    condition: Mapping[str, Any] | None
    parents: tuple[ParentDef, ...]
    meta: tuple[Mapping[str, Any], ...]
    has_force: bool
    force: Any
    active: bool  # False for ``active: false`` and for drafts: nobody is bucketed
    stopped: bool  # a stopped experiment still serves a forced variation
    sticky: bool  # False when the experiment sets ``disableStickyBucketing``
    bucket_version: int
    min_bucket_version: int
    bandit: Bandit | None

    def meta_at(self, index: int) -> Mapping[str, Any]:
        return self.meta[index] if 0 <= index < len(self.meta) else {}

    def variation_key(self, index: int) -> str:
        """What GrowthBook reports as the result's ``key`` and stores in sticky buckets."""
        key = self.meta_at(index).get("key")
        return key if isinstance(key, str) and key else str(index)


@dataclass(frozen=True, slots=True)
class ForceDef:
    """A rule that forces one value, optionally to a hashed portion of units."""

    value: Any
    condition: Mapping[str, Any] | None
    hash_attribute: str
    fallback_attribute: str | None
    sticky: bool
    seed: str
    hash_version: int
    range: Range | None
    coverage: float | None


@dataclass(frozen=True, slots=True)
class RuleDef:
    """One feature rule: prerequisites and filters that guard it, then what it serves."""

    id: str
    parents: tuple[ParentDef, ...]
    filters: tuple[FilterDef, ...]
    serve: ForceDef | ExperimentDef | None  # None: a rule with nothing to serve is skipped


def _fail(path: str, got: Any, expected: str) -> ConfigError:
    return ConfigError(f"got {got!r}", path=path, expected=expected)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, value, "an object")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _fail(path, value, "a number")
    return float(value)


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, value, "a string")
    return value


def _optional_text(value: Any, path: str) -> str | None:
    return _text(value, path) if value else None


def _int(value: Any, path: str, default: int) -> int:
    # GrowthBook writes `x || default`: 0, null and a missing key all mean the default.
    if not value:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise _fail(path, value, "an integer")
    return int(value)


def _list(value: Any, path: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise _fail(path, value, "an array")
    return value


def _range(value: Any, path: str) -> Range:
    items = _list(value, path)
    if len(items) != 2:
        raise _fail(path, value, "[start, end]")
    return (_number(items[0], f"{path}[0]"), _number(items[1], f"{path}[1]"))


def _ranges(value: Any, path: str) -> tuple[Range, ...]:
    return tuple(_range(r, f"{path}[{i}]") for i, r in enumerate(_list(value, path)))


def _condition(value: Any, path: str) -> Mapping[str, Any] | None:
    return None if value is None else _mapping(value, path)


def _parents(value: Any, path: str) -> tuple[ParentDef, ...]:
    if not value:
        return ()
    out = []
    for i, item in enumerate(_list(value, path)):
        where = f"{path}[{i}]"
        p = _mapping(item, where)
        out.append(
            ParentDef(
                flag=_text(p.get("id"), f"{where}.id"),
                condition=_condition(p.get("condition"), f"{where}.condition") or {},
                gate=bool(p.get("gate")),
            )
        )
    return tuple(out)


def _filters(value: Any, path: str) -> tuple[FilterDef, ...]:
    if not value:
        return ()
    out = []
    for i, item in enumerate(_list(value, path)):
        where = f"{path}[{i}]"
        f = _mapping(item, where)
        out.append(
            FilterDef(
                attribute=_text(f.get("attribute") or "id", f"{where}.attribute"),
                seed=_text(f.get("seed", ""), f"{where}.seed"),
                ranges=_ranges(f.get("ranges", []), f"{where}.ranges"),
                hash_version=_int(f.get("hashVersion"), f"{where}.hashVersion", 2),
            )
        )
    return tuple(out)


def _namespace(value: Any, path: str) -> tuple[str, float, float] | None:
    if not value:
        return None
    items = _list(value, path)
    if len(items) != 3:
        raise _fail(path, value, "[id, start, end]")
    return (
        _text(items[0], f"{path}[0]"),
        _number(items[1], f"{path}[1]"),
        _number(items[2], f"{path}[2]"),
    )


def _bandit(rule: Mapping[str, Any], bandits: Mapping[str, Any], path: str) -> Bandit | None:
    ref = rule.get("contextualBanditRef")
    found = bandits.get(ref) if isinstance(ref, str) else None
    if not isinstance(found, Mapping):
        return None  # a dangling reference: a plain experiment on the marginal weights
    leaves = []
    where = f"contextualBandits.{ref}.contexts"
    for i, item in enumerate(_list(found.get("contexts") or [], where)):
        leaf = _mapping(item, f"{where}[{i}]")
        weights = _list(leaf.get("weights", []), f"{where}[{i}].weights")
        leaves.append(
            Leaf(
                leaf_id=leaf.get("leafId"),
                condition=_condition(leaf.get("condition"), f"{where}[{i}].condition") or {},
                weights=tuple(
                    _number(w, f"{where}[{i}].weights[{j}]") for j, w in enumerate(weights)
                ),
            )
        )
    return Bandit(found.get("banditVersion"), tuple(leaves))


def read_experiment(
    exp: Mapping[str, Any],
    path: str,
    *,
    default_key: str,
    bandits: Mapping[str, Any] | None = None,
) -> ExperimentDef:
    """Read an experiment (or a feature's experiment rule, whose key defaults to the feature)."""
    bandit = _bandit(exp, bandits or {}, path) if "contextualVariations" in exp else None
    variations_key = "contextualVariations" if "contextualVariations" in exp else "variations"
    variations = tuple(_list(exp.get(variations_key), f"{path}.{variations_key}"))
    key = exp.get("key") or default_key
    weights = exp.get("weights")
    coverage = exp.get("coverage")
    meta = exp.get("meta") or ()
    status = exp.get("status")
    return ExperimentDef(
        key=_text(key, f"{path}.key"),
        variations=variations,
        weights=None
        if weights is None
        else tuple(_number(w, f"{path}.weights[{i}]") for i, w in enumerate(_list(weights, path))),
        # GrowthBook clamps coverage into [0, 1] when it builds the bucket ranges.
        coverage=1.0
        if coverage is None
        else min(max(_number(coverage, f"{path}.coverage"), 0.0), 1.0),
        ranges=None if exp.get("ranges") is None else _ranges(exp["ranges"], f"{path}.ranges"),
        hash_attribute=_text(exp.get("hashAttribute") or "id", f"{path}.hashAttribute"),
        fallback_attribute=_optional_text(
            exp.get("fallbackAttribute"), f"{path}.fallbackAttribute"
        ),
        seed=_text(exp.get("seed") or key, f"{path}.seed"),
        hash_version=_int(exp.get("hashVersion"), f"{path}.hashVersion", 1),
        namespace=_namespace(exp.get("namespace"), f"{path}.namespace"),
        filters=_filters(exp.get("filters"), f"{path}.filters"),
        condition=_condition(exp.get("condition"), f"{path}.condition"),
        parents=_parents(exp.get("parentConditions"), f"{path}.parentConditions"),
        meta=tuple(m if isinstance(m, Mapping) else {} for m in _list(meta, f"{path}.meta")),
        has_force="force" in exp,
        force=exp.get("force"),
        active=exp.get("active", True) is not False and status != "draft",
        stopped=status == "stopped",
        sticky=not exp.get("disableStickyBucketing"),
        bucket_version=_int(exp.get("bucketVersion"), f"{path}.bucketVersion", 0),
        min_bucket_version=_int(exp.get("minBucketVersion"), f"{path}.minBucketVersion", 0),
        bandit=bandit,
    )


def read_rule(
    rule: Any, path: str, *, feature: str, bandits: Mapping[str, Any] | None = None
) -> RuleDef:
    """Read one entry of a feature's ``rules``."""
    r = _mapping(rule, path)
    rule_id = r.get("id") or ""
    parents = _parents(r.get("parentConditions"), f"{path}.parentConditions")
    filters = _filters(r.get("filters"), f"{path}.filters")
    serve: ForceDef | ExperimentDef | None = None
    if "force" in r:
        coverage = r.get("coverage")
        serve = ForceDef(
            value=r["force"],
            condition=_condition(r.get("condition"), f"{path}.condition"),
            hash_attribute=_text(r.get("hashAttribute") or "id", f"{path}.hashAttribute"),
            fallback_attribute=_optional_text(
                r.get("fallbackAttribute"), f"{path}.fallbackAttribute"
            ),
            sticky=not r.get("disableStickyBucketing"),
            seed=_text(r.get("seed") or feature, f"{path}.seed"),
            hash_version=_int(r.get("hashVersion"), f"{path}.hashVersion", 1),
            range=None if r.get("range") is None else _range(r["range"], f"{path}.range"),
            coverage=None if coverage is None else _number(coverage, f"{path}.coverage"),
        )
    elif r.get("variations") is not None or r.get("contextualVariations") is not None:
        # A feature rule's parent conditions and filters are checked before the experiment runs.
        body = {k: v for k, v in r.items() if k != "parentConditions"}
        serve = read_experiment(body, path, default_key=feature, bandits=bandits)
    return RuleDef(_text(rule_id, f"{path}.id"), parents, filters, serve)
