"""A bounded event buffer drained in batches by a background thread into a sink.

Appending is a single ``deque.append`` (thread-safe in CPython, no lock on the hot path). When
the buffer is full the oldest record is dropped and counted — an agent service must never slow
down or grow without bound because the analytics path is slow. A failed batch goes back to the
front of the queue and is retried with exponential backoff and jitter for as long as the
receiver is away; only a full buffer (drop-oldest) or ``close()``'s deadline loses records, and
both are counted.
"""

from __future__ import annotations

import contextlib
import itertools
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
        self._queue: deque[RawRecord] = deque(maxlen=capacity)
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = flush_interval
        self._max_backoff = max_backoff
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

    def _send(self, batch: list[RawRecord]) -> bool:
        """One attempt. A transient failure puts the batch back at the front of the queue."""
        if not batch or self._sink is None:
            return True
        environment = self._environment()
        records = [to_record(raw, self._ids, environment) for raw in batch]
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
            self._requeue(batch)
            return False
        self.sent += len(records)
        return True

    def _requeue(self, batch: list[RawRecord]) -> None:
        # Ids derive from (time, sequence), so a resent record keeps its id and the server's
        # dedup makes a retry after a lost response harmless.
        room = self._capacity - len(self._queue)
        overflow = max(0, len(batch) - room)
        keep = batch[overflow:]  # when full, the oldest records of the batch go first
        self._queue.extendleft(reversed(keep))
        self._taken -= len(batch)

    def flush(self, deadline: float | None = None) -> bool:
        """Send what is buffered (until ``deadline``, a ``time.monotonic()`` value).

        Without a deadline it stops at the first failure (the caller backs off); with one it
        keeps retrying, briefly spaced, until the deadline. True when the queue was emptied.
        """
        delay = 0.05
        with self._lock:
            while self._queue:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                if self._send(self._take()):
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
            wait = self._interval if backoff == 0 else backoff * random.uniform(0.5, 1.0)
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
        self.failed += len(self._queue)
        self._queue.clear()
        if self._sink is not None:
            self._sink.close()
