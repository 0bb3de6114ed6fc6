"""Operator commands over the HTTP API: ``rollout …``, ``kill``/``unkill``, ``evals post``.

Each command is one or two requests; every change prints its receipt (``change_id``). A refused
request exits 1 with the server's problem: detail, then each field and its fix. Operator
commands are queued by the server and applied by its controller at once (its next pass), so
``rollout status`` shows their effect a moment later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import quote

import httpx
import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rampgate.config import Config
from rampgate.control import RolloutPlan, parse_metrics, parse_rollouts
from rampgate.errors import ConfigError

from .apply import Token, Url
from .options import Json, console, errors, load_or_exit

__all__ = ["check_control_sections", "register", "render_status"]

DEFAULT_URL = "http://127.0.0.1:7400"
ENDED = ("promoted", "rolled_back", "aborted")
VERDICT_STYLE = {
    "PASS": "green",
    "FAIL": "bold red",
    "INCONCLUSIVE": "yellow",
    "NODATA": "dim",
    "ERROR": "magenta",
}
STATUS_STYLE = {
    "running": "cyan",
    "awaiting_approval": "yellow",
    "paused": "yellow",
    "held": "yellow",
    "promoted": "green",
    "rolled_back": "red",
    "aborted": "red",
}

rollout_app = typer.Typer(help="Progressive rollouts: start, watch and steer them.")
evals_app = typer.Typer(help="Offline-evaluation results (a rollout's requires_eval gate).")

Name = Annotated[str, typer.Argument(help="Rollout name (as under rollouts: in the file).")]
Env = Annotated[str, typer.Option("--env", "-e", help="Environment of the rollout.")]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why; kept in the receipt.")]


# --- HTTP ---------------------------------------------------------------------------------


def _problem(response: httpx.Response) -> NoReturn:
    """Exit 1 with the server's problem+json: what, then each field with its fix."""
    where = f"{response.request.method} {response.request.url.path}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        _exit(f"{where}: {response.status_code} {response.text[:500]}")
    title = body.get("title") or response.reason_phrase
    lines = [f"{response.status_code} {title}: {body.get('detail', '')}"]
    for e in body.get("errors") or []:
        if isinstance(e, dict) and e.get("field"):
            lines.append(f"  field: {e['field']}")
            if e.get("fix"):
                lines.append(f"  fix: {e['fix']}")
    _exit("\n".join(lines))


def _exit(message: str) -> NoReturn:
    # Paths such as plan.steps[1].weight must print as written, never as rich markup.
    errors.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


class Api:
    """The admin API of one server, for one command."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.http.request(method, "/api/v1" + path, json=body)
        except httpx.HTTPError as exc:
            _exit(f"cannot reach {self.http.base_url}: {exc}")
        if not response.is_success:
            _problem(response)
        return response.json()


@contextmanager
def _api(url: str, token: str) -> Iterator[Api]:
    if not token:
        _exit("--token (or RAMPGATE_TOKEN) is required: an admin token")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        yield Api(http)


def _segment(text: str) -> str:
    return quote(text, safe="")


def _rollout_path(env: str, name: str, tail: str = "") -> str:
    return f"/environments/{_segment(env)}/rollouts/{_segment(name)}{tail}"


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
        for key, variant in (("from", plan.stable), ("to", plan.candidate)):
            if variant not in variants:
                raise ConfigError(
                    f"flag {plan.flag!r} has no variant {variant!r}",
                    source=source,
                    path=f"{where}.{key}",
                    expected="one of " + ", ".join(variants),
                )
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
        _exit(str(exc))
    if name not in plans:
        known = ", ".join(plans) or "none"
        _exit(f"{file}: rollouts.{name}: no such rollout (rollouts in the file: {known})")
    plan = plans[name]
    custom = config.sections.get("metrics") or {}
    # Only the metrics the plan's guardrails use travel with it: defaults need no definition.
    used = {g.metric.name for g in plan.guardrails}
    metrics = {k: v for k, v in custom.items() if k in used} or None
    body = {"name": name, "plan": config.sections["rollouts"][name], "metrics": metrics}
    with _api(url, token) as api:
        out = api.call("POST", f"/environments/{_segment(plan.environment)}/rollouts", body)
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
    with _api(url, token) as api:
        envs = [env] if env else [e["key"] for e in api.call("GET", "/environments")]
        rows = [r for e in envs for r in api.call("GET", f"/environments/{_segment(e)}/rollouts")]
    if as_json:
        _print_json(rows)
        return
    table = Table("rollout", "environment", "flag", "status", "step", "candidate", "rationale")
    for r in rows:
        table.add_row(
            Text(r["id"]),
            r["environment"],
            r["flag"],
            _status_text(r["status"]),
            _step_text(r),
            _share(r),
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
    with _api(url, token) as api:
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
    with _api(url, token) as api:
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
        _exit(f"name a FLAG or give --all (with --env), e.g. rampgate {verb} support-agent")
    if every and env is None:
        # A whole environment is never switched by default: prod must be named to be hit.
        _exit(f"{verb} --all needs --env: the environment whose every flag to switch")
    environment = env or "prod"
    base = f"/environments/{_segment(environment)}"
    path = f"{base}/flags/{_segment(flag)}/{verb}" if flag is not None else f"{base}/{verb}"
    with _api(url, token) as api:
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
        _exit("say how the suite went: --passed or --failed")
    body = {"suite": suite, "variant": variant, "passed": passed, "detail": detail}
    path = f"/environments/{_segment(env)}/flags/{_segment(flag)}/evals"
    with _api(url, token) as api:
        out = api.call("POST", path, body)
    if as_json:
        _print_json(out)
        return
    outcome = "[green]passed[/green]" if passed else "[red]failed[/red]"
    console.print(
        f"{escape(suite)} {outcome} for {env}/{escape(flag)}:{escape(variant)}: "
        f"change {out['receipt']['change_id']}"
    )


# --- the status view ----------------------------------------------------------------------


def _status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _step_text(doc: Mapping[str, Any]) -> str:
    step, steps = doc.get("step"), doc.get("steps") or []
    return "-" if step is None else f"{step + 1} of {len(steps)}"


def _share(doc: Mapping[str, Any]) -> str:
    traffic = doc.get("traffic") or {}
    return f"{traffic.get(doc['candidate'], 0.0):.0%}"


def _duration(seconds: float) -> str:
    s = round(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (s, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def _number(value: Any, relative: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if relative else f"{value:+.4g}"


def _arm(arm: Mapping[str, Any] | None) -> str:
    if not arm:
        return "-"
    return f"{arm['estimate']:.4g} (n={arm['n']})" if arm.get("estimate") is not None else "-"


def _harm(e: Mapping[str, Any]) -> str:
    """``harm [low, high] vs margin``: the interval the verdict rests on, against its limit."""
    relative = bool(e.get("relative"))
    interval = (
        f"{_number(e.get('harm'), relative)} "
        f"[{_number(e.get('harm_low'), relative)}, {_number(e.get('harm_high'), relative)}]"
    )
    if e.get("limit") is not None:
        return f"{interval} vs limit {e['limit']:g}"
    margin = e.get("margin")
    if margin is None:
        return interval
    return f"{interval} vs {margin:.0%}" if relative else f"{interval} vs {margin:g}"


def _guardrails(evidence: Sequence[Mapping[str, Any]]) -> Table:
    # Cells are Text, never markup: intervals are written in square brackets.
    table = Table(
        "guardrail", "stable", "candidate", escape("harm [low, high] vs margin"), "verdict"
    )
    for e in evidence:
        verdict = str(e.get("verdict", ""))
        note = f" ({e['reason']})" if e.get("reason") else ""
        table.add_row(
            Text(e.get("guardrail") or e.get("metric", "")),
            Text(_arm(e.get("stable"))),
            Text(_arm(e.get("candidate"))),
            Text(_harm(e)),
            Text(verdict + note, style=VERDICT_STYLE.get(verdict, "")),
        )
    return table


def render_status(doc: Mapping[str, Any]) -> RenderableType:
    """The ``GET …/rollouts/{name}`` document as an operator reads it."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row(
        "rollout",
        Text(
            f"{doc['id']} in {doc['environment']}: flag {doc['flag']}, "
            f"{doc['stable']} → {doc['candidate']}"
        ),
    )
    head.add_row("status", _status_text(doc["status"]))
    steps = " → ".join(f"{w:.0%}" for w in doc.get("steps") or [])
    head.add_row("step", f"{_step_text(doc)}  ({steps})")
    traffic = doc.get("traffic") or {}
    head.add_row("traffic", Text(", ".join(f"{k} {v:.0%}" for k, v in traffic.items())))
    if doc.get("rationale"):
        head.add_row("why", Text(doc["rationale"]))
    left = doc.get("time_left") or {}
    times = []
    if left.get("step_min_duration") is not None:
        times.append(f"step {_duration(left['step_min_duration'])}")
    if left.get("max_duration") is not None:
        times.append(f"rollout {_duration(left['max_duration'])}")
    if times:
        head.add_row("time left", ", ".join(times))
    parts: list[RenderableType] = [head]
    if doc.get("guardrails"):
        parts.append(_guardrails(doc["guardrails"]))
    gates = doc.get("gates") or []
    if gates:
        line = Text("gates  ")
        for g in gates:
            mark = "✓" if g.get("passed") else "✗"
            line.append(f"{mark} {g['name']}  ", style="green" if g.get("passed") else "red")
        parts.append(line)
    srm = doc.get("srm")
    if srm and srm.get("flagged"):
        parts.append(Text(f"SRM alarm: units per arm {srm.get('observed')}", style="bold red"))
    pending = doc.get("pending_commands") or []
    if pending:
        parts.append(Text("pending: " + ", ".join(f"{c['kind']} by {c['actor']}" for c in pending)))
    for a in (doc.get("alerts") or [])[:5]:
        style = "red" if a.get("level") == "critical" else "yellow"
        parts.append(Text(f"{a['at'][:19]}  {a['kind']}: {a['message']}", style=style))
    return Group(*parts)


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
