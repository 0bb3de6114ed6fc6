"""``rampgate demo``: two rollouts of a support agent, told as they happen."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import typer
from rich.console import Console

from rampgate.demo import DemoOptions, run_demo


def demo(
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON summary instead of the story."
    ),
    serve: bool = typer.Option(
        False, "--serve", help="Leave the server running on the result until Ctrl-C."
    ),
    seed: int = typer.Option(2026, help="Seed of the simulated traffic."),
    database: Path | None = typer.Option(
        None, help="SQLite file to keep (default: a temporary file, deleted afterwards)."
    ),
) -> None:
    """From nothing, in under a minute: candidate A is rolled back, candidate B promoted.

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
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass

    summary = run_demo(
        DemoOptions(seed=seed, database=database), say, serve=stay if serve else None
    )
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    stories = {s["rollout"]: s["outcome"] for s in summary["stories"]}
    if stories != {"support-agent-a": "rolled_back", "support-agent-b": "promoted"}:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
