"""Comparators: scores in [0, 1], 1 for the same answer."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampgate.guard import check_score, exact_match, normalize_text, text_similarity


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        ("x", "x", 1.0),
        ("x", "X", 0.0),
        ({"a": [1, 2]}, {"a": [1, 2]}, 1.0),
        ([1, 2], [2, 1], 0.0),
        (None, None, 1.0),
        (1, 1.0, 1.0),
    ],
)
def test_exact_match(a: Any, b: Any, score: float) -> None:
    assert exact_match(a, b) == score


def test_normalize_text() -> None:
    assert normalize_text("  Hello,\n\tWORLD  ") == "hello, world"
    assert normalize_text("Straße") == "strasse"  # casefold, not lower
    assert normalize_text(None) == ""
    assert normalize_text({"b": 1, "a": "X"}) == '{"a": "x", "b": 1}'


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("Hello  World", "hello world", 1.0),
        ("Paris", "paris.", 10 / 11),
        ("abc", "xyz", 0.0),
        ("", "", 1.0),
        ({"answer": "Yes"}, {"answer": "yes"}, 1.0),
    ],
)
def test_text_similarity(a: Any, b: Any, expected: float) -> None:
    assert text_similarity(a, b) == pytest.approx(expected)


def test_long_texts_are_compared_word_by_word_and_stay_meaningful() -> None:
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(300)] + ["the", "a", "of", "and"] * 20
    words = [rng.choice(vocabulary) for _ in range(2000)]
    a = " ".join(words)
    b = " ".join(w if i % 10 else "changed" for i, w in enumerate(words))
    score = text_similarity(a, b)
    assert 0.85 < score < 0.95  # one word in ten changed
    assert text_similarity(a, "something else entirely " * 200) < 0.05


@given(st.text(max_size=400), st.text(max_size=400))
def test_text_similarity_is_a_score(a: str, b: str) -> None:
    score = text_similarity(a, b)
    assert 0.0 <= score <= 1.0
    assert text_similarity(a, a) == 1.0


@pytest.mark.parametrize("good", [0, 1, 0.5, True, False])
def test_check_score_accepts_numbers_in_range(good: Any) -> None:
    assert check_score(good) == float(good)


@pytest.mark.parametrize("bad", [-0.1, 1.01, math.nan, math.inf, "0.5", None, [1]])
def test_check_score_refuses_anything_else(bad: Any) -> None:
    with pytest.raises(ValueError, match="comparator returned"):
        check_score(bad)
