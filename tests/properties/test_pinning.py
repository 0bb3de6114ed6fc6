"""Session pinning: a conversation keeps its variant through ramps, until kill, rollback or TTL."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate import Client, Context, Flag, Pin, Reason, Rule, Split
from rampgate.domain import compile_ruleset
from rampgate.testing import FakeClock

from .strategies import unit_ids

KEY = "support-agent"
TTL = 3_600.0
ENV = "prod"


def _flag(candidate_weight: float, version: int = 1, **changes: object) -> Flag:
    flag = Flag(
        KEY,
        variants={"stable": {"model": "a"}, "candidate": {"model": "b"}},
        default="stable",
        pin=Pin.SESSION,
        pin_ttl=TTL,
        version=version,
        rules=(
            Rule(
                "canary",
                split=Split(
                    weights={"stable": 1 - candidate_weight, "candidate": candidate_weight}
                ),
            ),
        ),
    )
    return replace(flag, **changes) if changes else flag


def _client(flag: Flag, clock: FakeClock) -> Client:
    return Client.from_flags([flag], environment=ENV, clock=clock)


def _swap(client: Client, flag: Flag) -> None:
    client.swap(compile_ruleset(ENV, [flag]))


def _elsewhere(variant: str | None) -> float:
    """A candidate weight that sends every unit away from ``variant``."""
    return 0.0 if variant == "candidate" else 1.0


@settings(max_examples=100, deadline=None)
@given(
    user=unit_ids,
    session=unit_ids,
    first_weight=st.floats(0.0, 1.0),
    ramp=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
)
def test_a_pinned_session_keeps_its_variant_across_weight_changes(
    user: str, session: str, first_weight: float, ramp: list[float]
) -> None:
    clock = FakeClock()
    client = _client(_flag(first_weight), clock)
    ctx = Context(user_id=user, session_id=session)
    first = client.evaluate(KEY, ctx)
    assert first.reason is Reason.SPLIT
    for version, weight in enumerate([*ramp, _elsewhere(first.variant)], start=2):
        _swap(client, _flag(weight, version))
        clock.advance(60)
        ev = client.evaluate(KEY, ctx)
        assert (ev.variant, ev.reason, ev.flag_version) == (first.variant, Reason.PINNED, version)
    # Another conversation of the same user follows the current weights.
    fresh = client.evaluate(KEY, Context(user_id=user, session_id=session + "-2"))
    assert fresh.reason is Reason.SPLIT and fresh.variant != first.variant


@settings(max_examples=100, deadline=None)
@given(user=unit_ids, session=unit_ids, first_weight=st.floats(0.0, 1.0))
def test_kill_overrides_the_pin_and_the_pin_is_gone_afterwards(
    user: str, session: str, first_weight: float
) -> None:
    clock = FakeClock()
    client = _client(_flag(first_weight), clock)
    ctx = Context(user_id=user, session_id=session)
    first = client.evaluate(KEY, ctx)
    _swap(client, _flag(first_weight, 2, killed=True))
    killed = client.evaluate(KEY, ctx)
    assert (killed.variant, killed.reason) == ("stable", Reason.DISABLED)
    _swap(client, _flag(_elsewhere(first.variant), 3))
    after = client.evaluate(KEY, ctx)
    assert after.reason is Reason.SPLIT and after.variant != first.variant


@settings(max_examples=50, deadline=None)
@given(user=unit_ids, session=unit_ids)
def test_a_hard_rollback_drops_pins(user: str, session: str) -> None:
    clock = FakeClock()
    client = _client(_flag(1.0), clock)
    ctx = Context(user_id=user, session_id=session)
    assert client.evaluate(KEY, ctx).variant == "candidate"
    _swap(client, _flag(0.0, 2, pin_generation=1))
    after = client.evaluate(KEY, ctx)
    assert (after.variant, after.reason) == ("stable", Reason.SPLIT)


@settings(max_examples=50, deadline=None)
@given(user=unit_ids, session=unit_ids)
def test_a_soft_change_lets_pinned_sessions_finish(user: str, session: str) -> None:
    clock = FakeClock()
    client = _client(_flag(1.0), clock)
    ctx = Context(user_id=user, session_id=session)
    client.evaluate(KEY, ctx)
    _swap(client, _flag(0.0, 2))  # weights to zero, same pin generation
    assert client.evaluate(KEY, ctx).reason is Reason.PINNED


@settings(max_examples=50, deadline=None)
@given(user=unit_ids, session=unit_ids, first_weight=st.floats(0.0, 1.0))
def test_the_pin_expires_after_its_ttl(user: str, session: str, first_weight: float) -> None:
    clock = FakeClock()
    client = _client(_flag(first_weight), clock)
    ctx = Context(user_id=user, session_id=session)
    first = client.evaluate(KEY, ctx)
    _swap(client, _flag(_elsewhere(first.variant), 2))
    clock.advance(TTL - 1)
    assert client.evaluate(KEY, ctx).reason is Reason.PINNED  # pinned for the whole TTL…
    clock.advance(1)
    expired = client.evaluate(KEY, ctx)  # …and not a second longer
    assert expired.reason is Reason.SPLIT and expired.variant != first.variant
    clock.advance(TTL - 1)
    again = client.evaluate(KEY, ctx)  # pinned anew, to the variant served at expiry
    assert (again.variant, again.reason) == (expired.variant, Reason.PINNED)


def test_a_session_without_pinning_follows_the_weights() -> None:
    clock = FakeClock()
    client = _client(_flag(1.0, pin=Pin.NONE), clock)
    ctx = Context(user_id="u-1", session_id="conv-1")
    assert client.evaluate(KEY, ctx).variant == "candidate"
    _swap(client, _flag(0.0, 2, pin=Pin.NONE))
    assert client.evaluate(KEY, ctx).variant == "stable"
