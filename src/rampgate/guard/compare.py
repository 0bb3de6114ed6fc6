"""Comparators: how much a candidate's result agrees with the stable one, as a score in [0, 1].

A comparator is any callable ``(stable_result, candidate_result) -> float`` in [0, 1]; 1 means
"the same answer". It runs on a shadow worker thread, never on the caller's path, so it may be
as slow as a similarity model — but it holds the GIL while it computes, which the host's other
threads feel, so keep it proportionate.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
from collections.abc import Callable
from typing import Any

__all__ = ["Comparator", "check_score", "exact_match", "normalize_text", "text_similarity"]

Comparator = Callable[[Any, Any], float]

# Character-level matching is the better measure of short answers ("Paris" vs "paris."), but
# difflib's cost grows with the product of the lengths (a second for two 6 kB texts), so past
# this length the texts are compared word by word (about 50 ms for two 2,000-word texts). Words
# keep difflib's "autojunk" (words in over 1% of places, such as "the", only extend matches):
# without it the same comparison takes a second. Characters must not: every letter is that common.
_CHARACTER_LEVEL_MAX = 300


def exact_match(stable: Any, candidate: Any) -> float:
    """1.0 when the two results are equal (``==``), else 0.0."""
    return 1.0 if stable == candidate else 0.0


def normalize_text(value: Any) -> str:
    """Casefolded text with runs of whitespace collapsed to one space.

    A string is taken as it is; ``None`` is empty; anything else is compared as canonical JSON
    (sorted keys), so two equal dicts read alike.
    """
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    return " ".join(text.casefold().split())


def text_similarity(stable: Any, candidate: Any) -> float:
    """difflib's similarity ratio of the two normalised texts (see :func:`normalize_text`).

    Characters are matched when both texts are at most 300 characters long, words otherwise.
    """
    a, b = normalize_text(stable), normalize_text(candidate)
    if a == b:
        return 1.0
    if max(len(a), len(b)) <= _CHARACTER_LEVEL_MAX:
        return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    return difflib.SequenceMatcher(None, a.split(" "), b.split(" ")).ratio()


def check_score(score: Any) -> float:
    """``score`` as a float in [0, 1] (a bool counts as 0 or 1); raises ``ValueError`` otherwise."""
    if not isinstance(score, numbers.Real):
        raise ValueError(f"a comparator returned {score!r}, not a number in [0, 1]")
    value = float(score)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"a comparator returned {value!r}, not a number in [0, 1]")
    return value
