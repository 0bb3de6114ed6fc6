"""A bounded event buffer drained in batches by a background thread into a sink.

Appending is one ``deque.append`` (thread-safe in CPython; no lock on the hot path). When the
buffer is full the oldest record is dropped and counted — an agent service must never slow
down or grow without bound because the analytics path is slow. A batch the sink fails to take
is kept, ids and all, and retried first with exponential backoff and jitter for as long as the
receiver is away; only a full buffer (drop-oldest) or ``close()``'s deadline loses records, and
both are counted.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .records import IdFactory, RawRecord, to_record

__all__ = ["EventBuffer", "RejectedBatch", "Sink"]

logger = logging.getLogger("rampgate")


class RejectedBatch(Exception):
    """Raised by a sink when the receiver refused a batch for good (e.g. HTTP 422): not retried."""


class Sink(Protocol):
    """Where batches of records go (a file, the rampgate server, a test's list)."""

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


class EventBuffer:
    def __init__(
        self,
        sink: Sink | None,
        *,
        environment: Callable[[], str],
        capacity: int,
        batch_size: int,
        flush_interval: float,
        max_backoff: float = 30.0,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._sink = sink
        self._environment = environment
        self.queue: deque[RawRecord] = deque(maxlen=capacity)
        self.capacity = capacity
        self.batch_size = batch_size
        self._interval = flush_interval
        self._max_backoff = max_backoff
        self._on_error = on_error
        self._ids = IdFactory()
        self._pending: list[dict[str, Any]] = []  # a converted batch awaiting a retry
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._last_flush_size = 0
        self._wake = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()  # one drainer at a time: the thread, or close()/flush()
        self._thread: threading.Thread | None = None
        if sink is not None:
            self._thread = threading.Thread(target=self._run, name="rampgate-events", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        return self._sink is not None

    def append(self, raw: RawRecord) -> None:
        """Queue a record. The client inlines the same two steps on its hot path."""
        queue = self.queue
        if len(queue) >= self.capacity:
            # Counted without a lock: two threads racing at a full buffer may count one drop
            # twice or not at all; the count is for alerting, not accounting.
            self.dropped += 1
        queue.append(raw)

    def __len__(self) -> int:
        return len(self.queue) + len(self._pending)

    def _next_batch(self) -> list[dict[str, Any]]:
        if self._pending:
            batch, self._pending = self._pending, []
            return batch
        raws: list[RawRecord] = []
        pop = self.queue.popleft
        try:
            while len(raws) < self.batch_size:
                raws.append(pop())
        except IndexError:
            pass
        environment = self._environment()
        return [to_record(raw, self._ids, environment) for raw in raws]

    def _send(self, records: list[dict[str, Any]]) -> bool:
        """One attempt. On a transient failure the batch is kept for the next attempt."""
        if not records or self._sink is None:
            return True
        try:
            self._sink.send(records)
        except RejectedBatch as exc:  # the receiver will never take it: retrying cannot help
            self.failed += len(records)
            if self._on_error is not None:
                self._on_error("event batch rejected", exc)
            return True
        except Exception as exc:  # the sink is user-replaceable; any other failure means "retry"
            if self._on_error is not None:
                self._on_error("event sink failed", exc)
            self._pending = records
            return False
        self.sent += len(records)
        return True

    def flush(self, deadline: float | None = None) -> bool:
        """Send what is buffered (until ``deadline``, a ``time.monotonic()`` value).

        Without a deadline it stops at the first failure (the caller backs off); with one it
        keeps retrying, briefly spaced, until the deadline. True when everything was sent.
        """
        delay = 0.05
        with self._lock:
            self._last_flush_size = len(self.queue)
            while self._pending or self.queue:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                if self._send(self._next_batch()):
                    delay = 0.05
                    continue
                if deadline is None:
                    return False
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 1.0)
        return True

    def _run(self) -> None:
        backoff = 0.0
        while not self._stopping:
            # A queue that held a batch or more at the last flush is busy: come back sooner,
            # so the hot path never has to wake this thread (that would cost every append).
            busy = self._last_flush_size >= self.batch_size
            interval = min(self._interval, 0.05) if busy else self._interval
            wait = interval if backoff == 0 else backoff * random.uniform(0.5, 1.0)
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopping:
                break
            try:
                ok = self.flush()
            except Exception:  # never let the flush thread die silently
                logger.exception("rampgate event flush failed")
                ok = False
            # Exponential backoff with jitter while the receiver is away; a full buffer still
            # drops its oldest records meanwhile, so memory stays bounded.
            backoff = 0.0 if ok else min(max(backoff * 2, 0.25), self._max_backoff)

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.flush(deadline)
        # Whatever could not be sent before the deadline is lost with the process: count it.
        self.failed += len(self)
        self.queue.clear()
        self._pending = []
        if self._sink is not None:
            self._sink.close()
