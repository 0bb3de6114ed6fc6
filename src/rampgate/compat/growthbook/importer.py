"""GrowthBook features and experiments → rampgate flags that rampgate's engine evaluates.

Each GrowthBook rule becomes one or more rampgate rules, in GrowthBook's order of checks:

=========================  =================================================================
GrowthBook                 rampgate
=========================  =================================================================
``defaultValue``           the flag's ``default`` variant
force rule                 ``serve`` (with a ``Portion`` for ``coverage``/``range``)
experiment rule            ``split`` with ``seed`` = ``seed`` or ``key`` (default: the feature
                           id), ``hashVersion`` (default 1), ``hashAttribute`` as the unit;
                           explicit ``ranges``, or weights and coverage
``namespace``/``filters``  the split's ``namespace``/``filters``
passthrough variation      left out of the split, so its units fall through to the next rule
``parentConditions``       rule prerequisites; a ``gate`` becomes a rule *before* them that
                           serves ``null`` when the parent fails, as GrowthBook does
contextual bandit          one split per context (leaf), first match wins, then the marginal
                           weights
=========================  =================================================================

A force rule with filters (which a ``Portion`` cannot carry) becomes a one-variant split whose
single range is the rule's portion. Two options add what GrowthBook decides per request rather
than per definition; both read the reserved context attribute :data:`RESERVED_ATTRIBUTE`
(see :mod:`rampgate.compat.growthbook.runtime`): ``overrides`` (``forcedVariations``,
``qaMode``, ``enabled``) and ``sticky_bucketing`` (stored assignments win over the hash).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rampgate.domain.assignment import get_bucket_ranges, normalized_weights
from rampgate.domain.engine import compile_ruleset
from rampgate.domain.model import Flag, Namespace, Portion, Prerequisite, Rule, Split, SplitFilter
from rampgate.errors import ConfigError

from . import runtime
from .definitions import (
    ExperimentDef,
    FilterDef,
    ForceDef,
    Leaf,
    ParentDef,
    read_experiment,
    read_rule,
)
from .names import VariantTable

__all__ = [
    "ImportOptions",
    "ImportedFlag",
    "Kind",
    "RuleInfo",
    "import_experiment",
    "import_features",
    "translate_experiment",
    "translate_features",
]

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """What to carry over besides the definitions themselves (both off for a plain migration)."""

    # forcedVariations, qaMode and enabled: GrowthBook's per-request switches, as targeting
    # rules on the reserved context attribute.
    overrides: bool = False
    # Sticky bucket assignments (passed in the reserved attribute) win over the hash, and
    # experiments hash on their fallbackAttribute — GrowthBook uses it only with sticky buckets.
    sticky_bucketing: bool = False


class Kind(enum.StrEnum):
    """Which kind of GrowthBook rule a rampgate rule came from."""

    FORCE = "force"
    EXPERIMENT = "experiment"
    GATE = "gate"  # a failed gating prerequisite: the feature is off


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What the result adapter needs to report a rampgate rule in GrowthBook's terms."""

    kind: Kind
    gb_rule_id: str
    experiment: ExperimentDef | None = None
    index: int | None = None  # the variation a single-variant rule serves
    by_variant: Mapping[str, int] = field(default_factory=dict)  # a split's arms
    hash_used: bool = True
    sticky_used: bool = False
    fallback: str | None = None  # the fallback attribute in use (sticky bucketing only)
    leaf: Leaf | None = None
    bandit_version: Any = None

    def variation(self, variant: str | None) -> int:
        if self.index is not None:
            return self.index
        return self.by_variant.get(variant or "", -1)


@dataclass(frozen=True, slots=True)
class ImportedFlag:
    """A flag and, per rule id, where in the GrowthBook definition the rule came from."""

    flag: Flag
    rules: Mapping[str, RuleInfo]
    experiment: ExperimentDef | None = None  # set for a flag made by ``import_experiment``


@dataclass(frozen=True, slots=True)
class _Hashed:
    """Serve only units whose hash lands in ``range`` (or at most ``coverage``)."""

    unit: str
    fallback: str | None
    seed: str
    version: int
    range: Range | None = None
    coverage: float | None = None


def _all(*conditions: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    parts = [c for c in conditions if c]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _prereqs(parents: Sequence[ParentDef]) -> tuple[Prerequisite, ...]:
    return tuple(Prerequisite(p.flag, p.condition) for p in parents)


def _split_filters(filters: Sequence[FilterDef]) -> tuple[SplitFilter, ...]:
    return tuple(SplitFilter(f.seed, f.ranges, f.attribute, f.hash_version) for f in filters)


def _serve_rule(
    rule_id: str,
    name: str,
    *,
    condition: Mapping[str, Any] | None,
    prerequisites: tuple[Prerequisite, ...],
    filters: tuple[SplitFilter, ...] = (),
    namespace: Namespace | None = None,
    hashed: _Hashed | None = None,
) -> Rule | None:
    """A rule serving one variant, optionally to a hashed portion and through filters."""
    if hashed is not None and hashed.range is None and hashed.coverage == 0:
        return None  # GrowthBook: coverage 0 includes nobody, whatever the hash
    if not filters and namespace is None:
        portion = (
            None
            if hashed is None
            else Portion(
                coverage=hashed.coverage,
                range=hashed.range,
                unit=hashed.unit,
                fallback_unit=hashed.fallback,
                seed=hashed.seed,
                hash_version=hashed.version,
            )
        )
        return Rule(rule_id, condition, serve=name, portion=portion, prerequisites=prerequisites)
    # A Portion carries neither filters nor a namespace; a one-variant split carries both.
    if hashed is None:
        unit, fallback, seed, version, span = filters[0].unit, None, "", 2, (0.0, 1.0)
    else:
        unit, fallback, seed, version = hashed.unit, hashed.fallback, hashed.seed, hashed.version
        if hashed.range is not None:
            span = hashed.range
        elif hashed.coverage is not None:
            # A portion includes hash ≤ coverage; a split range is [start, end).
            span = (0.0, math.nextafter(hashed.coverage, math.inf))
        else:
            span = (0.0, 1.0)
    split = Split(
        weights={name: 1.0},
        unit=unit,
        fallback_unit=fallback,
        namespace=namespace,
        filters=filters,
        seed=seed,
        hash_version=version,
        ranges=(span,),
    )
    return Rule(rule_id, condition, split=split, prerequisites=prerequisites)


class _Builder:
    """The rules, variants and rule metadata of one flag under construction."""

    def __init__(self, key: str, options: ImportOptions) -> None:
        self.key = key
        self.options = options
        self.table = VariantTable()
        self.rules: list[Rule] = []
        self.info: dict[str, RuleInfo] = {}

    def rule_id(self, candidate: str) -> str:
        # GrowthBook rule ids are optional and need not be unique; rampgate's must be.
        taken = self.info
        rule_id, n = candidate, 1
        while rule_id in taken:
            n += 1
            rule_id = f"{candidate}~{n}"
        return rule_id

    def add(self, rule: Rule | None, info: RuleInfo) -> None:
        if rule is not None:
            self.rules.append(rule)
            self.info[rule.id] = info

    def flag(self, default: str) -> Flag:
        return Flag(
            key=self.key,
            variants=dict(self.table.variants),
            default=default,
            rules=tuple(self.rules),
            description="imported from GrowthBook",
        )


def _gates(b: _Builder, base: str, gb_id: str, parents: Sequence[ParentDef]) -> None:
    """A gating parent that fails turns the whole feature off (value null)."""
    null = b.table.name(None)
    for j, parent in enumerate(parents):
        if not parent.gate:
            continue
        # Parents are checked in order: this gate decides only if the earlier ones passed.
        checks = (*_prereqs(parents[:j]), Prerequisite(parent.flag, {"$not": parent.condition}))
        rule_id = b.rule_id(f"{base}/gate{j}")
        b.add(Rule(rule_id, serve=null, prerequisites=checks), RuleInfo(Kind.GATE, gb_id))


def _force(
    b: _Builder,
    base: str,
    gb_id: str,
    force: ForceDef,
    parents: tuple[Prerequisite, ...],
    filters: tuple[SplitFilter, ...],
) -> None:
    hashed = None
    if force.range is not None or force.coverage is not None:
        sticky = b.options.sticky_bucketing and force.sticky
        hashed = _Hashed(
            force.hash_attribute,
            force.fallback_attribute if sticky else None,
            force.seed,
            force.hash_version,
            force.range,
            force.coverage if force.range is None else None,
        )
    rule = _serve_rule(
        b.rule_id(base),
        b.table.name(force.value),
        condition=force.condition,
        prerequisites=parents,
        filters=filters,
        hashed=hashed,
    )
    b.add(rule, RuleInfo(Kind.FORCE, gb_id))


def _valid_index(value: Any, n: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value) if 0 <= value < n else None


def _experiment(
    b: _Builder,
    base: str,
    gb_id: str,
    exp: ExperimentDef,
    *,
    parents: tuple[Prerequisite, ...] = (),
    filters: tuple[SplitFilter, ...] = (),
) -> None:
    """The rules of one experiment. ``parents`` and ``filters`` guard every one of them.

    The order is GrowthBook's ``runExperiment``: a variation forced for the request, then the
    activity check, the sticky bucket, the experiment's own targeting, and the hash.
    """
    n = len(exp.variations)
    if n < 2:
        return  # GrowthBook never runs an experiment with fewer than two variations
    names = b.table.names(list(exp.variations))
    opts = b.options
    sticky = opts.sticky_bucketing and exp.sticky
    fallback = exp.fallback_attribute if sticky else None
    exp_filters = _split_filters(exp.filters)
    guard: list[Mapping[str, Any]] = []

    def info(index: int | None = None, **kwargs: Any) -> RuleInfo:
        return RuleInfo(
            Kind.EXPERIMENT, gb_id, exp, index=index, fallback=fallback, **kwargs
        )

    if opts.overrides:
        guard.append(runtime.experiments_enabled())
        for k in range(n):
            rule = _serve_rule(
                b.rule_id(f"{base}/forced{k}"),
                names[k],
                condition=_all(*guard, runtime.forced(exp.key, k)),
                prerequisites=parents,
                filters=filters,
            )
            b.add(rule, info(k, hash_used=False))
        # A forced index that is out of range keeps the unit out of the experiment altogether.
        guard.append(runtime.not_forced(exp.key))
    if not exp.active:
        return
    forced_index = _valid_index(exp.force, n) if exp.has_force else None
    if exp.has_force and forced_index is None:
        return
    if sticky and exp.min_bucket_version > 0:
        guard.append(runtime.not_blocked(exp, fallback))
    if not exp.has_force:
        if opts.overrides:
            guard.append(runtime.not_qa_mode())
        if exp.stopped:
            return
    hashed = _Hashed(exp.hash_attribute, fallback, exp.seed, exp.hash_version, (0.0, 1.0))
    if sticky:
        seen: set[str] = set()
        for k in range(n):
            key = exp.meta_at(k).get("key")
            # GrowthBook finds a stored variation by its meta key: the first one that matches.
            if not isinstance(key, str) or not key or key in seen:
                continue
            seen.add(key)
            served = k if forced_index is None else forced_index
            rule = _serve_rule(
                b.rule_id(f"{base}/sticky{k}"),
                names[served],
                condition=_all(*guard, runtime.sticky_assignment(exp, fallback, key)),
                prerequisites=parents,
                filters=filters,
                hashed=hashed,
            )
            forced = forced_index is not None
            b.add(rule, info(served, hash_used=not forced, sticky_used=not forced))
    condition = _all(*guard, exp.condition)
    prereqs = (*parents, *_prereqs(exp.parents))
    # GrowthBook checks filters instead of the namespace when an experiment has both.
    namespace = None if exp.filters or exp.namespace is None else Namespace(*exp.namespace)
    ranges = list(exp.ranges or get_bucket_ranges(n, exp.coverage, exp.weights))
    if forced_index is not None:
        for j, span in enumerate(ranges):
            rule = _serve_rule(
                b.rule_id(f"{base}/force-range{j}"),
                names[forced_index],
                condition=condition,
                prerequisites=prereqs,
                filters=exp_filters,
                namespace=namespace,
                hashed=_Hashed(exp.hash_attribute, fallback, exp.seed, exp.hash_version, span),
            )
            b.add(rule, info(forced_index, hash_used=False))
        return
    bandit = exp.bandit
    if bandit is None:
        _split(b, b.rule_id(base), names, ranges, exp, condition, prereqs, namespace, info())
        return
    earlier: list[Mapping[str, Any]] = []
    for j, leaf in enumerate(bandit.leaves):
        # First match wins: a unit that matches an earlier context never reaches this one.
        cond = _all(condition, leaf.condition, {"$nor": list(earlier)} if earlier else None)
        earlier.append(leaf.condition)
        weights = normalized_weights(n, leaf.weights)
        leaf_ranges = get_bucket_ranges(n, exp.coverage, weights)
        leaf_info = info(leaf=Leaf(leaf.leaf_id, leaf.condition, tuple(leaf.weights)),
                         bandit_version=bandit.version)
        _split(b, b.rule_id(f"{base}/leaf{j}"), names, leaf_ranges, exp, cond, prereqs,
               namespace, leaf_info)
    marginal = tuple(normalized_weights(n, exp.weights))
    cond = _all(condition, {"$nor": list(earlier)} if earlier else None)
    _split(b, b.rule_id(base), names, ranges, exp, cond, prereqs, namespace,
           info(leaf=Leaf(-1, {}, marginal), bandit_version=bandit.version))


def _split(
    b: _Builder,
    rule_id: str,
    names: Sequence[str],
    ranges: Sequence[Range],
    exp: ExperimentDef,
    condition: Mapping[str, Any] | None,
    prereqs: tuple[Prerequisite, ...],
    namespace: Namespace | None,
    info: RuleInfo,
) -> None:
    n = len(names)
    # Passthrough arms (holdouts) are left out: their units fall through to the next rule.
    arms = [
        i for i in range(min(n, len(ranges))) if not exp.meta_at(i).get("passthrough")
    ]
    if not arms:
        return
    weights = normalized_weights(n, exp.weights)
    native = exp.ranges is None and exp.bandit is None and len(arms) == n
    split = Split(
        weights={names[i]: weights[i] for i in arms},
        # Weights and coverage stay editable (a rollout can ramp them) unless GrowthBook gave
        # explicit ranges; either way the ranges are exactly GrowthBook's.
        coverage=exp.coverage if native else 1.0,
        unit=exp.hash_attribute,
        fallback_unit=info.fallback,
        namespace=namespace,
        filters=_split_filters(exp.filters),
        seed=exp.seed,
        hash_version=exp.hash_version,
        ranges=None if native else tuple(ranges[i] for i in arms),
    )
    full = RuleInfo(
        info.kind,
        info.gb_rule_id,
        exp,
        by_variant={names[i]: i for i in arms},
        fallback=info.fallback,
        leaf=info.leaf,
        bandit_version=info.bandit_version,
    )
    b.add(Rule(rule_id, condition, split=split, prerequisites=prereqs), full)


def _feature(
    key: str,
    feature: Any,
    bandits: Mapping[str, Any],
    options: ImportOptions,
) -> ImportedFlag:
    path = f"features.{key}"
    if not isinstance(feature, Mapping):
        raise ConfigError(f"got {feature!r}", path=path, expected="a feature definition")
    b = _Builder(key, options)
    default = b.table.name(feature.get("defaultValue"))
    rules = feature.get("rules") or []
    if not isinstance(rules, list | tuple):
        raise ConfigError(f"got {rules!r}", path=f"{path}.rules", expected="an array")
    for i, raw in enumerate(rules):
        rule = read_rule(raw, f"{path}.rules[{i}]", feature=key, bandits=bandits)
        base = rule.id or f"#{i}"
        _gates(b, base, rule.id, rule.parents)
        parents = _prereqs(rule.parents)
        filters = _split_filters(rule.filters)
        if isinstance(rule.serve, ForceDef):
            _force(b, base, rule.id, rule.serve, parents, filters)
        elif isinstance(rule.serve, ExperimentDef):
            _experiment(b, base, rule.id, rule.serve, parents=parents, filters=filters)
    return ImportedFlag(b.flag(default), dict(b.info))


def translate_features(
    features: Mapping[str, Any],
    *,
    contextual_bandits: Mapping[str, Any] | None = None,
    options: ImportOptions | None = None,
) -> list[ImportedFlag]:
    """Like :func:`import_features`, keeping each rule's GrowthBook origin for result reports."""
    if not isinstance(features, Mapping):
        raise ConfigError(f"got {features!r}", path="features", expected="an object")
    opts = options or ImportOptions()
    return [_feature(k, f, contextual_bandits or {}, opts) for k, f in features.items()]


def import_features(
    features: Mapping[str, Any],
    *,
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
    contextual_bandits: Mapping[str, Any] | None = None,
    options: ImportOptions | None = None,
) -> list[Flag]:
    """Turn a GrowthBook SDK payload's ``features`` into rampgate flags, one per feature.

    The flags are compiled once here (with ``saved_groups`` for ``$inGroup``), so a condition
    rampgate cannot evaluate is a :class:`~rampgate.errors.ConfigError` at import, naming the
    flag and rule, not a surprise at evaluation.
    """
    flags = [f.flag for f in translate_features(
        features, contextual_bandits=contextual_bandits, options=options
    )]
    compile_ruleset("growthbook-import", flags, saved_groups=saved_groups)
    return flags


def translate_experiment(
    experiment: Mapping[str, Any], *, options: ImportOptions | None = None
) -> ImportedFlag:
    """Like :func:`import_experiment`, keeping the rules' GrowthBook origin."""
    if not isinstance(experiment, Mapping):
        raise ConfigError(f"got {experiment!r}", path="experiment", expected="an object")
    key = experiment.get("key")
    if not isinstance(key, str) or not key:
        raise ConfigError(f"got {key!r}", path="experiment.key", expected="a non-empty string")
    exp = read_experiment(experiment, f"experiments.{key}", default_key=key)
    b = _Builder(key, options or ImportOptions())
    # Outside the experiment GrowthBook serves the first variation.
    default = b.table.names(list(exp.variations[:1]))[0] if exp.variations else b.table.name(None)
    _experiment(b, key, "", exp)
    return ImportedFlag(b.flag(default), dict(b.info), exp)


def import_experiment(
    experiment: Mapping[str, Any], *, options: ImportOptions | None = None
) -> Flag:
    """A GrowthBook experiment (what ``gb.run`` takes) as a one-experiment rampgate flag.

    The flag's key is the experiment key; units outside the experiment get the first variation.
    """
    return translate_experiment(experiment, options=options).flag
