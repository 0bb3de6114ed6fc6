"""Flag definitions from a config document into ``rampgate.domain`` flags.

The YAML shape (see ``docs/config.md``)::

    flags:
      support-agent:
        description: Customer-support agent configuration
        pin: session                      # a conversation keeps its variant (TTL: pin_ttl)
        schema: {type: object, required: [model]}
        variants: {stable: {...}, candidate: {...}}
        default: stable                   # the safe variant
        rules:
          - {id: staff, when: {email: {$regex: "@example\\.com$"}}, serve: candidate}
          - {id: canary, split: {unit: user_id, weights: {stable: 0.95, candidate: 0.05}}}
        shadow: {variant: candidate, sample: 0.2}   # run it beside the served variant
        environments:
          dev: {rules: [{id: all, serve: candidate}]}
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rampgate.domain.conditions import compile_condition
from rampgate.domain.model import (
    DEFAULT_PIN_TTL_SECONDS,
    Flag,
    Namespace,
    Pin,
    Portion,
    Prerequisite,
    Rule,
    ShadowConfig,
    Split,
)
from rampgate.errors import ConfigError, SchemaError

from .reader import Node

__all__ = ["FlagDefinition", "parse_flag"]

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
KEY_EXPECTED = "letters, digits, '_', '.', ':' or '-', starting with a letter or digit (≤ 128)"

_FLAG_KEYS = (
    "description", "variants", "default", "rules", "schema", "salt", "killed", "pin", "pin_ttl",
    "prerequisites", "shadow", "environments",
)  # fmt: skip
_ENV_OVERRIDE_KEYS = ("rules", "default", "killed", "shadow")
_RULE_KEYS = ("id", "when", "serve", "split", "portion", "prerequisites")
_SPLIT_KEYS = ("unit", "fallback_unit", "weights", "coverage", "namespace", "seed", "hash_version")
_PORTION_KEYS = ("unit", "fallback_unit", "coverage", "seed", "hash_version")
_SHADOW_KEYS = ("variant", "sample")


@dataclass(frozen=True, slots=True)
class FlagDefinition:
    """A flag as written: the base definition plus per-environment overrides."""

    base: Flag
    overrides: Mapping[str, Mapping[str, Any]]

    def for_environment(self, environment: str) -> Flag:
        return replace(self.base, **self.overrides.get(environment, {}))


def _condition(
    node: Node, groups: Mapping[str, Sequence[Any]], check: bool = True
) -> Mapping[str, Any]:
    node.mapping()
    # Compiled here only to report mistakes at load time, with the path as written in the file;
    # a caller that compiles the flag straight away (an SDK taking a push) skips it.
    if check:
        try:
            compile_condition(node.value, saved_groups=groups, path=node.path)
        except ConfigError as exc:
            raise exc.with_source(node.source) from None
    return dict(node.value)


def _prerequisites(
    node: Node, groups: Mapping[str, Sequence[Any]], *, gate: bool, check: bool = True
) -> tuple[Prerequisite, ...]:
    out = []
    for item in node.elements():
        item.mapping(allowed=("flag", "when"), required=("flag", "when"))
        flag = item.get("flag").string(pattern=KEY, expected=KEY_EXPECTED)
        out.append(Prerequisite(flag, _condition(item.get("when"), groups, check), gate=gate))
    return tuple(out)


def _unit(node: Node, default: str | None) -> str | None:
    if node.value is None:
        return default
    return node.string(expected="an attribute name such as user_id or session_id")


def _split(node: Node, variants: Mapping[str, Any]) -> Split:
    node.mapping(allowed=_SPLIT_KEYS, required=("weights",))
    weights: dict[str, float] = {}
    for name, w in node.get("weights").items():
        if name not in variants:
            raise w.error(
                f"unknown variant {name!r}", expected="one of " + ", ".join(map(repr, variants))
            )
        weights[name] = w.number(low=0.0, high=1.0)
    total = sum(weights.values())
    if not 0.99 <= total <= 1.01:
        raise node.get("weights").error(
            f"weights add up to {total:g}", expected="weights that add up to 1"
        )
    namespace = None
    if node.has("namespace"):
        ns = node.get("namespace").mapping(allowed=("id", "range"), required=("id", "range"))
        bounds = [b.number(low=0.0, high=1.0) for b in ns.get("range").elements()]
        if len(bounds) != 2 or bounds[0] >= bounds[1]:
            raise ns.get("range").error(
                "bad namespace range", expected="[start, end] with 0 ≤ start < end ≤ 1"
            )
        namespace = Namespace(ns.get("id").string(), bounds[0], bounds[1])
    return Split(
        weights=weights,
        coverage=node.get("coverage", 1.0).number(low=0.0, high=1.0),
        unit=_unit(node.get("unit"), "user_id") or "user_id",
        fallback_unit=_unit(node.get("fallback_unit"), None),
        namespace=namespace,
        seed=node.get("seed").string() if node.has("seed") else None,
        hash_version=_hash_version(node),
    )


def _shadow(node: Node, variants: Mapping[str, Any]) -> ShadowConfig | None:
    """``{variant, sample}``; ``null`` (e.g. in an environment override) means no shadow."""
    if node.value is None:
        return None
    node.mapping(allowed=_SHADOW_KEYS, required=_SHADOW_KEYS)
    variant = node.get("variant").string()
    if variant not in variants:
        raise node.get("variant").error(
            f"unknown variant {variant!r}", expected="one of " + ", ".join(map(repr, variants))
        )
    return ShadowConfig(variant, node.get("sample").number(low=0.0, high=1.0))


def _hash_version(node: Node) -> int:
    version = node.get("hash_version", 2).integer(low=1)
    if version not in (1, 2):
        raise node.get("hash_version").error(f"found {version}", expected="1 or 2")
    return version


def _rule(
    node: Node, variants: Mapping[str, Any], groups: Mapping[str, Sequence[Any]], check: bool
) -> Rule:
    node.mapping(allowed=_RULE_KEYS, required=("id",))
    rule_id = node.get("id").string(pattern=KEY, expected=KEY_EXPECTED)
    if node.has("serve") == node.has("split"):
        raise node.error(
            f"rule {rule_id!r} needs exactly one of 'serve' and 'split'",
            expected="serve: VARIANT or split: {weights: {...}}",
        )
    serve = None
    if node.has("serve"):
        serve = node.get("serve").string()
        if serve not in variants:
            raise node.get("serve").error(
                f"unknown variant {serve!r}", expected="one of " + ", ".join(map(repr, variants))
            )
    portion = None
    if node.has("portion"):
        if serve is None:
            raise node.get("portion").error("'portion' goes with 'serve'")
        p = node.get("portion").mapping(allowed=_PORTION_KEYS, required=("coverage",))
        portion = Portion(
            coverage=p.get("coverage").number(low=0.0, high=1.0),
            unit=_unit(p.get("unit"), "user_id") or "user_id",
            fallback_unit=_unit(p.get("fallback_unit"), None),
            seed=p.get("seed").string() if p.has("seed") else None,
            hash_version=_hash_version(p),
        )
    return Rule(
        id=rule_id,
        condition=_condition(node.get("when"), groups, check) if node.has("when") else None,
        serve=serve,
        split=_split(node.get("split"), variants) if node.has("split") else None,
        portion=portion,
        prerequisites=_prerequisites(node.get("prerequisites"), groups, gate=False, check=check)
        if node.has("prerequisites")
        else (),
    )


def _rules(
    node: Node,
    variants: Mapping[str, Any],
    groups: Mapping[str, Sequence[Any]],
    check: bool = True,
) -> tuple[Rule, ...]:
    rules = tuple(_rule(item, variants, groups, check) for item in node.elements())
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.id in seen:
            raise node.error(
                f"rule id {rule.id!r} is used twice", key=i, expected="unique rule ids"
            )
        seen.add(rule.id)
    return rules


def _check_schema(node: Node, schema: dict[str, Any], variants: Mapping[str, Any]) -> None:
    # Imported on first use: jsonschema costs ~15 MB resident, and most flags have no schema.
    import jsonschema  # noqa: PLC0415

    try:
        validator_cls = jsonschema.validators.validator_for(
            schema, default=jsonschema.Draft202012Validator
        )
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise node.get("schema").error(f"invalid JSON schema: {exc.message}") from exc
    validator = validator_cls(schema)
    for name, value in variants.items():
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            where = "".join(
                f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
            )
            at = f" at {where}" if where else ""
            raise SchemaError(
                f"variant {name!r} does not match the flag's schema{at}: {error.message}",
                path=node.get("variants").child_path(name),
                source=node.source,
                expected="a value the schema accepts",
            )


def parse_flag(
    key: str,
    node: Node,
    *,
    environments: Sequence[str],
    groups: Mapping[str, Sequence[Any]],
    check_conditions: bool = True,
    version: int = 1,
    pin_generation: int = 0,
) -> FlagDefinition:
    """Parse and check one flag definition; raises ``ConfigError`` naming the exact path.

    ``check_conditions=False`` leaves conditions to whoever compiles the flag next
    (:func:`rampgate.domain.engine.compile_flag` raises for a bad one, naming the rule).
    ``version`` and ``pin_generation`` are the stored flag's, when there is one.
    """
    if not KEY.match(key):
        raise node.error(f"bad flag key {key!r}", expected=KEY_EXPECTED)
    node.mapping(allowed=_FLAG_KEYS, required=("variants", "default"))
    variants: dict[str, Any] = {}
    for name, value in node.get("variants").items():
        if not KEY.match(name):
            raise value.error(f"bad variant name {name!r}", expected=KEY_EXPECTED)
        variants[name] = value.value
    if not variants:
        raise node.get("variants").error("no variants", expected="at least one variant")
    default = node.get("default").string()
    if default not in variants:
        raise node.get("default").error(
            f"{default!r} is not a variant", expected="one of " + ", ".join(map(repr, variants))
        )
    schema = dict(node.get("schema").mapping().value) if node.has("schema") else None
    if schema is not None:
        _check_schema(node, schema, variants)
    pin = node.get("pin", "none").string(expected="'session' or 'none'")
    if pin not in ("session", "none"):
        raise node.get("pin").error(f"found {pin!r}", expected="'session' or 'none'")
    base = Flag(
        key=key,
        variants=variants,
        default=default,
        rules=_rules(node.get("rules"), variants, groups, check_conditions)
        if node.has("rules")
        else (),
        description=node.get("description", "").string(),
        schema=schema,
        salt=node.get("salt").string() if node.has("salt") else None,
        killed=node.get("killed", False).boolean(),
        pin=Pin(pin),
        pin_ttl=node.get("pin_ttl").duration() if node.has("pin_ttl") else DEFAULT_PIN_TTL_SECONDS,
        prerequisites=_prerequisites(
            node.get("prerequisites"), groups, gate=True, check=check_conditions
        )
        if node.has("prerequisites")
        else (),
        shadow=_shadow(node.get("shadow"), variants),
        version=version,
        pin_generation=pin_generation,
    )
    overrides: dict[str, dict[str, Any]] = {}
    if node.has("environments"):
        for env, override in node.get("environments").items():
            if env not in environments:
                raise override.error(
                    f"unknown environment {env!r}", expected="one of " + ", ".join(environments)
                )
            override.mapping(allowed=_ENV_OVERRIDE_KEYS)
            changes: dict[str, Any] = {}
            if override.has("rules"):
                changes["rules"] = _rules(override.get("rules"), variants, groups, check_conditions)
            if override.has("default"):
                changes["default"] = override.get("default").string()
                if changes["default"] not in variants:
                    raise override.get("default").error(f"{changes['default']!r} is not a variant")
            if override.has("killed"):
                changes["killed"] = override.get("killed").boolean()
            if override.has("shadow"):
                changes["shadow"] = _shadow(override.get("shadow"), variants)
            overrides[env] = changes
    return FlagDefinition(base, overrides)


def require_variant(flag: str, variants: Collection[str], variant: str, *, path: str) -> None:
    """Refuse ``variant`` unless ``flag`` has it. A rollout step, experiment arm or eval result
    naming a variant the flag lacks could never be served, so it is refused where it is written."""
    if variant not in variants:
        raise ConfigError(
            f"flag {flag!r} has no variant {variant!r}",
            path=path,
            expected="one of " + ", ".join(map(repr, variants)),
        )
