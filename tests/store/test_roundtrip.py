"""Property: whatever flag goes into the store comes back identical — values, order, version."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from rampgate import Flag, Rule, Split, store

NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum()
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def flags(draw: st.DrawFn) -> Flag:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    variants = {name: draw(JSON) for name in names}
    # Weights in a drawn order: the order is part of the flag (it decides bucket ranges).
    order = draw(st.permutations(names))
    raw = [draw(st.integers(min_value=1, max_value=1000)) for _ in order]
    weights = {name: w / sum(raw) for name, w in zip(order, raw, strict=True)}
    coverage = draw(st.floats(min_value=0, max_value=1))
    rules = (Rule(id="split", split=Split(weights=weights, coverage=coverage)),)
    if draw(st.booleans()):
        rules = (Rule(id="first", serve=draw(st.sampled_from(names))), *rules)
    return Flag(
        key="f",
        variants=variants,
        default=draw(st.sampled_from(names)),
        rules=rules,
        description=draw(st.text(max_size=30)),
    )


_keys = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(flag=flags())
def test_store_round_trips_are_lossless(engine: Engine, prod: str, flag: Flag) -> None:
    flag = replace(flag, key=f"flag-{next(_keys)}")
    with store.write(engine) as conn:
        store.create_flag(conn, prod, flag, actor="hypothesis")
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, flag.key)
        version = store.get_flag_version(conn, prod, flag.key, 1)
    expected = replace(flag, version=1)
    assert record.flag() == expected
    assert version.flag() == expected
    split = record.document["rules"][-1]["split"]
    assert list(split["weights"]) == list(_split(flag).weights)


def _split(flag: Flag) -> Any:
    return flag.rules[-1].split
