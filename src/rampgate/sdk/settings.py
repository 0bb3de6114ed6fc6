"""Client settings (kept apart from the HTTP code, so an embedded client never imports httpx)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ClientSettings", "RemoteSettings"]


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Tuning for a client; the defaults suit a typical agent service."""

    buffer_size: int = 100_000  # records held before the oldest are dropped
    batch_size: int = 1_000  # records per sink call
    flush_interval: float = 1.0  # seconds between background flushes
    close_timeout: float = 5.0  # how long close() may spend flushing
    pin_capacity: int = 100_000  # sessions the in-process pin store remembers
    watch_interval: float = 1.0  # seconds between file checks with watch=True


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    """How a server-backed client talks to the server."""

    timeout: float = 5.0  # seconds for connecting and for each non-streaming request
    stream: bool = True  # use the SSE stream; False: poll only
    poll_interval: float = 15.0  # seconds between polls when not streaming
    read_timeout: float = 60.0  # a silent stream (no heartbeat) is dropped after this long
    backoff_initial: float = 0.5  # first reconnect delay, doubled on each failure …
    backoff_max: float = 30.0  # … up to this, with jitter
    cache_path: Path | None = None  # last-known-good ruleset file; None: no cache
