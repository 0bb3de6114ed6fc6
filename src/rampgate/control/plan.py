"""Rollout plans: how a flag moves from its stable variant to a candidate, and what may stop it.

A plan is checked when it is built, so a controller never meets a plan it cannot run: weights
rise strictly and end at 1.0 (reaching 100% *is* the promotion), margins are positive, every
guardrail names a known metric in a direction that makes sense, and ``max_duration`` leaves time
for the steps' own ``min_duration``. Errors name the path, e.g.
``rollouts.support-agent-v4.steps[1].weight``, whether the plan came from YAML
(:func:`parse_rollouts`) or from the API (the constructors).

The canary is a two-variant split, stable first and the candidate last, at coverage 1.0: a step
changes only the weights, so the candidate's bucket range grows leftwards and a unit in the
canary at 5% is still in it at 25%.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rampgate.domain.model import DEFAULT_UNIT
from rampgate.errors import ConfigError
from rampgate.stats import Guardrail, Threshold

from ._reader import Field, choice, parse_margin
from .metrics import DEFAULT_METRICS, Metric

__all__ = [
    "GateSettings",
    "GuardrailSpec",
    "OnInconclusive",
    "RollbackMode",
    "RolloutPlan",
    "Shadow",
    "Step",
    "parse_guardrail",
    "parse_rollout",
    "parse_rollouts",
]


class RollbackMode(enum.StrEnum):
    """``hard``: everyone back to stable now, pins included; ``soft``: pinned sessions finish."""

    HARD = "hard"
    SOFT = "soft"


class OnInconclusive(enum.StrEnum):
    """What happens when ``max_duration`` ends without a decision. There is no ``promote``."""

    HOLD = "hold"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class Shadow:
    """Run the candidate beside stable on a ``sample`` of calls, serving stable's result.

    The phase ends once ``min_pairs`` paired comparisons exist and every guardrail measured on
    them passes.
    """

    sample: float
    min_pairs: int


@dataclass(frozen=True, slots=True)
class Step:
    """One rung of the ramp: the candidate's ``weight`` and what must hold before leaving it.

    ``min_duration`` (seconds), ``min_units`` (per arm) and ``approval`` are exit conditions of
    this step; the last step (weight 1.0) has none, since reaching it is the promotion.
    """

    weight: float
    min_duration: float = 0.0
    min_units: int = 0
    approval: bool = False


@dataclass(frozen=True, slots=True)
class GuardrailSpec:
    """A metric the candidate must not break: a margin against stable, or an absolute limit.

    Exactly one of ``margin`` (absolute, or a fraction of stable's value when ``relative``),
    ``below`` or ``above`` (a limit on the candidate alone, e.g. ``defect_rate`` below 0.02).
    ``tolerance`` (same units as the margin) is a harm small enough to be accepted even when
    established.
    """

    metric: Metric
    margin: float | None = None
    relative: bool = False
    tolerance: float = 0.0
    below: float | None = None
    above: float | None = None

    @property
    def is_threshold(self) -> bool:
        return self.margin is None

    @property
    def limit(self) -> float | None:
        return self.below if self.below is not None else self.above

    def describe(self) -> str:
        """``task_success margin 0.02``, ``escalation margin 10%``, ``defect_rate below 0.02``."""
        name = self.metric.name
        if self.margin is None:
            return f"{name} {'below' if self.below is not None else 'above'} {self.limit:g}"
        margin = f"{self.margin * 100:g}%" if self.relative else f"{self.margin:g}"
        return f"{name} margin {margin}"

    def check(self, *, alpha: float, tuning: float) -> Guardrail | Threshold:
        """The statistical test of this guardrail (see ``rampgate.stats``)."""
        m = self.metric
        if self.margin is None:
            return Threshold(
                self.below if self.below is not None else float(self.above or 0.0),
                higher_is_better=self.above is not None,
                alpha=alpha,
                tuning=tuning,
                quantile=m.quantile,
            )
        return Guardrail(
            self.margin,
            higher_is_better=m.higher_is_better,
            relative=self.relative,
            tolerance=self.tolerance,
            alpha=alpha,
            tuning=tuning,
            quantile=m.quantile,
        )


@dataclass(frozen=True, slots=True)
class GateSettings:
    """The statistics of a plan's gates.

    ``alpha`` bounds the chance that a healthy candidate is rolled back by a guardrail over the
    whole rollout, at every look at once: each phase that tests guardrails (the shadow phase,
    every step before the last) restarts its bounds, so each guardrail's ``alpha/G`` is spent
    over the phases — half at the first step, the rest split equally over the others (see
    ``gates._phase_settings``); ``power`` the chance a step's minimum sample sees a margin-sized
    harm (split across guardrails, see ``docs/statistics.md``, "Several metrics");
    ``srm_threshold`` the always-valid p-value below which the split is declared broken;
    ``tuning`` the normal mixture's ``N*`` for a 50/50 split.
    """

    alpha: float = 0.05
    power: float = 0.8
    srm_threshold: float = 0.001
    tuning: float = 5000.0


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """A progressive plan from ``stable`` to ``candidate`` for one flag in one environment."""

    name: str
    flag: str
    environment: str
    stable: str
    candidate: str
    steps: tuple[Step, ...]
    guardrails: tuple[GuardrailSpec, ...]
    unit: str = DEFAULT_UNIT
    shadow: Shadow | None = None
    requires_eval: str | None = None
    max_duration: float | None = None
    on_inconclusive: OnInconclusive = OnInconclusive.HOLD
    rollback: RollbackMode = RollbackMode.HARD
    gates: GateSettings = field(default_factory=GateSettings)

    def __post_init__(self) -> None:
        where = f"rollouts.{self.name}"
        for key in ("name", "flag", "environment", "stable", "candidate", "unit"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ConfigError(f"{key} must be a non-empty string", path=f"{where}.{key}")
        if self.stable == self.candidate:
            raise ConfigError(
                f"from and to are both {self.stable!r}",
                path=f"{where}.to",
                expected="a candidate variant other than the stable one",
            )
        object.__setattr__(
            self,
            "on_inconclusive",
            choice(OnInconclusive, self.on_inconclusive, f"{where}.on_inconclusive"),
        )
        object.__setattr__(
            self, "rollback", choice(RollbackMode, self.rollback, f"{where}.rollback")
        )
        _check_shadow(self.shadow, f"{where}.shadow")
        _check_steps(self.steps, f"{where}.steps")
        check_guardrails(self.guardrails, f"{where}.guardrails")
        _check_gates(self.gates, where)
        if self.max_duration is not None:
            least = sum(s.min_duration for s in self.steps)
            if not (math.isfinite(self.max_duration) and self.max_duration > 0):
                raise ConfigError(
                    f"max_duration is {self.max_duration!r}",
                    path=f"{where}.max_duration",
                    expected="a duration > 0",
                )
            if self.max_duration < least:
                raise ConfigError(
                    f"max_duration ({self.max_duration:g} s) is shorter than the steps' "
                    f"min_duration together ({least:g} s): the rollout could never finish",
                    path=f"{where}.max_duration",
                    expected=f"at least {least:g} s",
                )

    def weights(self, step: int | None) -> tuple[tuple[str, float], ...]:
        """The split at ``step`` (``None``: before the first step), stable first."""
        w = 0.0 if step is None else self.steps[step].weight
        return ((self.stable, 1.0 - w), (self.candidate, w))

    @property
    def last_step(self) -> int:
        return len(self.steps) - 1


def _check_shadow(shadow: Shadow | None, where: str) -> None:
    if shadow is None:
        return
    if not (math.isfinite(shadow.sample) and 0.0 < shadow.sample <= 1.0):
        raise ConfigError(
            f"sample is {shadow.sample!r}", path=f"{where}.sample", expected="a number in (0, 1]"
        )
    if isinstance(shadow.min_pairs, bool) or not (
        isinstance(shadow.min_pairs, int) and shadow.min_pairs >= 1
    ):
        raise ConfigError(
            f"min_pairs is {shadow.min_pairs!r}",
            path=f"{where}.min_pairs",
            expected="a whole number ≥ 1",
        )


def _check_steps(steps: tuple[Step, ...], where: str) -> None:
    if not steps:
        raise ConfigError("a rollout needs at least one step", path=where)
    previous = 0.0
    for i, step in enumerate(steps):
        here = f"{where}[{i}]"
        w = step.weight
        if isinstance(w, bool) or not (isinstance(w, int | float) and 0.0 < w <= 1.0):
            raise ConfigError(
                f"weight is {w!r}", path=f"{here}.weight", expected="a number in (0, 1]"
            )
        if w <= previous:
            raise ConfigError(
                f"weight {w:g} does not rise above the previous step's {previous:g}",
                path=f"{here}.weight",
                expected="weights that increase step by step",
            )
        previous = w
        if not (math.isfinite(step.min_duration) and step.min_duration >= 0):
            raise ConfigError(
                f"min_duration is {step.min_duration!r}",
                path=f"{here}.min_duration",
                expected="a duration ≥ 0",
            )
        if isinstance(step.min_units, bool) or not (
            isinstance(step.min_units, int) and step.min_units >= 0
        ):
            raise ConfigError(
                f"min_units is {step.min_units!r}",
                path=f"{here}.min_units",
                expected="a whole number ≥ 0",
            )
    last = steps[-1]
    here = f"{where}[{len(steps) - 1}]"
    if last.weight != 1.0:
        raise ConfigError(
            f"the last step's weight is {last.weight:g}",
            path=f"{here}.weight",
            expected="1.0: reaching 100% is the promotion",
        )
    if last.min_duration or last.min_units or last.approval:
        raise ConfigError(
            "the last step (weight 1.0) is the promotion and cannot wait or ask for approval",
            path=here,
            expected="min_duration, min_units and approval on the step before it",
        )


def check_guardrails(
    guardrails: tuple[GuardrailSpec, ...], where: str, *, required: bool = True
) -> None:
    """Exactly one of margin/below/above each, sane values, no repeats (rollouts, experiments)."""
    if required and not guardrails:
        raise ConfigError(
            "a rollout needs at least one guardrail: without one, nothing can stop it",
            path=where,
        )
    seen: set[tuple[str, str]] = set()
    for i, g in enumerate(guardrails):
        here = f"{where}[{i}]"
        given = [k for k in ("margin", "below", "above") if getattr(g, k) is not None]
        if len(given) != 1:
            raise ConfigError(
                f"found {', '.join(given) or 'none of them'}",
                path=here,
                expected="exactly one of margin (against stable), below or above (a limit)",
            )
        kind = given[0]
        if (g.metric.name, kind) in seen:
            raise ConfigError(f"{g.metric.name} {kind} is given twice", path=here)
        seen.add((g.metric.name, kind))
        if g.margin is not None:
            if not (math.isfinite(g.margin) and g.margin > 0):
                raise ConfigError(
                    f"margin is {g.margin!r}", path=f"{here}.margin", expected="a number > 0"
                )
            if not (math.isfinite(g.tolerance) and 0.0 <= g.tolerance < g.margin):
                raise ConfigError(
                    f"tolerance is {g.tolerance!r}",
                    path=f"{here}.tolerance",
                    expected="a number with 0 ≤ tolerance < margin",
                )
            continue
        limit = g.limit
        if limit is None or not math.isfinite(limit):
            raise ConfigError(f"{kind} is {limit!r}", path=f"{here}.{kind}", expected="a number")
        if g.relative or g.tolerance:
            raise ConfigError("a limit is absolute and has no tolerance", path=f"{here}.{kind}")
        # A limit that points against the metric's direction is almost surely a typo.
        if (kind == "above") != g.metric.higher_is_better:
            better = "higher" if g.metric.higher_is_better else "lower"
            raise ConfigError(
                f"{g.metric.name} is better {better}, so a limit on it is "
                f"{'above' if g.metric.higher_is_better else 'below'}",
                path=f"{here}.{kind}",
            )


def _check_gates(gates: GateSettings, where: str) -> None:
    if not 0.0 < gates.alpha < 0.5:
        raise ConfigError(
            f"alpha is {gates.alpha!r}", path=f"{where}.alpha", expected="a number in (0, 0.5)"
        )
    if not 0.5 <= gates.power < 1.0:
        raise ConfigError(
            f"power is {gates.power!r}", path=f"{where}.power", expected="a number in [0.5, 1)"
        )
    if not 0.0 < gates.srm_threshold < 0.5:
        raise ConfigError(
            f"srm_threshold is {gates.srm_threshold!r}",
            path=f"{where}.srm_threshold",
            expected="a number in (0, 0.5)",
        )
    if not (math.isfinite(gates.tuning) and gates.tuning > 0):
        raise ConfigError(f"tuning is {gates.tuning!r}", path=f"{where}.tuning")


_ROLLOUT_KEYS = (
    "flag",
    "environment",
    "from",
    "to",
    "unit",
    "shadow",
    "steps",
    "guardrails",
    "requires_eval",
    "max_duration",
    "on_inconclusive",
    "rollback",
    "alpha",
    "power",
    "srm_threshold",
)
_STEP_KEYS = ("weight", "min_duration", "min_units", "approval")
_GUARDRAIL_KEYS = ("metric", "margin", "tolerance", "below", "above")


def parse_rollouts(
    raw: Mapping[str, Any] | None,
    *,
    metrics: Mapping[str, Metric] = DEFAULT_METRICS,
    path: str = "rollouts",
) -> dict[str, RolloutPlan]:
    """The ``rollouts:`` section of a config: name → plan, metrics resolved by name."""
    if raw is None:
        return {}
    return {
        name: parse_rollout(name, node.value, metrics=metrics, path=node.path)
        for name, node in Field(raw, path).items()
    }


def parse_rollout(
    name: str,
    raw: Any,
    *,
    metrics: Mapping[str, Metric] = DEFAULT_METRICS,
    path: str | None = None,
) -> RolloutPlan:
    """One rollout from its YAML/JSON shape (see ``docs/rollouts.md``)."""
    node = Field(raw, path or f"rollouts.{name}")
    node.mapping(
        allowed=_ROLLOUT_KEYS, required=("flag", "environment", "from", "to", "steps", "guardrails")
    )
    shadow = None
    if node.has("shadow"):
        s = node.child("shadow").mapping(
            allowed=("sample", "min_pairs"), required=("sample", "min_pairs")
        )
        shadow = Shadow(s.child("sample").fraction(), s.child("min_pairs").integer())
    steps = []
    for s in node.child("steps").elements():
        s.mapping(allowed=_STEP_KEYS, required=("weight",))
        steps.append(
            Step(
                weight=s.child("weight").fraction(),
                min_duration=(
                    s.child("min_duration").duration(allow_zero=True)
                    if s.has("min_duration")
                    else 0.0
                ),
                min_units=s.child("min_units").integer() if s.has("min_units") else 0,
                approval=s.child("approval").boolean() if s.has("approval") else False,
            )
        )
    guardrails = [parse_guardrail(g, metrics) for g in node.child("guardrails").elements()]
    defaults = GateSettings()
    gates = GateSettings(
        alpha=node.child("alpha").number() if node.has("alpha") else defaults.alpha,
        power=node.child("power").number() if node.has("power") else defaults.power,
        srm_threshold=(
            node.child("srm_threshold").number()
            if node.has("srm_threshold")
            else defaults.srm_threshold
        ),
    )
    on_inconclusive = node.value.get("on_inconclusive", OnInconclusive.HOLD)
    if on_inconclusive == "promote":
        raise node.child("on_inconclusive").error(
            "an inconclusive rollout is never promoted", expected="hold or rollback"
        )
    return RolloutPlan(
        name=name,
        flag=node.child("flag").string(),
        environment=node.child("environment").string(),
        stable=node.child("from").string(),
        candidate=node.child("to").string(),
        steps=tuple(steps),
        guardrails=tuple(guardrails),
        unit=node.child("unit").string() if node.has("unit") else DEFAULT_UNIT,
        shadow=shadow,
        requires_eval=node.child("requires_eval").string() if node.has("requires_eval") else None,
        max_duration=node.child("max_duration").duration() if node.has("max_duration") else None,
        on_inconclusive=choice(OnInconclusive, on_inconclusive, f"{node.path}.on_inconclusive"),
        rollback=choice(
            RollbackMode, node.value.get("rollback", RollbackMode.HARD), f"{node.path}.rollback"
        ),
        gates=gates,
    )


def parse_guardrail(node: Field, metrics: Mapping[str, Metric]) -> GuardrailSpec:
    """One ``{metric, margin | below | above, tolerance}`` entry (rollouts and experiments)."""
    node.mapping(allowed=_GUARDRAIL_KEYS, required=("metric",))
    name = node.child("metric").string()
    if name not in metrics:
        raise node.child("metric").error(
            f"unknown metric {name!r}",
            expected="a metric defined under metrics: or one of the defaults ("
            + ", ".join(sorted(DEFAULT_METRICS))
            + ")",
        )
    margin = relative = None
    if node.has("margin"):
        margin, relative = parse_margin(node.value["margin"], path=f"{node.path}.margin")
    tolerance = 0.0
    if node.has("tolerance"):
        tolerance, tolerance_relative = parse_margin(
            node.value["tolerance"], path=f"{node.path}.tolerance"
        )
        if margin is not None and tolerance_relative != relative:
            raise node.child("tolerance").error(
                "tolerance and margin must be both absolute or both percentages"
            )
    return GuardrailSpec(
        metric=metrics[name],
        margin=margin,
        relative=bool(relative),
        tolerance=tolerance,
        below=node.child("below").number() if node.has("below") else None,
        above=node.child("above").number() if node.has("above") else None,
    )
