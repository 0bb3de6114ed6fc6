"""Registration: a contract is accepted only if its sample can reach the MDE in time.

An experiment that cannot detect the effect it is looking for within its maximum duration will
end ``inconclusive`` whatever the truth: refusing it up front saves the traffic and the weeks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rampgate.domain.model import Namespace
from rampgate.errors import ConfigError
from rampgate.stats import (
    Baseline,
    Design,
    ExperimentPlan,
    Guardrail,
    guardrail_sample_size,
    plan_experiment,
)

from .experiment import ExperimentContract
from .metrics import MetricKind
from .plan import GateSettings, GuardrailSpec

__all__ = ["Registration", "check_concurrency", "register"]

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Registration:
    """A contract accepted with its plan: one :class:`ExperimentPlan` per treatment arm."""

    contract: ExperimentContract
    plans: tuple[tuple[str, ExperimentPlan], ...]
    units_per_day: float
    days: float


def _guardrail_check(spec: GuardrailSpec, alpha: float) -> Guardrail | None:
    check = spec.check(alpha=alpha, tuning=GateSettings().tuning)
    return check if isinstance(check, Guardrail) else None


def register(
    contract: ExperimentContract,
    *,
    units_per_day: float,
    baselines: Mapping[str, Baseline],
) -> Registration:
    """Accept ``contract`` if its sample can reach the MDE within ``max_duration``.

    ``units_per_day`` is the traffic that meets the exposure condition (before coverage);
    ``baselines`` gives the control's mean and variance for the primary metric and every
    guardrail with a margin. Each treatment is planned against control on the units the two
    share, as a sequential design (the analysis is always valid), at alpha split over the
    treatments; guardrails at power ``1 - (1 - power)/G`` so the launch rule keeps the power.
    """
    where = f"experiments.{contract.name}"
    if not (math.isfinite(units_per_day) and units_per_day > 0):
        raise ConfigError(
            f"units_per_day is {units_per_day!r}", path=where, expected="traffic > 0 per day"
        )
    primary = baselines.get(contract.primary.name)
    if primary is None:
        raise ConfigError(
            f"no baseline for the primary metric {contract.primary.name!r}",
            path=f"{where}.primary",
            expected="the control's mean and variance, from history",
        )
    if contract.primary.kind is MetricKind.QUANTILE:
        raise ConfigError(
            "there is no planner for a quantile primary metric yet", path=f"{where}.primary"
        )
    checks: list[tuple[int, Guardrail, Baseline]] = []
    for i, spec in enumerate(contract.guardrails):
        check = _guardrail_check(spec, contract.alpha)
        if check is None or spec.metric.kind is MetricKind.QUANTILE:
            continue  # limits and quantiles have no planner: their verdict alone decides
        b = baselines.get(spec.metric.name)
        if b is None:
            raise ConfigError(
                f"no baseline for guardrail {spec.metric.name!r}",
                path=f"{where}.guardrails[{i}]",
                expected="the control's mean and variance, from history",
            )
        checks.append((i, check, b))
    k = len(contract.treatments)
    guardrail_power = 1.0 - (1.0 - contract.power) / max(len(checks), 1)
    entering = units_per_day * contract.split.coverage
    plans = []
    longest = 0.0
    for arm in contract.treatments:
        pair = contract.weight(contract.control) + contract.weight(arm)
        share = contract.weight(arm) / pair
        design = Design(
            alpha=contract.alpha / k, power=contract.power, sequential=True, treatment_share=share
        )
        try:
            plan = plan_experiment(
                primary,
                contract.mde,
                units_per_day=entering * pair,
                relative=contract.relative,
                design=design,
            )
            needs = tuple(
                (g, guardrail_sample_size(g, b, power=guardrail_power, treatment_share=share))
                for i, g, b in checks
            )
        except ValueError as exc:
            raise ConfigError(str(exc), path=f"{where}.mde") from None
        total = max([plan.sample.total, *(s.total for _, s in needs)])
        plan = dataclasses.replace(plan, guardrails=needs, days=total / (entering * pair))
        plans.append((arm, plan))
        longest = max(longest, plan.days)
    allowed = contract.max_duration / _DAY
    if longest > allowed:
        raise ConfigError(
            f"the plan needs {longest:.1f} days at {units_per_day:,.0f} units/day "
            f"(coverage {contract.split.coverage:g}) to detect an MDE of {_mde(contract)}, "
            f"but max_duration allows {allowed:.1f}",
            path=f"{where}.max_duration",
            expected="a longer max_duration, a larger mde, more coverage or fewer arms",
        )
    return Registration(contract, tuple(plans), units_per_day, longest)


def _mde(contract: ExperimentContract) -> str:
    return f"{contract.mde:.2%}" if contract.relative else f"{contract.mde:g}"


def check_concurrency(
    new: ExperimentContract, running: Sequence[ExperimentContract], *, max_per_flag: int = 1
) -> None:
    """Refuse to start ``new`` beside ``running`` experiments on the same flag and environment
    beyond ``max_per_flag``, or without mutual exclusion: concurrent experiments on one flag
    must sit in the same namespace with disjoint ranges, or a unit would be in two at once."""
    same = [r for r in running if r.flag == new.flag and r.environment == new.environment]
    where = f"experiments.{new.name}"
    if len(same) >= max_per_flag:
        raise ConfigError(
            f"{len(same)} experiment(s) already run on flag {new.flag!r} in {new.environment}",
            path=where,
            expected=f"at most {max_per_flag} at once",
        )
    for other in same:
        a, b = new.split.namespace, other.split.namespace
        if not _disjoint(a, b):
            raise ConfigError(
                f"overlaps experiment {other.name!r} on flag {new.flag!r}",
                path=f"{where}.split.namespace",
                expected="the same namespace id with a range disjoint from the other's",
            )


def _disjoint(a: Namespace | None, b: Namespace | None) -> bool:
    if a is None or b is None or a.id != b.id:
        return False
    return a.end <= b.start or b.end <= a.start
