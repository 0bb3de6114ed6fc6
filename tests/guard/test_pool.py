"""The shadow worker pool on its own: real threads, real deadlines, a bounded close."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rampgate.domain import Context
from rampgate.domain.shadow import ShadowStatus
from rampgate.guard import ArmResult, ShadowCall, ShadowPool, exact_match


class Harness:
    def __init__(self, **kwargs: Any) -> None:
        self.finished: list[tuple[ShadowCall, ArmResult, float]] = []
        self.errors: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.pool = ShadowPool(
            workers=kwargs.get("workers", 2),
            queue_size=kwargs.get("queue_size", 16),
            finish=self.finish,
            on_error=self.on_error,
        )

    def finish(self, call: ShadowCall, result: ArmResult) -> None:
        with self.lock:
            self.finished.append((call, result, time.monotonic()))

    def on_error(self, kind: str, key: str, error: Any = None, message: str = "") -> None:
        with self.lock:
            self.errors.append((kind, key))

    def wait(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.finished) < n:
            assert time.monotonic() < deadline, f"{len(self.finished)} of {n} calls finished"
            time.sleep(0.002)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.pool.close(1.0)


def call(candidate: Any, timeout: float = 1.0, flag: str = "f") -> ShadowCall:
    return ShadowCall(
        flag=flag,
        context=Context(user_id="u"),
        stable_variant="stable",
        candidate_variant="candidate",
        value={"v": 1},
        candidate=candidate,
        compare=exact_match,
        cost=None,
        timeout=timeout,
    )


def test_runs_candidates_and_reports_each_once(harness: Harness) -> None:
    calls = [call(lambda v: v["v"] + 1) for _ in range(10)]
    for c in calls:
        harness.pool.submit(c)
    harness.wait(10)
    assert {id(c) for c, _, _ in harness.finished} == {id(c) for c in calls}
    assert all(r.status is ShadowStatus.OK and r.result == 2 for _, r, _ in harness.finished)
    assert harness.pool.started == 10
    assert harness.pool.pending() == 0


def test_a_finished_call_is_only_reported(harness: Harness) -> None:
    ran: list[Any] = []
    done = ArmResult(ShadowStatus.OK, 1.0, "from a task")
    harness.pool.submit(call(ran.append), done)
    harness.wait(1)
    assert harness.finished[0][1] is done and ran == [] and harness.pool.started == 0


def test_timeout_is_reported_at_the_deadline_not_when_the_candidate_returns(
    harness: Harness,
) -> None:
    release = threading.Event()
    start = time.monotonic()
    harness.pool.submit(call(lambda v: release.wait(10), timeout=0.1))
    harness.wait(1)
    _, result, at = harness.finished[0]
    assert result.status is ShadowStatus.TIMEOUT
    assert 0.1 <= at - start < 1.0
    assert 100.0 <= result.latency_ms < 1000.0
    release.set()
    time.sleep(0.05)
    assert len(harness.finished) == 1  # the late return is ignored
    assert harness.errors == [("shadow_timeout", "f")]


def test_errors_of_every_kind_are_results_and_the_worker_survives(harness: Harness) -> None:
    def exits(value: Any) -> None:
        raise SystemExit(3)

    def fails(value: Any) -> None:
        raise RuntimeError("x")

    harness.pool.submit(call(exits))
    harness.pool.submit(call(fails))
    harness.wait(2)
    harness.pool.submit(call(lambda v: "after"))
    harness.wait(3)
    statuses = [r.status for _, r, _ in harness.finished]
    assert statuses.count(ShadowStatus.ERROR) == 2 and statuses[-1] is ShadowStatus.OK
    assert harness.errors.count(("shadow_candidate_error", "f")) == 2


def test_a_failing_report_is_counted_and_the_worker_survives() -> None:
    h = Harness(workers=1)
    fail = [True]

    def finish(c: ShadowCall, r: ArmResult) -> None:
        if fail.pop() if fail else False:
            raise RuntimeError("recorder broke")
        h.finish(c, r)

    h.pool._finish = finish
    h.pool.submit(call(lambda v: 1))
    h.pool.submit(call(lambda v: 2))
    h.wait(1)
    assert h.errors == [("shadow_error", "f")]
    h.pool.close(1.0)


def test_bounded_inbox_drops() -> None:
    h = Harness(workers=1, queue_size=3)
    running, release = threading.Event(), threading.Event()

    def blocks(value: Any) -> None:
        running.set()
        release.wait(10)

    h.pool.submit(call(blocks))
    assert running.wait(5)
    for _ in range(10):
        h.pool.submit(call(lambda v: 1))
    assert h.errors.count(("shadow_dropped", "f")) == 7
    release.set()
    h.wait(4)
    h.pool.close(1.0)


def test_close_drops_queued_calls_and_returns_by_its_deadline() -> None:
    h = Harness(workers=1)
    running, release = threading.Event(), threading.Event()

    def blocks(value: Any) -> None:
        running.set()
        release.wait(30)

    h.pool.submit(call(blocks, timeout=60))
    assert running.wait(5)
    h.pool.submit(call(lambda v: 1))
    h.pool.submit(call(lambda v: 2), ArmResult(ShadowStatus.OK, 1.0, 2))  # only to report
    start = time.monotonic()
    h.pool.close(0.3)
    assert 0.25 <= time.monotonic() - start < 1.0
    # The queued candidate and the running one are dropped; nothing starts after close.
    assert h.errors.count(("shadow_dropped", "f")) == 2
    h.pool.submit(call(lambda v: 3))
    assert h.errors.count(("shadow_dropped", "f")) == 3
    release.set()


def test_threads_start_on_first_use_only_and_stop_on_close() -> None:
    before = set(threading.enumerate())
    h = Harness()
    assert set(threading.enumerate()) == before
    h.pool.submit(call(lambda v: 1))
    h.wait(1)
    started = set(threading.enumerate()) - before
    assert sorted(t.name for t in started) == [
        "rampgate-shadow-0",
        "rampgate-shadow-1",
        "rampgate-shadow-watch",
    ]
    assert all(t.daemon for t in started)
    h.pool.close(1.0)
    assert not any(t.is_alive() for t in started)
