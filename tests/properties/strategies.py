"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

# Any code point, lone surrogates included: JavaScript strings (and so GrowthBook ids) can hold them.
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]))

unit_ids = st.one_of(
    st.from_regex(r"[a-z]{1,4}-[0-9a-f]{1,12}", fullmatch=True),
    st.text(any_char, min_size=1, max_size=16),
    st.sampled_from(["ユーザー-42", "café", "🚀", "naïve-ß", "Ω", "\ud800x", "0", "-1", " "]),
)


# Weights of a split: 2-5 positive integers normalised to sum to 1 (the last takes the rest).
def _normalise(parts: list[int]) -> list[float]:
    total = sum(parts)
    weights = [p / total for p in parts[:-1]]
    return [*weights, 1.0 - sum(weights)]


split_weights = st.lists(st.integers(1, 100), min_size=2, max_size=5).map(_normalise)
coverages = st.floats(0.0, 1.0)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**30, -(10**30), 2**53 + 1, 10**400, 0, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(any_char, max_size=12),
    st.sampled_from(["US", "CA", "enterprise", "1.2.3", "v2.0.0-rc.1", "a@example.com"]),
    st.binary(max_size=8),
)
# Whatever an application might put in a context by mistake: NaN, ±inf, huge ints, nesting…
wild_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(any_char, max_size=8), inner, max_size=4),
    ),
    max_leaves=8,
)
attribute_names = st.one_of(
    st.sampled_from(
        ["plan", "country", "email", "app_version", "tags", "tenant", "user_id", "session_id",
         "account", "account.tier", "age"]
    ),
    st.text(any_char, max_size=8),
)  # fmt: skip
wild_attributes = st.one_of(
    st.dictionaries(attribute_names, wild_values, max_size=6),
    wild_values,  # not even a mapping
)
