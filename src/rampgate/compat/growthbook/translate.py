"""One GrowthBook rule → the rampgate rules that decide the same, in the same order.

GrowthBook checks a feature rule's parent conditions, then its filters, then (force rule) its
condition and rollout, or (experiment rule) ``runExperiment``'s steps: a variation forced for
the request, the activity check, a sticky bucket, the experiment's own targeting, the hash. A
rampgate rule either serves or falls through, so each of those outcomes becomes its own rule:

- a gating parent that fails → a rule serving ``null`` (GrowthBook turns the feature off);
- a force rule → ``serve``, with a ``Portion`` for ``coverage``/``range``;
- each forced variation (option ``overrides``) → a rule on the reserved context attribute;
- each stored sticky variation (option ``sticky_bucketing``) → a rule ahead of the split;
- the experiment → a ``split`` (one per contextual bandit leaf, first match wins); an
  experiment with ``force`` → one rule per bucket range serving the forced variation.

A serve that needs filters or a namespace (which a ``Portion`` cannot carry) becomes a
one-variant split whose single range is the portion.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rampgate.domain.assignment import get_bucket_ranges, normalized_weights
from rampgate.domain.model import Flag, Namespace, Portion, Prerequisite, Rule, Split, SplitFilter

from . import runtime
from .definitions import Bandit, ExperimentDef, FilterDef, ForceDef, Leaf, ParentDef
from .names import VariantTable

__all__ = [
    "Builder",
    "ImportOptions",
    "Kind",
    "RuleInfo",
    "add_experiment",
    "add_force",
    "add_gates",
    "prerequisites",
    "split_filters",
]

Range = tuple[float, float]
Condition = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """What to carry over besides the definitions themselves (both off for a plain migration)."""

    # forcedVariations, qaMode and enabled: GrowthBook's per-request switches, as targeting
    # rules on the reserved context attribute.
    overrides: bool = False
    # Stored assignments (passed in the reserved attribute) win over the hash, and experiments
    # hash on their fallbackAttribute — GrowthBook uses it only with sticky bucketing.
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
class _Hashed:
    """Serve only units whose hash lands in ``range`` (or is at most ``coverage``)."""

    unit: str
    fallback: str | None
    seed: str
    version: int
    range: Range | None = None
    coverage: float | None = None


def _all(*conditions: Condition | None) -> Condition | None:
    parts = [c for c in conditions if c]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def prerequisites(parents: Sequence[ParentDef]) -> tuple[Prerequisite, ...]:
    return tuple(Prerequisite(p.flag, p.condition) for p in parents)


def split_filters(filters: Sequence[FilterDef]) -> tuple[SplitFilter, ...]:
    return tuple(SplitFilter(f.seed, f.ranges, f.attribute, f.hash_version) for f in filters)


def _serve_rule(
    rule_id: str,
    name: str,
    *,
    condition: Condition | None,
    prereqs: tuple[Prerequisite, ...],
    filters: tuple[SplitFilter, ...] = (),
    namespace: Namespace | None = None,
    hashed: _Hashed | None = None,
) -> Rule | None:
    """A rule serving one variant, optionally to a hashed portion and through filters."""
    if hashed is not None and hashed.range is None and hashed.coverage == 0:
        return None  # GrowthBook: coverage 0 includes nobody, whatever the hash
    if not filters and namespace is None:
        portion = None
        if hashed is not None:
            portion = Portion(
                coverage=hashed.coverage,
                range=hashed.range,
                unit=hashed.unit,
                fallback_unit=hashed.fallback,
                seed=hashed.seed,
                hash_version=hashed.version,
            )
        return Rule(rule_id, condition, serve=name, portion=portion, prerequisites=prereqs)
    span: Range = (0.0, 1.0)  # every hash lands here: the split only applies the filters
    if hashed is None:
        unit, fallback, seed, version = filters[0].unit, None, "", 2
    else:
        unit, fallback, seed, version = hashed.unit, hashed.fallback, hashed.seed, hashed.version
        if hashed.range is not None:
            span = hashed.range
        elif hashed.coverage is not None:
            # A portion includes hash ≤ coverage; a split range is [start, end).
            span = (0.0, math.nextafter(hashed.coverage, math.inf))
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
    return Rule(rule_id, condition, split=split, prerequisites=prereqs)


class Builder:
    """The rules, variants and rule metadata of one flag under construction."""

    def __init__(self, key: str, options: ImportOptions) -> None:
        self.key = key
        self.options = options
        self.table = VariantTable()
        self.rules: list[Rule] = []
        self.info: dict[str, RuleInfo] = {}

    def rule_id(self, candidate: str) -> str:
        # GrowthBook rule ids are optional and need not be unique; rampgate's must be.
        rule_id, n = candidate, 1
        while rule_id in self.info:
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


def add_gates(b: Builder, base: str, gb_id: str, parents: Sequence[ParentDef]) -> None:
    """A gating parent that fails turns the whole feature off (value null)."""
    for j, parent in enumerate(parents):
        if not parent.gate:
            continue
        # Parents are checked in order: this gate decides only if the earlier ones passed.
        checks = (
            *prerequisites(parents[:j]),
            Prerequisite(parent.flag, {"$not": parent.condition}),
        )
        rule = Rule(b.rule_id(f"{base}/gate{j}"), serve=b.table.name(None), prerequisites=checks)
        b.add(rule, RuleInfo(Kind.GATE, gb_id))


def add_force(
    b: Builder,
    base: str,
    gb_id: str,
    force: ForceDef,
    *,
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
        prereqs=parents,
        filters=filters,
        hashed=hashed,
    )
    b.add(rule, RuleInfo(Kind.FORCE, gb_id))


def _valid_index(value: Any, n: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value) if 0 <= value < n else None


def add_experiment(
    b: Builder,
    base: str,
    gb_id: str,
    exp: ExperimentDef,
    *,
    parents: tuple[Prerequisite, ...] = (),
    filters: tuple[SplitFilter, ...] = (),
) -> None:
    """The rules of one experiment; ``parents`` and ``filters`` (a feature rule's) guard all.

    The experiment's own condition, prerequisites (``run``), namespace and coverage guard only
    the hashed assignment: a forced or sticky variation skips them, as in GrowthBook.
    """
    if len(exp.variations) < 2:
        return  # GrowthBook never runs an experiment with fewer than two variations
    _Experiment(b, base, gb_id, exp, parents=parents, filters=filters).add()


class _Experiment:
    """The rules of one experiment, added to the builder in GrowthBook's order of checks."""

    def __init__(
        self,
        b: Builder,
        base: str,
        gb_id: str,
        exp: ExperimentDef,
        *,
        parents: tuple[Prerequisite, ...],
        filters: tuple[SplitFilter, ...],
    ) -> None:
        self.b, self.base, self.gb_id, self.exp = b, base, gb_id, exp
        self.parents, self.filters = parents, filters
        self.names = b.table.names(list(exp.variations))
        self.sticky = b.options.sticky_bucketing and exp.sticky
        self.fallback = exp.fallback_attribute if self.sticky else None
        self.guard: list[Condition] = []

    def info(self, index: int | None = None, **kwargs: Any) -> RuleInfo:
        return RuleInfo(
            Kind.EXPERIMENT, self.gb_id, self.exp, index=index, fallback=self.fallback, **kwargs
        )

    def hashed(self, span: Range) -> _Hashed:
        exp = self.exp
        return _Hashed(exp.hash_attribute, self.fallback, exp.seed, exp.hash_version, span)

    def add(self) -> None:
        exp, opts = self.exp, self.b.options
        if opts.overrides:
            self.guard.append(runtime.experiments_enabled())
            self.add_forced()
            # An out-of-range forced index keeps the unit out of the experiment altogether.
            self.guard.append(runtime.not_forced(exp.key))
        if not exp.active:
            return
        forced = _valid_index(exp.force, len(exp.variations)) if exp.has_force else None
        if exp.has_force and forced is None:
            return  # GrowthBook forces an invalid variation: nobody is in the experiment
        if self.sticky and exp.min_bucket_version > 0:
            self.guard.append(runtime.not_blocked(exp, self.fallback))
        if forced is None:
            # A variation forced by the experiment wins over QA mode and a stopped status.
            if opts.overrides:
                self.guard.append(runtime.not_qa_mode())
            if exp.stopped:
                return
        if self.sticky:
            self.add_sticky(forced)
        if forced is not None:
            self.add_forced_ranges(forced)
        elif exp.bandit is not None:
            self.add_bandit(exp.bandit)
        else:
            self.add_split(
                self.base, self.ranges(), self.main_condition(), self.info(), exp.weights
            )

    def add_forced(self) -> None:
        for k, name in enumerate(self.names):
            rule = _serve_rule(
                self.b.rule_id(f"{self.base}/forced{k}"),
                name,
                condition=_all(*self.guard, runtime.forced(self.exp.key, k)),
                prereqs=self.parents,
                filters=self.filters,
            )
            self.b.add(rule, self.info(k, hash_used=False))

    def add_sticky(self, forced: int | None) -> None:
        seen: set[str] = set()
        for k in range(len(self.names)):
            key = self.exp.meta_at(k).get("key")
            # GrowthBook finds a stored variation by its meta key: the first one that matches.
            if not isinstance(key, str) or not key or key in seen:
                continue
            seen.add(key)
            served = k if forced is None else forced
            rule = _serve_rule(
                self.b.rule_id(f"{self.base}/sticky{k}"),
                self.names[served],
                condition=_all(
                    *self.guard, runtime.sticky_assignment(self.exp, self.fallback, key)
                ),
                prereqs=self.parents,
                filters=self.filters,
                hashed=self.hashed((0.0, 1.0)),  # the unit must still be hashable
            )
            hashed = forced is None
            self.b.add(rule, self.info(served, hash_used=hashed, sticky_used=hashed))

    def main_condition(self) -> Condition | None:
        return _all(*self.guard, self.exp.condition)

    def main_prereqs(self) -> tuple[Prerequisite, ...]:
        return (*self.parents, *prerequisites(self.exp.parents))

    def namespace(self) -> Namespace | None:
        # GrowthBook checks filters instead of the namespace when an experiment has both.
        exp = self.exp
        return None if exp.filters or exp.namespace is None else Namespace(*exp.namespace)

    def ranges(self) -> Sequence[Range]:
        # Explicit ranges win, even an empty list (then nobody is bucketed), as in GrowthBook.
        exp = self.exp
        if exp.ranges is not None:
            return exp.ranges
        return get_bucket_ranges(len(self.names), exp.coverage, exp.weights)

    def add_forced_ranges(self, forced: int) -> None:
        exp = self.exp
        for j, span in enumerate(self.ranges()):
            rule = _serve_rule(
                self.b.rule_id(f"{self.base}/force-range{j}"),
                self.names[forced],
                condition=self.main_condition(),
                prereqs=self.main_prereqs(),
                filters=split_filters(exp.filters),
                namespace=self.namespace(),
                hashed=self.hashed(span),
            )
            self.b.add(rule, self.info(forced, hash_used=False))

    def add_bandit(self, bandit: Bandit) -> None:
        exp, n = self.exp, len(self.names)
        earlier: list[Condition] = []
        for j, leaf in enumerate(bandit.leaves):
            # First match wins: a unit matching an earlier context never reaches this one.
            nor = {"$nor": list(earlier)} if earlier else None
            condition = _all(self.main_condition(), leaf.condition, nor)
            earlier.append(leaf.condition)
            ranges = get_bucket_ranges(n, exp.coverage, leaf.weights)
            info = self.info(leaf=leaf, bandit_version=bandit.version)
            self.add_split(f"{self.base}/leaf{j}", ranges, condition, info, leaf.weights)
        marginal = exp.weights if exp.weights is not None else tuple(normalized_weights(n, None))
        nor = {"$nor": list(earlier)} if earlier else None
        info = self.info(leaf=Leaf(-1, {}, marginal), bandit_version=bandit.version)
        self.add_split(
            self.base, self.ranges(), _all(self.main_condition(), nor), info, exp.weights
        )

    def add_split(
        self,
        base: str,
        ranges: Sequence[Range],
        condition: Condition | None,
        info: RuleInfo,
        weights: Sequence[float] | None,
    ) -> None:
        exp, names = self.exp, self.names
        n = len(names)
        # Passthrough arms (holdouts) are left out: their units fall through to the next rule.
        arms = [i for i in range(min(n, len(ranges))) if not exp.meta_at(i).get("passthrough")]
        if not arms:
            return
        # Weights and coverage stay editable (a rollout can ramp them) when GrowthBook's ranges
        # follow from them; otherwise the split takes GrowthBook's ranges as they are.
        native = exp.ranges is None and exp.bandit is None and len(arms) == n
        split = Split(
            weights=(
                dict(zip(names, normalized_weights(n, weights), strict=True))
                if native
                else {names[i]: max(ranges[i][1] - ranges[i][0], 0.0) for i in arms}
            ),
            coverage=exp.coverage if native else 1.0,
            unit=exp.hash_attribute,
            fallback_unit=self.fallback,
            namespace=self.namespace(),
            filters=split_filters(exp.filters),
            seed=exp.seed,
            hash_version=exp.hash_version,
            ranges=None if native else tuple(ranges[i] for i in arms),
        )
        rule = Rule(self.b.rule_id(base), condition, split=split, prerequisites=self.main_prereqs())
        arms_info = RuleInfo(
            info.kind,
            info.gb_rule_id,
            exp,
            by_variant={names[i]: i for i in arms},
            fallback=info.fallback,
            leaf=info.leaf,
            bandit_version=info.bandit_version,
        )
        self.b.add(rule, arms_info)
