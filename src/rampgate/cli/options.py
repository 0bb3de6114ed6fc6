"""Options and helpers shared by several commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from rampgate.config import Config, load_file
from rampgate.errors import ConfigError

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

File = Annotated[Path, typer.Argument(dir_okay=False, help="Path to a rampgate.yaml file.")]
Env = Annotated[str, typer.Option("--env", "-e", help="Environment whose flag states to use.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON, not a table.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    # Printed as written, never read as rich markup: a name or a path such as
    # rollouts.[canary] must not turn into a style or vanish.
    errors.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def load_or_exit(path: Path) -> Config:
    try:
        return load_file(path)
    except ConfigError as exc:
        fail(str(exc))


def parse_attr(text: str) -> tuple[str, Any]:
    """``key=value``: the value is read as JSON when it parses (``42``, ``true``, ``[1,2]``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        fail(f"--attr {text!r}: expected KEY=VALUE, e.g. --attr plan=enterprise")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw
