"""The SDK in server mode against a real server: push, resume, last-known-good, no lost events."""

from __future__ import annotations

import copy
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

import rampgate
from rampgate import store
from rampgate.sdk.sse import parse_events

from .conftest import AGENT
from .live import Live, free_port, running_server, tokens

FLAG_URL = "/api/v1/environments/prod/flags/agent"
STAFF = rampgate.Context(user_id="u1", attributes={"email": "ana@example.com"})


def wait_for(predicate: Any, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)
    return time.monotonic() - start


def remote_client(url: str, token: str, **settings: Any) -> rampgate.Client:
    remote = rampgate.RemoteSettings(**{"backoff_initial": 0.05, "backoff_max": 0.5, **settings})
    return rampgate.Client(url=url, sdk_key=token, remote=remote,
                           settings=rampgate.ClientSettings(flush_interval=0.05, batch_size=200))  # fmt: skip


def test_a_change_reaches_a_streaming_client_fast(live: Live) -> None:
    live.admin_client.put(FLAG_URL, json=AGENT)
    client = remote_client(live.url, live.sdk)
    try:
        assert client.wait_ready(5)
        wait_for(lambda: client.evaluate("agent", STAFF, expose=False).flag_version == 1)
        assert client.evaluate("agent", STAFF).variant == "candidate"
        changed = copy.deepcopy(AGENT)
        changed["rules"][0]["serve"] = "stable"
        live.admin_client.put(FLAG_URL, json=changed, headers={"If-Match": '"1"'})
        took = wait_for(
            lambda: client.evaluate("agent", STAFF, expose=False).flag_version == 2, timeout=2
        )
        assert took < 1.0
        assert client.evaluate("agent", STAFF).variant == "stable"
        live.admin_client.post(f"{FLAG_URL}/kill")
        wait_for(
            lambda: client.evaluate("agent", STAFF, expose=False).reason is rampgate.Reason.DISABLED
        )
    finally:
        client.close()
    assert client.stats().get("ruleset_error", 0) == 0


def test_polling_client_also_converges(live: Live) -> None:
    live.admin_client.put(FLAG_URL, json=AGENT)
    client = remote_client(live.url, live.sdk, stream=False, poll_interval=0.1)
    try:
        assert client.wait_ready(5)
        live.admin_client.post(f"{FLAG_URL}/kill")
        wait_for(
            lambda: client.evaluate("agent", STAFF, expose=False).reason is rampgate.Reason.DISABLED
        )
    finally:
        client.close()


def _events(response: httpx.Response, stop_after: int, timeout: float) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    for event in parse_events(response.iter_lines()):
        out.append(event)
        if (
            len([e for e in out if e.event == "ruleset"]) >= stop_after
            or time.monotonic() > deadline
        ):
            break
    return out


def test_stream_sends_on_connect_and_resumes_from_last_event_id(live: Live) -> None:
    live.admin_client.put(FLAG_URL, json=AGENT)
    sdk = live.client(live.sdk)
    with sdk.stream("GET", "/api/v1/sdk/stream") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        first = _events(r, 1, 5)
    ruleset = [e for e in first if e.event == "ruleset"]
    assert ruleset and ruleset[0].id == "1"

    # Resuming at the current version sends nothing old; the next change arrives with its id.
    def change_soon() -> None:
        time.sleep(0.3)
        live.admin_client.post(f"{FLAG_URL}/kill")

    changer = threading.Thread(target=change_soon, daemon=True)
    changer.start()
    with sdk.stream("GET", "/api/v1/sdk/stream", headers={"Last-Event-ID": "1"}) as r:
        resumed = _events(r, 1, 5)
    # The push can overtake the kill's own answer: wait for it before the clients close.
    changer.join(10)
    assert [e.id for e in resumed if e.event == "ruleset"] == ["2"]


def test_server_away_keeps_serving_and_loses_no_event(engine: Engine, tmp_path: Path) -> None:
    admin, sdk_token = tokens(engine)
    port = free_port()
    cache = tmp_path / "lkg.json"
    with running_server(engine, port=port) as url:
        httpx.put(
            f"{url}{FLAG_URL}", json=AGENT, headers={"Authorization": f"Bearer {admin}"}
        ).raise_for_status()
        clients = [remote_client(url, sdk_token, cache_path=cache) for _ in range(3)]
        assert all(c.wait_ready(5) for c in clients)
        wait_for(cache.exists)

    # The server is gone. Clients keep serving what they had; a new one starts from the cache.
    late = remote_client(f"http://127.0.0.1:{port}", sdk_token, cache_path=cache)
    clients.append(late)
    errors: list[BaseException] = []
    sent = [0] * len(clients)

    def work(i: int, client: rampgate.Client) -> None:
        try:
            for n in range(300):
                ev = client.evaluate("agent", rampgate.Context(user_id=f"c{i}-u{n}"))
                assert ev.reason is not rampgate.Reason.ERROR and ev.flag_version == 1
                client.track("resolved", rampgate.Context(user_id=f"c{i}-u{n}"), value=1)
                sent[i] += 2
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    time.sleep(0.3)  # let the flushers fail and back off a few times

    with running_server(engine, port=port):
        for client in clients:
            client.close(timeout=10)
    stats = [c.stats() for c in clients]
    assert all(s["events_dropped"] == 0 and s["events_failed"] == 0 for s in stats), stats
    with store.read(engine) as conn:
        stored = store.count_events(conn, environment="prod")
    assert stored == sum(sent) == len(clients) * 600


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_stream_and_fetch_over_https_trust_what_httpx_trusts(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, sdk_token = tokens(engine)
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx's trust store, and so the stream's
    with running_server(engine, tls=(cert, key)) as url:
        assert url.startswith("https://")
        admin_http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"})
        admin_http.put(FLAG_URL, json=AGENT).raise_for_status()
        client = remote_client(url, sdk_token)
        try:
            assert client.wait_ready(5)
            wait_for(lambda: client.evaluate("agent", STAFF, expose=False).flag_version == 1)
            admin_http.post(f"{FLAG_URL}/kill").raise_for_status()
            wait_for(lambda: client.evaluate("agent", STAFF, expose=False).flag_version == 2)
        finally:
            client.close()
            admin_http.close()
    assert not {k: v for k, v in client.stats().items() if k.endswith("_error") and v}


class CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def test_a_client_with_its_own_transport_streams_through_it(live: Live) -> None:
    live.admin_client.put(FLAG_URL, json=AGENT)
    transport = CountingTransport()
    client = rampgate.Client(url=live.url, sdk_key=live.sdk, transport=transport)
    try:
        assert client.wait_ready(5)
        live.admin_client.post(f"{FLAG_URL}/kill")
        wait_for(lambda: client.evaluate("agent", STAFF, expose=False).flag_version == 2)
    finally:
        client.close()
    assert "/api/v1/sdk/stream" in transport.paths
