"""Session pinning: a conversation keeps the variant it started with.

A flag with ``pin: session`` records the first variant each ``session_id`` is served; until the
pin expires (the flag's ``pin_ttl``), later evaluations in that session return it with reason
``PINNED`` even after weights change. The store is an interface so that replicas can share pins
(Redis); the in-process store here is a bounded LRU with expiry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

__all__ = ["LruPinStore", "PinRecord", "PinStore"]


@dataclass(frozen=True, slots=True)
class PinRecord:
    variant: str
    generation: int
    expires_at: float


class PinStore(Protocol):
    """Where pins live. ``now`` is passed in so the store needs no clock of its own."""

    def get(self, flag: str, session_id: str, now: float) -> PinRecord | None: ...

    def put(self, flag: str, session_id: str, record: PinRecord) -> None: ...

    def clear_flag(self, flag: str) -> None: ...


class LruPinStore:
    """An in-process pin store of at most ``capacity`` sessions, least recently used out first."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data: OrderedDict[tuple[str, str], PinRecord] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, flag: str, session_id: str, now: float) -> PinRecord | None:
        key = (flag, session_id)
        with self._lock:
            record = self._data.get(key)
            if record is None:
                return None
            if record.expires_at <= now:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return record

    def put(self, flag: str, session_id: str, record: PinRecord) -> None:
        key = (flag, session_id)
        with self._lock:
            self._data[key] = record
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear_flag(self, flag: str) -> None:
        with self._lock:
            for key in [k for k in self._data if k[0] == flag]:
                del self._data[key]

    def __len__(self) -> int:
        return len(self._data)
