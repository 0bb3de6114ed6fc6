"""A bounded event buffer drained in batches by a background thread into a sink.

Appending is one ``deque.append`` (thread-safe in CPython; no lock on the hot path). When the
buffer is full the oldest record is dropped and counted — an agent service must never slow
down or grow without bound because the analytics path is slow. A batch the sink fails to take
is kept, ids and all, and retried first with exponential backoff and jitter for as long as the
receiver is away; only a full buffer (drop-oldest) or ``close()``'s deadline loses records, and
both are counted.

A sink that can take several batches at once says so with a ``max_in_flight`` attribute (the
HTTP sink does): the drain thread then converts the next batch while earlier ones are on their
way, on up to that many sender threads. A failed batch goes back to the front, ids unchanged,
and nothing new is sent until the batches in flight have landed — so at most ``max_in_flight``
batches are ever outside the queue, and a retry never sends a record under a new id.
"""

from __future__ import annotations

import logging
import queue as queues
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .records import IdFactory, RawRecord, to_record

__all__ = ["EventBuffer", "RejectedBatch", "Sink"]

logger = logging.getLogger("rampgate")

Batch = list[dict[str, Any]]


class RejectedBatch(Exception):
    """Raised by a sink when the receiver refused a batch for good (e.g. HTTP 422): not retried."""


class Sink(Protocol):
    """Where batches of records go (a file, the rampgate server, a test's list).

    ``send`` is called from one thread at a time, unless the sink has an integer attribute
    ``max_in_flight`` above 1: then up to that many calls may run at once.
    """

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
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._last_flush_size = 0
        self._wake = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()  # one drainer at a time: the thread, or close()/flush()
        # What is outside the queue: batches awaiting a retry, and batches being sent. Guarded
        # by _landed, which the senders notify when a batch lands.
        self._landed = threading.Condition()
        self._retry: deque[Batch] = deque()
        self._in_flight = 0  # batches
        self._in_flight_records = 0
        self._send_failed = False  # a batch failed since the drainer last backed off
        self._delivered = 0  # batches that landed, to restart the back-off after a success
        self._closed = False
        limit = getattr(sink, "max_in_flight", 1)
        self.max_in_flight = limit if type(limit) is int and limit > 1 else 1
        self._outbox: queues.SimpleQueue[Batch | None] = queues.SimpleQueue()
        self._senders: list[threading.Thread] = []
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
        with self._landed:
            # After close() the batches still in flight are counted as failed, not buffered.
            flying = 0 if self._closed else self._in_flight_records
            outside = sum(map(len, self._retry)) + flying
        return len(self.queue) + outside

    # -- converting and sending ---------------------------------------------------------------

    def _next_batch(self) -> Batch:
        with self._landed:
            if self._retry:
                return self._retry.popleft()
        raws: list[RawRecord] = []
        pop = self.queue.popleft
        try:
            while len(raws) < self.batch_size:
                raws.append(pop())
        except IndexError:
            pass
        environment = self._environment()
        return [to_record(raw, self._ids, environment) for raw in raws]

    def _deliver(self, records: Batch) -> bool:
        """One attempt; False when the batch should be retried."""
        sink = self._sink
        if sink is None:  # nowhere to send: records are discarded, as they were recorded
            return True
        try:
            sink.send(records)
        except RejectedBatch as exc:  # the receiver will never take it: retrying cannot help
            with self._landed:
                if not self._closed:
                    self.failed += len(records)
            if self._on_error is not None:
                self._on_error("event batch rejected", exc)
            return True
        except Exception as exc:  # the sink is user-replaceable; any other failure means "retry"
            if self._on_error is not None:
                self._on_error("event sink failed", exc)
            return False
        with self._landed:
            if not self._closed:  # after close() gave up on it, it was counted as failed
                self.sent += len(records)
        return True

    def _dispatch(self, records: Batch) -> None:
        """Send now (one batch at a time), or hand to a sender thread (several in flight)."""
        with self._landed:
            self._in_flight += 1
            self._in_flight_records += len(records)
        if self.max_in_flight == 1:
            self._land(records, self._deliver(records))
            return
        if len(self._senders) < self.max_in_flight:
            # Started as needed, as daemons: a sender stuck on a dead server never holds up exit.
            sender = threading.Thread(
                target=self._send_loop,
                name=f"rampgate-events-send-{len(self._senders) + 1}",
                daemon=True,
            )
            self._senders.append(sender)
            sender.start()
        self._outbox.put(records)

    def _send_loop(self) -> None:
        while (records := self._outbox.get()) is not None:
            try:
                ok = self._deliver(records)
            except Exception:  # on_error itself failed: keep the batch, keep the thread
                logger.exception("rampgate event send failed")
                ok = False
            self._land(records, ok)

    def _land(self, records: Batch, ok: bool) -> None:
        with self._landed:
            self._in_flight -= 1
            self._in_flight_records -= len(records)
            if ok:
                self._delivered += 1
            elif not self._closed:
                self._retry.append(records)
                self._send_failed = True
            self._landed.notify_all()

    def _room(self) -> bool:
        """A batch may be sent now, or one failed (either way the drainer has to act)."""
        return self._send_failed or self._in_flight < self.max_in_flight

    def _idle(self) -> bool:
        return self._in_flight == 0

    def _wait(self, ready: Callable[[], bool], deadline: float | None) -> bool:
        """Wait (holding ``_landed``) until ``ready()`` or the deadline; ``ready()`` at the end."""
        while not ready():
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return False
            self._landed.wait(timeout)
        return True

    def flush(self, deadline: float | None = None) -> bool:
        """Send what is buffered (until ``deadline``, a ``time.monotonic()`` value).

        Without a deadline it stops at the first failure (the caller backs off); with one it
        keeps retrying, briefly spaced, until the deadline. True when everything was sent.
        """
        timeout = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            return self._flush(deadline)
        finally:
            self._lock.release()

    def _flush(self, deadline: float | None) -> bool:
        delay, delivered = 0.05, self._delivered
        self._last_flush_size = len(self.queue)
        while True:
            if deadline is None and self._stopping:
                return False  # close() takes over, with its deadline
            with self._landed:
                if not self._wait(self._room, deadline):
                    return False
                failed = self._send_failed
                if failed:
                    # Let what is in flight land before retrying, so a dead receiver costs at
                    # most max_in_flight failed attempts per back-off.
                    if not self._wait(self._idle, deadline):
                        return False
                    self._send_failed = False
            if failed:
                if deadline is None:
                    return False  # the caller backs off
                if self._delivered != delivered:  # something got through since the last failure
                    delay, delivered = 0.05, self._delivered
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 1.0)
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return False
            records = self._next_batch()
            if records:
                self._dispatch(records)
                continue
            with self._landed:  # nothing left to convert: done once everything in flight lands
                if not self._wait(self._idle, deadline):
                    return False
                if self._send_failed or self._retry:
                    continue
            if not self.queue:
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
        # A batch still in flight counts too; if it lands later, it is not counted again.
        with self._landed:
            self._closed = True
            lost = len(self.queue) + sum(map(len, self._retry)) + self._in_flight_records
            self.failed += lost
            self.queue.clear()
            self._retry.clear()
        for _ in self._senders:
            self._outbox.put(None)
        if self._sink is not None:
            self._sink.close()
