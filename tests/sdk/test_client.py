"""The embedded SDK client: evaluation, reporting, fail-open behaviour, reloads."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import rampgate
from rampgate import Client, ClientSettings, Context, Flag, Reason, Rule, Split
from rampgate.testing import FakeClock, MemorySink

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rampgate.yaml"


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def client(sink: MemorySink) -> Any:
    c = Client.from_file(EXAMPLE, environment="prod", sink=sink)
    yield c
    c.close()


def test_targeting_split_and_default(client: Client) -> None:
    staff = client.evaluate(
        "support-agent", Context(user_id="u1", attributes={"email": "a@example.com"})
    )
    assert (staff.variant, staff.reason, staff.rule_id) == (
        "candidate",
        Reason.TARGETING_MATCH,
        "staff-first",
    )
    assert staff.value["model"] == "claude-sonnet-4"
    partner = client.evaluate("support-agent", Context(user_id="u2", attributes={"tenant": "acme"}))
    assert partner.rule_id == "design-partners"
    other = client.evaluate("support-agent", Context(user_id="u3"))
    assert other.reason is Reason.SPLIT and other.rule_id == "canary"
    outside = client.evaluate("refund-prompt", Context(user_id="u3", attributes={"country": "BR"}))
    assert (outside.variant, outside.reason, outside.rule_id) == ("v1", Reason.DEFAULT, None)


def test_prerequisite_gates_on_parent_value(client: Client) -> None:
    results = {}
    for i in range(400):
        ctx = Context(user_id=f"p{i}", attributes={"country": "US"})
        parent = client.evaluate("refund-prompt", ctx, expose=False).variant
        child = client.evaluate("approval-rule", ctx, expose=False)
        results.setdefault(parent, set()).add((child.variant, child.reason))
    assert results["v2"] == {("relaxed", Reason.TARGETING_MATCH)}
    assert results["v1"] == {("strict", Reason.DEFAULT)}


def test_values_are_read_only_and_thaw_gives_a_copy(client: Client) -> None:
    ev = client.evaluate(
        "support-agent", Context(user_id="u1", attributes={"email": "a@example.com"})
    )
    with pytest.raises(TypeError, match="read-only"):
        ev.value["model"] = "other"
    assert json.loads(json.dumps(ev.value))["tools"] == ["search", "refund"]
    copy = rampgate.thaw(ev.value)
    copy["tools"].append("x")
    assert client.evaluate(
        "support-agent", Context(user_id="u1", attributes={"email": "a@example.com"})
    ).value["tools"] == ("search", "refund")


def test_exposures_and_events_reach_the_sink_with_ordered_unique_ids(
    client: Client, sink: MemorySink
) -> None:
    ctx = Context(user_id="u-42", session_id="conv-1", attributes={"plan": "pro"})
    for _ in range(5):
        client.evaluate("support-agent", ctx)
    client.evaluate("refund-prompt", ctx, expose=False)
    client.track("resolved", ctx, value=1, properties={"ticket": "T-1"})
    client.track("latency_ms", ctx, value=812.5)
    client.close()
    exposures, events = sink.of_type("exposure"), sink.of_type("event")
    assert len(exposures) == 5 and len(events) == 2
    assert exposures[0] | {"id": None, "time_ms": None} == {
        "id": None, "time_ms": None, "type": "exposure", "environment": "prod", "user_id": "u-42",
        "session_id": "conv-1", "flag": "support-agent", "variant": exposures[0]["variant"],
        "reason": exposures[0]["reason"], "rule_id": exposures[0]["rule_id"], "flag_version": 1,
    }  # fmt: skip
    assert events[0]["name"] == "resolved" and events[0]["properties"] == {"ticket": "T-1"}
    assert events[1]["value"] == 812.5
    ids = [r["id"] for r in sink.records]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # time-ordered (and sequence-ordered within a millisecond)
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_unknown_flag_returns_callers_default_and_logs_once(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rampgate"):
        for _ in range(3):
            ev = client.evaluate("no-such-flag", Context(user_id="u"), default={"model": "safe"})
    assert (ev.variant, ev.value, ev.reason) == (None, {"model": "safe"}, Reason.ERROR)
    assert client.stats()["unknown_flag"] == 3
    assert len([r for r in caplog.records if "no-such-flag" in r.getMessage()]) == 1


@pytest.mark.parametrize("bad", [None, {"user_id": "u"}, "u-1", 42, object()])
def test_bad_context_gives_the_flags_safe_default(client: Client, bad: Any) -> None:
    ev = client.evaluate("support-agent", bad)
    assert (ev.variant, ev.reason) == ("stable", Reason.ERROR)
    assert ev.value["model"] == "gpt-4o-2024-08"
    client.track("resolved", bad)  # must not raise either
    assert client.stats()["evaluation_error"] >= 1 and client.stats()["track_error"] >= 1


def test_broken_rule_at_runtime_fails_open(sink: MemorySink) -> None:
    flag = Flag("f", {"a": 1, "b": 2}, "a", rules=(Rule("r", serve="b"),))
    client = Client.from_flags([flag], sink=sink)

    def explode(attrs: Any, stack: Any) -> None:
        raise RuntimeError("boom")

    client.ruleset.flags["f"]._steps = (explode,)  # type: ignore[misc]
    ev = client.evaluate("f", Context(user_id="u"))
    assert (ev.variant, ev.value, ev.reason) == ("a", 1, Reason.ERROR)
    client.close()


def test_killed_flag_serves_the_safe_variant() -> None:
    flag = Flag("f", {"a": 1, "b": 2}, "a", rules=(Rule("r", serve="b"),), killed=True)
    ev = Client.from_flags([flag]).evaluate("f", Context(user_id="u"))
    assert (ev.variant, ev.reason, ev.detail) == ("a", Reason.DISABLED, "killed")


def test_buffer_drops_oldest_and_counts(sink: MemorySink) -> None:
    settings = ClientSettings(buffer_size=10, batch_size=1000, flush_interval=3600)
    client = Client.from_file(EXAMPLE, environment="prod", sink=sink, settings=settings)
    for i in range(25):
        client.track("resolved", Context(user_id=f"u{i}"))
    assert client.stats()["events_dropped"] == 15
    client.close()
    assert [r["user_id"] for r in sink.records] == [f"u{i}" for i in range(15, 25)]
    assert client.stats()["events_dropped"] == 15 and client.stats()["events_sent"] == 10


def test_sink_failures_are_retried(sink: MemorySink) -> None:
    sink.fail_next = 2
    client = Client.from_file(
        EXAMPLE, environment="prod", sink=sink, settings=ClientSettings(flush_interval=3600)
    )
    client.track("resolved", Context(user_id="u"))
    client.close()
    assert len(sink.records) == 1 and client.stats()["sink_error"] == 2


def test_background_flush_sends_without_close(sink: MemorySink) -> None:
    client = Client.from_file(
        EXAMPLE, environment="prod", sink=sink, settings=ClientSettings(flush_interval=0.05)
    )
    client.track("resolved", Context(user_id="u"))
    deadline = time.monotonic() + 5
    while not sink.records and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sink.records) == 1
    client.close()
    assert sink.closed


def test_thread_safety_under_concurrent_evaluation(sink: MemorySink) -> None:
    client = Client.from_file(
        EXAMPLE, environment="prod", sink=sink, settings=ClientSettings(buffer_size=1_000_000)
    )
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                client.evaluate(
                    "support-agent", Context(user_id=f"{n}-{i}", session_id=f"s{n}-{i % 50}")
                )
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert not errors
    assert len(sink.of_type("exposure")) == 16000
    assert len({r["id"] for r in sink.records}) == 16000


def test_session_pin_survives_a_ramp_and_expires(sink: MemorySink) -> None:
    def flag(weight: float, version: int) -> Flag:
        split = Split({"stable": 1 - weight, "candidate": weight})
        return Flag("agent", {"stable": 1, "candidate": 2}, "stable", rules=(Rule("canary", split=split),),
                    pin=rampgate.Pin.SESSION, pin_ttl=60, version=version)  # fmt: skip

    clock = FakeClock()
    client = Client.from_flags([flag(0.0, 1)], clock=clock)
    ctx = Context(user_id="u-1", session_id="conv-1")
    assert client.evaluate("agent", ctx).variant == "stable"
    client.swap(rampgate.domain.compile_ruleset("default", [flag(1.0, 2)]))
    pinned = client.evaluate("agent", ctx)
    assert (pinned.variant, pinned.reason) == ("stable", Reason.PINNED)
    assert (
        client.evaluate("agent", Context(user_id="u-1", session_id="conv-2")).variant == "candidate"
    )
    clock.advance(61)
    assert client.evaluate("agent", ctx).variant == "candidate"


def test_watch_reloads_and_keeps_last_good_on_a_bad_edit(tmp_path: Path) -> None:
    path = tmp_path / "rampgate.yaml"
    shutil.copy(EXAMPLE, path)
    client = Client.from_file(
        path, environment="prod", watch=True, settings=ClientSettings(watch_interval=0.05)
    )
    staff = Context(user_id="u1", attributes={"email": "a@example.com"})
    assert client.evaluate("support-agent", staff).variant == "candidate"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("serve: candidate\n      - id: design", "serve: stable\n      - id: design"),
        encoding="utf-8",
    )
    _wait(lambda: client.evaluate("support-agent", staff, expose=False).variant == "stable")
    path.write_text("flags: [not a mapping", encoding="utf-8")
    _wait(lambda: client.stats().get("reload_error", 0) >= 1)
    assert client.evaluate("support-agent", staff).variant == "stable"
    client.close()


def _wait(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_jsonl_sink_writes_lines(tmp_path: Path) -> None:
    sink = rampgate.JsonlSink(tmp_path / "out" / "events.jsonl")
    client = Client.from_file(EXAMPLE, environment="prod", sink=sink)
    client.evaluate("support-agent", Context(user_id="u1"))
    client.track("resolved", Context(user_id="u1"))
    client.close()
    lines = (tmp_path / "out" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["exposure", "event"]


def test_closed_client_refuses_context_manager() -> None:
    client = Client.from_file(EXAMPLE, environment="prod")
    client.close()
    client.close()  # idempotent
    with pytest.raises(rampgate.ClientClosedError), client:
        pass
