"""Experiments as contracts, wired to the store: register, amend, start and stop.

``rampgate.control`` decides — ``parse_experiment``, ``register`` (the sample must reach the MDE
within ``max_duration``), ``check_concurrency``, ``amend`` (registered fields are frozen once
started); this module reads and writes the store around those decisions, in the caller's write
transaction, so a change, its flag edit, its receipts and audit rows commit together.

Starting gives the flag one rule, ``experiment:{name}``: the contract's exposure condition and
split, weighted by variant, seeded with the experiment's name so each experiment randomises its
units afresh. It goes before the first rule that matches everyone, so targeted rules above it
keep precedence. Stopping removes it — or, when the latest checkpoint decided ``promote`` and
the operator asks for it, makes it serve the winner to everyone the exposure condition admits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from rampgate.config import flag_from_document
from rampgate.config.flags import require_variant
from rampgate.control import ExperimentContract, FrozenFieldError, amend, check_concurrency
from rampgate.domain.model import Rule, Split
from rampgate.errors import ConfigError
from rampgate.store.environments import get_environment
from rampgate.store.errors import NotFound, VersionConflict
from rampgate.store.experiments import (
    ExperimentRecord,
    create_experiment,
    list_experiments,
    save_experiment,
)
from rampgate.store.flag_changes import update_flag
from rampgate.store.flags import current_flag, flag_resource
from rampgate.store.receipts import Receipt
from rampgate.store.rollouts import list_rollouts

from .experiment_docs import (
    Definition,
    contract_of,
    experiment_of,
    in_contract,
    planned,
    rule_id,
)
from .perform import before_catch_all
from .problems import ApiError

__all__ = [
    "MAX_CONCURRENT_PER_FLAG",
    "REGISTERED",
    "RUNNING",
    "STOPPED",
    "amend_definition",
    "check_flag",
    "check_running",
    "create",
    "set_rule",
    "start",
    "stop",
]

REGISTERED, RUNNING, STOPPED = "registered", "running", "stopped"
MAX_CONCURRENT_PER_FLAG = 3
"""Running experiments one flag may hold at once (they must also sit in disjoint namespaces)."""


# -- checks against the rest of the store ------------------------------------------------------


def check_flag(conn: Connection, contract: ExperimentContract) -> None:
    """The flag exists and each arm serves a distinct variant of it."""
    flag = current_flag(conn, contract.environment, contract.flag)
    if flag is None:
        raise ConfigError(
            f"flag {contract.flag!r} does not exist in {contract.environment}",
            path="contract.flag",
            expected="a flag of this environment (create it first)",
        )
    variants = flag.document.get("variants", {})
    for arm, variant in contract.arms:
        require_variant(contract.flag, variants, variant, path=f"contract.arms.{arm}")
    served = [v for _, v in contract.arms]
    if len(set(served)) != len(served):
        raise ConfigError(
            f"arms serve {served}: two arms with one variant cannot be told apart",
            path="contract.arms",
            expected="a distinct variant per arm",
        )


def check_running(conn: Connection, contract: ExperimentContract) -> None:
    """Refuse to run beside too many experiments on the flag, or overlapping one, or beside an
    active rollout (whose split would take the same traffic)."""
    running = [
        contract_of(r)
        for r in list_experiments(conn, contract.environment, flag=contract.flag)
        if r.status == RUNNING and r.name != contract.name
    ]
    with in_contract(contract.name):
        check_concurrency(contract, running, max_per_flag=MAX_CONCURRENT_PER_FLAG)
    for rollout in list_rollouts(conn, contract.environment, active_only=True):
        if rollout.flag == contract.flag:
            raise ApiError(
                409,
                "Flag is in a rollout",
                f"rollout {rollout.id!r} is moving flag {contract.flag!r}",
                field="contract.flag",
                fix="wait for the rollout to end, or experiment on another flag",
            )


# -- changes ---------------------------------------------------------------------------------


def _rule(contract: ExperimentContract) -> Rule:
    variants = dict(contract.arms)
    total = sum(contract.split.weights.values())
    split = Split(
        weights={variants[arm]: contract.split.weights[arm] / total for arm, _ in contract.arms},
        coverage=contract.split.coverage,
        unit=contract.unit,
        namespace=contract.split.namespace,
        seed=contract.name,
    )
    return Rule(id=rule_id(contract.name), condition=contract.exposure, split=split)


def set_rule(
    conn: Connection,
    contract: ExperimentContract,
    rule: Rule | None,
    *,
    actor: str,
    idempotency_key: str | None,
    detail: Mapping[str, Any],
) -> Receipt | None:
    """Put ``rule`` in the experiment's place in its flag (``None``: take it out).

    ``None`` when there was nothing to do (the flag is gone, or the rule already out).
    """
    current = current_flag(conn, contract.environment, contract.flag)
    if current is None:
        return None
    flag = flag_from_document(contract.flag, current.document)
    rules = list(flag.rules)
    at = next((i for i, r in enumerate(rules) if r.id == rule_id(contract.name)), None)
    if at is not None:
        del rules[at]
    elif rule is None:
        return None
    if rule is not None:
        if at is None:
            at = before_catch_all(rules)
        rules.insert(at, rule)
    return update_flag(
        conn,
        contract.environment,
        dataclasses.replace(flag, rules=tuple(rules)),
        expected_version=current.version,
        actor=actor,
        idempotency_key=idempotency_key,
        detail={**detail, "experiment": contract.name, "rule_id": rule_id(contract.name)},
    )


def _not(record: ExperimentRecord, status: str, fix: str) -> ApiError:
    return ApiError(
        409,
        f"Experiment is {record.status}",
        f"{record.resource} is {record.status}, not {status}",
        field="name",
        fix=fix,
        experiment_status=record.status,
    )


def create(
    conn: Connection,
    environment: str,
    name: str,
    definition: Definition,
    *,
    actor: str,
    idempotency_key: str | None,
) -> tuple[ExperimentRecord, Receipt]:
    """Register an experiment: parsed, planned (refused if it cannot reach its MDE in time) and
    checked against the flag and the experiments running on it."""
    get_environment(conn, environment)  # an unknown environment is a 404, not a missing flag
    contract = definition.parse(name, environment)
    check_flag(conn, contract)
    plan = planned(definition.register(contract))
    check_running(conn, contract)
    return create_experiment(
        conn,
        environment,
        name,
        flag=contract.flag,
        contract=definition.document(),
        state={"plan": plan, "checkpoints": 0},
        status=REGISTERED,
        actor=actor,
        idempotency_key=idempotency_key,
    )


def start(
    conn: Connection,
    record: ExperimentRecord,
    *,
    actor: str,
    now: float,
    idempotency_key: str | None,
) -> tuple[ExperimentRecord, list[Receipt]]:
    """Start a registered experiment: its split goes live on the flag, its fields freeze."""
    if record.status != REGISTERED:
        raise _not(record, REGISTERED, "an experiment runs once: register a new one")
    contract = contract_of(record)
    check_flag(conn, contract)
    check_running(conn, contract)
    flag_receipt = set_rule(
        conn, contract, _rule(contract), actor=actor, idempotency_key=idempotency_key, detail={}
    )
    if flag_receipt is None:  # check_flag saw it: only a caller without the write lock gets here
        raise NotFound(flag_resource(contract.environment, contract.flag))
    state = {**record.state, "started_at": now, "flag_version": flag_receipt.after_version}
    saved, receipt = save_experiment(
        conn,
        record,
        contract=record.contract,
        state=state,
        status=RUNNING,
        action="experiment.start",
        actor=actor,
        idempotency_key=idempotency_key,
        detail=_flag_detail(flag_receipt),
    )
    return saved, [flag_receipt, receipt]


def _flag_detail(receipt: Receipt | None) -> dict[str, Any]:
    if receipt is None:
        return {}
    return {
        "flag_change_id": receipt.change_id,
        "flag_version": receipt.after_version,
        "ruleset_version": receipt.detail.get("ruleset_version"),
    }


def stop(
    conn: Connection,
    record: ExperimentRecord,
    *,
    actor: str,
    now: float,
    reason: str,
    serve_winner: bool = False,
    idempotency_key: str | None,
    action: str = "experiment.stop",
    detail: Mapping[str, Any] | None = None,
) -> tuple[ExperimentRecord, list[Receipt]]:
    """Stop a running experiment: its rule leaves the flag, or serves the promoted winner."""
    if record.status != RUNNING:
        raise _not(record, RUNNING, "only a running experiment stops")
    contract = contract_of(record)
    served = None
    rule = None
    if serve_winner:
        last = record.state.get("last_checkpoint") or {}
        if last.get("decision") != "promote" or not last.get("winner"):
            raise ApiError(
                409,
                "No winner to serve",
                f"the latest checkpoint decided {last.get('decision')!r}, not 'promote'",
                field="serve_winner",
                fix="stop without serve_winner, or record a checkpoint that decides promote",
            )
        served = dict(contract.arms)[last["winner"]]
        rule = Rule(id=rule_id(contract.name), condition=contract.exposure, serve=served)
    flag_receipt = set_rule(
        conn, contract, rule, actor=actor, idempotency_key=idempotency_key, detail={}
    )
    stopped = {"at": now, "by": actor, "reason": reason, "served": served}
    state = {**record.state, "stopped_at": now, "stopped": stopped}
    saved, receipt = save_experiment(
        conn,
        record,
        contract=record.contract,
        state=state,
        status=STOPPED,
        action=action,
        actor=actor,
        idempotency_key=idempotency_key,
        detail={**(detail or {}), **_flag_detail(flag_receipt), "served": served},
    )
    return saved, [r for r in (flag_receipt, receipt) if r is not None]


def amend_definition(
    conn: Connection,
    record: ExperimentRecord,
    new: Definition,
    *,
    expected_version: int,
    actor: str,
    idempotency_key: str | None,
) -> tuple[ExperimentRecord, Receipt]:
    """Change the definition: anything before start; after start only unregistered fields
    (``FrozenFieldError`` names the first registered field that would change)."""
    if record.version != expected_version:
        raise VersionConflict(record.resource, expected=expected_version, current=record.version)
    old_definition = Definition.from_document(record.contract)
    old = old_definition.parse(record.name, record.environment)
    contract = new.parse(record.name, record.environment)
    changes = {
        f.name: getattr(contract, f.name)
        for f in dataclasses.fields(ExperimentContract)
        if getattr(contract, f.name) != getattr(old, f.name)
    }
    experiment = experiment_of(record)
    amend(experiment, changes)
    state = dict(record.state)
    if experiment.started:
        for key in ("units_per_day", "baselines"):
            if getattr(new, key) != getattr(old_definition, key):
                raise FrozenFieldError(record.name, key)
    else:
        check_flag(conn, contract)
        state["plan"] = planned(new.register(contract))
        check_running(conn, contract)
    return save_experiment(
        conn,
        record,
        contract=new.document(),
        state=state,
        status=record.status,
        action="experiment.amend",
        actor=actor,
        idempotency_key=idempotency_key,
        detail={"changed": sorted(changes)},
    )
