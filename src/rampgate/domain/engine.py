"""Compile flags once, evaluate them many times.

``compile_ruleset`` turns an environment's flags into a :class:`Ruleset`: every condition becomes
a predicate, every rule a small closure, and every possible result a pre-built, immutable
:class:`Evaluation`. Evaluating a flag is then a dictionary lookup, a few predicate calls and at
most two hashes — no parsing, no allocation of results — which is what keeps it near a
microsecond. A ruleset is immutable; the SDK swaps a whole new one in on every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rampgate.errors import ConfigError

from .assignment import get_bucket_ranges, in_namespace
from .conditions import compile_condition
from .frozen import freeze, thaw
from .hashing import gb_hash, hash_string, seeded_v2
from .model import (
    Context,
    Evaluation,
    Flag,
    Pin,
    Portion,
    Prerequisite,
    Reason,
    Rule,
    Split,
    SplitFilter,
)

__all__ = [
    "CYCLE_DETAIL",
    "PREREQUISITE_DETAIL",
    "CompiledFlag",
    "Ruleset",
    "compile_flag",
    "compile_ruleset",
]

# Evaluation.detail values that callers (and the GrowthBook adapter) may test for.
CYCLE_DETAIL = "cyclic prerequisite"
PREREQUISITE_DETAIL = "prerequisite not met"

Attrs = Mapping[str, Any]
Stack = tuple[str, ...]
# A compiled rule: the evaluation it decides, or None to fall through to the next rule.
Step = Callable[[Attrs, Stack], "Evaluation | None"]
FlagLookup = Callable[[str], "CompiledFlag | None"]


def _unit_value(attrs: Attrs, unit: str, fallback: str | None) -> str:
    value = attrs.get(unit)
    text = value if type(value) is str else hash_string(value)
    if not text and fallback is not None:
        other = attrs.get(fallback)
        text = other if type(other) is str else hash_string(other)
    return text


def _filters_pass(filters: Sequence[SplitFilter], attrs: Attrs) -> bool:
    for f in filters:
        unit = _unit_value(attrs, f.unit, None)
        x = gb_hash(f.seed, unit, f.hash_version) if unit else None
        if x is None or not any(start <= x < end for start, end in f.ranges):
            return False
    return True


def _hasher(seed: str, version: int) -> Callable[[str], float | None]:
    if version == 2:
        return seeded_v2(seed)
    return lambda unit: gb_hash(seed, unit, version)


def _split_step(flag: Flag, rule: Rule, split: Split, results: Sequence[Evaluation]) -> Step:
    ranges = split.ranges or tuple(
        get_bucket_ranges(len(split.weights), split.coverage, list(split.weights.values()))
    )
    table = tuple((start, end, ev) for (start, end), ev in zip(ranges, results, strict=True))
    hasher = _hasher(split.seed if split.seed is not None else flag.seed, split.hash_version)
    unit, fallback = split.unit, split.fallback_unit
    namespace = (
        (split.namespace.id, split.namespace.start, split.namespace.end)
        if split.namespace
        else None
    )
    filters = split.filters

    def step(attrs: Attrs, stack: Stack) -> Evaluation | None:
        text = attrs.get(unit)
        if type(text) is not str or not text:  # the common case, a non-empty string, skips this
            text = _unit_value(attrs, unit, fallback)
            if not text:
                return None
        if namespace is not None and not in_namespace(text, namespace):
            return None
        if filters and not _filters_pass(filters, attrs):
            return None
        x = hasher(text)
        if x is None:
            return None
        for start, end, ev in table:
            if start <= x < end:
                return ev
        return None

    return step


def _portion_step(flag: Flag, portion: Portion, result: Evaluation) -> Step:
    hasher = _hasher(portion.seed if portion.seed is not None else flag.seed, portion.hash_version)

    def step(attrs: Attrs, stack: Stack) -> Evaluation | None:
        if portion.range is None and portion.coverage == 0:
            return None
        text = _unit_value(attrs, portion.unit, portion.fallback_unit)
        x = hasher(text) if text else None
        if x is None:
            return None
        if portion.range is not None:
            return result if portion.range[0] <= x < portion.range[1] else None
        # GrowthBook includes the boundary for coverage: hash ≤ coverage.
        return result if portion.coverage is None or x <= portion.coverage else None

    return step


def _constant(result: Evaluation) -> Step:
    def step(attrs: Attrs, stack: Stack) -> Evaluation | None:
        return result

    return step


def _when(pred: Callable[[Attrs], bool], result: Evaluation) -> Step:
    """A targeting rule: one call decides it (the guard and the constant fused)."""

    def step(attrs: Attrs, stack: Stack) -> Evaluation | None:
        return result if pred(attrs) else None

    return step


def _guard(pred: Callable[[Attrs], bool], inner: Step) -> Step:
    def step(attrs: Attrs, stack: Stack) -> Evaluation | None:
        return inner(attrs, stack) if pred(attrs) else None

    return step


@dataclass(frozen=True, slots=True)
class _PrereqCheck:
    flag: str
    test: Callable[[Attrs], bool]
    gate: bool


class _Cycle(Exception):
    """A prerequisite chain came back to a flag already being evaluated."""


class CompiledFlag:
    """One flag version, ready to evaluate: pre-built results and compiled rules."""

    __slots__ = (
        "_disabled",
        "_lookup",
        "_pinned",
        "_prereqs",
        "_rare",
        "_steps",
        "_values",
        "default",
        "flag",
        "key",
        "killed",
        "pin_generation",
        "pin_session",
        "pin_ttl",
        "version",
    )

    def __init__(
        self,
        flag: Flag,
        steps: Sequence[Step],
        prereqs: Sequence[_PrereqCheck],
        lookup: FlagLookup,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """``values``: each variant's frozen value, if the caller has made them already."""
        self.flag = flag
        self.key = flag.key
        self.killed = flag.killed
        self.version = flag.version
        self.pin_session = flag.pin is Pin.SESSION
        self.pin_ttl = flag.pin_ttl
        self.pin_generation = flag.pin_generation
        self._values = values if values is not None else _frozen_variants(flag)
        self.default = Evaluation(
            flag.key,
            flag.default,
            self._values[flag.default],
            Reason.DEFAULT,
            None,
            flag.version,
        )
        # The rarer answers (a pinned variant, a closed gate, a cycle, an internal error) are
        # made the first time they are given: every SDK compiles every flag of every push.
        self._rare: dict[tuple[Reason, str], Evaluation] = {}
        self._pinned: dict[str, Evaluation] = {}
        self._disabled = self._answer(Reason.DISABLED, "killed") if flag.killed else self.default
        self._steps = tuple(steps)
        self._prereqs = tuple(prereqs)
        # Only a flag with prerequisites keeps the lookup (the ruleset dict's ``get``): the
        # reference from each compiled flag back to the dict that holds it made every replaced
        # ruleset a cycle, freed only by full GC passes that paused clients ~150 ms (P2's tail).
        self._lookup = lookup if self._prereqs else _no_flag

    def _answer(self, reason: Reason, detail: str = "") -> Evaluation:
        """The flag's default served for ``reason``, made once."""
        found = self._rare.get((reason, detail))
        if found is None:  # two threads may both make it: the same value either way
            default = self.flag.default
            found = self._rare[reason, detail] = Evaluation(
                self.key, default, self._values[default], reason, None, self.version, detail
            )
        return found

    @property
    def error(self) -> Evaluation:
        """What an evaluation that failed inside rampgate serves: the default, reason ERROR."""
        return self._answer(Reason.ERROR)

    @property
    def gated(self) -> Evaluation:
        """What a closed prerequisite gate serves: the default, and a detail saying why.

        A failed prerequisite also serves the default, but says so: "no rule matched" and
        "a parent flag closed the gate" are different stories for whoever debugs it.
        """
        return self._answer(Reason.DEFAULT, PREREQUISITE_DETAIL)

    def evaluate(self, attrs: Attrs, stack: Stack = ()) -> Evaluation:
        if self.killed:
            return self._disabled
        try:
            if self._prereqs and not _prereqs_pass(
                self._prereqs, self._lookup, attrs, (*stack, self.key)
            ):
                return self.default
            for step in self._steps:
                result = step(attrs, stack)
                if result is not None:
                    return result
        except _GateClosed:
            return self.gated
        except _Cycle:
            if stack:  # inside a prerequisite chain: let the outermost flag report it
                raise
            return self._answer(Reason.ERROR, CYCLE_DETAIL)
        return self.default

    def pinned(self, variant: str) -> Evaluation | None:
        """What a session pinned to ``variant`` is served (None: no such variant any more)."""
        found = self._pinned.get(variant)
        if found is None and variant in self._values:
            found = self._pinned[variant] = Evaluation(
                self.key, variant, self._values[variant], Reason.PINNED, None, self.version
            )
        return found


def _prereqs_pass(
    checks: Sequence[_PrereqCheck], lookup: FlagLookup, attrs: Attrs, stack: Stack
) -> bool:
    for check in checks:
        if check.flag in stack:
            raise _Cycle(check.flag)
        parent = lookup(check.flag)
        value = None
        if parent is not None:
            result = parent.evaluate(attrs, stack)
            # Conditions see plain JSON, as they would in any other SDK.
            value = thaw(result.value)
        if not check.test({"value": value}):
            return False
    return True


def _prereq_checks(
    prereqs: Iterable[Prerequisite], groups: Mapping[str, Sequence[Any]], path: str
) -> list[_PrereqCheck]:
    return [
        _PrereqCheck(
            p.flag,
            compile_condition(p.condition, saved_groups=groups, path=f"{path}[{i}].condition"),
            p.gate,
        )
        for i, p in enumerate(prereqs)
    ]


def _frozen_variants(flag: Flag) -> dict[str, Any]:
    # Once per flag: each variant's value is shared by every Evaluation that serves it.
    return {name: freeze(value) for name, value in flag.variants.items()}


def _rule_step(
    flag: Flag,
    index: int,
    rule: Rule,
    groups: Mapping[str, Sequence[Any]],
    lookup: FlagLookup,
    *,
    values: Mapping[str, Any],
) -> Step:
    path = f"flags.{flag.key}.rules[{index}]"
    pred = (
        compile_condition(rule.condition, saved_groups=groups, path=f"{path}.condition")
        if rule.condition
        else None
    )
    step: Step
    if rule.split is not None:
        results = [
            Evaluation(flag.key, name, values[name], Reason.SPLIT, rule.id, flag.version)
            for name in rule.split.weights
        ]
        step = _split_step(flag, rule, rule.split, results)
    else:
        name = rule.serve if rule.serve is not None else flag.default
        reason = Reason.SPLIT if rule.portion is not None else Reason.TARGETING_MATCH
        ev = Evaluation(flag.key, name, values[name], reason, rule.id, flag.version)
        if rule.portion is None and not rule.prerequisites:
            # The common targeting rule: one call decides it.
            return _when(pred, ev) if pred is not None else _constant(ev)
        step = _portion_step(flag, rule.portion, ev) if rule.portion is not None else _constant(ev)
    if rule.prerequisites:
        checks = _prereq_checks(rule.prerequisites, groups, f"{path}.prerequisites")
        step = _prereq_guard(checks, lookup, step, flag)
    return _guard(pred, step) if pred is not None else step


def _prereq_guard(
    checks: Sequence[_PrereqCheck], lookup: FlagLookup, inner: Step, flag: Flag
) -> Step:
    gated = any(c.gate for c in checks)

    def step(attrs: Attrs, stack: Stack) -> Evaluation | None:
        if _prereqs_pass(checks, lookup, attrs, (*stack, flag.key)):
            return inner(attrs, stack)
        if gated:
            raise _GateClosed
        return None

    return step


class _GateClosed(Exception):
    """A gating rule-level prerequisite failed: the whole flag serves its default."""


def _no_flag(key: str) -> CompiledFlag | None:
    return None


def compile_flag(
    flag: Flag,
    *,
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
    lookup: FlagLookup | None = None,
) -> CompiledFlag:
    """Compile one flag; ``lookup`` resolves prerequisite flags (none: every parent is unknown)."""
    groups = saved_groups or {}
    find: FlagLookup = lookup or (lambda key: None)
    values = _frozen_variants(flag)
    steps = [
        _rule_step(flag, i, rule, groups, find, values=values) for i, rule in enumerate(flag.rules)
    ]
    prereqs = _prereq_checks(flag.prerequisites, groups, f"flags.{flag.key}.prerequisites")
    return CompiledFlag(flag, steps, prereqs, find, values)


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Every flag of one environment, compiled; immutable and safe to share across threads."""

    environment: str
    flags: Mapping[str, CompiledFlag]
    version: str = ""
    saved_groups: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def evaluate(self, key: str, context: Context) -> Evaluation | None:
        """The flag's evaluation, or None when the environment has no such flag."""
        compiled = self.flags.get(key)
        return compiled.evaluate(context.merged) if compiled is not None else None


def compile_ruleset(
    environment: str,
    flags: Iterable[Flag],
    *,
    version: str = "",
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
) -> Ruleset:
    """Compile an environment's flags. Raises ``ConfigError`` naming the flag, rule and operator."""
    compiled: dict[str, CompiledFlag] = {}
    groups = dict(saved_groups or {})
    for flag in flags:
        if flag.key in compiled:
            raise ConfigError(f"flag {flag.key!r} is defined twice", path=f"flags.{flag.key}")
        compiled[flag.key] = compile_flag(flag, saved_groups=groups, lookup=compiled.get)
    return Ruleset(environment, compiled, version, groups)
