"""What one pushed ruleset costs an SDK process to read: the direct reader against httpx.

A thread in this process plays the server: one SSE response, chunked as uvicorn sends it, one
event per chunk carrying P2's pushed ruleset, written every ``--gap`` seconds so that each read
finds one event, as a push does. The reader runs in another thread and is charged its own
thread CPU time only (``time.thread_time``), for the same work both ways: bytes → lines →
events → ``orjson.loads``. Parsing and compiling the ruleset come after and are the same for
both; P2 prints that figure.

- direct: :class:`rampgate.sdk.stream.DirectStream` (``http.client``), what a client uses when
  it reaches the server directly;
- httpx: ``httpx.Client.stream(...).iter_bytes()``, what it uses through a proxy or a custom
  transport (and what every client used before).

    uv run --frozen python -m benchmarks.stream_read [--events N] [--gap SECONDS]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import httpx
import orjson

from benchmarks._common import machine_summary
from benchmarks.p2_propagation import FLAG, flag_document
from rampgate.config import flag_from_document, flag_to_document
from rampgate.sdk.sse import iter_lines, parse_events
from rampgate.sdk.stream import DirectStream

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _frame(version: int) -> bytes:
    document = flag_to_document(flag_from_document(FLAG, flag_document(version)))
    document["version"] = version
    body = {"environment": "prod", "version": version, "flags": {FLAG: document}}
    event = b"id: %d\nevent: ruleset\ndata: %s\n\n" % (
        version,
        json.dumps(body, separators=(",", ":")).encode(),
    )
    return b"%x\r\n%s\r\n" % (len(event), event)


def _serve(listener: socket.socket, events: int, gap: float) -> None:
    conn, _ = listener.accept()
    with conn:
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        conn.sendall(HEAD)
        for version in range(1, events + 1):
            conn.sendall(_frame(version))
            time.sleep(gap)
        conn.sendall(b"0\r\n\r\n")


def _read(chunks: Iterator[bytes], events: int, out: list[float]) -> None:
    """Read ``events`` events; the thread CPU per event, from the second on (the first pays
    for the connection), goes to ``out``."""
    seen, start = 0, 0.0
    for event in parse_events(iter_lines(chunks)):
        orjson.loads(event.data)
        seen += 1
        if seen == 1:
            start = time.thread_time()
        if seen == events:
            break
    out.append((time.thread_time() - start) / (seen - 1))


def _direct(url: str, events: int, out: list[float]) -> None:
    with DirectStream(httpx.URL(url), {}, connect_timeout=5, read_timeout=10) as stream:
        _read(stream.chunks(), events, out)


def _httpx(url: str, events: int, out: list[float]) -> None:
    with httpx.Client(timeout=httpx.Timeout(5, read=10)) as client, client.stream("GET", url) as r:
        _read(r.iter_bytes(), events, out)


def measure(reader: Callable[[str, int, list[float]], None], events: int, gap: float) -> float:
    """Seconds of the reading thread's CPU per event."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        server = threading.Thread(target=_serve, args=(listener, events, gap), daemon=True)
        server.start()
        out: list[float] = []
        client = threading.Thread(
            target=reader, args=(f"http://127.0.0.1:{port}/api/v1/sdk/stream", events, out)
        )
        client.start()
        client.join()
        server.join(timeout=10)
    return out[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--gap", type=float, default=0.001, help="seconds between pushes")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of each")
    args = parser.parse_args(argv)
    print(__doc__.splitlines()[0])
    print(machine_summary())
    results: dict[str, list[float]] = {"direct": [], "httpx": []}
    for _ in range(args.rounds):  # alternated, so that a noisy moment hits both
        results["direct"].append(measure(_direct, args.events, args.gap))
        results["httpx"].append(measure(_httpx, args.events, args.gap))
    direct = statistics.median(results["direct"]) * 1e6
    via_httpx = statistics.median(results["httpx"]) * 1e6
    print(f"{args.rounds} rounds of {args.events} pushed events, one every {args.gap * 1e3:g} ms")
    print(f"  direct (http.client): {direct:6.0f} µs of CPU per event (median of rounds)")
    print(f"  httpx stream:         {via_httpx:6.0f} µs of CPU per event")
    print(f"  ratio: the direct reader costs {direct / via_httpx:.2f} times what httpx costs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
