"""Pushing rulesets: the hub wakes only the streams of the environment that changed, reads a
NOTIFY's own payload, and streams never sleep through a change; several server processes on
PostgreSQL push a change written through any of them."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from rampgate.cli import app
from rampgate.sdk.sse import ServerSentEvent, iter_lines, parse_events
from rampgate.server.hub import ChangeHub, _change
from tests.store.databases import fresh_postgres_schema, migrated

from .conftest import AGENT
from .live import Live, free_port, tokens, wait_until_answering

FLAG_URL = "/api/v1/environments/prod/flags/agent"


def test_a_notice_says_environment_version_and_schema() -> None:
    notice = _change(json.dumps({"environment": "prod", "version": 7, "schema": "public"}))
    assert notice is not None and notice == ("prod", 7, "public")
    assert _change(json.dumps({"environment": "prod", "version": 7})) == ("prod", 7, None)
    for bad in ["", "nope", "[]", '{"environment": "prod"}', '{"environment": 1, "version": 2}',
                '{"environment": "prod", "version": "7"}', '{"environment": "p", "version": true}']:  # fmt: skip
        assert _change(bad) is None, bad


def test_the_hub_wakes_only_the_changed_environment(engine: Engine) -> None:
    tokens(engine)  # environments prod and staging

    async def scenario() -> tuple[bool, bool, bool]:
        hub = ChangeHub(engine, poll_seconds=3600)
        await hub.start()
        try:
            prod = asyncio.ensure_future(hub.wait(5, "prod"))
            staging = asyncio.ensure_future(hub.wait(0.3, "staging"))
            anywhere = asyncio.ensure_future(hub.wait(5))
            await asyncio.sleep(0.05)
            hub.published("prod", hub.versions["prod"] + 1)
            return await prod, await staging, await anywhere
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) == (True, False, True)


def _next_ruleset(lines: Any) -> ServerSentEvent:
    for event in parse_events(lines):
        if event.event == "ruleset":
            return event
    raise AssertionError("the stream ended")


def test_quick_successive_changes_all_reach_the_stream(live: Live) -> None:
    c = live.admin_client
    c.put(FLAG_URL, json=AGENT)
    sdk = live.client(live.sdk)
    with sdk.stream("GET", "/api/v1/sdk/stream", timeout=10) as r:
        lines = iter_lines(r.iter_bytes())
        first = _next_ruleset(lines)
        doc = copy.deepcopy(AGENT)
        version = int(first.id or 0)
        for i in range(5):  # faster than a stream can write each: none may wait for a ping
            doc["description"] = f"change {i}"
            response = c.put(FLAG_URL, json=doc, headers={"If-Match": f'"{1 + i}"'})
            assert response.status_code == 200, response.text
        written = time.monotonic()
        target = version + 5
        while version < target:
            version = int(_next_ruleset(lines).id or 0)
        # The test server pings every second; the last change must not have waited for one.
        assert time.monotonic() - written < 0.9
        assert json.loads(_last_data(sdk))["flags"]["agent"]["description"] == "change 4"


def _last_data(sdk: httpx.Client) -> str:
    response = sdk.get("/api/v1/sdk/ruleset")
    response.raise_for_status()
    return response.text


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rampgate.db'}"
    result = CliRunner().invoke(
        app, ["serve", "--database", url], env={"RAMPGATE_WORKERS": "2"}, catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "needs PostgreSQL" in result.output


@pytest.mark.postgres
def test_two_workers_push_a_change_to_every_stream() -> None:
    with fresh_postgres_schema() as url, migrated(url) as engine:
        admin, sdk_token = tokens(engine)
        port = free_port()
        env = {**os.environ, "RAMPGATE_DATABASE_URL": url, "RAMPGATE_WORKERS": "2"}
        command = [str(Path(sys.executable).with_name("rampgate")), "serve", "--port", str(port)]
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            # Two interpreters importing on a busy machine; then the second worker may answer
            # a moment after the first.
            wait_until_answering(
                f"{base}/healthz", timeout=90, exited=lambda: server.poll() is not None
            )
            time.sleep(1.0)
            admin_http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"})
            admin_http.put(FLAG_URL, json=AGENT).raise_for_status()
            # Streams land on either worker; each waits for the flag's version 2.
            got: list[int] = []
            ready = threading.Barrier(9)

            def follow() -> None:
                headers = {"Authorization": f"Bearer {sdk_token}"}
                with httpx.stream(
                    "GET", f"{base}/api/v1/sdk/stream", headers=headers, timeout=30
                ) as r:
                    events = parse_events(iter_lines(r.iter_bytes()))
                    next(e for e in events if e.event == "ruleset")
                    ready.wait(30)
                    event = next(e for e in events if e.event == "ruleset")
                    got.append(json.loads(event.data)["flags"]["agent"]["version"])

            streams = [threading.Thread(target=follow, daemon=True) for _ in range(8)]
            for t in streams:
                t.start()
            ready.wait(60)
            killed = admin_http.post(f"{FLAG_URL}/kill")
            assert killed.status_code == 200, killed.text
            for t in streams:
                t.join(30)
            assert got == [2] * 8
            admin_http.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
