"""Rollouts: create (a new run), status, snapshots, operator commands, eval results, env kill.

Operator commands are queued and applied by the controller at its next pass, which they wake at
once; the answer is ``202`` with the receipt of the accepted command. The controller's own
receipt — with the flag change and the snapshot — follows in the rollout's history.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from rampgate.config.flags import require_variant
from rampgate.control import Command, RolloutState, Status, parse_metrics, parse_rollout
from rampgate.errors import ConfigError
from rampgate.server.auth import Principal, require_admin
from rampgate.server.changes import apply_change
from rampgate.server.control_docs import plan_from_record, state_to_document
from rampgate.server.models import CommandIn, EvalIn, KillIn, RolloutIn
from rampgate.server.problems import ApiError
from rampgate.server.rollout_view import rollout_view
from rampgate.store import db
from rampgate.store.environments import get_environment
from rampgate.store.errors import AlreadyExists
from rampgate.store.evidence import get_snapshot, list_snapshots, record_eval
from rampgate.store.experiments import list_experiments
from rampgate.store.flag_changes import kill_flag, unkill_flag
from rampgate.store.flags import current_flag, get_flag, list_flags
from rampgate.store.rollouts import (
    RolloutRecord,
    add_command,
    create_rollout,
    get_rollout,
    list_rollouts,
)

router = APIRouter(prefix="/api/v1", tags=["rollouts"])
Env = Annotated[str, Path(description="environment key, e.g. prod")]
Name = Annotated[str, Path(description="rollout name")]
Admin = Annotated[Principal, Depends(require_admin)]
ACCEPTED = {"description": "the command's receipt; the controller applies it at once"}
RECEIPT = {"description": "the change's receipt"}


def _now(request: Request) -> float:
    controller = getattr(request.app.state, "controller", None)
    return controller.clock() if controller is not None else time.time()


def _nudge(request: Request) -> None:
    controller = getattr(request.app.state, "controller", None)
    if controller is not None:
        controller.nudge()


@router.get("/environments/{environment}/rollouts", summary="List rollouts (latest run of each)")
def list_all(environment: Env, request: Request, _: Admin) -> list[dict[str, Any]]:
    now = _now(request)
    with db.read(request.app.state.engine) as conn:
        records = list_rollouts(conn, environment)
        latest: dict[str, RolloutRecord] = {}
        for r in records:
            if r.name not in latest or r.run > latest[r.name].run:
                latest[r.name] = r
        return [rollout_view(conn, r, now) for r in latest.values()]


@router.post(
    "/environments/{environment}/rollouts",
    status_code=201,
    summary="Start a rollout (a new run of the plan)",
    responses={201: RECEIPT, 409: {"description": "a rollout is already active on the flag"}},
)
def create(environment: Env, body: RolloutIn, request: Request, who: Admin) -> JSONResponse:
    raw = {**body.plan}
    raw.setdefault("environment", environment)
    if raw["environment"] != environment:
        raise ApiError(
            422,
            "Invalid rollout",
            f"plan.environment is {raw['environment']!r} but the path names {environment!r}",
            field="plan.environment",
            fix="leave it out or make it the path's environment",
        )
    metrics = parse_metrics(body.metrics, path="metrics")
    try:
        plan = parse_rollout(body.name, raw, metrics=metrics, path="plan")
    except ConfigError as exc:
        raise _in_body(exc, body.name) from None
    document = {"plan": raw, "metrics": body.metrics}

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        get_environment(conn, environment)
        flag = current_flag(conn, environment, plan.flag)
        if flag is None:
            raise ConfigError(
                f"there is no flag {plan.flag!r} in {environment}",
                path="plan.flag",
                expected="an existing flag: create it first (PUT …/flags/{key}, rampgate apply)",
            )
        variants = flag.document.get("variants", {})
        require_variant(plan.flag, variants, plan.stable, path="plan.from")
        require_variant(plan.flag, variants, plan.candidate, path="plan.to")
        running = [
            e.name
            for e in list_experiments(conn, environment, flag=plan.flag)
            if e.status == "running"
        ]
        if running:
            raise ApiError(
                409,
                "Experiment running on the flag",
                f"experiment {running[0]!r} is running on {plan.flag!r}; a rollout would move "
                "the same users' variants under it",
                field="plan.flag",
                fix=f"stop the experiment first (POST …/experiments/{running[0]}/stop)",
            )
        try:
            record, receipt = create_rollout(
                conn,
                environment,
                body.name,
                flag=plan.flag,
                plan=document,
                initial_state=lambda rid: state_to_document(RolloutState(rid)),
                status=str(Status.PENDING),
                actor=who.actor,
                idempotency_key=idem,
            )
        except AlreadyExists as exc:
            active = exc.resource.rsplit("/", 1)[-1]
            raise ApiError(
                409,
                "Rollout already active",
                f"rollout {active!r} is still active in {environment}, and one flag takes one "
                f"rollout at a time (it would undo the other's weights)",
                field="name" if active == body.name else "plan.flag",
                fix=f"wait for {active!r} to end, or end it: POST …/rollouts/{active}/rollback",
                active=active,
            ) from None
        return 201, {"rollout": record.id, "receipt": receipt.to_json()}

    response = apply_change(request, body.model_dump(), change)
    _nudge(request)
    return response


def _in_body(exc: ConfigError, name: str) -> ConfigError:
    """The plan's own checks name paths from the config file (``rollouts.NAME…``); in this
    request the plan is the body's ``plan``, so say that instead."""
    root = f"rollouts.{name}"
    if exc.path == root or exc.path.startswith((root + ".", root + "[")):
        return ConfigError(exc.reason, path="plan" + exc.path[len(root) :], expected=exc.expected)
    return exc


@router.get("/environments/{environment}/rollouts/{name}", summary="A rollout's live status")
def status(environment: Env, name: Name, request: Request, _: Admin) -> dict[str, Any]:
    with db.read(request.app.state.engine) as conn:
        return rollout_view(conn, get_rollout(conn, environment, name), _now(request))


@router.get(
    "/environments/{environment}/rollouts/{name}/snapshots",
    summary="The evidence of each decision of the latest run, newest first",
)
def snapshots(environment: Env, name: Name, request: Request, _: Admin) -> list[dict[str, Any]]:
    with db.read(request.app.state.engine) as conn:
        record = get_rollout(conn, environment, name)
        return [s.document for s in list_snapshots(conn, record.id, limit=1000)]


@router.get("/snapshots/{snapshot_id:path}", summary="One immutable snapshot")
def snapshot(snapshot_id: str, request: Request, _: Admin) -> dict[str, Any]:
    with db.read(request.app.state.engine) as conn:
        return get_snapshot(conn, snapshot_id).document


Kind = Literal["pause", "resume", "approve", "promote", "rollback"]


@router.post(
    "/environments/{environment}/rollouts/{name}/{kind}",
    status_code=202,
    summary="Operator command: pause, resume, approve, promote (needs a reason) or rollback",
    responses={202: ACCEPTED, 409: {"description": "the rollout has ended"}},
)
def command(
    environment: Env,
    name: Name,
    kind: Kind,
    request: Request,
    who: Admin,
    body: CommandIn | None = None,
) -> JSONResponse:
    body = body or CommandIn(reason="", step=None, mode=None)
    try:
        Command(kind, who.actor, reason=body.reason, step=body.step, mode=body.mode)  # type: ignore[arg-type]
    except ValueError as exc:
        field = _field_of(kind, body)
        raise ApiError(
            422, "Invalid command", str(exc), field=field, fix=_FIXES.get(field, "")
        ) from None

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        record = get_rollout(conn, environment, name)
        if not record.active:
            raise ApiError(
                409,
                "Rollout has ended",
                f"{record.id} is {record.status}; nothing more can be done to it",
                field="name",
                fix="start a new run with POST …/rollouts",
            )
        steps = len(plan_from_record(record).steps)
        if body.step is not None and body.step >= steps:
            raise ApiError(
                422,
                "Invalid command",
                f"{record.id} has steps 0 to {steps - 1}, not {body.step}",
                field="step",
                fix=f"approve one of steps 0 to {steps - 1}, or leave `step` out for the current",
            )
        receipt = add_command(
            conn,
            record,
            kind=kind,
            actor=who.actor,
            reason=body.reason,
            step=body.step,
            mode=body.mode,
            idempotency_key=idem,
        )
        return 202, {"rollout": record.id, "receipt": receipt.to_json()}

    response = apply_change(request, {"kind": kind, **body.model_dump()}, change)
    _nudge(request)
    return response


def _field_of(kind: str, body: CommandIn) -> str:
    """The field a refused command is refused for: a step or mode on the wrong kind comes
    first (a promote with a reason and a step is refused for its step)."""
    if body.step is not None and kind != "approve":
        return "step"
    if body.mode is not None and kind != "rollback":
        return "mode"
    return "reason"


_FIXES = {
    "reason": "promote skips the remaining steps: say why in `reason`",
    "step": "`step` is only for approve",
    "mode": "`mode` (hard or soft) is only for rollback",
}


@router.post(
    "/environments/{environment}/flags/{key}/evals",
    status_code=201,
    summary="Post an offline-evaluation result for a variant (a rollout's requires_eval gate)",
    tags=["rollouts"],
    responses={201: RECEIPT},
)
def post_eval(
    environment: Env, key: str, body: EvalIn, request: Request, who: Admin
) -> JSONResponse:
    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        variants = get_flag(conn, environment, key).document.get("variants", {})
        require_variant(key, variants, body.variant, path="variant")
        record, receipt = record_eval(
            conn,
            environment,
            flag=key,
            variant=body.variant,
            suite=body.suite,
            passed=body.passed,
            detail=body.detail,
            actor=who.actor,
            idempotency_key=idem,
        )
        return 201, {"eval": record.id, "receipt": receipt.to_json()}

    response = apply_change(request, body.model_dump(), change)
    _nudge(request)
    return response


@router.post(
    "/environments/{environment}/kill",
    summary="Kill switch for a whole environment: every flag to its safe variant, pins dropped",
    tags=["flags"],
    responses={200: {"description": "one receipt per flag killed"}},
)
def kill_environment(
    environment: Env, request: Request, who: Admin, body: KillIn | None = None
) -> JSONResponse:
    return _switch_all(request, environment, who, body or KillIn(reason=""), kill=True)


@router.post(
    "/environments/{environment}/unkill",
    summary="Undo the environment's kill switch",
    tags=["flags"],
    responses={200: {"description": "one receipt per flag revived"}},
)
def unkill_environment(
    environment: Env, request: Request, who: Admin, body: KillIn | None = None
) -> JSONResponse:
    return _switch_all(request, environment, who, body or KillIn(reason=""), kill=False)


def _switch_all(
    request: Request, environment: str, who: Principal, body: KillIn, *, kill: bool
) -> JSONResponse:
    action = kill_flag if kill else unkill_flag
    detail = {"reason": body.reason, "scope": "environment"}

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        receipts = []
        for flag in list_flags(conn, environment):
            if flag.killed != kill:
                key = f"{idem}/{flag.key}" if idem else None
                receipts.append(
                    action(
                        conn,
                        environment,
                        flag.key,
                        actor=who.actor,
                        idempotency_key=key,
                        detail=detail,
                    )
                )
        last = receipts[-1].detail if receipts else {}
        return 200, {
            "receipts": [r.to_json() for r in receipts],
            "detail": {"environment": environment, "ruleset_version": last.get("ruleset_version")},
        }

    response = apply_change(request, {"reason": body.reason, "kill": kill}, change)
    _nudge(request)
    return response
