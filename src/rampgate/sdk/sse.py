"""A Server-Sent Events parser (the WHATWG event-stream format): bytes → lines → events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["ServerSentEvent", "iter_lines", "parse_events"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None
    retry: int | None = None


def parse_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Yield each complete event; comments (``: ping``) and unknown fields are skipped."""
    event, last_id = "", None
    data: list[str] = []
    retry_ms: int | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data), last_id, retry_ms)
            event, data, retry_ms = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry_ms = int(value)


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines of an event stream as its chunks arrive: split at CRLF, LF or a lone CR.

    Splitting the bytes (``bytes.splitlines`` knows only those three endings, where
    ``str.splitlines`` would also split at U+2028 and friends inside the JSON) and decoding
    each line once is a fraction of the work of a generic text decoder stacked on a line
    decoder — and every streaming client does it for every pushed ruleset.
    """
    pending = b""
    after_cr = False  # the last chunk ended in CR: a LF opening the next one belongs to it
    for chunk in chunks:
        data = chunk[1:] if after_cr and chunk.startswith(b"\n") else chunk
        after_cr = False
        if pending:
            data, pending = pending + data, b""
        if not data:
            continue
        lines = data.splitlines(keepends=True)
        last = lines[-1]
        if not last.endswith((b"\n", b"\r")):
            pending = lines.pop()
        elif last.endswith(b"\r"):
            after_cr = True
        for line in lines:
            yield line.rstrip(b"\r\n").decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")
