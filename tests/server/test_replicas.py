"""Two server processes over one PostgreSQL schema: a change written through one reaches SDKs
streaming from the other within a second, through LISTEN/NOTIFY.

Both servers are real ``rampgate serve`` processes. Their safety-net poll is set to 30 s, so
only NOTIFY can deliver a change inside the 1 s budget this test asserts.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

import rampgate
from rampgate import store
from rampgate.sdk.sse import ServerSentEvent, parse_events

from .conftest import AGENT
from .live import free_port, wait_until_answering

pytestmark = pytest.mark.postgres

FLAG_URL = "/api/v1/environments/prod/flags/agent"
STAFF = rampgate.Context(user_id="u1", attributes={"email": "ana@example.com"})
BUDGET = 1.0  # seconds from the write's answer to the other replica's client serving it
START_TIMEOUT = 30.0


class Replica:
    """A ``rampgate serve`` process on a loopback port, its output in a log file."""

    def __init__(self, name: str, database_url: str, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        env = {
            **os.environ,
            "RAMPGATE_DATABASE_URL": database_url,
            "RAMPGATE_HEARTBEAT_SECONDS": "1",
            "RAMPGATE_CHANGE_POLL_SECONDS": "30",  # NOTIFY, not the poll, must do the work
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-c", "from rampgate.cli import main; main()"]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self) -> None:
        wait_until_answering(
            f"{self.url}/readyz",
            timeout=START_TIMEOUT,
            exited=lambda: self.process.poll() is not None,
            output=lambda: f"replica {self.name}:\n{self.output()}",
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@contextmanager
def replicas(engine: Engine, tmp_path: Path, count: int) -> Iterator[list[Replica]]:
    url = engine.url.render_as_string(hide_password=False)
    started: list[Replica] = []
    try:
        started = [Replica(chr(ord("a") + i), url, tmp_path) for i in range(count)]
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


class StreamReader:
    """A raw SSE connection read in a thread: every ``ruleset`` event with its arrival time."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[tuple[float, ServerSentEvent]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(5.0, read=10.0),
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _lines(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():  # a heartbeat each second: a stop is seen quickly
            if self._stop.is_set():
                return
            yield line

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/api/v1/sdk/stream") as response:
                response.raise_for_status()
                for event in parse_events(self._lines(response)):
                    if event.event == "ruleset":
                        self.events.append((time.monotonic(), event))
        except Exception as exc:  # kept for the test's assertion
            self.error = exc

    def versions(self) -> list[int]:
        return [json.loads(event.data)["version"] for _, event in self.events]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()


def wait_for(predicate: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not reached in {timeout}s")
        time.sleep(0.002)
    return time.monotonic() - start


def arrivals(since: float, budget: float, **checks: Callable[[], bool]) -> dict[str, float]:
    """Seconds from ``since`` until each check first held; fails if one is late."""
    seen: dict[str, float] = {}
    while len(seen) < len(checks):
        now = time.monotonic()
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = now - since
        if now - since > budget:
            late = sorted(set(checks) - set(seen))
            raise AssertionError(f"not within {budget}s: {late} (arrived: {seen})")
        time.sleep(0.001)
    return seen


def sdk_client(url: str, token: str) -> rampgate.Client:
    remote = rampgate.RemoteSettings(backoff_initial=0.05, backoff_max=0.5)
    return rampgate.Client(url=url, sdk_key=token, remote=remote)


def served_version(client: rampgate.Client) -> int:
    return client.evaluate("agent", STAFF, expose=False).flag_version


def test_a_change_through_one_replica_reaches_sdks_on_the_other(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    with store.write(postgres_engine) as conn:
        store.create_environment(conn, "prod", actor="setup")
        _, admin = store.create_token(conn, "admin", None, "tester", actor="setup")
        _, sdk = store.create_token(conn, "sdk", "prod", "agent-service", actor="setup")
    auth = {"Authorization": f"Bearer {admin}"}

    with replicas(postgres_engine, tmp_path, 2) as (a, b), ExitStack() as stack:
        writer_a = stack.enter_context(httpx.Client(base_url=a.url, headers=auth, timeout=10))
        writer_b = stack.enter_context(httpx.Client(base_url=b.url, headers=auth, timeout=10))
        assert writer_a.put(FLAG_URL, json=AGENT).status_code == 201

        on_a, on_b = sdk_client(a.url, sdk), sdk_client(b.url, sdk)
        stack.callback(on_a.close)
        stack.callback(on_b.close)
        raw_b = StreamReader(b.url, sdk)
        stack.callback(raw_b.close)
        assert on_a.wait_ready(10) and on_b.wait_ready(10)
        wait_for(lambda: served_version(on_a) == 1 and served_version(on_b) == 1, 5)
        wait_for(lambda: raw_b.versions()[-1:] == [1], 5)
        assert on_b.evaluate("agent", STAFF).variant == "candidate"

        # Written through A: B's SDK and B's raw stream see it, by NOTIFY, within the budget.
        changed: dict[str, Any] = copy.deepcopy(AGENT)
        changed["rules"][0]["serve"] = "stable"
        written = writer_a.put(FLAG_URL, json=changed, headers={"If-Match": '"1"'})
        answered = time.monotonic()
        assert written.status_code == 200, written.text
        forward = arrivals(
            answered,
            BUDGET,
            sdk_on_b=lambda: served_version(on_b) == 2,
            sse_on_b=lambda: raw_b.versions()[-1:] == [2],
            sdk_on_a=lambda: served_version(on_a) == 2,
        )
        assert on_b.evaluate("agent", STAFF).variant == "stable"
        stream_event = raw_b.events[-1][1]
        assert stream_event.id == str(json.loads(stream_event.data)["version"]) == "2"

        # And the other way: a kill written through B reaches A's SDK.
        killed = writer_b.post(f"{FLAG_URL}/kill", json={"reason": "replica test"})
        assert killed.status_code == 200, killed.text
        backward = arrivals(
            time.monotonic(),
            BUDGET,
            sdk_on_a=lambda: (
                on_a.evaluate("agent", STAFF, expose=False).reason is rampgate.Reason.DISABLED
            ),
            sse_on_b=lambda: raw_b.versions()[-1:] == [3],
        )
        ms = {k: f"{v * 1000:.1f} ms" for k, v in forward.items()}
        print(f"\nwritten through A: {ms}")
        ms = {k: f"{v * 1000:.1f} ms" for k, v in backward.items()}
        print(f"written through B: {ms}")
        assert raw_b.error is None, raw_b.error
    assert a.process.returncode is not None and b.process.returncode is not None
    assert "Traceback" not in a.output() + b.output(), a.output() + b.output()
