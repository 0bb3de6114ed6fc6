"""``Client.shadow``: the stable arm is the caller's, the candidate is recorded, never raised.

Real threads throughout: the candidate runs on the client's shadow workers, and every test
waits for them (``settle``) before reading what reached the sink.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from rampgate import Client, Context, ShadowConfig, ShadowSettings, text_similarity
from rampgate.domain import compile_ruleset
from rampgate.testing import MemorySink
from tests.guard.support import CANDIDATE, STABLE, name_counts, settle, shadow_events, shadowed_flag

CTX = Context(user_id="u-1", session_id="conv-1")


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


def make_client(sink: MemorySink, sample: float = 1.0, **settings: Any) -> Client:
    return Client.from_flags(
        [shadowed_flag(sample)], sink=sink, shadow_settings=ShadowSettings(**settings)
    )


def test_returns_stable_result_and_runs_candidate_with_its_config(sink: MemorySink) -> None:
    client = make_client(sink)
    seen: dict[str, Any] = {}

    def stable(value: Any) -> str:
        seen["stable"] = (value, threading.current_thread())
        return "stable answer"

    def candidate(value: Any) -> str:
        seen["candidate"] = (value, threading.current_thread())
        return "candidate answer"

    assert client.shadow("agent", CTX, stable=stable, candidate=candidate) == "stable answer"
    settle(client)
    assert seen["stable"] == (STABLE, threading.current_thread())
    assert seen["candidate"][0] == CANDIDATE
    assert seen["candidate"][1] is not threading.current_thread()
    assert client.stats()["shadow_started"] == 1
    # Evaluated as evaluate() does: one exposure, of the served variant.
    [exposure] = sink.of_type("exposure")
    assert (exposure["flag"], exposure["variant"]) == ("agent", "stable")
    client.close()


def test_records_exactly_one_value_per_call_arm_and_measure(sink: MemorySink) -> None:
    client = make_client(sink)
    for i in range(3):
        client.shadow(
            "agent",
            Context(user_id=f"u-{i}", session_id=f"s-{i}"),
            stable=lambda v: "Hello  World",
            candidate=lambda v: "hello world!",
            compare=text_similarity,
            cost=lambda result: 0.001 * len(result),
        )
    settle(client)
    assert name_counts(sink) == {
        "shadow:agent:pair": 3,
        "shadow:agent:stable:latency_ms": 3,
        "shadow:agent:candidate:latency_ms": 3,
        "shadow:agent:stable:error": 3,
        "shadow:agent:candidate:error": 3,
        "shadow:agent:stable:cost_usd": 3,
        "shadow:agent:candidate:cost_usd": 3,
    }
    by_user: dict[str, dict[str, Any]] = {}
    for r in shadow_events(sink):
        by_user.setdefault(r["user_id"], {})[r["name"]] = r
        assert r["session_id"] == f"s-{r['user_id'][2:]}"
    pair = by_user["u-0"]["shadow:agent:pair"]
    assert pair["properties"] == {
        "exact": False,
        "status": "ok",
        "stable_variant": "stable",
        "candidate_variant": "candidate",
    }
    assert pair["value"] == pytest.approx(22 / 23)  # "hello world" vs "hello world!"
    assert by_user["u-0"]["shadow:agent:stable:error"]["value"] == 0.0
    assert by_user["u-0"]["shadow:agent:candidate:cost_usd"]["value"] == pytest.approx(0.012)
    assert by_user["u-0"]["shadow:agent:stable:cost_usd"]["value"] == pytest.approx(0.012)
    assert by_user["u-0"]["shadow:agent:stable:latency_ms"]["value"] >= 0.0
    client.close()


def test_default_comparator_is_exact_match(sink: MemorySink) -> None:
    client = make_client(sink)
    client.shadow("agent", CTX, stable=lambda v: {"a": 1}, candidate=lambda v: {"a": 1})
    settle(client)
    [pair] = [r for r in shadow_events(sink) if r["name"] == "shadow:agent:pair"]
    assert (pair["value"], pair["properties"]["exact"]) == (1.0, True)
    client.close()


def test_candidate_errors_are_recorded_not_raised(
    sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(sink)

    def candidate(value: Any) -> str:
        raise ValueError("candidate broke")

    with caplog.at_level(logging.WARNING, logger="rampgate"):
        for _ in range(3):
            assert client.shadow("agent", CTX, stable=lambda v: "ok", candidate=candidate) == "ok"
        settle(client)
    events = {r["name"]: r for r in shadow_events(sink)}
    assert events["shadow:agent:pair"]["properties"]["status"] == "error"
    assert events["shadow:agent:pair"]["value"] == 0.0
    assert events["shadow:agent:candidate:error"]["value"] == 1.0
    assert events["shadow:agent:stable:error"]["value"] == 0.0
    assert client.stats()["shadow_candidate_error"] == 3
    assert len([r for r in caplog.records if "candidate broke" in r.getMessage()]) == 1
    client.close()


def test_candidate_timeout_is_recorded_at_the_deadline_and_late_result_ignored(
    sink: MemorySink,
) -> None:
    client = make_client(sink)
    release = threading.Event()
    returned = threading.Event()

    def candidate(value: Any) -> str:
        release.wait(10)
        returned.set()
        return "late"

    start = time.monotonic()
    client.shadow("agent", CTX, stable=lambda v: "ok", candidate=candidate, timeout=0.05)
    deadline = time.monotonic() + 5
    while not any(r["name"] == "shadow:agent:pair" for r in _flushed(client, sink)):
        assert time.monotonic() < deadline, "the timeout was never reported"
        time.sleep(0.01)
    assert not returned.is_set()  # reported while the candidate is still running
    assert time.monotonic() - start < 2.0
    release.set()
    returned.wait(5)
    settle(client)
    events = shadow_events(sink)
    assert name_counts(sink)["shadow:agent:pair"] == 1  # the late return added nothing
    by_name = {r["name"]: r for r in events}
    assert by_name["shadow:agent:pair"]["properties"]["status"] == "timeout"
    assert by_name["shadow:agent:candidate:error"]["value"] == 1.0
    assert 50.0 <= by_name["shadow:agent:candidate:latency_ms"]["value"] < 2000.0
    assert "shadow:agent:candidate:cost_usd" not in by_name
    assert client.stats()["shadow_timeout"] == 1
    client.close()


def _flushed(client: Client, sink: MemorySink) -> list[dict[str, Any]]:
    client.flush()
    return shadow_events(sink)


def test_stable_exception_propagates_unchanged_and_is_recorded(sink: MemorySink) -> None:
    client = make_client(sink)
    boom = KeyError("the caller's own bug")
    ran = threading.Event()

    def stable(value: Any) -> str:
        raise boom

    def candidate(value: Any) -> str:
        ran.set()
        return "fine"

    with pytest.raises(KeyError) as info:
        client.shadow("agent", CTX, stable=stable, candidate=candidate)
    assert info.value is boom
    settle(client)
    assert ran.is_set()
    by_name = {r["name"]: r for r in shadow_events(sink)}
    assert by_name["shadow:agent:stable:error"]["value"] == 1.0
    assert by_name["shadow:agent:candidate:error"]["value"] == 0.0
    assert by_name["shadow:agent:pair"]["value"] == 0.0
    client.close()


def test_sampling_rate_is_honoured(sink: MemorySink) -> None:
    client = make_client(sink, sample=0.3, queue_size=100_000)
    ran = []
    n = 4000
    for i in range(n):
        client.shadow("agent", Context(user_id=f"u{i}"), stable=lambda v: 1, candidate=ran.append)
    settle(client)
    # Binomial(4000, 0.3): sd ≈ 29; five of them either way.
    assert abs(len(ran) - 0.3 * n) < 5 * (n * 0.3 * 0.7) ** 0.5
    assert client.stats()["shadow_started"] == len(ran)
    assert name_counts(sink)["shadow:agent:pair"] == len(ran)
    client.close()


def test_a_full_queue_drops_and_counts(sink: MemorySink) -> None:
    client = make_client(sink, workers=1, queue_size=2)
    running, release = threading.Event(), threading.Event()

    def candidate(value: Any) -> str:
        running.set()
        release.wait(10)
        return "x"

    client.shadow("agent", CTX, stable=lambda v: 1, candidate=candidate)
    assert running.wait(5)  # the only worker is now busy
    for _ in range(5):
        assert client.shadow("agent", CTX, stable=lambda v: 1, candidate=candidate) == 1
    assert client.stats()["shadow_dropped"] == 3  # two queued, three dropped
    release.set()
    settle(client)
    assert client.stats()["shadow_started"] == 3
    assert name_counts(sink)["shadow:agent:pair"] == 3
    client.close()


@pytest.mark.parametrize(
    "flag",
    [
        shadowed_flag(killed=True),
        shadowed_flag(shadow=None),
        shadowed_flag(sample=0.0),
        shadowed_flag(shadow=ShadowConfig("stable", 1.0)),  # the served variant itself
    ],
    ids=["killed", "no-shadow-config", "sample-0", "shadow-is-served"],
)
def test_candidate_never_runs(sink: MemorySink, flag: Any) -> None:
    client = Client.from_flags([flag], sink=sink)
    ran = []
    for i in range(50):
        assert client.shadow("agent", Context(user_id=f"u{i}"), stable=lambda v: v, candidate=ran.append)["model"] == "gpt-4o"  # fmt: skip
    settle(client)
    assert ran == [] and shadow_events(sink) == []
    assert client.stats()["shadow_started"] == 0
    client.close()


def test_served_candidate_is_not_shadowed_by_itself(sink: MemorySink) -> None:
    client = make_client(sink)
    ran: list[Any] = []
    staff = Context(user_id="u", attributes={"staff": True})
    assert client.shadow("agent", staff, stable=lambda v: v, candidate=ran.append) == CANDIDATE
    settle(client)
    assert ran == []
    client.close()


def test_kill_switch_swapped_in_stops_shadowing(sink: MemorySink) -> None:
    client = make_client(sink)
    ran: list[Any] = []
    client.shadow("agent", CTX, stable=lambda v: 1, candidate=ran.append)
    settle(client)
    client.swap(compile_ruleset("default", [shadowed_flag(killed=True, version=2)]))
    client.shadow("agent", CTX, stable=lambda v: 1, candidate=ran.append)
    settle(client)
    assert len(ran) == 1
    client.close()


def test_unknown_flag_calls_stable_with_the_default(sink: MemorySink) -> None:
    client = make_client(sink)
    ran: list[Any] = []
    result = client.shadow(
        "nope", CTX, stable=lambda v: v, candidate=ran.append, default={"model": "safe"}
    )
    assert result == {"model": "safe"} and ran == []
    client.close()


def test_rampgates_own_failures_never_reach_the_caller(sink: MemorySink) -> None:
    client = make_client(sink)
    out = [
        client.shadow("agent", CTX, stable=lambda v: 1, candidate="not callable"),  # type: ignore[arg-type]
        client.shadow("agent", CTX, stable=lambda v: 2, candidate=print, timeout=-1),
        client.shadow("agent", CTX, stable=lambda v: 3, candidate=print, cost=42),  # type: ignore[arg-type]
        client.shadow("agent", "not a context", stable=lambda v: 4, candidate=print),  # type: ignore[arg-type]
    ]
    assert out == [1, 2, 3, 4]
    assert client.stats()["shadow_error"] == 3
    client.close()


def test_a_broken_comparator_or_cost_function_is_counted_and_the_rest_recorded(
    sink: MemorySink,
) -> None:
    client = make_client(sink)

    def compare(a: Any, b: Any) -> float:
        raise RuntimeError("comparator broke")

    client.shadow("agent", CTX, stable=lambda v: 1, candidate=lambda v: 1, compare=compare)
    client.shadow("agent", CTX, stable=lambda v: 1, candidate=lambda v: 1, compare=lambda a, b: 7)
    client.shadow("agent", CTX, stable=lambda v: 1, candidate=lambda v: 1, cost=lambda r: 1 / 0)
    settle(client)
    stats = client.stats()
    assert stats["shadow_compare_error"] == 2 and stats["shadow_cost_error"] == 2
    counts = name_counts(sink)
    assert counts["shadow:agent:pair"] == 1  # only the third call's comparison worked
    assert counts["shadow:agent:candidate:latency_ms"] == 3
    assert counts["shadow:agent:candidate:cost_usd"] == 0
    client.close()


def test_close_stops_the_pool_within_its_deadline(sink: MemorySink) -> None:
    before = set(threading.enumerate())
    client = make_client(sink, workers=2)
    running, release = threading.Event(), threading.Event()

    def stuck(value: Any) -> str:
        running.set()
        release.wait(30)
        return "x"

    client.shadow("agent", CTX, stable=lambda v: 1, candidate=stuck, timeout=60)
    assert running.wait(5)
    shadow_threads = [t for t in set(threading.enumerate()) - before if "shadow" in t.name]
    assert len(shadow_threads) == 3  # two workers and the watcher
    for _ in range(3):
        client.shadow("agent", CTX, stable=lambda v: 1, candidate=lambda v: time.sleep(0.5))
    start = time.monotonic()
    client.close(timeout=0.6)
    assert time.monotonic() - start < 1.5
    assert client.stats()["shadow_dropped"] >= 1  # the stuck one, at least
    # Every shadow thread but the one stuck in the caller's candidate has stopped (allowing a
    # loaded machine a moment to schedule the last of them).
    deadline = time.monotonic() + 2
    while [t.is_alive() for t in shadow_threads].count(True) > 1:
        assert time.monotonic() < deadline, [t for t in shadow_threads if t.is_alive()]
        time.sleep(0.01)
    release.set()
    # After close, shadow() still serves stable and starts nothing.
    assert client.shadow("agent", CTX, stable=lambda v: 5, candidate=stuck) == 5


def test_concurrent_callers(sink: MemorySink) -> None:
    client = make_client(sink, queue_size=100_000)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                ctx = Context(user_id=f"{n}-{i}")
                result = client.shadow(
                    "agent", ctx, stable=lambda v, i=i: i, candidate=lambda v, i=i: i
                )
                assert result == i
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    settle(client)
    assert not errors
    assert name_counts(sink)["shadow:agent:pair"] == 800
    assert len({(r["user_id"], r["name"]) for r in shadow_events(sink)}) == 800 * 5
    client.close()
