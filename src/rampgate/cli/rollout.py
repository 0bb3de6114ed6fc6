"""Operator commands over the HTTP API: ``rollout …``, ``kill``/``unkill``, ``evals post``.

Each command is one or two requests; every change prints its receipt (``change_id``). A refused
request exits 1 with the server's problem: detail, then each field and its fix. Operator
commands are queued by the server and applied by its controller at once (its next pass), so
``rollout status`` shows their effect a moment later.
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rampgate.config import Config
from rampgate.config.flags import require_variant
from rampgate.errors import ConfigError

from .apply import Token, Url
from .http import Api, connect, segment
from .options import Json, console, fail, load_or_exit
from .rollout_view import ENDED, render_status, share, status_text, step_text

if TYPE_CHECKING:
    from rampgate.control import RolloutPlan

__all__ = ["check_control_sections", "register"]

DEFAULT_URL = "http://127.0.0.1:7400"
rollout_app = typer.Typer(help="Progressive rollouts: start, watch and steer them.")
evals_app = typer.Typer(help="Offline-evaluation results (a rollout's requires_eval gate).")

Name = Annotated[str, typer.Argument(help="Rollout name (as under rollouts: in the file).")]
Env = Annotated[str, typer.Option("--env", "-e", help="Environment of the rollout.")]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why; kept in the receipt.")]


# --- HTTP ---------------------------------------------------------------------------------


def _rollout_path(env: str, name: str, tail: str = "") -> str:
    return f"/environments/{segment(env)}/rollouts/{segment(name)}{tail}"


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value))


# --- rollouts -----------------------------------------------------------------------------


def check_control_sections(config: Config) -> dict[str, RolloutPlan]:
    """Check ``metrics:`` and ``rollouts:`` of a loaded config against its flags.

    Returns the parsed plans by name; raises :class:`ConfigError` naming the path of the first
    problem: a bad plan, an unknown environment or flag, a variant the flag does not have.
    """
    source = config.source
    try:
        # Imported here: the controller brings scipy, seconds of start-up no other command needs.
        from rampgate.control import parse_metrics, parse_rollouts

        metrics = parse_metrics(config.sections.get("metrics"))
        plans = parse_rollouts(config.sections.get("rollouts"), metrics=metrics)
    except ConfigError as exc:
        raise exc.with_source(source) from None
    for name, plan in plans.items():
        where = f"rollouts.{name}"
        if plan.environment not in config.environment_keys:
            raise ConfigError(
                f"unknown environment {plan.environment!r}",
                source=source,
                path=f"{where}.environment",
                expected="one of " + ", ".join(config.environment_keys),
            )
        flags = {f.key: f for f in config.flags_for(plan.environment)}
        if plan.flag not in flags:
            raise ConfigError(
                f"flag {plan.flag!r} is not defined",
                source=source,
                path=f"{where}.flag",
                expected="a flag under flags:",
            )
        variants = flags[plan.flag].variants
        try:
            require_variant(plan.flag, variants, plan.stable, path=f"{where}.from")
            require_variant(plan.flag, variants, plan.candidate, path=f"{where}.to")
        except ConfigError as exc:
            raise exc.with_source(source) from None
    return plans


def start(
    name: Name,
    file: Annotated[Path, typer.Option("--file", "-f", help="Config file with the rollout.")],
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Start rollout NAME from FILE's rollouts: section (a new run of the plan)."""
    config = load_or_exit(file)
    try:
        plans = check_control_sections(config)
    except ConfigError as exc:
        fail(str(exc))
    if name not in plans:
        known = ", ".join(plans) or "none"
        fail(f"{file}: rollouts.{name}: no such rollout (rollouts in the file: {known})")
    plan = plans[name]
    custom = config.sections.get("metrics") or {}
    # Only the metrics the plan's guardrails use travel with it: defaults need no definition.
    used = {g.metric.name for g in plan.guardrails}
    metrics = {k: v for k, v in custom.items() if k in used} or None
    body = {"name": name, "plan": config.sections["rollouts"][name], "metrics": metrics}
    with connect(url, token) as api:
        out = api.call("POST", f"/environments/{segment(plan.environment)}/rollouts", body)
    if as_json:
        _print_json(out)
        return
    weights = " → ".join(f"{s.weight:.0%}" for s in plan.steps)
    console.print(
        f"started [bold]{escape(out['rollout'])}[/bold] in {plan.environment}: flag "
        f"{escape(plan.flag)}, {escape(plan.stable)} → {escape(plan.candidate)}, {weights}"
    )
    console.print(f"receipt: change {out['receipt']['change_id']}")
    console.print(
        f"[dim]watch it: rampgate rollout status {escape(name)} "
        f"--env {plan.environment} --watch[/dim]"
    )


def list_command(
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Only this environment (default: all).")
    ] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """List rollouts (the latest run of each) with their status and traffic."""
    with connect(url, token) as api:
        envs = [env] if env else [e["key"] for e in api.call("GET", "/environments")]
        rows = [r for e in envs for r in api.call("GET", f"/environments/{segment(e)}/rollouts")]
    if as_json:
        _print_json(rows)
        return
    table = Table("rollout", "environment", "flag", "status", "step", "candidate", "rationale")
    for r in rows:
        table.add_row(
            Text(r["id"]),
            r["environment"],
            r["flag"],
            status_text(r["status"]),
            step_text(r),
            share(r),
            Text(r.get("rationale") or ""),
        )
    console.print(table if rows else "no rollouts")


def status(
    name: Name,
    env: Env = "prod",
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh until the rollout ends (or Ctrl-C).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between refreshes.")
    ] = 1.0,
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """A rollout's live state: step, traffic, each guardrail's verdict, gates, time left."""
    path = _rollout_path(env, name)
    with connect(url, token) as api:
        if not watch:
            document = api.call("GET", path)
            if as_json:
                _print_json(document)
            else:
                console.print(render_status(document))
            return
        with suppress(KeyboardInterrupt):  # Ctrl-C ends the watch, not the rollout
            _watch(api, path, interval, as_json)


def _watch(api: Api, path: str, interval: float, as_json: bool) -> None:
    if as_json:  # one JSON document per line and refresh, for scripts
        while True:
            document = api.call("GET", path)
            console.out(json.dumps(document), highlight=False)
            if document["status"] in ENDED:
                return
            time.sleep(interval)
    with Live(console=console, auto_refresh=False) as live:
        while True:
            document = api.call("GET", path)
            live.update(render_status(document), refresh=True)
            if document["status"] in ENDED:
                return
            time.sleep(interval)


def _command(
    kind: str, name: str, env: str, url: str, token: str, as_json: bool, **body: Any
) -> None:
    with connect(url, token) as api:
        out = api.call("POST", _rollout_path(env, name, f"/{kind}"), body)
    if as_json:
        _print_json(out)
        return
    console.print(
        f"{kind} accepted for [bold]{escape(out['rollout'])}[/bold]: change "
        f"{out['receipt']['change_id']} (the controller applies it at its next pass)"
    )


def pause(
    name: Name,
    env: Env = "prod",
    reason: Reason = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Pause a rollout: nothing advances (a guardrail FAIL still rolls back)."""
    _command("pause", name, env, url, token, as_json, reason=reason)


def resume(
    name: Name,
    env: Env = "prod",
    reason: Reason = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Resume a paused rollout where it was."""
    _command("resume", name, env, url, token, as_json, reason=reason)


def approve(
    name: Name,
    env: Env = "prod",
    step: Annotated[
        int | None,
        typer.Option("--step", min=0, help="The step approved, from 0 (default: the current)."),
    ] = None,
    reason: Reason = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Approve a step that asks for approval (ahead of time with --step)."""
    _command("approve", name, env, url, token, as_json, reason=reason, step=step)


def promote(
    name: Name,
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Why skip the remaining steps (required).")
    ],
    env: Env = "prod",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Promote now: the candidate serves everyone, skipping the remaining steps."""
    _command("promote", name, env, url, token, as_json, reason=reason)


def rollback(
    name: Name,
    env: Env = "prod",
    mode: Annotated[
        Literal["hard", "soft"] | None,
        typer.Option("--mode", help="hard (everyone now) or soft (pinned sessions finish)."),
    ] = None,
    reason: Reason = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Roll back now, skipping analysis (default mode: the plan's)."""
    _command("rollback", name, env, url, token, as_json, reason=reason, mode=mode)


# --- kill switch and eval results ---------------------------------------------------------


def _switch(
    kill: bool,
    flag: str | None,
    every: bool,
    env: str | None,
    reason: str,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    verb = "kill" if kill else "unkill"
    if every == (flag is not None):
        fail(f"name a FLAG or give --all (with --env), e.g. rampgate {verb} support-agent")
    if every and env is None:
        # A whole environment is never switched by default: prod must be named to be hit.
        fail(f"{verb} --all needs --env: the environment whose every flag to switch")
    environment = env or "prod"
    base = f"/environments/{segment(environment)}"
    path = f"{base}/flags/{segment(flag)}/{verb}" if flag is not None else f"{base}/{verb}"
    with connect(url, token) as api:
        out = api.call("POST", path, {"reason": reason})
    if as_json:
        _print_json(out)
        return
    done = "killed" if kill else "revived"
    if flag is not None:
        console.print(f"{done} {environment}/{escape(flag)}: change {out['change_id']}")
        return
    receipts = out["receipts"]
    for r in receipts:
        console.print(f"{done} {escape(r['resource'])}: change {r['change_id']}")
    console.print(f"{environment}: {len(receipts)} flag(s) {done}")


FlagArg = Annotated[str | None, typer.Argument(help="Flag key (or --all).")]
All = Annotated[bool, typer.Option("--all", help="Every flag of the environment (--env).")]
SwitchEnv = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment (default prod for one flag).")
]


def kill(
    flag: FlagArg = None,
    every: All = False,
    env: SwitchEnv = None,
    reason: Reason = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Kill switch: FLAG (or every flag with --all) to its safe variant now, pins dropped.

    A rollout on a killed flag is aborted at the controller's next pass.
    """
    _switch(True, flag, every, env, reason, url, token, as_json)


def unkill(
    flag: FlagArg = None,
    every: All = False,
    env: SwitchEnv = None,
    reason: Reason = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Undo the kill switch of FLAG (or of every flag with --all)."""
    _switch(False, flag, every, env, reason, url, token, as_json)


def post_eval(
    flag: Annotated[str, typer.Option("--flag", help="Flag key.")],
    variant: Annotated[str, typer.Option("--variant", help="The variant evaluated.")],
    suite: Annotated[str, typer.Option("--suite", help="The evaluation suite's name.")],
    passed: Annotated[
        bool | None, typer.Option("--passed/--failed", help="The suite's outcome (required).")
    ] = None,
    detail: Annotated[str, typer.Option("--detail", help="A summary, a link to the run.")] = "",
    env: Env = "prod",
    url: Url = DEFAULT_URL,
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Post an offline-evaluation result for a flag's variant."""
    if passed is None:
        fail("say how the suite went: --passed or --failed")
    body = {"suite": suite, "variant": variant, "passed": passed, "detail": detail}
    path = f"/environments/{segment(env)}/flags/{segment(flag)}/evals"
    with connect(url, token) as api:
        out = api.call("POST", path, body)
    if as_json:
        _print_json(out)
        return
    outcome = "[green]passed[/green]" if passed else "[red]failed[/red]"
    console.print(
        f"{escape(suite)} {outcome} for {env}/{escape(flag)}:{escape(variant)}: "
        f"change {out['receipt']['change_id']}"
    )


def register(app: typer.Typer) -> None:
    rollout_app.command("start")(start)
    rollout_app.command("list")(list_command)
    rollout_app.command("status")(status)
    for command in (pause, resume, approve, promote, rollback):
        rollout_app.command(command.__name__)(command)
    evals_app.command("post")(post_eval)
    app.add_typer(rollout_app, name="rollout", no_args_is_help=True)
    app.add_typer(evals_app, name="evals", no_args_is_help=True)
    app.command("kill")(kill)
    app.command("unkill")(unkill)
