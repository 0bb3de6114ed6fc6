"""Experiments as contracts: registered before they start, frozen once started.

A contract states the hypothesis, the arms and their split, who is exposed, the primary metric,
secondary metrics, guardrails, the smallest effect worth detecting (MDE), alpha, power and the
longest the experiment may run. Once an :class:`Experiment` has started, :func:`amend` refuses
any change to a registered field and names it (the API answers ``409``): a contract that could be
edited after the data came in would let anyone move the goalposts to where the ball landed.

Registration (:mod:`.registration`) checks that the sample can reach the MDE in time; checkpoints
(:mod:`.checkpoint`) decide by the risk-aware rule.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rampgate.domain.conditions import compile_condition
from rampgate.domain.model import Namespace, Split
from rampgate.errors import ConfigError, RampgateError

from ._reader import Field, choice, parse_margin
from .metrics import DEFAULT_METRICS, Metric
from .plan import GuardrailSpec, check_guardrails, parse_guardrail

__all__ = [
    "FROZEN_FIELDS",
    "Correction",
    "Experiment",
    "ExperimentContract",
    "FrozenFieldError",
    "amend",
    "parse_experiment",
    "parse_experiments",
]


class FrozenFieldError(RampgateError):
    """A registered field of a started experiment was asked to change."""

    def __init__(self, experiment: str, field_name: str) -> None:
        self.experiment = experiment
        self.field = field_name
        super().__init__(
            f"experiment {experiment!r} has started: its registered field {field_name!r} "
            "cannot change (stop it and register a new experiment instead)"
        )


class Correction(enum.StrEnum):
    """Multiple-comparison adjustment of secondary metrics."""

    HOLM = "holm"
    BH = "bh"


@dataclass(frozen=True, slots=True)
class ExperimentContract:
    """What is registered before an experiment starts.

    ``arms`` maps arm names to the flag's variants, control first; ``split`` weighs the arms
    (by arm name) over ``split.unit``, with its coverage and namespace; ``exposure`` is the
    GrowthBook condition a unit must match to enter. ``mde`` is absolute, or relative to the
    control's value when ``relative``. Only ``description`` and ``owner`` may change after start.
    """

    name: str
    environment: str
    flag: str
    hypothesis: str
    arms: tuple[tuple[str, str], ...]
    split: Split
    primary: Metric
    mde: float
    max_duration: float
    relative: bool = False
    secondary: tuple[Metric, ...] = ()
    guardrails: tuple[GuardrailSpec, ...] = ()
    exposure: Mapping[str, Any] | None = None
    alpha: float = 0.05
    power: float = 0.8
    correction: Correction = Correction.HOLM
    description: str = ""
    owner: str = ""

    def __post_init__(self) -> None:
        where = f"experiments.{self.name}"
        for key in ("name", "environment", "flag", "hypothesis"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{key} must be a non-empty string", path=f"{where}.{key}")
        names = [a for a, _ in self.arms]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigError(
                f"arms are {names}", path=f"{where}.arms", expected="two or more distinct arms"
            )
        if set(self.split.weights) != set(names):
            raise ConfigError(
                f"split weighs {sorted(self.split.weights)}",
                path=f"{where}.split.weights",
                expected="one weight per arm: " + ", ".join(names),
            )
        if any(self.split.weights[a] <= 0 for a in names):
            raise ConfigError("every arm needs a weight > 0", path=f"{where}.split.weights")
        if self.split.coverage <= 0:
            raise ConfigError("coverage is 0: nobody would enter", path=f"{where}.split.coverage")
        if not (math.isfinite(self.mde) and self.mde > 0):
            raise ConfigError(f"mde is {self.mde!r}", path=f"{where}.mde", expected="a number > 0")
        if not 0.0 < self.alpha < 0.5:
            raise ConfigError(
                f"alpha is {self.alpha!r}", path=f"{where}.alpha", expected="a number in (0, 0.5)"
            )
        if not 0.5 <= self.power < 1.0:
            raise ConfigError(
                f"power is {self.power!r}", path=f"{where}.power", expected="a number in [0.5, 1)"
            )
        if not (math.isfinite(self.max_duration) and self.max_duration > 0):
            raise ConfigError(
                f"max_duration is {self.max_duration!r}",
                path=f"{where}.max_duration",
                expected="a duration > 0",
            )
        if self.primary.name in {m.name for m in self.secondary}:
            raise ConfigError(
                f"{self.primary.name} is both primary and secondary", path=f"{where}.secondary"
            )
        check_guardrails(self.guardrails, f"{where}.guardrails", required=False)
        object.__setattr__(
            self, "correction", choice(Correction, self.correction, f"{where}.correction")
        )
        if self.exposure is not None:
            compile_condition(self.exposure, path=f"{where}.exposure")

    @property
    def control(self) -> str:
        return self.arms[0][0]

    @property
    def treatments(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.arms[1:])

    @property
    def unit(self) -> str:
        return self.split.unit

    def weight(self, arm: str) -> float:
        """The arm's share of the units that enter."""
        return self.split.weights[arm] / sum(self.split.weights.values())


_MUTABLE = frozenset({"description", "owner"})
FROZEN_FIELDS: frozenset[str] = frozenset(
    f.name for f in dataclasses.fields(ExperimentContract) if f.name not in _MUTABLE
)
"""Registered fields: fixed once the experiment starts."""


@dataclass(frozen=True, slots=True)
class Experiment:
    """A registered contract and when it started and stopped (``None`` until then)."""

    id: str
    contract: ExperimentContract
    started_at: float | None = None
    stopped_at: float | None = None

    @property
    def started(self) -> bool:
        return self.started_at is not None

    def start(self, now: float) -> Experiment:
        if self.started:
            return self
        return dataclasses.replace(self, started_at=now)

    def stop(self, now: float) -> Experiment:
        if self.stopped_at is not None:
            return self
        return dataclasses.replace(self, stopped_at=now)


def amend(experiment: Experiment, changes: Mapping[str, Any]) -> Experiment:
    """The experiment with ``changes`` applied; after start only unregistered fields may change.

    Setting a registered field to the value it already has is not a change (re-applying the
    same config is harmless). Before start any field may change, and the caller registers again.
    """
    c = experiment.contract
    known = {f.name for f in dataclasses.fields(ExperimentContract)}
    for key, value in changes.items():
        if key not in known:
            raise ConfigError(
                f"unknown field {key!r}",
                path=f"experiments.{c.name}.{key}",
                expected="one of " + ", ".join(sorted(known)),
            )
        if key == "name" and value != c.name:
            raise ConfigError(
                "the name identifies the experiment and cannot change",
                path=f"experiments.{c.name}.name",
            )
        if experiment.started and key in FROZEN_FIELDS and getattr(c, key) != value:
            raise FrozenFieldError(c.name, key)
    return dataclasses.replace(experiment, contract=dataclasses.replace(c, **changes))


_EXPERIMENT_KEYS = (
    "environment",
    "flag",
    "hypothesis",
    "arms",
    "split",
    "exposure",
    "primary",
    "secondary",
    "guardrails",
    "mde",
    "alpha",
    "power",
    "max_duration",
    "correction",
    "description",
    "owner",
)
_SPLIT_KEYS = ("unit", "weights", "coverage", "namespace")


def parse_experiments(
    raw: Mapping[str, Any] | None,
    *,
    metrics: Mapping[str, Metric] = DEFAULT_METRICS,
    path: str = "experiments",
) -> dict[str, ExperimentContract]:
    """The ``experiments:`` section of a config: name → contract."""
    if raw is None:
        return {}
    return {
        name: parse_experiment(name, node.value, metrics=metrics, path=node.path)
        for name, node in Field(raw, path).items()
    }


def _metric(node: Field, metrics: Mapping[str, Metric]) -> Metric:
    name = node.string()
    if name not in metrics:
        raise node.error(f"unknown metric {name!r}", expected="a metric defined under metrics:")
    return metrics[name]


def parse_experiment(
    name: str,
    raw: Any,
    *,
    metrics: Mapping[str, Metric] = DEFAULT_METRICS,
    path: str | None = None,
) -> ExperimentContract:
    """One experiment contract from its YAML/JSON shape (see ``docs/rollouts.md``)."""
    node = Field(raw, path or f"experiments.{name}")
    node.mapping(
        allowed=_EXPERIMENT_KEYS,
        required=(
            "environment",
            "flag",
            "hypothesis",
            "arms",
            "split",
            "primary",
            "mde",
            "max_duration",
        ),
    )
    arms = tuple((arm, n.string()) for arm, n in node.child("arms").items())
    s = node.child("split").mapping(allowed=_SPLIT_KEYS, required=("weights",))
    weights = {arm: w.fraction() for arm, w in s.child("weights").items()}
    namespace = None
    if s.has("namespace"):
        ns = s.child("namespace").mapping(allowed=("id", "range"), required=("id", "range"))
        bounds = [b.number() for b in ns.child("range").elements()]
        if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1] <= 1:
            raise ns.child("range").error("bad range", expected="[start, end], 0 ≤ start < end ≤ 1")
        namespace = Namespace(ns.child("id").string(), bounds[0], bounds[1])
    coverage = s.child("coverage").fraction() if s.has("coverage") else 1.0
    if not 0 < coverage <= 1:
        raise s.child("coverage").error(f"found {coverage!r}", expected="a number in (0, 1]")
    try:
        split = Split(
            weights=weights,
            coverage=coverage,
            unit=s.child("unit").string() if s.has("unit") else "user_id",
            namespace=namespace,
        )
    except ConfigError as exc:
        raise ConfigError(exc.reason, path=f"{s.path}.{exc.path}", expected=exc.expected) from None
    mde, relative = parse_margin(node.value["mde"], path=f"{node.path}.mde")
    exposure = node.value.get("exposure")
    if exposure is not None and not isinstance(exposure, Mapping):
        raise node.child("exposure").error("found a non-mapping", expected="a condition mapping")
    return ExperimentContract(
        name=name,
        environment=node.child("environment").string(),
        flag=node.child("flag").string(),
        hypothesis=node.child("hypothesis").string(),
        arms=arms,
        split=split,
        primary=_metric(node.child("primary"), metrics),
        secondary=tuple(_metric(n, metrics) for n in node.child("secondary").elements())
        if node.has("secondary")
        else (),
        guardrails=tuple(parse_guardrail(g, metrics) for g in node.child("guardrails").elements())
        if node.has("guardrails")
        else (),
        exposure=exposure,
        mde=mde,
        relative=relative,
        alpha=node.child("alpha").number() if node.has("alpha") else 0.05,
        power=node.child("power").number() if node.has("power") else 0.8,
        max_duration=node.child("max_duration").duration(),
        correction=choice(
            Correction, node.value.get("correction", Correction.HOLM), f"{node.path}.correction"
        ),
        description=node.child("description").string() if node.has("description") else "",
        owner=node.child("owner").string() if node.has("owner") else "",
    )
