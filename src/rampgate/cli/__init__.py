"""The ``rampgate`` command: thin commands over the library.

Each command lives in a module of its own and only parses arguments, calls library functions
and renders the result; shared options are defined once in :mod:`rampgate.cli.options`.
"""

from __future__ import annotations

import typer

from rampgate._version import __version__

from . import apply as _apply
from . import demo as _demo
from . import experiment as _experiment
from . import flags as _flags
from . import rollout as _rollout
from . import server as _server
from . import tour as _tour

__all__ = ["app", "main"]

app = typer.Typer(
    name="rampgate",
    help="Ship changes to AI agents safely: flags, rollouts, gates, receipts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rampgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Ship changes to AI agents safely: flags, rollouts, gates, receipts."""


_flags.register(app)
_tour.register(app)
_apply.register(app)
_rollout.register(app)
_server.register(app)
_experiment.register(app)
_demo.register(app)


def main() -> None:
    app()
