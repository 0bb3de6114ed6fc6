"""``rampgate validate`` and ``rampgate eval``: check a config, evaluate a flag for a context."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from rampgate.domain.engine import compile_ruleset
from rampgate.domain.frozen import thaw
from rampgate.domain.model import Context
from rampgate.errors import ConfigError

from .options import Env, File, Json, console, fail, load_or_exit, parse_attr
from .rollout import check_control_sections


def validate(file: File, as_json: Json = False) -> None:
    """Check a config file: syntax, unknown keys, conditions, schemas, references, and its
    metrics: and rollouts: sections against its flags.

    Exits 1 with the file, path and expected value of the first problem.
    """
    config = load_or_exit(file)
    summary = {}
    for env in config.environment_keys:
        try:
            ruleset = compile_ruleset(env, config.flags_for(env), saved_groups=config.saved_groups)
        except ConfigError as exc:
            fail(f"{env}: {exc}")
        summary[env] = {key: len(c.flag.rules) for key, c in ruleset.flags.items()}
    try:
        rollouts = check_control_sections(config)
    except ConfigError as exc:
        fail(str(exc))
    if as_json:
        document = {
            "file": str(file),
            "valid": True,
            "environments": summary,
            "rollouts": {name: p.environment for name, p in rollouts.items()},
        }
        console.print_json(json.dumps(document))
        return
    table = Table("flag", *config.environment_keys, title=f"{file}: valid")
    for key in config.flags:
        table.add_row(key, *(f"{summary[e][key]} rules" for e in config.environment_keys))
    console.print(table)
    for name, p in rollouts.items():
        steps = " → ".join(f"{s.weight:.0%}" for s in p.steps)
        console.print(f"rollout {name}: {p.environment}/{p.flag} {steps}", markup=False)


def evaluate(
    file: File,
    flag: Annotated[str, typer.Argument(help="Flag key.")],
    env: Env = "prod",
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="user_id of the context.")
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", "-s", help="session_id of the context.")
    ] = None,
    attr: Annotated[
        list[str] | None, typer.Option("--attr", "-a", help="Attribute KEY=VALUE (repeatable).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Evaluate FLAG for one context: variant, value, reason and rule."""
    config = load_or_exit(file)
    try:
        ruleset = compile_ruleset(env, config.flags_for(env), saved_groups=config.saved_groups)
    except ConfigError as exc:
        fail(str(exc))
    if flag not in ruleset.flags:
        fail(f"flag {flag!r} is not defined in {file} (flags: {', '.join(ruleset.flags)})")
    ctx = Context(
        user_id=user, session_id=session, attributes=dict(parse_attr(a) for a in attr or [])
    )
    result = ruleset.flags[flag].evaluate(ctx.merged)
    out = {
        "flag": result.flag,
        "variant": result.variant,
        "value": thaw(result.value),
        "reason": str(result.reason),
        "rule_id": result.rule_id,
        "flag_version": result.flag_version,
    }
    if as_json:
        console.print_json(json.dumps(out))
        return
    table = Table(show_header=False)
    for key, value in out.items():
        table.add_row(key, json.dumps(value) if key == "value" else str(value))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("eval")(evaluate)
