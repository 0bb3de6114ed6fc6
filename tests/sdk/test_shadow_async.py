"""``await Client.ashadow``: the candidate runs in a task of the caller's loop, bounded and timed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from rampgate import Client, Context, ShadowSettings, text_similarity
from rampgate.testing import MemorySink
from tests.guard.support import CANDIDATE, STABLE, name_counts, settle, shadow_events, shadowed_flag

CTX = Context(user_id="u-1", session_id="conv-1")


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


def make_client(sink: MemorySink, **settings: Any) -> Client:
    return Client.from_flags(
        [shadowed_flag()], sink=sink, shadow_settings=ShadowSettings(**settings)
    )


async def answer(value: Any) -> str:
    return f"answer from {value['model']}"


def test_returns_stable_result_and_records_the_pair(sink: MemorySink) -> None:
    client = make_client(sink)
    seen: list[Any] = []

    async def candidate(value: Any) -> str:
        seen.append(value)
        await asyncio.sleep(0.01)
        return "Answer from GPT-4o"

    async def main() -> str:
        result = await client.ashadow(
            "agent", CTX, stable=answer, candidate=candidate, compare=text_similarity
        )
        await asyncio.sleep(0.1)
        return result

    assert asyncio.run(main()) == "answer from gpt-4o"
    settle(client)
    assert seen == [CANDIDATE]
    by_name = {r["name"]: r for r in shadow_events(sink)}
    pair = by_name["shadow:agent:pair"]
    assert pair["value"] == 1.0 and pair["properties"]["exact"] is False
    assert pair["properties"]["status"] == "ok"
    assert by_name["shadow:agent:candidate:latency_ms"]["value"] >= 10.0
    assert len(by_name) == 5  # pair, latency and error of each arm (no cost function)
    client.close()


def test_caller_does_not_wait_for_the_candidate(sink: MemorySink) -> None:
    client = make_client(sink)

    async def slow(value: Any) -> str:
        await asyncio.sleep(0.3)
        return "late"

    async def main() -> float:
        start = time.perf_counter()
        await client.ashadow("agent", CTX, stable=answer, candidate=slow)
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0.5)
        return elapsed

    assert asyncio.run(main()) < 0.1
    settle(client)
    assert name_counts(sink)["shadow:agent:pair"] == 1
    client.close()


def test_timeout_and_errors_are_recorded_not_raised(sink: MemorySink) -> None:
    client = make_client(sink)

    async def hangs(value: Any) -> str:
        await asyncio.sleep(10)
        return "never"

    async def fails(value: Any) -> str:
        raise RuntimeError("candidate broke")

    def not_a_coroutine_function(value: Any) -> str:
        return "plain"

    async def main() -> list[str]:
        out = [
            await client.ashadow("agent", CTX, stable=answer, candidate=hangs, timeout=0.05),
            await client.ashadow("agent", CTX, stable=answer, candidate=fails),
            await client.ashadow("agent", CTX, stable=answer, candidate=not_a_coroutine_function),  # type: ignore[arg-type]
        ]
        await asyncio.sleep(0.3)
        return out

    assert asyncio.run(main()) == ["answer from gpt-4o"] * 3
    settle(client)
    statuses = sorted(
        r["properties"]["status"] for r in shadow_events(sink) if r["name"] == "shadow:agent:pair"
    )
    assert statuses == ["error", "error", "timeout"]
    errors = [
        r["value"] for r in shadow_events(sink) if r["name"] == "shadow:agent:candidate:error"
    ]
    assert errors == [1.0, 1.0, 1.0]
    stats = client.stats()
    assert stats["shadow_timeout"] == 1 and stats["shadow_candidate_error"] == 2
    client.close()


def test_stable_exception_propagates_unchanged(sink: MemorySink) -> None:
    client = make_client(sink)
    boom = LookupError("the caller's own bug")

    async def stable(value: Any) -> str:
        raise boom

    async def main() -> None:
        with pytest.raises(LookupError) as info:
            await client.ashadow("agent", CTX, stable=stable, candidate=answer)
        assert info.value is boom
        await asyncio.sleep(0.1)

    asyncio.run(main())
    settle(client)
    by_name = {r["name"]: r for r in shadow_events(sink)}
    assert by_name["shadow:agent:stable:error"]["value"] == 1.0
    assert by_name["shadow:agent:candidate:error"]["value"] == 0.0
    client.close()


def test_in_flight_bound_drops_and_counts(sink: MemorySink) -> None:
    client = make_client(sink, max_in_flight=2)

    async def main() -> None:
        release = asyncio.Event()

        async def waits(value: Any) -> str:
            await release.wait()
            return "x"

        for _ in range(5):
            await client.ashadow("agent", CTX, stable=answer, candidate=waits)
        assert client.stats()["shadow_pending"] == 2
        release.set()
        await asyncio.sleep(0.1)

    asyncio.run(main())
    settle(client)
    assert client.stats()["shadow_dropped"] == 3
    assert client.stats()["shadow_started"] == 2
    assert name_counts(sink)["shadow:agent:pair"] == 2
    client.close()


def test_no_shadow_config_never_starts_a_task(sink: MemorySink) -> None:
    client = Client.from_flags([shadowed_flag(shadow=None)], sink=sink)
    ran: list[Any] = []

    async def candidate(value: Any) -> None:
        ran.append(value)

    async def main() -> Any:
        return await client.ashadow("agent", CTX, stable=answer, candidate=candidate)

    assert asyncio.run(main()) == f"answer from {STABLE['model']}"
    assert ran == [] and client.stats()["shadow_started"] == 0
    client.close()


def test_close_cancels_candidates_in_flight(sink: MemorySink) -> None:
    client = make_client(sink)

    async def hangs(value: Any) -> str:
        await asyncio.sleep(10)
        return "never"

    async def main() -> None:
        await client.ashadow("agent", CTX, stable=answer, candidate=hangs, timeout=60)
        await asyncio.sleep(0.01)
        start = time.monotonic()
        client.close(timeout=1.0)
        assert time.monotonic() - start < 1.0
        await asyncio.sleep(0.05)  # the loop runs the cancellation
        assert client.stats()["shadow_pending"] == 0

    asyncio.run(main())
    assert client.stats()["shadow_dropped"] == 1
    assert name_counts(sink)["shadow:agent:pair"] == 0
