"""The flag model: environments, flags, rules, splits, contexts and evaluations.

All types are frozen: a flag is replaced, never edited, and each replacement has a new
``version``. Construction checks the invariants that need no outside knowledge (a rule serves a
known variant, weights are finite, coverage lies in [0, 1]); the config loader checks the rest
(JSON schemas, references between flags) and reports where in the file the problem is.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rampgate.errors import ConfigError

__all__ = [
    "Context",
    "Environment",
    "Evaluation",
    "Flag",
    "Namespace",
    "Pin",
    "Portion",
    "Prerequisite",
    "Reason",
    "Rule",
    "ShadowConfig",
    "Split",
    "SplitFilter",
]

DEFAULT_UNIT = "user_id"
DEFAULT_PIN_TTL_SECONDS = 24 * 3600.0


class Reason(enum.StrEnum):
    """Why an evaluation returned its variant (OpenFeature's reasons plus ``PINNED``)."""

    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    PINNED = "PINNED"
    DEFAULT = "DEFAULT"
    DISABLED = "DISABLED"
    ERROR = "ERROR"


class Pin(enum.StrEnum):
    """Whether a flag keeps a session on its first variant."""

    NONE = "none"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class Environment:
    key: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Context:
    """Who a flag is evaluated for: the unit ids and any targeting attributes.

    ``user_id`` and ``session_id`` are also visible to conditions and splits as attributes of
    those names; an explicit attribute of the same name loses to them.
    """

    user_id: str | None = None
    session_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    # The merged attribute view conditions read; built once here, not on every evaluation.
    merged: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        merged = dict(self.attributes) if isinstance(self.attributes, Mapping) else {}
        if self.user_id is not None:
            merged["user_id"] = self.user_id
        if self.session_id is not None:
            merged["session_id"] = self.session_id
        object.__setattr__(self, "merged", merged)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of evaluating a flag: which variant, its value, and why."""

    flag: str
    variant: str | None
    value: Any
    reason: Reason
    rule_id: str | None = None
    flag_version: int = 0
    detail: str = ""
    # (flag, variant, reason, rule_id, flag_version) as plain strings and ints, built once: an
    # exposure record holds this instead of the Evaluation, so the garbage collector can stop
    # tracking queued records (a tuple of atoms is untracked) instead of re-scanning them.
    signature: tuple[str, str | None, str, str | None, int] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        signature = (self.flag, self.variant, str(self.reason), self.rule_id, self.flag_version)
        object.__setattr__(self, "signature", signature)


@dataclass(frozen=True, slots=True)
class Namespace:
    """Mutual exclusion: a unit takes part only if its namespace hash falls in [start, end)."""

    id: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class SplitFilter:
    """GrowthBook's generalised namespace: a unit passes if its hash lands in one of ``ranges``."""

    seed: str
    ranges: tuple[tuple[float, float], ...]
    unit: str = DEFAULT_UNIT
    hash_version: int = 2


@dataclass(frozen=True, slots=True)
class Split:
    """Weighted variants bucketed by a hash of a unit attribute.

    Exactly a GrowthBook experiment rule with ``seed`` = the flag's salt, ``hashVersion`` 2 and
    ``hashAttribute`` = ``unit``. ``weights`` keeps its order: the bucket ranges follow it, so a
    canary candidate listed last grows leftwards as its weight rises.
    """

    weights: Mapping[str, float]
    coverage: float = 1.0
    unit: str = DEFAULT_UNIT
    fallback_unit: str | None = None
    namespace: Namespace | None = None
    filters: tuple[SplitFilter, ...] = ()
    seed: str | None = None
    hash_version: int = 2
    ranges: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        if not self.weights:
            raise ConfigError("a split needs at least one variant", path="weights")
        for name, w in self.weights.items():
            if (
                isinstance(w, bool)
                or not isinstance(w, int | float)
                or not math.isfinite(w)
                or w < 0
            ):
                raise ConfigError(
                    f"weight of {name!r} is {w!r}", path=f"weights.{name}", expected="a number ≥ 0"
                )
        if not 0.0 <= self.coverage <= 1.0:
            raise ConfigError(
                f"coverage is {self.coverage!r}", path="coverage", expected="a number in [0, 1]"
            )
        if self.ranges is not None and len(self.ranges) != len(self.weights):
            raise ConfigError("ranges must give one [start, end) per variant", path="ranges")


@dataclass(frozen=True, slots=True)
class Portion:
    """Serve a rule's variant to a hashed fraction of units (GrowthBook's rollout rule).

    A unit is included when its hash is ≤ ``coverage`` (GrowthBook's rule) or, with ``range``,
    when it lies in ``[start, end)``.
    """

    coverage: float | None = None
    range: tuple[float, float] | None = None
    unit: str = DEFAULT_UNIT
    fallback_unit: str | None = None
    seed: str | None = None
    hash_version: int = 2


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """A condition on another flag's value, written against ``{"value": <that flag's value>}``.

    ``gate`` (the default for flag-level prerequisites) makes a failure end the evaluation with
    the safe default; without it only the rule that carries it is skipped.
    """

    flag: str
    condition: Mapping[str, Any]
    gate: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One targeting step: if ``condition`` matches, serve ``serve`` or bucket into ``split``."""

    id: str
    condition: Mapping[str, Any] | None = None
    serve: str | None = None
    split: Split | None = None
    portion: Portion | None = None
    prerequisites: tuple[Prerequisite, ...] = ()

    def __post_init__(self) -> None:
        if (self.serve is None) == (self.split is None):
            raise ConfigError(
                f"rule {self.id!r} must have exactly one of 'serve' and 'split'",
                path=f"rules.{self.id}",
                expected="serve: VARIANT or split: {weights: …}",
            )
        if self.portion is not None and self.serve is None:
            raise ConfigError(
                f"rule {self.id!r}: 'portion' goes with 'serve'", path=f"rules.{self.id}"
            )


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """Run ``variant`` beside the served variant on a ``sample`` of calls, off the caller's path.

    The SDK's ``Client.shadow`` serves the evaluated variant and, on a per-call draw that hits
    ``sample``, also runs ``variant`` and records how the two compared (see
    :mod:`rampgate.domain.shadow` for the event names). ``sample`` 0 turns it off.
    """

    variant: str
    sample: float

    def __post_init__(self) -> None:
        if not isinstance(self.variant, str) or not self.variant:
            raise ConfigError(
                f"shadow variant is {self.variant!r}", path="shadow.variant", expected="a variant"
            )
        s = self.sample
        if isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= s <= 1.0:
            raise ConfigError(
                f"shadow sample is {s!r}", path="shadow.sample", expected="a number in [0, 1]"
            )


@dataclass(frozen=True, slots=True)
class Flag:
    """A named switch whose variants are JSON values — for agents, whole agent configs."""

    key: str
    variants: Mapping[str, Any]
    default: str
    rules: tuple[Rule, ...] = ()
    description: str = ""
    schema: Mapping[str, Any] | None = None
    salt: str | None = None
    version: int = 1
    killed: bool = False
    pin: Pin = Pin.NONE
    pin_ttl: float = DEFAULT_PIN_TTL_SECONDS
    # Raised by a hard rollback: pins made under an older generation are ignored.
    pin_generation: int = 0
    prerequisites: tuple[Prerequisite, ...] = ()
    shadow: ShadowConfig | None = None

    def __post_init__(self) -> None:
        where = f"flags.{self.key}"
        if not self.key:
            raise ConfigError("a flag needs a non-empty key", path="flags")
        if not self.variants:
            raise ConfigError("a flag needs at least one variant", path=f"{where}.variants")
        if self.default not in self.variants:
            raise ConfigError(
                f"default {self.default!r} is not a variant",
                path=f"{where}.default",
                expected="one of " + ", ".join(map(repr, self.variants)),
            )
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ConfigError(
                f"rule ids repeat: {ids}", path=f"{where}.rules", expected="unique ids"
            )
        for i, rule in enumerate(self.rules):
            names = (
                [rule.serve]
                if rule.serve is not None
                else list(rule.split.weights)
                if rule.split
                else []
            )
            for name in names:
                if name not in self.variants:
                    raise ConfigError(
                        f"rule {rule.id!r} names unknown variant {name!r}",
                        path=f"{where}.rules[{i}]",
                        expected="one of " + ", ".join(map(repr, self.variants)),
                    )
        if self.shadow is not None and self.shadow.variant not in self.variants:
            raise ConfigError(
                f"shadow variant {self.shadow.variant!r} is not a variant",
                path=f"{where}.shadow.variant",
                expected="one of " + ", ".join(map(repr, self.variants)),
            )
        if not (self.pin_ttl > 0):
            raise ConfigError(
                f"pin_ttl is {self.pin_ttl!r}", path=f"{where}.pin_ttl", expected="seconds > 0"
            )

    @property
    def seed(self) -> str:
        """The hashing seed of the flag's splits: ``salt``, or the key when no salt is set."""
        return self.salt if self.salt is not None else self.key
