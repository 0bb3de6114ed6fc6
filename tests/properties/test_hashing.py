"""Non-ASCII ids hash exactly as in GrowthBook: FNV-1a over UTF-16 code units.

GrowthBook's JavaScript SDK hashes ``charCodeAt`` values and its Python SDK 4.0 the same, so a
user called "ユーザー-42" or "café" lands in the same bucket in every SDK — not in the bucket
the UTF-8 bytes would give.
"""

from __future__ import annotations

from typing import Any

import pytest
from growthbook import GrowthBook
from growthbook.core import fnv1a32 as gb_fnv1a32
from growthbook.core import gbhash
from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate import Client, Context, Flag, Reason, Rule, Split
from rampgate.domain.hashing import fnv1a32, gb_hash, hash_v2

from .strategies import any_char

NON_ASCII = ["ユーザー-42", "café", "🚀", "user-😀-7", "naïve", "Ωmega", "\ud83d", "e\u0301"]


@pytest.mark.parametrize("uid", NON_ASCII)
def test_non_ascii_ids_hash_as_growthbook_does(uid: str) -> None:
    for seed in ("support-agent", "sälz", ""):
        assert hash_v2(seed, uid) == gbhash(seed, uid, 2)
        assert gb_hash(seed, uid, 1) == gbhash(seed, uid, 1)


def test_the_rule_is_utf16_code_units_not_utf8_bytes() -> None:
    # FNV-1a over the UTF-8 bytes of "é" differs from FNV-1a over its one UTF-16 code unit.
    utf8 = 0x811C9DC5
    for byte in "é".encode():
        utf8 = ((utf8 ^ byte) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a32("é") == gb_fnv1a32("é") != utf8
    # An astral character is two code units (a surrogate pair), as in JavaScript.
    assert fnv1a32("🚀") == fnv1a32(
        "\ud83d\ude80".encode("utf-16", "surrogatepass").decode("utf-16")
    )


@settings(max_examples=500, deadline=None)
@given(seed=st.text(any_char, max_size=10), uid=st.text(any_char, min_size=1, max_size=20))
def test_any_text_hashes_as_growthbook_does(seed: str, uid: str) -> None:
    assert fnv1a32(uid) == gb_fnv1a32(uid)
    assert hash_v2(seed, uid) == gbhash(seed, uid, 2)


def _gb_variant(gb: Any, uid: str) -> str | None:
    gb.set_attributes({"user_id": uid})
    result = gb.eval_feature("agent")
    return result.value if result.source == "experiment" else None


def test_non_ascii_ids_get_growthbooks_variant() -> None:
    weights = {"a": 0.2, "b": 0.3, "c": 0.5}
    flag = Flag(
        "agent",
        variants={"off": "off", **{k: k for k in weights}},
        default="off",
        rules=(Rule("split", split=Split(weights=weights, coverage=0.9)),),
    )
    client = Client.from_flags([flag], environment="test")
    gb = GrowthBook(
        features={
            "agent": {
                "defaultValue": "off",
                "rules": [
                    {
                        "key": "agent", "seed": "agent", "hashVersion": 2,
                        "hashAttribute": "user_id", "variations": list(weights),
                        "weights": list(weights.values()), "coverage": 0.9,
                    }
                ],
            }
        }
    )  # fmt: skip
    ids = [*NON_ASCII, *(f"{p}-{i}" for p in ("ユーザー", "café", "😀", "Ω") for i in range(500))]
    ours = []
    for uid in ids:
        ev = client.evaluate("agent", Context(user_id=uid), expose=False)
        ours.append(ev.variant if ev.reason is Reason.SPLIT else None)
    theirs = [_gb_variant(gb, uid) for uid in ids]
    gb.destroy()
    assert ours == theirs
    assert set(ours) == {"a", "b", "c", None}
