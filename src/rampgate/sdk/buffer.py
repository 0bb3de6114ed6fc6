"""A bounded event buffer drained in batches by a background thread into a sink.

Appending is a single ``deque.append`` (thread-safe in CPython, no lock on the hot path). When
the buffer is full the oldest record is dropped and counted — an agent service must never slow
down or grow without bound because the analytics path is slow. A failed batch is retried with
backoff a few times and then dropped, and counted.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .records import IdFactory, RawRecord, to_record

__all__ = ["EventBuffer", "Sink"]

logger = logging.getLogger("rampgate")


class Sink(Protocol):
    """Where batches of records go (a file, the rampgate server, a test's list)."""

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


class EventBuffer:
    def __init__(
        self,
        sink: Sink | None,
        *,
        environment: str,
        capacity: int,
        batch_size: int,
        flush_interval: float,
        max_retries: int = 3,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._sink = sink
        self._environment = environment
        self._queue: deque[RawRecord] = deque(maxlen=capacity)
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = flush_interval
        self._max_retries = max_retries
        self._on_error = on_error
        self._ids = IdFactory()
        self._seq = itertools.count()
        self._taken = 0
        self._max_seq = -1
        self.sent = 0
        self.failed = 0
        self._wake = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()  # one drainer at a time: the thread, or close()/flush()
        self._thread: threading.Thread | None = None
        if sink is not None:
            self._thread = threading.Thread(target=self._run, name="rampgate-events", daemon=True)
            self._thread.start()

    def next_sequence(self) -> int:
        return next(self._seq)

    def append(self, raw: RawRecord) -> None:
        if self._sink is None:
            return
        self._queue.append(raw)
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    @property
    def dropped(self) -> int:
        """Records pushed out of the full buffer before they could be sent.

        Drop-oldest never drops the newest record, so the highest sequence number seen tells how
        many were appended; no counter has to be kept (or locked) on the hot path.
        """
        newest = self._max_seq
        with contextlib.suppress(IndexError):  # empty queue
            newest = max(newest, self._queue[-1][2])
        return max(0, newest + 1 - self._taken - len(self._queue))

    def __len__(self) -> int:
        return len(self._queue)

    def _take(self) -> list[RawRecord]:
        batch: list[RawRecord] = []
        pop = self._queue.popleft
        try:
            while len(batch) < self._batch_size:
                batch.append(pop())
        except IndexError:
            pass
        self._taken += len(batch)
        if batch:
            self._max_seq = max(self._max_seq, *(raw[2] for raw in batch))
        return batch

    def _send(self, batch: list[RawRecord], deadline: float | None) -> bool:
        if not batch or self._sink is None:
            return True
        records = [to_record(raw, self._ids, self._environment) for raw in batch]
        delay = 0.05
        for attempt in range(self._max_retries + 1):
            try:
                self._sink.send(records)
            except Exception as exc:  # the sink is user-replaceable; any failure means "retry"
                if self._on_error is not None:
                    self._on_error("event sink failed", exc)
                out_of_time = deadline is not None and time.monotonic() + delay >= deadline
                if attempt == self._max_retries or out_of_time:
                    self.failed += len(records)
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                self.sent += len(records)
                return True
        return False

    def flush(self, deadline: float | None = None) -> None:
        """Send everything buffered now (until ``deadline``, a ``time.monotonic()`` value)."""
        with self._lock:
            while self._queue and (deadline is None or time.monotonic() < deadline):
                self._send(self._take(), deadline)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping:
                break
            try:
                self.flush()
            except Exception:  # never let the flush thread die silently
                logger.exception("rampgate event flush failed")

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.flush(deadline)
        if self._sink is not None:
            self._sink.close()
