"""Server-side commands: ``serve``, ``init``, ``db upgrade``, ``token create``, ``audit verify``.

Commands that touch the database directly read ``RAMPGATE_DATABASE_URL`` (or ``--database``);
they are for the operator on the server's machine. Remote work goes through the API
(``rampgate apply``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import console, fail

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_URL = "sqlite:///rampgate.db"
Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="RAMPGATE_DATABASE_URL",
        help="Database URL (default sqlite:///rampgate.db).",
    ),
]

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@contextmanager
def _engine(database: str | None) -> Iterator[Engine]:
    """The database, migrated; its connections are closed when the command ends."""
    from rampgate.store import create_engine, upgrade

    engine = create_engine(database or DEFAULT_URL)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def serve(
    database: Database = None,
    host: Annotated[
        str, typer.Option("--host", envvar="RAMPGATE_HOST", help="Interface to bind.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="RAMPGATE_PORT", help="Port to listen on.")
    ] = 7400,
) -> None:
    """Run the control-plane server (migrates the database first)."""
    import uvicorn

    from rampgate.server.settings import ServerSettings
    from rampgate.store.db import normalise_url

    url = database or os.environ.get("RAMPGATE_DATABASE_URL", DEFAULT_URL)
    settings = ServerSettings.from_env(database_url=url, host=host, port=port)
    if settings.workers < 1:
        fail(f"RAMPGATE_WORKERS={settings.workers}: expected 1 or more")
    app: Any = None
    if settings.workers == 1:
        from rampgate.server.app import create_app

        app = create_app(settings)
    elif normalise_url(url).get_backend_name() != "postgresql":
        # Workers would queue for SQLite's one write lock by sleeping, and the streams of one
        # would hear of another's changes only at the next poll.
        fail("RAMPGATE_WORKERS above 1 needs PostgreSQL (RAMPGATE_DATABASE_URL=postgresql://…)")
    else:
        # Each worker process builds its own app from the environment: hand these settings on.
        os.environ.update(RAMPGATE_DATABASE_URL=url, RAMPGATE_HOST=host, RAMPGATE_PORT=str(port))
        app = "rampgate.server.app:create_app"
    # SSE streams never end by themselves: give them a moment at shutdown, then close them.
    uvicorn.run(
        app,
        factory=settings.workers > 1,
        workers=settings.workers,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=3,
        # A worker importing the app on a busy machine, or parsing a large batch, can take
        # longer than uvicorn's default 5 s to answer its supervisor's ping: not a dead worker.
        timeout_worker_healthcheck=30,
    )


def init(database: Database = None) -> None:
    """Create the database schema and print the first admin token (once)."""
    from rampgate.store import write
    from rampgate.store.tokens import bootstrap_admin

    with _engine(database) as engine, write(engine) as conn:
        created = bootstrap_admin(conn)
    if created is None:
        fail("an admin token already exists; create more with `rampgate token create --kind admin`")
    console.print(f"admin token (shown once, store it now): {created[1]}")


@db_app.command("upgrade")
def db_upgrade(database: Database = None) -> None:
    """Apply every pending migration."""
    from rampgate.store.migrate import current

    with _engine(database) as engine:
        console.print(f"database at revision {current(engine)}")


@token_app.command("create")
def token_create(
    kind: Annotated[str, typer.Option("--kind", help="admin or sdk.")],
    env: Annotated[str | None, typer.Option("--env", help="Environment (sdk tokens).")] = None,
    name: Annotated[str, typer.Option("--name", help="A label shown in receipts.")] = "",
    database: Database = None,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from rampgate.store import write
    from rampgate.store.environments import get_environment
    from rampgate.store.errors import StoreError
    from rampgate.store.tokens import create_token

    if kind not in ("admin", "sdk"):
        fail(f"--kind {kind!r}: expected admin or sdk")
    if (kind == "sdk") != (env is not None):
        fail("sdk tokens need --env ENV; admin tokens take no --env")
    try:
        with _engine(database) as engine, write(engine) as conn:
            if env is not None:
                get_environment(conn, env)
            token_id, secret = create_token(conn, kind, env, name, actor="cli")
    except StoreError as exc:
        fail(str(exc))
    console.print(f"{kind} token {token_id} (shown once): {secret}")


@audit_app.command("verify")
def audit_verify(
    database: Database = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the audit log's hash chain; exit 1 naming the first broken link."""
    from rampgate.store import read
    from rampgate.store.audit import verify

    with _engine(database) as engine, read(engine) as conn:
        result = verify(conn)
    if as_json:
        console.print_json(json.dumps(result.to_json()))
    elif result.ok:
        console.print(
            f"audit log intact: {result.rows_checked} entries, head {result.head_hash[:16]}…"
        )
    else:
        console.print(
            f"[red]audit log broken at entry {result.first_broken_seq}[/red]: {result.reason}"
        )
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("init")(init)
    app.add_typer(db_app, name="db")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")
