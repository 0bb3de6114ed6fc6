"""The hashing shortcuts agree with the definitions they speed up."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rampgate.domain.hashing import _fnv1a32_units, _pure_ascii, fnv1a32, hash_v2, seeded_v2

TEXT = st.text(max_size=40)


@given(seed=TEXT, value=TEXT)
def test_seeded_v2_equals_hash_v2(seed: str, value: str) -> None:
    assert seeded_v2(seed)(value) == hash_v2(seed, value)


@given(value=st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_c_accelerator_equals_the_pure_loop_on_ascii(value: str) -> None:
    assert fnv1a32(value) == _pure_ascii(value.encode())


@given(value=TEXT)
def test_non_ascii_hashes_utf16_code_units(value: str) -> None:
    units = value.encode("utf-16-le", "surrogatepass")
    assert fnv1a32(value) == _fnv1a32_units(units, 2)
