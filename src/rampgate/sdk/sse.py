"""A Server-Sent Events parser (the WHATWG event-stream format), fed line by line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["ServerSentEvent", "parse_events"]


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
