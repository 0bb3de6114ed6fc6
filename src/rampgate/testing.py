"""Test doubles that ship with rampgate, for your tests and ours.

``MemorySink`` collects what a client reports; ``FakeClock`` is a clock you move by hand (pass
``clock=fake`` to a ``Client`` to test pin expiry without sleeping).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FakeClock", "MemorySink"]


class MemorySink:
    """An event sink that keeps every record in ``records``; ``fail_next`` simulates outages."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.batches = 0
        self.fail_next = 0
        self.closed = False
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise ConnectionError("MemorySink: simulated failure")
            self.records.extend(dict(r) for r in batch)
            self.batches += 1

    def close(self) -> None:
        self.closed = True

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["type"] == kind]


class FakeClock:
    """A wall clock (seconds since the epoch) that only moves when told to."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
