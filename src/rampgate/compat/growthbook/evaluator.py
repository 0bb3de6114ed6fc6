"""Evaluate GrowthBook definitions with rampgate's engine and answer as GrowthBook would.

:class:`Evaluator` is the bridge's proof and a migration aid: it imports a GrowthBook payload,
compiles it into a rampgate :class:`~rampgate.domain.engine.Ruleset`, evaluates each request
there, and reports the rampgate evaluation in GrowthBook's result shape, so the two can be
compared side by side before switching. The only work it does outside the engine is GrowthBook's
per-request state: it writes that into the reserved context attribute before evaluating, and
records a sticky bucket assignment afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rampgate.domain.engine import CYCLE_DETAIL, compile_flag, compile_ruleset
from rampgate.domain.hashing import hash_string
from rampgate.domain.model import Context, Evaluation, Reason

from .importer import ImportedFlag, translate_experiment, translate_features
from .results import experiment_result, feature_result, hash_attribute
from .runtime import RESERVED_ATTRIBUTE, StickyBucketStore, bucket_key, request_attribute
from .translate import ImportOptions, Kind, RuleInfo

__all__ = ["Evaluator", "UserContext"]

# The detail the engine gives a cyclic prerequisite chain (its only ERROR without an exception).
_CYCLE = CYCLE_DETAIL


@dataclass(frozen=True, slots=True)
class UserContext:
    """The per-request part of a GrowthBook context."""

    attributes: Mapping[str, Any] = field(default_factory=dict)
    forced_variations: Mapping[str, Any] = field(default_factory=dict)
    qa_mode: bool = False
    enabled: bool = True

    @classmethod
    def from_json(cls, ctx: Mapping[str, Any]) -> UserContext:
        """From GrowthBook's context keys (``attributes``, ``forcedVariations``, ``qaMode``,
        ``enabled``); browser-only keys such as ``url`` are not read."""
        return cls(
            attributes=ctx.get("attributes") or {},
            forced_variations=ctx.get("forcedVariations") or {},
            qa_mode=bool(ctx.get("qaMode")),
            enabled=ctx.get("enabled", True) is not False,
        )


def _sticky_attributes(flags: Iterable[ImportedFlag]) -> set[str]:
    """The attributes whose sticky bucket documents a unit's evaluation may read."""
    names: set[str] = set()
    for imported in flags:
        for info in imported.rules.values():
            if info.experiment is not None and info.experiment.sticky:
                names.add(info.experiment.hash_attribute)
                if info.fallback:
                    names.add(info.fallback)
    return names


class Evaluator:
    """GrowthBook features (and ad-hoc experiments) evaluated by rampgate."""

    def __init__(
        self,
        features: Mapping[str, Any] | None = None,
        *,
        saved_groups: Mapping[str, Sequence[Any]] | None = None,
        contextual_bandits: Mapping[str, Any] | None = None,
        sticky_buckets: StickyBucketStore | None = None,
    ) -> None:
        self.options = ImportOptions(overrides=True, sticky_bucketing=sticky_buckets is not None)
        imported = translate_features(
            features or {}, contextual_bandits=contextual_bandits, options=self.options
        )
        self.flags: dict[str, ImportedFlag] = {f.flag.key: f for f in imported}
        self.saved_groups = dict(saved_groups or {})
        self.ruleset = compile_ruleset(
            "growthbook", [f.flag for f in imported], saved_groups=self.saved_groups
        )
        self.sticky_buckets = sticky_buckets
        self._sticky_attributes = _sticky_attributes(imported)

    def context(self, user: UserContext, extra: Iterable[ImportedFlag] = ()) -> Context:
        """The rampgate context for ``user``: its attributes plus the reserved one."""
        sticky: list[dict[str, str]] = []
        if self.sticky_buckets is not None:
            names = self._sticky_attributes | _sticky_attributes(extra)
            sticky = self.sticky_buckets.records(user.attributes, names)
        attributes = dict(user.attributes)
        attributes[RESERVED_ATTRIBUTE] = request_attribute(
            enabled=user.enabled,
            qa_mode=user.qa_mode,
            forced_variations=user.forced_variations,
            sticky=sticky,
        )
        return Context(attributes=attributes)

    def eval_feature(self, key: str, user: UserContext | None = None) -> dict[str, Any]:
        """GrowthBook's ``evalFeature``: value, on/off, source, ruleId, experimentResult."""
        user = user or UserContext()
        imported = self.flags.get(key)
        evaluation = self.ruleset.evaluate(key, self.context(user))
        if imported is None or evaluation is None:
            return feature_result(None, "unknownFeature")
        if evaluation.reason is Reason.ERROR and evaluation.detail == _CYCLE:
            # rampgate serves the safe default on a cycle; GrowthBook reports the feature off.
            return feature_result(None, "cyclicPrerequisite")
        info = imported.rules.get(evaluation.rule_id) if evaluation.rule_id else None
        if info is None:
            return feature_result(evaluation.value, "defaultValue")
        if info.kind is Kind.GATE:
            return feature_result(evaluation.value, "prerequisite")
        if info.kind is Kind.FORCE:
            return feature_result(evaluation.value, "force", info.gb_rule_id)
        result = self._experiment_result(info, evaluation, user, key)
        return feature_result(evaluation.value, "experiment", info.gb_rule_id, result)

    def run(self, experiment: Mapping[str, Any], user: UserContext | None = None) -> dict[str, Any]:
        """GrowthBook's ``run``: the experiment's result for ``user``.

        The experiment becomes a one-experiment flag (see ``import_experiment``); its
        prerequisites resolve against this evaluator's features.
        """
        user = user or UserContext()
        imported = translate_experiment(experiment, options=self.options)
        compiled = compile_flag(
            imported.flag, saved_groups=self.saved_groups, lookup=self.ruleset.flags.get
        )
        evaluation = compiled.evaluate(self.context(user, [imported]).merged)
        info = imported.rules.get(evaluation.rule_id) if evaluation.rule_id else None
        if info is not None and info.kind is Kind.EXPERIMENT:
            return self._experiment_result(info, evaluation, user, None)
        exp = imported.experiment
        assert exp is not None  # translate_experiment always sets it
        return experiment_result(
            exp,
            -1,
            evaluation.value,
            in_experiment=False,
            hash_used=False,
            feature_id=None,
            attributes=user.attributes,
        )

    def _experiment_result(
        self, info: RuleInfo, evaluation: Evaluation, user: UserContext, feature_id: str | None
    ) -> dict[str, Any]:
        exp = info.experiment
        assert exp is not None  # experiment rules always carry their experiment
        result = experiment_result(
            exp,
            info.variation(evaluation.variant),
            evaluation.value,
            in_experiment=True,
            hash_used=info.hash_used,
            feature_id=feature_id,
            attributes=user.attributes,
            fallback=info.fallback,
            sticky_used=info.sticky_used,
            leaf=info.leaf,
            bandit_version=info.bandit_version,
        )
        if self.sticky_buckets is not None and exp.sticky and info.hash_used:
            # GrowthBook remembers hashed (and sticky) assignments, never forced ones.
            attribute, value = hash_attribute(user.attributes, exp.hash_attribute, info.fallback)
            self.sticky_buckets.assign(
                attribute,
                hash_string(value),
                bucket_key(exp.key, exp.bucket_version),
                result["key"],
            )
        return result
