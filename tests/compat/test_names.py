"""Variant names derived from GrowthBook values: readable, stable, and never shared."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rampgate.compat.growthbook import value_name
from rampgate.compat.growthbook.names import VariantTable, canonical_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_readable_names() -> None:
    assert [value_name(v) for v in ["blue", 1, 1.0, 0.5, True, None, [1, 2], {"b": 1, "a": 2}]] == [
        "blue",
        "1",
        "1",  # JavaScript has one number type: 1 and 1.0 are the same GrowthBook value
        "0.5",
        "true",
        "null",
        "[1,2]",
        '{"a":2,"b":1}',
    ]


def test_strings_that_read_as_other_values_are_quoted() -> None:
    assert value_name("1") == 'json:"1"'
    assert value_name("true") == 'json:"true"'
    assert value_name("") == 'json:""'
    assert value_name("json:x") == 'json:"json:x"'


def test_large_configs_get_a_digest() -> None:
    config = {"model": "claude-sonnet-4", "prompt_version": "v4", "tools": ["search", "refund"]}
    assert value_name(config).startswith("json:sha256:")


@given(json_values, json_values)
def test_different_values_never_share_a_name(a: Any, b: Any) -> None:
    if canonical_json(a) != canonical_json(b):
        assert value_name(a) != value_name(b)
    else:
        assert value_name(a) == value_name(b)


@given(st.lists(json_values, max_size=6))
def test_a_table_gives_every_position_its_own_variant(values: list[Any]) -> None:
    table = VariantTable()
    names = table.names(values)
    assert len(set(names)) == len(values)
    assert [table.variants[n] for n in names] == values
    # Naming again gives the same names: re-importing is stable.
    assert table.names(values) == names


def test_a_string_cannot_steal_a_duplicate_arms_name() -> None:
    table = VariantTable()
    assert table.name("x#2") == "x#2"
    assert table.names(["x", "x"]) == ["x", "x#2.2"]
