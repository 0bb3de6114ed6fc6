"""The direct event-stream reader over a scripted socket server: what it sends, how it reads
chunked and close-delimited bodies, refusals, interruption; and when it is not used at all."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx
import pytest

from rampgate.sdk.sse import iter_lines, parse_events
from rampgate.sdk.stream import DirectStream, StreamRefused, direct_stream_possible

EVENTS = b'id: 3\nevent: ruleset\ndata: {"a": 1}\n\n: ping\n\nid: 4\nevent: ruleset\ndata: {}\n\n'


class Scripted:
    """One connection: records the request, writes ``pieces`` (pausing between them), then
    either closes or holds the connection open until the test ends."""

    def __init__(self, pieces: list[bytes], *, hold: bool = False) -> None:
        self.request = b""
        self._pieces = pieces
        self._hold = hold
        self._done = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            while b"\r\n\r\n" not in self.request:
                self.request += conn.recv(4096)
            for piece in self._pieces:
                conn.sendall(piece)
                time.sleep(0.01)  # separate reads, as separate pushes would be
            if self._hold:
                self._done.wait(10)

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self._listener.close()


@contextmanager
def scripted(pieces: list[bytes], *, hold: bool = False) -> Iterator[Scripted]:
    server = Scripted(pieces, hold=hold)
    try:
        yield server
    finally:
        server.close()


def chunked(*parts: bytes) -> list[bytes]:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    return [head, *(b"%x\r\n%s\r\n" % (len(p), p) for p in parts), b"0\r\n\r\n"]


def read_all(stream: DirectStream) -> list[tuple[str | None, str]]:
    return [(e.id, e.data) for e in parse_events(iter_lines(stream.chunks()))]


def open_stream(port: int, path: str = "/api/v1/sdk/stream", **headers: str) -> DirectStream:
    url = httpx.URL(f"http://127.0.0.1:{port}{path}")
    return DirectStream(url, headers, connect_timeout=2, read_timeout=2)


def test_sends_the_path_and_headers_and_reads_chunked_events() -> None:
    # An event cut across chunks, as a proxy may re-chunk, is put back together.
    pieces = chunked(EVENTS[:20], EVENTS[20:45], EVENTS[45:])
    with scripted(pieces) as server:
        path = "/prefix/api/v1/sdk/stream"
        with open_stream(server.port, path, **{"Last-Event-ID": "2"}) as stream:
            assert read_all(stream) == [("3", '{"a": 1}'), ("4", "{}")]
    head = server.request.decode()
    assert head.startswith("GET /prefix/api/v1/sdk/stream HTTP/1.1\r\n")
    assert "Last-Event-ID: 2\r\n" in head


def test_reads_a_body_that_ends_when_the_connection_closes() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
    with scripted([head, EVENTS[:30], EVENTS[30:]]) as server, open_stream(server.port) as s:
        assert read_all(s) == [("3", '{"a": 1}'), ("4", "{}")]


def test_a_refusal_names_the_status_and_the_servers_reason() -> None:
    body = b'{"title": "Unauthorized", "detail": "unknown or revoked token"}'
    answer = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    with scripted([answer]) as server, pytest.raises(StreamRefused) as refused:
        open_stream(server.port)
    assert refused.value.status == 401
    assert "HTTP 401" in str(refused.value) and "unknown or revoked token" in str(refused.value)


def test_a_quiet_stream_times_out_after_the_read_timeout() -> None:
    with scripted(chunked(EVENTS)[:2], hold=True) as server:
        url = httpx.URL(f"http://127.0.0.1:{server.port}/s")
        with DirectStream(url, {}, connect_timeout=2, read_timeout=0.2) as stream:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                read_all(stream)
    assert 0.15 < time.monotonic() - start < 2


def test_interrupt_wakes_a_read_blocked_in_another_thread() -> None:
    with scripted(chunked(EVENTS)[:2], hold=True) as server, open_stream(server.port) as stream:
        ended = threading.Event()

        def read() -> None:
            # An interrupted chunked body may end as an incomplete read.
            with suppress(http.client.HTTPException, OSError):
                read_all(stream)
            ended.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert not ended.wait(0.2)  # blocked: the server sends nothing more
        stream.interrupt()
        assert ended.wait(1.0)


def test_a_connection_refused_raises_at_once() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        open_stream(port)


@pytest.mark.parametrize(
    ("url", "environ", "direct"),
    [
        ("http://127.0.0.1:7400", {}, True),
        ("https://flags.internal", {}, True),
        ("http://flags.internal", {"HTTP_PROXY": "http://proxy:3128"}, False),
        ("http://flags.internal", {"ALL_PROXY": "http://proxy:3128"}, False),
        ("https://flags.internal", {"HTTP_PROXY": "http://proxy:3128"}, True),
        ("https://flags.internal", {"HTTPS_PROXY": "http://proxy:3128"}, False),
        (
            "http://flags.internal",
            {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "flags.internal"},
            True,
        ),
    ],
)
def test_only_a_plain_connection_is_read_directly(
    monkeypatch: pytest.MonkeyPatch, url: str, environ: dict[str, str], direct: bool
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert direct_stream_possible(httpx.URL(url), custom_transport=False) is direct
    assert direct_stream_possible(httpx.URL(url), custom_transport=True) is False
