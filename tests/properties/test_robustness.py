"""Evaluation never raises into the application, whatever it is handed.

Arbitrary contexts (None, NaN, ±inf, huge ints, nested values, lone surrogates, missing ids,
wrong types), objects that are not a ``Context`` at all and flag keys that are not strings all
give an ``Evaluation``; where nothing sensible can be evaluated, it is the flag's safe default
with reason ``ERROR``. ``track`` and ``close`` never raise either, and one bad call never costs
the records of good ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rampgate import (
    Client,
    ClientSettings,
    Context,
    Evaluation,
    Flag,
    Namespace,
    Pin,
    Portion,
    Prerequisite,
    Reason,
    Rule,
    Split,
    thaw,
)
from rampgate.testing import FakeClock, MemorySink

from .strategies import any_char, unit_ids, wild_attributes, wild_values

STABLE = {"model": "gpt-4o-2024-08", "prompt_version": "v3", "tools": ["search"]}
CANDIDATE = {"model": "claude-sonnet-4", "prompt_version": "v4", "tools": ["search"]}
AGENT = {"stable": STABLE, "candidate": CANDIDATE}

# Every kind of operator a context value might trip over, the way users write them.
CONDITIONS: list[dict[str, Any]] = [
    {"email": {"$regex": "@example\\.com$"}},
    {"tenant": {"$inGroup": "design-partners"}},
    {"app_version": {"$vgte": "2.0.0", "$vlt": "3.0.0"}},
    {"tags": {"$elemMatch": {"$in": ["beta", "staff"]}}, "tags.0": {"$exists": True}},
    {
        "$or": [{"age": {"$gt": 17, "$lte": 120}}, {"account.tier": {"$type": "string"}}],
        "$nor": [{"country": {"$nin": ["US", "CA"]}}],
    },
    {"tags": {"$size": {"$gt": 1}}, "$not": {"plan": {"$regexi": "^free"}}},
    {"tags": {"$all": ["a", "b"]}, "country": {"$ini": ["us", "ca"]}},
    {"account.tier": {"$eq": "gold"}, "account": {"$exists": True}, "plan": {"$ne": "trial"}},
]

FLAGS = [
    Flag(
        "support-agent",
        variants=AGENT,
        default="stable",
        pin=Pin.SESSION,
        rules=(
            *(Rule(f"when-{i}", condition=c, serve="candidate") for i, c in enumerate(CONDITIONS)),
            Rule(
                "canary",
                split=Split(
                    weights={"stable": 0.9, "candidate": 0.1},
                    unit="session_id",
                    fallback_unit="user_id",
                    namespace=Namespace("agents", 0.0, 0.9),
                ),
            ),
        ),
    ),
    Flag(
        "refund-prompt",
        variants={"v1": "refund-v1", "v2": "refund-v2"},
        default="v1",
        rules=(
            Rule("some", serve="v2", portion=Portion(coverage=0.3, unit="tenant")),
            Rule("ab", split=Split(weights={"v1": 0.5, "v2": 0.5}, coverage=0.2)),
        ),
    ),
    Flag(
        "approval-rule",
        variants={"strict": 0, "relaxed": 100},
        default="strict",
        prerequisites=(Prerequisite("refund-prompt", {"value": "refund-v2"}, gate=True),),
        rules=(Rule("relaxed", serve="relaxed"),),
    ),
]
DEFAULTS = {f.key: (f.default, f.variants[f.default]) for f in FLAGS}
GROUPS = {"design-partners": ["acme", "globex", "initech"]}


class Evil:
    """An object every dunder of which fails: the worst thing a caller can pass."""

    def __hash__(self) -> int:
        raise RuntimeError("no hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    c = Client.from_flags(
        FLAGS, environment="prod", saved_groups=GROUPS, clock=FakeClock(), sink=MemorySink()
    )
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="rampgate")


contexts = st.builds(
    Context,
    user_id=st.one_of(st.none(), unit_ids, wild_values),
    session_id=st.one_of(st.none(), unit_ids, wild_values),
    attributes=wild_attributes,
)


def _check(ev: object, key: str) -> Evaluation:
    assert isinstance(ev, Evaluation)
    flag = next(f for f in FLAGS if f.key == key)
    assert ev.variant in flag.variants
    if ev.reason is Reason.ERROR:
        assert (ev.variant, thaw(ev.value)) == DEFAULTS[key]
    return ev


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ctx=contexts)
def test_arbitrary_contexts_never_raise(client: Client, ctx: Context) -> None:
    for flag in FLAGS:
        _check(client.evaluate(flag.key, ctx), flag.key)


@settings(max_examples=200, deadline=None)
@given(
    user_id=st.one_of(st.none(), unit_ids),
    session_id=st.one_of(st.none(), unit_ids),
    attributes=st.dictionaries(st.sampled_from(["plan", "country", "email", "tags", "age",
                                                "account", "tenant", "app_version"]),
                               wild_values, max_size=6),
)  # fmt: skip
def test_well_formed_contexts_with_odd_values_evaluate_normally(
    client: Client, user_id: str | None, session_id: str | None, attributes: dict[str, Any]
) -> None:
    """Odd attribute values are simply not matched, as in GrowthBook: no ERROR."""
    ctx = Context(user_id=user_id, session_id=session_id, attributes=attributes)
    for flag in FLAGS:
        ev = _check(client.evaluate(flag.key, ctx), flag.key)
        assert ev.reason is not Reason.ERROR, (flag.key, ctx, ev)


not_a_context = st.one_of(
    wild_values,
    st.builds(object),
    st.builds(SimpleNamespace, user_id=unit_ids),  # a look-alike with no merged attributes
    st.just(Context),  # the class, not an instance
)


@settings(max_examples=150, deadline=None)
@given(obj=not_a_context)
def test_a_non_context_gives_the_safe_default_with_reason_error(client: Client, obj: Any) -> None:
    for flag in FLAGS:
        ev = _check(client.evaluate(flag.key, obj), flag.key)
        assert (ev.variant, thaw(ev.value), ev.reason) == (*DEFAULTS[flag.key], Reason.ERROR)


@settings(max_examples=150, deadline=None)
@given(key=wild_values.filter(lambda k: not isinstance(k, str)))
def test_a_key_that_is_not_a_string_gives_reason_error(client: Client, key: Any) -> None:
    ev = client.evaluate(key, Context(user_id="u-1"))
    assert isinstance(ev, Evaluation)
    assert (ev.variant, ev.reason) == (None, Reason.ERROR)
    assert client.evaluate(key, Context(user_id="u-1"), default="fallback").value in (
        "fallback",
        None,
    )


def test_an_object_that_fails_at_everything_gives_reason_error(client: Client) -> None:
    for flag in FLAGS:
        ev = _check(client.evaluate(flag.key, Evil()), flag.key)  # type: ignore[arg-type]
        assert (ev.variant, thaw(ev.value), ev.reason) == (*DEFAULTS[flag.key], Reason.ERROR)
    client.track("resolved", Evil(), value=Evil(), properties=Evil())  # type: ignore[arg-type]


@pytest.mark.parametrize("call", ["evaluate", "track"])
def test_a_key_that_fails_at_everything_never_raises(client: Client, call: str) -> None:
    if call == "track":
        client.track(Evil(), Context(user_id="u-1"))  # type: ignore[arg-type]
        return
    ev = client.evaluate(Evil(), Context(user_id="u-1"))  # type: ignore[arg-type]
    assert isinstance(ev, Evaluation) and ev.reason is Reason.ERROR


@settings(max_examples=100, deadline=None)
@given(key=st.text(any_char, max_size=12).filter(lambda k: k not in DEFAULTS))
def test_an_unknown_flag_gives_the_callers_default(client: Client, key: str) -> None:
    ev = client.evaluate(key, Context(user_id="u-1"), default={"model": "fallback"})
    assert (ev.variant, ev.value, ev.reason) == (None, {"model": "fallback"}, Reason.ERROR)


calls = st.lists(
    st.one_of(
        st.tuples(st.just("evaluate"), st.sampled_from([f.key for f in FLAGS]), contexts | not_a_context),
        st.tuples(
            st.just("track"),
            st.one_of(st.sampled_from(["resolved", "latency_ms"]), wild_values),
            contexts | not_a_context,
            wild_values,
            st.one_of(st.none(), st.dictionaries(st.text(max_size=5), wild_values, max_size=3),
                      wild_values),
        ),
    ),
    max_size=8,
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=calls)
def test_bad_calls_never_raise_and_never_cost_good_records(calls: list[tuple[Any, ...]]) -> None:
    sink = MemorySink()
    client = Client.from_flags(
        FLAGS, environment="prod", saved_groups=GROUPS, sink=sink,
        settings=ClientSettings(flush_interval=60.0),
    )  # fmt: skip
    good = Context(user_id="u-good", session_id="conv-good")
    client.evaluate("refund-prompt", good)
    for call in calls:
        if call[0] == "evaluate":
            client.evaluate(call[1], call[2])
        else:
            client.track(call[1], call[2], value=call[3], properties=call[4])
    client.track("resolved", good, value=1)
    client.close()
    mine = [r for r in sink.records if r.get("user_id") == "u-good"]
    assert [r["type"] for r in mine] == ["exposure", "event"]


def _report(calls: Any) -> tuple[list[dict[str, Any]], BaseException | None]:
    sink = MemorySink()
    client = Client.from_flags(FLAGS, environment="prod", saved_groups=GROUPS, sink=sink)
    good = Context(user_id="u-good")
    client.evaluate("refund-prompt", good)
    calls(client)
    client.track("resolved", good)
    try:
        client.close()
    except Exception as exc:  # what the test is about
        return sink.records, exc
    return sink.records, None


@pytest.mark.parametrize("properties", [["k", "v"], 42, "text", True], ids=repr)
def test_properties_that_are_not_a_mapping_cost_no_records(properties: Any) -> None:
    records, error = _report(
        lambda c: c.track("resolved", Context(user_id="u-bad"), properties=properties)
    )
    assert error is None
    assert [r["type"] for r in records if r["user_id"] == "u-good"] == ["exposure", "event"]


def test_a_context_look_alike_costs_no_records() -> None:
    duck = SimpleNamespace(session_id=None, merged={"user_id": "u-duck"})
    records, error = _report(lambda c: c.evaluate("refund-prompt", duck))
    assert error is None
    assert [r["type"] for r in records if r["user_id"] == "u-good"] == ["exposure", "event"]
