"""Tell every open SSE stream, in every server process, that an environment changed.

Writers call :meth:`ChangeHub.published` after their transaction commits. In one process that
wakes the streams directly. Across processes on PostgreSQL every ruleset bump also sends
``NOTIFY rampgate_ruleset`` inside its transaction (delivered on commit; see
``rampgate.store.environments``), and each process LISTENs and wakes its own streams. A slow
poll of the per-environment ruleset versions is the safety net for anything missed (a dropped
LISTEN connection, one SQLite file shared by two processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rampgate.store import db
from rampgate.store.environments import RULESET_CHANNEL
from rampgate.store.schema import environments

__all__ = ["ChangeHub"]

logger = logging.getLogger("rampgate.server")


class ChangeHub:
    """Per-environment versions plus one broadcast event that is replaced on each change."""

    def __init__(self, engine: Engine, *, poll_seconds: float) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
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
            event, self._changed = self._changed, asyncio.Event()
            event.set()

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
            self.versions = versions
            event, self._changed = self._changed, asyncio.Event()
            event.set()

    async def wait(self, timeout: float) -> bool:
        """Until the next change anywhere (True), or ``timeout`` seconds (False)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
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
                    await conn.execute(f"LISTEN {RULESET_CHANNEL}")
                    await self._refresh()  # anything committed while we were not listening
                    async for _ in conn.notifies():
                        await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # reconnect; the poll loop covers the gap
                logger.warning("LISTEN %s failed; retrying in 1 s", RULESET_CHANNEL, exc_info=True)
                await asyncio.sleep(1.0)
