"""The SDK's batch encoding: fast for the usual shapes, never stuck on an odd property."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from rampgate.sdk.http_sink import _encode


def test_plain_batches_encode_as_compact_json() -> None:
    batch = {"events": [{"id": "e-1", "value": 1.5, "properties": None, "time_ms": 12}]}
    body = _encode(batch)
    assert json.loads(body) == batch
    assert b" " not in body


def test_odd_property_values_become_strings_or_plain_json() -> None:
    when = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    properties = {"at": when, "price": Decimal("0.10"), 3: "int key", "nan": float("nan")}
    decoded = json.loads(_encode({"events": [{"properties": properties}]}))
    assert decoded["events"][0]["properties"] == {
        "at": "2026-11-21T10:00:00+00:00",
        "price": "0.10",
        "3": "int key",
        "nan": None,  # JSON has no NaN; the server would refuse the whole batch for one
    }


def test_what_orjson_refuses_falls_back_to_json() -> None:
    huge = 2**70  # past 64 bits: orjson raises, json writes it
    decoded = json.loads(_encode({"events": [{"properties": {"n": huge}}]}))
    assert decoded["events"][0]["properties"] == {"n": huge}
