"""GrowthBook features and experiments → rampgate flags that rampgate's engine evaluates.

=========================  =================================================================
GrowthBook                 rampgate
=========================  =================================================================
feature id                 flag key
``defaultValue``           the flag's ``default`` variant
each distinct value        a variant named after the value (see ``names``)
force rule                 ``serve`` (with a ``Portion`` for ``coverage``/``range``)
experiment rule            ``split`` with ``seed`` = ``seed`` or ``key`` (whose default is the
                           feature id), ``hashVersion`` (default 1), the ``hashAttribute`` as
                           the unit; GrowthBook's explicit ``ranges``, or weights and coverage
``namespace``/``filters``  the split's ``namespace``/``filters``
passthrough variation      left out of the split, so its units fall through to the next rule
``parentConditions``       rule prerequisites; a ``gate`` adds a rule ahead that serves
                           ``null`` when the parent fails, which is what GrowthBook serves
contextual bandit          one split per published context, first match wins, then the
                           marginal weights
=========================  =================================================================

How each rule expands is in :mod:`rampgate.compat.growthbook.translate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rampgate.domain.engine import compile_ruleset
from rampgate.domain.model import Flag
from rampgate.errors import ConfigError

from .definitions import ExperimentDef, ForceDef, read_experiment, read_rule
from .translate import (
    Builder,
    ImportOptions,
    RuleInfo,
    add_experiment,
    add_force,
    add_gates,
    prerequisites,
    split_filters,
)

__all__ = [
    "ImportedFlag",
    "import_experiment",
    "import_features",
    "translate_experiment",
    "translate_features",
]


@dataclass(frozen=True, slots=True)
class ImportedFlag:
    """A flag and, per rule id, where in the GrowthBook definition the rule came from."""

    flag: Flag
    rules: Mapping[str, RuleInfo]
    experiment: ExperimentDef | None = None  # set for a flag made by ``import_experiment``


def _feature(
    key: str, feature: Any, bandits: Mapping[str, Any], options: ImportOptions
) -> ImportedFlag:
    path = f"features.{key}"
    if not isinstance(feature, Mapping):
        raise ConfigError(f"got {feature!r}", path=path, expected="a feature definition")
    b = Builder(key, options)
    default = b.table.name(feature.get("defaultValue"))
    rules = feature.get("rules")
    rules = [] if rules is None else rules
    if not isinstance(rules, list | tuple):
        raise ConfigError(f"got {rules!r}", path=f"{path}.rules", expected="an array")
    for i, raw in enumerate(rules):
        rule = read_rule(raw, f"{path}.rules[{i}]", feature=key, bandits=bandits)
        base = rule.id or f"#{i}"
        add_gates(b, base, rule.id, rule.parents)
        parents, filters = prerequisites(rule.parents), split_filters(rule.filters)
        if isinstance(rule.serve, ForceDef):
            add_force(b, base, rule.id, rule.serve, parents=parents, filters=filters)
        elif isinstance(rule.serve, ExperimentDef):
            add_experiment(b, base, rule.id, rule.serve, parents=parents, filters=filters)
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

    The flags are compiled once here (with ``saved_groups`` for ``$inGroup``), so a definition
    rampgate cannot evaluate is a :class:`~rampgate.errors.ConfigError` now, naming the flag
    and rule, not a surprise in production. ``contextual_bandits`` is the payload's map of
    published bandits, for rules that reference one.
    """
    imported = translate_features(features, contextual_bandits=contextual_bandits, options=options)
    flags = [f.flag for f in imported]
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
    b = Builder(key, options or ImportOptions())
    # Outside the experiment GrowthBook serves the first variation.
    default = b.table.names(list(exp.variations[:1]))[0] if exp.variations else b.table.name(None)
    add_experiment(b, key, "", exp)
    return ImportedFlag(b.flag(default), dict(b.info), exp)


def import_experiment(
    experiment: Mapping[str, Any], *, options: ImportOptions | None = None
) -> Flag:
    """A GrowthBook experiment (what ``gb.run`` takes) as a one-experiment rampgate flag.

    The flag's key is the experiment key; units outside the experiment get the first variation.
    """
    return translate_experiment(experiment, options=options).flag
