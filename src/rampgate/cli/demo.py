"""``rampgate demo``: two rollouts of a support agent, told as they happen."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

EXPECTED = {"support-agent-a": "rolled_back", "support-agent-b": "promoted"}


def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of the story.")
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Leave the server running on the result until Ctrl-C.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated traffic.")] = 2026,
    database: Annotated[
        Path | None,
        typer.Option(
            "--database", help="SQLite file to keep (default: a temporary file, deleted after)."
        ),
    ] = None,
) -> None:
    """From nothing, in about a minute: candidate A is rolled back, candidate B promoted.

    A temporary SQLite database, the real server, SDK, analysis and controller on a simulated
    clock: hours of agent traffic pass in seconds.
    """
    console = Console(highlight=False)

    def say(text: str) -> None:
        if not as_json:
            console.print(text)

    def stay(url: str, admin: str) -> None:
        console.print(
            f"\nServing {url} — admin token {admin}\n"
            f"  curl -H 'Authorization: Bearer {admin}' {url}/api/v1/environments/prod/rollouts\n"
            "Ctrl-C to stop."
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()

    # Imported here, not at the top: it is the whole server, seconds of start-up that every
    # other command (``rampgate --help`` included) would pay.
    from rampgate.demo import DemoOptions, run_demo

    summary = run_demo(
        DemoOptions(seed=seed, database=database), say, serve=stay if serve else None
    )
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    outcomes = {s["rollout"]: s["outcome"] for s in summary["stories"]}
    if outcomes != EXPECTED:
        console.print(f"[bold red]unexpected outcome[/] {outcomes} (expected {EXPECTED})")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
