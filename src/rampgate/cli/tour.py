"""``rampgate tour``: a five-minute look at what the engine does with a config file.

Which agent config each kind of user gets and why; how a split divides 10,000 simulated users;
that widening a canary keeps everyone already in it; that a conversation keeps its variant;
that the kill switch overrides everything. Everything runs through the real SDK client.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from rampgate.domain.engine import compile_ruleset
from rampgate.domain.model import Context, Flag, Pin, Rule, Split
from rampgate.sdk import Client, JsonlSink

from .options import Env, console, fail, load_or_exit

DEFAULT_FILE = Path("examples/rampgate.yaml")
PERSONAS = [
    ("staff", Context(user_id="u-staff", attributes={"email": "ana@example.com", "country": "DE"})),
    ("design partner", Context(user_id="u-acme", attributes={"tenant": "acme", "country": "FR"})),
    ("enterprise", Context(user_id="u-6", attributes={"plan": "enterprise", "country": "JP"})),
    ("US customer", Context(user_id="u-5", attributes={"plan": "pro", "country": "US"})),
    ("in the canary", Context(user_id="u-71", attributes={"plan": "free", "country": "BR"})),
    ("anyone else", Context(user_id="u-5678", attributes={"plan": "free", "country": "BR"})),
]


def _personas(client: Client, flags: list[str], env: str) -> None:
    table = Table("who", *flags, title=f"What each kind of user gets in {env!r}")
    for who, ctx in PERSONAS:
        cells = []
        for key in flags:
            ev = client.evaluate(key, ctx)
            cells.append(f"[bold]{ev.variant}[/bold] [dim]{ev.reason} {ev.rule_id or ''}[/dim]")
        table.add_row(who, *cells)
    console.print(table)


def _split_table(client: Client, flag: str, users: int) -> None:
    counts: Counter[tuple[str | None, str]] = Counter()
    for i in range(users):
        attrs = {
            "country": ("US", "CA", "DE", "BR")[i % 4],
            "plan": ("free", "pro", "enterprise")[i % 3],
        }
        ev = client.evaluate(flag, Context(user_id=f"sim-{i}", attributes=attrs))
        counts[(ev.variant, str(ev.reason))] += 1
    table = Table("variant", "reason", "users", "share", title=f"{flag}: {users:,} simulated users")
    for (variant, reason), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(str(variant), reason, f"{n:,}", f"{n / users:.2%}")
    console.print(table)


def _with_weight(flag: Flag, rule_id: str, weights: dict[str, float]) -> Flag:
    rules = [
        dataclasses.replace(r, split=dataclasses.replace(r.split, weights=weights))
        if r.id == rule_id and r.split is not None
        else r
        for r in flag.rules
    ]
    return dataclasses.replace(flag, rules=tuple(rules), version=flag.version + 1)


def _canary_rule(flag: Flag) -> tuple[Rule, Split] | None:
    """A canary: an unconditional two-way split on a flag that pins sessions."""
    if flag.pin is not Pin.SESSION:
        return None
    for rule in flag.rules:
        if rule.split is not None and len(rule.split.weights) == 2 and not rule.condition:
            return rule, rule.split
    return None


def _ramp(flags: list[Flag], env: str, key: str, users: int) -> None:
    flag = next((f for f in flags if f.key == key), None)
    found = _canary_rule(flag) if flag is not None else None
    if flag is None or found is None:
        return
    rule, split = found
    stable, candidate = list(split.weights)
    others = [f for f in flags if f.key != key]
    contexts = [Context(user_id=f"sim-{i}", session_id=f"conv-{i}") for i in range(users)]
    before = Client(compile_ruleset(env, flags))
    in_canary = {c.user_id for c in contexts if before.evaluate(key, c).variant == candidate}
    ramped = _with_weight(flag, rule.id, {stable: 0.75, candidate: 0.25})
    after = Client(compile_ruleset(env, [*others, ramped]))
    now_in = {
        c.user_id for c in contexts if after.evaluate(key, c, expose=False).variant == candidate
    }
    share = split.weights[candidate]
    console.print(
        Panel(
            f"Ramping [bold]{key}[/bold] rule [bold]{rule.id}[/bold] from {share:.0%} to 25%:\n"
            f"  in the canary before: {len(in_canary):,} of {users:,} "
            f"(expected {share * users:,.0f} ± {math.sqrt(users * share * (1 - share)):.0f})\n"
            f"  in the canary after:  {len(now_in):,} "
            f"(expected {0.25 * users:,.0f} ± {math.sqrt(users * 0.1875):.0f})\n"
            f"  left the canary:      [bold]{len(in_canary - now_in)}[/bold] "
            "(a ramp only widens the candidate's range)",
            title="canary ramp",
        )
    )
    # Session pinning: a conversation that started before the ramp keeps its variant after it.
    pinned = Client(compile_ruleset(env, flags))
    for ctx in contexts[:1000]:
        pinned.evaluate(key, ctx, expose=False)
    pinned.swap(compile_ruleset(env, [*others, ramped]))
    changed = kept = 0
    for ctx in contexts[:1000]:
        first = before.evaluate(key, ctx, expose=False).variant
        ev = pinned.evaluate(key, ctx, expose=False)
        kept += ev.variant == first
        changed += after.evaluate(key, ctx, expose=False).variant != first
    killed = dataclasses.replace(ramped, killed=True, version=ramped.version + 1)
    pinned.swap(compile_ruleset(env, [*others, killed]))
    disabled = Counter(str(pinned.evaluate(key, c, expose=False).reason) for c in contexts[:1000])
    console.print(
        Panel(
            f"1,000 conversations started at {share:.0%}, then the ramp to 25%:\n"
            f"  without pinning {changed} would switch agent config mid-conversation;\n"
            f"  with [bold]pin: session[/bold] {kept:,} of 1,000 keep their variant.\n"
            f"Kill switch: {dict(disabled)} — every session on the safe variant at once.",
            title="session pinning and the kill switch",
        )
    )


def tour(
    file: Annotated[Path, typer.Argument(help="Config to tour.")] = DEFAULT_FILE,
    env: Env = "prod",
    users: Annotated[
        int, typer.Option("--users", help="Simulated users per split table.")
    ] = 10_000,
) -> None:
    """A short tour of a config: who gets which agent config, splits, ramps, pins, kill switch."""
    config = load_or_exit(file)
    if env not in config.environment_keys:
        fail(f"environment {env!r} is not in {file} ({', '.join(config.environment_keys)})")
    flags = config.flags_for(env)
    with tempfile.TemporaryDirectory() as tmp:
        sink = JsonlSink(Path(tmp) / "events.jsonl")
        client = Client(compile_ruleset(env, flags, saved_groups=config.saved_groups), sink=sink)
        keys = list(config.flags)
        _personas(client, keys, env)
        if len(config.environment_keys) > 1:
            other = next(e for e in config.environment_keys if e != env)
            dev = Client.from_flags(
                config.flags_for(other), environment=other, saved_groups=config.saved_groups
            )
            _personas(dev, keys, other)
        for key in keys:
            if any(r.split is not None for r in config.flags[key].base.rules):
                _split_table(client, key, users)
        for key in keys:
            _ramp(flags, env, key, users)
        client.close()
        lines = sink.path.read_text(encoding="utf-8").splitlines()
        kinds = Counter(json.loads(line)["type"] for line in lines)
        console.print(
            f"Exposures recorded through the SDK's buffer into {sink.path.name}: "
            f"{kinds['exposure']:,} (stats: {client.stats()})"
        )


def register(app: typer.Typer) -> None:
    app.command("tour")(tour)
