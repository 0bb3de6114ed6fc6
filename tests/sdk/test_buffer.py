"""The event buffer with several batches in flight: nothing lost, no id ever changes."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest

from rampgate.sdk.buffer import EventBuffer, RejectedBatch
from rampgate.sdk.http_sink import HttpSink


class ConcurrentSink:
    """Takes up to ``max_in_flight`` batches at once; fails some, or stores and then fails.

    "Stores and then fails" is a lost response: the receiver kept the batch but the sender
    never heard, so the batch comes again — with the same ids, which is what dedup relies on.
    """

    def __init__(
        self, max_in_flight: int, *, fail: float = 0.0, lose_answer: float = 0.0, seed: int = 7
    ) -> None:
        self.max_in_flight = max_in_flight
        self.fail, self.lose_answer = fail, lose_answer
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.stored: list[dict[str, Any]] = []
        self.attempts: list[tuple[str, ...]] = []  # the ids of every batch, every attempt
        self.inside = 0
        self.most_inside = 0
        self.closed = False

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
        with self.lock:
            self.attempts.append(tuple(r["id"] for r in batch))
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            roll = self.random.random()
        try:
            time.sleep(0.002)  # a round trip, so that batches overlap
            if roll < self.fail:
                raise ConnectionError("simulated: the server is away")
            with self.lock:
                self.stored.extend(dict(r) for r in batch)
            if roll < self.fail + self.lose_answer:
                raise ConnectionError("simulated: the answer was lost")
        finally:
            with self.lock:
                self.inside -= 1

    def close(self) -> None:
        self.closed = True


def buffer(sink: Any, **options: Any) -> EventBuffer:
    settings = {"capacity": 100_000, "batch_size": 50, "flush_interval": 3600, **options}
    return EventBuffer(sink, environment=lambda: "prod", max_backoff=0.05, **settings)


def record(i: int) -> tuple[Any, ...]:
    return (1_800_000_000_000_000_000 + i, "resolved", f"u{i}", None, 1.0, None)


def test_several_batches_fly_at_once_and_each_record_arrives_once() -> None:
    sink = ConcurrentSink(4)
    events = buffer(sink)
    for i in range(2_000):
        events.append(record(i))
    assert events.flush(time.monotonic() + 30)
    events.close(5)
    assert sink.most_inside == 4  # the sink's limit, reached and never passed
    assert sorted(r["user_id"] for r in sink.stored) == sorted(f"u{i}" for i in range(2_000))
    assert len({r["id"] for r in sink.stored}) == 2_000
    assert (events.sent, events.failed, len(events)) == (2_000, 0, 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_failures_in_flight_are_retried_with_the_same_ids(seed: int) -> None:
    sink = ConcurrentSink(3, fail=0.3, lose_answer=0.2, seed=seed)
    events = buffer(sink)
    for i in range(1_500):
        events.append(record(i))
    assert events.flush(time.monotonic() + 60)
    events.close(5)
    stored = Counter(r["id"] for r in sink.stored)
    # Nothing lost: every record is stored, under one id.
    assert sorted({r["user_id"] for r in sink.stored}) == sorted(f"u{i}" for i in range(1_500))
    assert len(stored) == 1_500
    # Repeats exist only because answers were lost, and they repeat whole batches, same ids:
    # every attempt is exactly one batch that was attempted before, or a new one.
    batches = Counter(sink.attempts)
    assert sum(batches.values()) > len(batches)  # some batches really were sent twice or more
    assert sum(len(ids) for ids in batches) == 1_500
    assert all(stored[i] <= batches[ids] for ids in batches for i in ids)
    assert (events.sent, events.failed, len(events)) == (1_500, 0, 0)


def test_a_background_drain_with_failures_loses_nothing() -> None:
    sink = ConcurrentSink(4, fail=0.2, lose_answer=0.1)
    events = buffer(sink, flush_interval=0.01)
    for i in range(3_000):
        events.append(record(i))
        if i % 500 == 0:
            time.sleep(0.01)  # let the drain thread run while records keep arriving
    deadline = time.monotonic() + 30
    while events.sent < 3_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    events.close(5)
    assert len({r["id"] for r in sink.stored}) == 3_000
    assert (events.sent, events.failed) == (3_000, 0)


def test_a_refused_batch_is_counted_not_retried() -> None:
    class Refusing(ConcurrentSink):
        def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
            if any(r["user_id"] == "u7" for r in batch):
                with self.lock:
                    self.attempts.append(tuple(r["id"] for r in batch))
                raise RejectedBatch("422")
            super().send(batch)

    sink = Refusing(4)
    events = buffer(sink, batch_size=10)
    for i in range(100):
        events.append(record(i))
    assert events.flush(time.monotonic() + 10)
    events.close(5)
    assert len(sink.stored) == 90 and (events.sent, events.failed) == (90, 10)
    assert sum(1 for ids in sink.attempts if len(ids) == 10) == 10  # the refused one: once


def test_close_keeps_its_deadline_when_sends_hang() -> None:
    release = threading.Event()

    class Hanging(ConcurrentSink):
        def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
            release.wait(30)
            super().send(batch)

    sink = Hanging(3)
    events = buffer(sink, flush_interval=0.01)
    for i in range(500):
        events.append(record(i))
    time.sleep(0.1)  # the drain thread has three batches in flight, stuck
    start = time.monotonic()
    events.close(0.5)
    took = time.monotonic() - start
    release.set()
    assert took < 1.5
    assert sink.closed
    assert (events.sent, events.failed, len(events)) == (0, 500, 0)
    time.sleep(0.2)  # the stuck sends now finish: they were counted once, as failed
    assert (events.sent, events.failed) == (0, 500)


def test_a_sink_without_max_in_flight_gets_one_batch_at_a_time() -> None:
    class Plain(ConcurrentSink):
        pass

    sink = Plain(1)
    del sink.max_in_flight
    events = buffer(sink)
    assert events.max_in_flight == 1
    for i in range(500):
        events.append(record(i))
    assert events.flush(time.monotonic() + 10)
    events.close(5)
    assert sink.most_inside == 1 and len(sink.stored) == 500


def test_http_sink_posts_batches_concurrently_and_retries_lost_answers() -> None:
    lock = threading.Lock()
    stored: dict[str, dict[str, Any]] = {}
    calls = Counter[str]()
    inside = [0, 0]  # now, most

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        columns = json.loads(request.content)["columns"]  # one list per field
        rows = zip(*columns.values(), strict=True)
        batch = [dict(zip(columns, values, strict=True)) for values in rows]
        first = batch[0]["id"]
        with lock:
            calls[first] += 1
            attempt = calls[first]
            inside[0] += 1
            inside[1] = max(inside)
        try:
            time.sleep(0.01)
            if attempt == 1 and int(first[-4:], 16) % 3 == 0:
                return httpx.Response(503)  # away: nothing stored
            with lock:
                fresh = [e for e in batch if e["id"] not in stored]
                stored.update((e["id"], e) for e in batch)
            if attempt == 1 and int(first[-4:], 16) % 3 == 1:
                raise httpx.ReadError("simulated: the answer was lost")
            return httpx.Response(200, json={"inserted": len(fresh)})
        finally:
            with lock:
                inside[0] -= 1

    http = httpx.Client(base_url="http://rampgate.test", transport=httpx.MockTransport(handler))
    sink = HttpSink(http, owns_client=True, max_in_flight=3)
    events = buffer(sink, batch_size=40)
    for i in range(1_000):
        events.append(record(i))
    assert events.flush(time.monotonic() + 30)
    events.close(5)
    assert len(stored) == 1_000 and inside[1] == 3
    assert (events.sent, events.failed) == (1_000, 0)
    assert any(n > 1 for n in calls.values())


def test_http_sink_refuses_a_bad_max_in_flight() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        HttpSink(httpx.Client(), max_in_flight=0)
