"""Experiments ⇄ the documents the store keeps and the API returns.

An experiment is stored as ``{"contract": <the YAML shape>, "metrics": …, "units_per_day": …,
"baselines": …}`` (a :class:`Definition`): the contract is parsed again — and so checked again —
by the code that read it the first time, and ``register`` plans it again from the same traffic
and baselines. Its state document holds the registered plan, when it started and stopped, the
flag version its rule was written at, and the latest checkpoint.

The control core names fields ``experiments.NAME.field``; the API's are ``contract.field``, and
the planning inputs ``units_per_day`` and ``baselines.METRIC``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rampgate.control import (
    Experiment,
    ExperimentContract,
    MetricKind,
    Registration,
    parse_experiment,
    parse_metrics,
    register,
)
from rampgate.errors import ConfigError
from rampgate.stats import Baseline
from rampgate.store.experiments import ExperimentRecord

__all__ = [
    "MAX_UNITS_PER_DAY",
    "Definition",
    "contract_of",
    "experiment_of",
    "in_contract",
    "planned",
    "rule_id",
    "view",
]

MAX_UNITS_PER_DAY = 1e12
UNITS = ("user_id", "session_id")  # the unit columns the analysis SQL can group by
_DAY = 86400.0


def rule_id(name: str) -> str:
    return f"experiment:{name}"


@contextmanager
def in_contract(name: str) -> Iterator[None]:
    """Errors of the control core say ``experiments.NAME.field``; the API's field is
    ``contract.field``."""
    try:
        yield
    except ConfigError as exc:
        prefix = f"experiments.{name}"
        if exc.path == prefix or exc.path.startswith((prefix + ".", prefix + "[")):
            path = "contract" + exc.path[len(prefix) :]
            raise ConfigError(exc.reason, path=path, expected=exc.expected) from None
        raise


# -- the definition: what a request gives and the store keeps ------------------------------------


@dataclass(frozen=True, slots=True)
class Definition:
    """The contract in its YAML shape, custom metric definitions, and the planning inputs."""

    contract: dict[str, Any]
    metrics: dict[str, Any] | None
    units_per_day: float
    baselines: dict[str, dict[str, float]]

    @classmethod
    def read(
        cls,
        contract: Mapping[str, Any],
        metrics: Mapping[str, Any] | None,
        units_per_day: float | None,
        baselines: Mapping[str, Any] | None,
    ) -> Definition:
        """From a request: ``units_per_day`` and ``baselines`` may sit in the contract too
        (as keys of the experiment in ``rampgate.yaml``); the body's win."""
        raw = dict(contract)
        inner_units = raw.pop("units_per_day", None)
        if inner_units is not None or units_per_day is None:  # checked even when the body's wins
            inner_units = _units(inner_units, "contract.units_per_day")
        inner_baselines = _baselines(raw.pop("baselines", None), "contract.baselines")
        return cls(
            raw,
            dict(metrics) if metrics is not None else None,
            units_per_day if units_per_day is not None else inner_units,
            _baselines(baselines, "baselines") if baselines is not None else inner_baselines,
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Definition:
        return cls(
            dict(document["contract"]),
            document.get("metrics"),
            float(document["units_per_day"]),
            dict(document.get("baselines") or {}),
        )

    def document(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def parse(self, name: str, environment: str) -> ExperimentContract:
        raw = {**self.contract}
        raw.setdefault("environment", environment)
        if raw["environment"] != environment:
            raise ConfigError(
                f"the contract names environment {raw['environment']!r}, the path {environment!r}",
                path="contract.environment",
                expected="leave it out, or the path's environment",
            )
        metrics = parse_metrics(self.metrics, path="metrics")
        with in_contract(name):
            contract = parse_experiment(name, raw, metrics=metrics, path="contract")
        if contract.unit not in UNITS:
            raise ConfigError(
                f"unit {contract.unit!r} cannot be analysed by the server",
                path="contract.split.unit",
                expected="user_id or session_id",
            )
        return contract

    def register(self, contract: ExperimentContract) -> Registration:
        """``control.register`` with this definition's traffic and baselines."""
        needed = [] if contract.primary.kind is MetricKind.QUANTILE else [contract.primary.name]
        needed += [
            g.metric.name
            for g in contract.guardrails
            if not g.is_threshold and g.metric.kind is not MetricKind.QUANTILE
        ]
        baselines: dict[str, Baseline] = {}
        for metric in needed:
            given = self.baselines.get(metric)
            if given is None:
                raise ConfigError(
                    f"no baseline for {metric!r}: the plan needs the control's value",
                    path=f"baselines.{metric}",
                    expected="{rate: 0.3} for a proportion, or {mean: 800, sd: 300}",
                )
            baselines[metric] = _baseline(given, f"baselines.{metric}")
        with in_contract(contract.name):
            return register(contract, units_per_day=self.units_per_day, baselines=baselines)


def _units(value: Any, path: str) -> float:
    if value is None:
        raise ConfigError(
            "the plan needs the traffic: units entering per day (before coverage)",
            path="units_per_day",
            expected="units_per_day in the body, or in the contract",
        )
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        # float() of an integer beyond 1e308 raises; clamped, it is refused below.
        number = float(max(min(value, 1e300), -1e300))
    if not 0 < number <= MAX_UNITS_PER_DAY:
        raise ConfigError(
            f"found {value!r}",
            path=path,
            expected=f"a number of units in (0, {MAX_UNITS_PER_DAY:g}]",
        )
    return number


def _baselines(raw: Any, path: str) -> dict[str, dict[str, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "found a non-mapping", path=path, expected="metric → {rate} or {mean, sd}"
        )
    out = {}
    for metric, given in raw.items():
        _baseline(given, f"{path}.{metric}")
        out[str(metric)] = {str(k): float(v) for k, v in given.items()}
    return out


def _baseline(given: Any, path: str) -> Baseline:
    expected = "{rate: p} with 0 < p < 1, or {mean: m, sd: s} with s > 0"
    numbers = isinstance(given, Mapping) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in given.values()
    )
    if not numbers or set(given) not in ({"rate"}, {"mean", "sd"}):
        raise ConfigError(f"found {given!r}", path=path, expected=expected)
    try:
        if "rate" in given:
            return Baseline.rate(float(given["rate"]))
        return Baseline(float(given["mean"]), float(given["sd"]) ** 2)
    except (ValueError, OverflowError) as exc:
        raise ConfigError(str(exc), path=path, expected=expected) from None


# -- reading records -------------------------------------------------------------------------


def contract_of(record: ExperimentRecord) -> ExperimentContract:
    return Definition.from_document(record.contract).parse(record.name, record.environment)


def experiment_of(record: ExperimentRecord) -> Experiment:
    state = record.state
    return Experiment(
        f"{record.environment}/{record.name}",
        contract_of(record),
        started_at=state.get("started_at"),
        stopped_at=state.get("stopped_at"),
    )


def planned(registration: Registration) -> dict[str, Any]:
    """The registered plan: days needed, and per treatment the units per arm."""
    c = registration.contract
    return {
        "days": registration.days,
        "max_days": c.max_duration / _DAY,
        "units_per_day": registration.units_per_day,
        "arms": [
            {
                "arm": arm,
                "control": plan.sample.control,
                "treatment": plan.sample.treatment,
                "days": plan.days,
            }
            for arm, plan in registration.plans
        ],
    }


def view(record: ExperimentRecord) -> dict[str, Any]:
    """An experiment as the API returns it."""
    state = record.state
    return {
        "name": record.name,
        "environment": record.environment,
        "flag": record.flag,
        "status": record.status,
        "version": record.version,
        **record.contract,
        "plan": state.get("plan"),
        "rule_id": rule_id(record.name),
        "started_at": state.get("started_at"),
        "stopped_at": state.get("stopped_at"),
        "flag_version": state.get("flag_version"),
        "checkpoints": state.get("checkpoints", 0),
        "last_checkpoint": state.get("last_checkpoint"),
        "stopped": state.get("stopped"),
        "created_by": record.created_by,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
