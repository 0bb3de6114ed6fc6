"""Event ingestion: the lean column checks accept only what ``EventsIn`` accepts, and store it the
same way; bad batches still get problem+json naming the field; batches arrive concurrently."""

from __future__ import annotations

import json
import math
import threading
import uuid
from typing import Any

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rampgate import store
from rampgate.sdk.http_sink import _columns, _encode
from rampgate.sdk.records import IdFactory, to_record
from rampgate.server.ingest import lean_columns, validated_columns
from rampgate.store.events import EVENT_FIELDS

from .live import Live
from .test_api import assert_problem

LIMIT = 10_000


def valid_event(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=i)),
        "type": "exposure" if i % 2 else "event",
        "time_ms": 1_800_000_000_000 + i,
        "environment": "prod",
        "user_id": f"u{i}",
        "session_id": None,
        "flag": "agent",
        "variant": "stable",
        "reason": "SPLIT",
        "rule_id": "canary",
        "flag_version": 3,
        "name": "resolved",
        "value": 1.5,
        "properties": {"tool": "search"},
        **extra,
    }


def text(min_size: int = 0, max_size: int = 300) -> st.SearchStrategy[str]:
    # Ordinary text, NUL, a lone surrogate (fine in Python, refused by pydantic's JSON parser),
    # a non-BMP character (an escaped surrogate pair with ensure_ascii), and long strings.
    return st.one_of(
        st.text(min_size=min_size, max_size=max_size),
        st.sampled_from(["a\x00b", "\ud800", "\U0001f600 ok", "x" * 32, "x" * 33, "x" * 65]),
        st.sampled_from(["x" * 128, "x" * 129, "x" * 256, "x" * 257, "café", "\u2028"]),
    )


ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**53, 2**53 + 1]),
    st.sampled_from([2**63 - 1, 2**63, 1.0, 2.5, -0.0, 1e308, math.nan, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
    text(),
    st.sampled_from(["exposure", "event", "click", "12", "1.5"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers() | st.floats() | st.none(), max_size=2),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event = valid_event(draw(st.integers(min_value=0, max_value=10**6)))
    for field in draw(st.lists(st.sampled_from([*EVENT_FIELDS, "extra"]), max_size=4)):
        if draw(st.booleans()):
            event.pop(field, None)
        else:
            event[field] = draw(ODD)
    return event


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    batch = draw(st.lists(events(), max_size=6))
    payload: Any = {"events": batch}
    if draw(st.integers(min_value=0, max_value=20)) == 0:
        payload = draw(st.sampled_from([[], {"events": {}}, {"events": [1]}, "x", {"other": 1}]))
    ascii_only = draw(st.booleans())
    return json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def as_columns(batch: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The events column by column, over every key any of them has (odd keys included)."""
    names = sorted({key for event in batch for key in event})
    return {name: [event.get(name) for event in batch] for name in names}


@st.composite
def column_bodies(draw: st.DrawFn) -> bytes:
    columns: dict[str, Any] = as_columns(draw(st.lists(events(), max_size=6)))
    mischief = draw(st.integers(min_value=0, max_value=12))
    if mischief == 0 and columns:  # one column a value short, or long
        name = draw(st.sampled_from(sorted(columns)))
        columns[name] = columns[name][:-1] if draw(st.booleans()) else [*columns[name], 1]
    elif mischief == 1:  # a column left out, or null, or not a list
        name = draw(st.sampled_from(EVENT_FIELDS))
        columns[name] = draw(st.sampled_from([None, {}, "x", 3]))
        if draw(st.booleans()):
            columns.pop(name)
    payload: Any = {"columns": columns}
    if mischief == 2:
        payload = draw(st.sampled_from([{"columns": []}, {"columns": None}, {"columns": {}}]))
    ascii_only = draw(st.booleans())
    return json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(bodies(), column_bodies()))
def test_lean_checks_accept_only_what_the_models_accept_and_give_the_same(body: bytes) -> None:
    lean = lean_columns(body, LIMIT)
    try:
        full = validated_columns(body, LIMIT)
    except RequestValidationError:
        assert lean is None, f"accepted what EventsIn refuses: {body!r}"
        return
    if lean is None:
        return  # left to EventsIn, which accepted it: fine, just slower
    assert set(lean) == set(full) == set(EVENT_FIELDS)
    for name in EVENT_FIELDS:
        assert len(lean[name]) == len(full[name])
        for x, y in zip(lean[name], full[name], strict=True):
            assert same(x, y), (name, x, y, body)


def test_the_sdk_columns_carry_every_key_of_its_records() -> None:
    ids = IdFactory()
    exposure = to_record((1, ("agent", "stable", "SPLIT", "canary", 3), "u", "s"), ids, "prod")
    event = to_record((2, "resolved", "u", "s", 1.0, {"tool": "x"}), ids, "prod")
    for record in (exposure, event):
        assert set(record) <= set(EVENT_FIELDS)  # a key outside it would be dropped on the wire
        columns = _columns([record])
        assert {k: v[0] for k, v in columns.items() if v[0] is not None} == {
            k: v for k, v in record.items() if v is not None
        }


def test_columns_and_rows_are_the_same_events() -> None:
    batch = [valid_event(i) for i in range(50)]
    batch[7] = {**batch[7], "value": 3, "properties": None}
    rows = json.dumps({"events": batch}).encode()
    columns = _encode({"columns": _columns(batch)})  # the SDK's own body
    lean = lean_columns(columns, LIMIT)
    assert lean is not None
    assert lean == lean_columns(rows, LIMIT) == validated_columns(columns, LIMIT)
    assert validated_columns(rows, LIMIT) == lean
    # A body with both shapes is read as rows, on either path.
    both = json.dumps({"events": batch[:2], "columns": as_columns(batch)}).encode()
    assert lean_columns(both, LIMIT) == validated_columns(both, LIMIT)
    assert len(validated_columns(both, LIMIT)["id"]) == 2


def test_the_sdk_shape_takes_the_lean_path() -> None:
    batch = [valid_event(i) for i in range(100)] + [
        valid_event(1000 + i, session_id="s", value=None, properties=None, flag_version=None)
        for i in range(100)
    ]
    body = json.dumps({"events": batch}).encode()
    columns = lean_columns(body, LIMIT)
    assert columns is not None and columns["id"][0] == batch[0]["id"]
    assert columns == validated_columns(body, LIMIT)
    # An integer value becomes the float EventsIn makes of it, on the lean path too.
    body = json.dumps({"events": [valid_event(1, value=2)]}).encode()
    columns = lean_columns(body, LIMIT)
    assert columns is not None and columns["value"] == [2.0] and type(columns["value"][0]) is float


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "short"}, "events[0].id"),
        ({"type": "click"}, "events[0].type"),
        ({"time_ms": -1}, "events[0].time_ms"),
        ({"user_id": "x" * 257}, "events[0].user_id"),
        ({"flag_version": 2**31}, "events[0].flag_version"),
        ({"reason": "a\x00b"}, "events[0].reason"),
        ({"properties": [1]}, "events[0].properties"),
    ],
)
def test_a_bad_event_is_a_problem_naming_the_field(
    live: Live, change: dict[str, Any], field: str
) -> None:
    sdk = live.client(live.sdk)
    bad = [valid_event(1), {**valid_event(2), **change}]
    bad[0], bad[1] = bad[1], bad[0]
    assert_problem(sdk.post("/api/v1/events", json={"events": bad}), 422, field)
    with store.read(live.engine) as conn:
        assert store.count_events(conn) == 0
    value = sdk.post(
        "/api/v1/events",
        content=b'{"events": [' + json.dumps(valid_event(3)).encode()[:-1] + b', "value": NaN}]}',
        headers={"Content-Type": "application/json"},
    )
    assert value.status_code == 422, value.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": ["short", "0000000000000002"]}, "columns.id[0]"),
        ({"type": ["event", "click"]}, "columns.type[1]"),
        ({"user_id": ["u", "x" * 257]}, "columns.user_id[1]"),
        ({"user_id": ["u"]}, "columns"),  # one value short
        ({"time_ms": None}, "columns.time_ms"),
    ],
)
def test_a_bad_column_is_a_problem_naming_the_field(
    live: Live, change: dict[str, Any], field: str
) -> None:
    sdk = live.client(live.sdk)
    columns = {**as_columns([valid_event(1), valid_event(2)]), **change}
    assert_problem(sdk.post("/api/v1/events", json={"columns": columns}), 422, field)
    with store.read(live.engine) as conn:
        assert store.count_events(conn) == 0


def test_a_column_batch_is_stored_once(live: Live) -> None:
    sdk = live.client(live.sdk)
    columns = as_columns([valid_event(i) for i in range(20)])
    for expected in (20, 0):  # the second time, every event is a duplicate
        response = sdk.post("/api/v1/events", json={"columns": columns})
        assert response.status_code == 200, response.text
        assert response.json()["inserted"] == expected
    with store.read(live.engine) as conn:
        assert store.count_events(conn) == 20


def test_too_many_events_is_413_on_either_path(live: Live) -> None:
    sdk = live.client(live.sdk)
    many = [valid_event(i) for i in range(10_001)]
    assert_problem(sdk.post("/api/v1/events", json={"events": many}), 413, "events")
    many[0]["value"] = True  # not plainly valid: the pydantic path counts too
    assert_problem(sdk.post("/api/v1/events", json={"events": many}), 413, "events")
    assert_problem(sdk.post("/api/v1/events", json={"columns": as_columns(many)}), 413, "events")
    many[0]["value"] = 1.0
    assert_problem(sdk.post("/api/v1/events", json={"columns": as_columns(many)}), 413, "events")


def test_concurrent_batches_are_all_stored_once(live: Live) -> None:
    batches = [[valid_event(b * 1000 + i) for i in range(300)] for b in range(8)]
    errors: list[BaseException] = []

    def post(batch: list[dict[str, Any]]) -> None:
        try:
            with httpx.Client(
                base_url=live.url, headers={"Authorization": f"Bearer {live.sdk}"}, timeout=30
            ) as http:
                for _ in range(2):  # the second time, everything is a duplicate
                    http.post("/api/v1/events", json={"events": batch}).raise_for_status()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(batch,)) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with store.read(live.engine) as conn:
        assert store.count_events(conn) == 8 * 300
