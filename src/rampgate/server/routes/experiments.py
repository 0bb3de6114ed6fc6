"""Experiments: register a contract, amend it before start, start, stop, analyse, checkpoint.

Every change goes through ``apply_change`` (one transaction, a receipt, ``Idempotency-Key``);
the service in :mod:`rampgate.server.experiments` does the work. A registered field that an
amendment would change after start is a ``409`` naming it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from rampgate.control import ExperimentContract, FrozenFieldError
from rampgate.server import experiments as service
from rampgate.server.auth import Principal, require_admin
from rampgate.server.changes import apply_change, required_version
from rampgate.server.experiment_analysis import analyse, record_checkpoint
from rampgate.server.experiment_docs import MAX_UNITS_PER_DAY, Definition, view
from rampgate.server.problems import ApiError
from rampgate.store import db
from rampgate.store.audit import lock_writes
from rampgate.store.environments import get_environment
from rampgate.store.evidence import list_snapshots
from rampgate.store.experiments import ExperimentRecord, get_experiment, list_experiments
from rampgate.store.receipts import Receipt

router = APIRouter(prefix="/api/v1/environments/{environment}/experiments", tags=["experiments"])
Env = Annotated[str, Path(description="environment key, e.g. prod")]
Name = Annotated[str, Path(description="experiment name")]
Admin = Annotated[Principal, Depends(require_admin)]
# A key short enough that the flag rule ``experiment:{name}`` is a key too (128 characters).
ExperimentName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,116}$")]
UnitsPerDay = Annotated[float, Field(gt=0, le=MAX_UNITS_PER_DAY, allow_inf_nan=False)]
CHANGE = {"description": "the experiment and the receipts of the change"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentIn(_Strict):
    name: ExperimentName = Field(
        description="the experiment's name, unique in the environment (at most 117 characters)"
    )
    contract: dict[str, Any] = Field(
        description="the contract as under `experiments.NAME` in rampgate.yaml "
        "(docs/experiments.md); `environment` defaults to the path's"
    )
    metrics: dict[str, dict[str, Any]] | None = Field(
        None, description="metric definitions beyond the default agent pack, as under `metrics:`"
    )
    units_per_day: UnitsPerDay | None = Field(
        None, description="units entering per day before coverage (or `contract.units_per_day`)"
    )
    baselines: dict[str, dict[str, float]] | None = Field(
        None,
        description="metric → the control's {rate} or {mean, sd}, for the primary metric and "
        "every guardrail with a margin (or `contract.baselines`)",
    )


class ExperimentPatch(_Strict):
    contract: dict[str, Any] | None = Field(
        None, description="a merge patch of the contract: given keys replace, null removes"
    )
    metrics: dict[str, dict[str, Any]] | None = Field(None, description="replaces the metrics")
    units_per_day: UnitsPerDay | None = None
    baselines: dict[str, dict[str, float]] | None = Field(None, description="replaces them")


class StopIn(_Strict):
    reason: str = Field("", max_length=2000, description="why, recorded in the receipt")
    serve_winner: bool = Field(
        False, description="serve the winner of the latest checkpoint, which must be `promote`"
    )


def _now(request: Request) -> float:
    # The controller's clock, so a simulated one (the demo) dates experiments like rollouts.
    controller = getattr(request.app.state, "controller", None)
    return controller.clock() if controller is not None else time.time()


def _answer(saved: ExperimentRecord, receipts: list[Receipt], **extra: Any) -> dict[str, Any]:
    return {
        "experiment": view(saved),
        "receipt": receipts[-1].to_json(),
        "receipts": [r.to_json() for r in receipts],
        **extra,
    }


Change = Callable[[Connection, str | None], tuple[int, dict[str, Any]]]


def _apply(request: Request, body: Any, environment: str, change: Change) -> JSONResponse:
    """``apply_change``, then wake the SDK streams when the flag changed (the receipt of a flag
    change carries the ruleset version), and the experiment's version as the ETag."""
    response = apply_change(request, body, change)
    payload = json.loads(bytes(response.body))
    if response.status_code < 300 and "experiment" in payload:
        response.headers["ETag"] = f'"{payload["experiment"]["version"]}"'
        for receipt in payload.get("receipts", []):
            version = receipt["detail"].get("ruleset_version")
            if version is not None:
                request.app.state.hub.published(environment, int(version))
    return response


def _frozen(exc: FrozenFieldError) -> ApiError:
    contract_fields = {f.name for f in dataclasses.fields(ExperimentContract)}
    field = f"contract.{exc.field}" if exc.field in contract_fields else exc.field
    return ApiError(
        409,
        "Registered field frozen",
        str(exc),
        field=field,
        fix=f"leave {field} as registered; to test another, stop this experiment and "
        "register a new one",
    )


@router.get("", summary="List the environment's experiments")
def list_all(environment: Env, request: Request, _: Admin) -> list[dict[str, Any]]:
    with db.read(request.app.state.engine) as conn:
        get_environment(conn, environment)
        return [view(r) for r in list_experiments(conn, environment)]


@router.post(
    "",
    status_code=201,
    summary="Register an experiment (refused if its sample cannot reach the MDE in time)",
    responses={
        201: CHANGE,
        409: {"description": "the name is taken, or the flag is in a rollout"},
    },
)
def create(environment: Env, body: ExperimentIn, request: Request, who: Admin) -> JSONResponse:
    definition = Definition.read(body.contract, body.metrics, body.units_per_day, body.baselines)

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        lock_writes(conn)
        saved, receipt = service.create(
            conn, environment, body.name, definition, actor=who.actor, idempotency_key=idem
        )
        return 201, _answer(saved, [receipt])

    return _apply(request, body.model_dump(), environment, change)


@router.get("/{name}", summary="Read an experiment (its ETag is the version)")
def read(environment: Env, name: Name, request: Request, _: Admin) -> JSONResponse:
    with db.read(request.app.state.engine) as conn:
        record = get_experiment(conn, environment, name)
    return JSONResponse(view(record), headers={"ETag": f'"{record.version}"'})


@router.patch(
    "/{name}",
    summary="Amend an experiment (If-Match); after start only description and owner change",
    responses={
        200: CHANGE,
        409: {"description": "stale If-Match, or a registered field of a started experiment"},
        428: {"description": "no If-Match"},
    },
)
def patch(
    environment: Env, name: Name, body: ExperimentPatch, request: Request, who: Admin
) -> JSONResponse:
    expected = required_version(request)

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        lock_writes(conn)
        record = get_experiment(conn, environment, name)
        old = Definition.from_document(record.contract)
        contract = {**old.contract}
        for key, value in (body.contract or {}).items():
            if value is None:
                contract.pop(key, None)
            else:
                contract[key] = value
        # The planning inputs stay as they were unless the body or the patched contract
        # gives new ones.
        units, baselines = body.units_per_day, body.baselines
        if units is None and "units_per_day" not in contract:
            units = old.units_per_day
        if baselines is None and "baselines" not in contract:
            baselines = old.baselines
        metrics = body.metrics if body.metrics is not None else old.metrics
        new = Definition.read(contract, metrics, units, baselines)
        try:
            saved, receipt = service.amend_definition(
                conn,
                record,
                new,
                expected_version=expected,
                actor=who.actor,
                idempotency_key=idem,
            )
        except FrozenFieldError as exc:
            raise _frozen(exc) from None
        return 200, _answer(saved, [receipt])

    return _apply(request, {**body.model_dump(), "if_match": expected}, environment, change)


@router.post(
    "/{name}/start",
    summary="Start: the split goes live on the flag as rule experiment:{name}; fields freeze",
    responses={200: CHANGE, 409: {"description": "not registered, or it would overlap"}},
)
def start(environment: Env, name: Name, request: Request, who: Admin) -> JSONResponse:
    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        lock_writes(conn)
        record = get_experiment(conn, environment, name)
        saved, receipts = service.start(
            conn, record, actor=who.actor, now=_now(request), idempotency_key=idem
        )
        return 200, _answer(saved, receipts)

    return _apply(request, {"start": name}, environment, change)


@router.post(
    "/{name}/stop",
    summary="Stop: the rule leaves the flag (or serves the promoted winner)",
    responses={200: CHANGE, 409: {"description": "not running, or no winner to serve"}},
)
def stop(
    environment: Env, name: Name, request: Request, who: Admin, body: StopIn | None = None
) -> JSONResponse:
    body = body or StopIn(reason="", serve_winner=False)

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        lock_writes(conn)
        record = get_experiment(conn, environment, name)
        saved, receipts = service.stop(
            conn,
            record,
            actor=who.actor,
            now=_now(request),
            reason=body.reason,
            serve_winner=body.serve_winner,
            idempotency_key=idem,
        )
        return 200, _answer(saved, receipts)

    return _apply(request, body.model_dump(), environment, change)


@router.get(
    "/{name}/analysis",
    summary="The decision at this moment (not stored): per metric and arm, with its rationale",
    responses={409: {"description": "not started"}},
)
def analysis(environment: Env, name: Name, request: Request, _: Admin) -> dict[str, Any]:
    with db.read(request.app.state.engine) as conn:
        record = get_experiment(conn, environment, name)
        return analyse(conn, record, _now(request)).document()


@router.post(
    "/{name}/checkpoint",
    status_code=201,
    summary="Record a checkpoint: a snapshot of the analysis, acted on (a stop decision stops)",
    responses={201: CHANGE, 409: {"description": "not running"}},
)
def post_checkpoint(environment: Env, name: Name, request: Request, who: Admin) -> JSONResponse:
    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        lock_writes(conn)
        record = get_experiment(conn, environment, name)
        now = _now(request)
        saved, snapshot, receipts = record_checkpoint(
            conn,
            record,
            analyse(conn, record, now),
            actor=who.actor,
            now=now,
            idempotency_key=idem,
        )
        return 201, _answer(saved, receipts, checkpoint=snapshot)

    return _apply(request, {"checkpoint": name}, environment, change)


@router.get("/{name}/checkpoints", summary="The experiment's checkpoints, newest first")
def checkpoints(environment: Env, name: Name, request: Request, _: Admin) -> list[dict[str, Any]]:
    with db.read(request.app.state.engine) as conn:
        record = get_experiment(conn, environment, name)
        mine = f"{record.environment}/{record.name}/checkpoint/"
        return [
            s.document
            for s in list_snapshots(conn, record.name, limit=1000)
            if s.id.startswith(mine)
        ]
