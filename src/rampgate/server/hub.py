"""Tell every open SSE stream, in every server process, that an environment changed.

Writers call :meth:`ChangeHub.published` after their transaction commits. In one process that
wakes the streams directly. Across processes on PostgreSQL every ruleset bump also sends
``NOTIFY rampgate_ruleset`` inside its transaction (delivered on commit; see
``rampgate.store.environments``), and each process LISTENs and wakes its own streams — at once,
from the notice's environment and version, without reading the database. A slow
poll of the per-environment ruleset versions is the safety net for anything missed (a dropped
LISTEN connection, one SQLite file shared by two processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rampgate.store import db
from rampgate.store.environments import RULESET_CHANNEL
from rampgate.store.schema import environments

__all__ = ["ChangeHub"]

logger = logging.getLogger("rampgate.server")


class ChangeHub:
    """Per-environment versions, and broadcast events replaced on each change.

    Streams wait on their own environment's event, so a change wakes only the streams that
    have something to send; a waiter costs no task of its own (``asyncio.timeout``, not
    ``wait_for``), which is what a change to 100 streams spends its time on.
    """

    def __init__(self, engine: Engine, *, poll_seconds: float) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()  # any environment
        self._changed_in: dict[str, asyncio.Event] = {}
        self.versions: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Future[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.versions = await asyncio.to_thread(self._read_versions)
        self._tasks.append(asyncio.create_task(self._poll_loop()))
        if self._engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # -- signalling ---------------------------------------------------------------------------

    def published(self, environment: str | None = None, version: int | None = None) -> None:
        """Thread-safe: something changed. With the environment's new ruleset version (the writer
        knows it from its receipt) the streams wake at once; without, the versions are re-read."""
        if self._loop is None:
            return
        if environment is not None and version is not None:
            self._loop.call_soon_threadsafe(self._advance, environment, version)
        else:
            self._loop.call_soon_threadsafe(self._refresh_soon)

    def _advance(self, environment: str, version: int) -> None:
        if version > self.versions.get(environment, -1):
            self.versions = {**self.versions, environment: version}
            self._wake([environment])

    def _wake(self, environments: list[str]) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        for environment in environments:
            waiting = self._changed_in.pop(environment, None)
            if waiting is not None:
                waiting.set()

    def _refresh_soon(self) -> None:
        task = asyncio.ensure_future(self._refresh())
        # The loop keeps only weak references to tasks: hold this one until it is done.
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _refresh(self) -> None:
        try:
            versions = await asyncio.to_thread(self._read_versions)
        except Exception:  # the poll loop will try again
            logger.exception("reading ruleset versions failed")
            return
        # Versions only move forward: a read that raced a commit must not undo an _advance.
        versions = {k: max(v, self.versions.get(k, -1)) for k, v in versions.items()}
        if versions != self.versions:
            moved = [k for k, v in versions.items() if v != self.versions.get(k)]
            self.versions = versions
            self._wake(moved)

    async def wait(self, timeout: float, environment: str | None = None) -> bool:
        """Until the next change of ``environment`` (or anywhere: ``None``), True; or ``timeout``
        seconds, False."""
        if environment is None:
            event = self._changed
        else:
            event = self._changed_in.get(environment) or self._changed_in.setdefault(
                environment, asyncio.Event()
            )
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True

    def _read_versions(self) -> dict[str, int]:
        with db.read(self._engine) as conn:
            rows = conn.execute(sa.select(environments.c.key, environments.c.ruleset_version))
            return {row.key: int(row.ruleset_version) for row in rows}

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            await self._refresh()

    async def _listen_loop(self) -> None:
        import psycopg  # noqa: PLC0415 - only needed, and only installed, with PostgreSQL

        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    row = await (await conn.execute("SELECT current_schema()")).fetchone()
                    schema = row[0] if row is not None else None
                    await conn.execute(f"LISTEN {RULESET_CHANNEL}")
                    await self._refresh()  # anything committed while we were not listening
                    async for notice in conn.notifies():
                        change = _change(notice.payload)
                        if change is None:  # not understood: read the versions instead
                            await self._refresh()
                        elif change.schema in (None, schema):  # ours: no need to read
                            self._advance(change.environment, change.version)
            except asyncio.CancelledError:
                raise
            except Exception:  # reconnect; the poll loop covers the gap
                logger.warning("LISTEN %s failed; retrying in 1 s", RULESET_CHANNEL, exc_info=True)
                await asyncio.sleep(1.0)


class _Notice(NamedTuple):
    environment: str
    version: int
    schema: str | None  # installations sharing one database are told apart by schema


def _change(payload: str) -> _Notice | None:
    """What a ruleset NOTIFY says (see ``bump_ruleset``), or ``None`` if it cannot be read."""
    try:
        notice = json.loads(payload)
        environment, version = notice["environment"], notice["version"]
    except (ValueError, TypeError, KeyError):
        return None
    schema = notice.get("schema")
    if not isinstance(environment, str) or type(version) is not int:
        return None
    return _Notice(environment, version, schema if isinstance(schema, str) else None)
