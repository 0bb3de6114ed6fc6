"""A real rampgate server on a loopback port, in a thread, over a test database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from rampgate import store
from rampgate.server.app import create_app
from rampgate.server.settings import ServerSettings

__all__ = ["Live", "free_port", "plainly", "running_server", "wait_until_answering"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    url: str
    engine: Engine
    admin: str
    sdk: str  # an SDK token of "prod"
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for this server (closed when the test ends)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=10)
        self.clients.append(client)
        return client

    @cached_property
    def admin_client(self) -> httpx.Client:
        return self.client(self.admin)

    def close(self) -> None:
        for client in self.clients:
            client.close()


@contextmanager
def running_server(
    engine: Engine,
    *,
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
    **settings: object,
) -> Iterator[str]:
    """Serve ``engine`` until the block ends; yields the base URL.

    ``tls``: (certificate, key) files to serve HTTPS with.
    """
    port = port or free_port()
    config = ServerSettings(
        database_url=engine.url.render_as_string(hide_password=False),
        port=port,
        **{"heartbeat_seconds": 1.0, "change_poll_seconds": 0.5, **settings},  # type: ignore[arg-type]
    )
    app = create_app(config, engine=engine)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_until_answering(
    url: str,
    *,
    timeout: float,
    exited: Callable[[], bool] = lambda: False,
    output: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``url`` until it answers 200, for a server started in another process.

    The test fails, with ``output()`` (the server's log), if ``exited()`` says the process ended
    first or after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exited():
            pytest.fail(f"the server exited before {url} answered:\n{output()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    pytest.fail(f"{url} did not answer 200 within {timeout:.0f} s:\n{output()}")


def tokens(engine: Engine) -> tuple[str, str]:
    with store.write(engine) as conn:
        store.create_environment(conn, "prod", actor="setup")
        store.create_environment(conn, "staging", actor="setup")
        _, admin = store.create_token(conn, "admin", None, "tester", actor="setup")
        _, sdk = store.create_token(conn, "sdk", "prod", "agent-service", actor="setup")
    return admin, sdk


def plainly(check: Callable[[], None]) -> None:
    """Run ``check``; report its assertion failure as the message alone, without a traceback.

    Rendering a failing test's source can crash pytest on CPython 3.11 (python/cpython#106905,
    pytest-dev/pytest#10874); a plain failure is rendered without parsing any source.
    """
    try:
        check()
    except AssertionError as exc:
        message = str(exc) or repr(exc)
    else:
        return
    pytest.fail(message, pytrace=False)
