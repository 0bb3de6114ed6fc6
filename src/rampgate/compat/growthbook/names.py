"""Names for GrowthBook values: rampgate variants are named, GrowthBook's are not.

A GrowthBook feature serves bare JSON values (``defaultValue``, each rule's ``force``, each
experiment's ``variations``); a rampgate flag serves named variants. The importer names each
distinct value after the value itself, so the same value gets the same name in every rule and on
every import of the same definitions:

- a string is its own name (``"blue"``), unless it would read as another JSON value or is empty,
  in which case it is quoted after a ``json:`` prefix (``json:"1"``);
- a number, boolean or null is its JSON text (``1``, ``0.5``, ``true``, ``null``);
- an array or object is its canonical JSON text when short, else ``json:sha256:`` and a digest.

So different values never share a name. An experiment may list one value twice (an A/A test);
its second arm is a separate variant named ``<name>#2``.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

__all__ = ["VariantTable", "canonical_json", "value_name"]

# Longer arrays and objects (whole agent configs) are named by a digest instead.
_MAX_INLINE = 48


def _plain(value: Any) -> Any:
    # JavaScript has one number type: 1 and 1.0 are the same GrowthBook value.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal GrowthBook values give equal text."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _reads_as_other_json(text: str) -> bool:
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return not isinstance(parsed, str)


def value_name(value: Any) -> str:
    """The variant name of a GrowthBook value (see the module docstring)."""
    if isinstance(value, str):
        if value and not value.startswith("json:") and not _reads_as_other_json(value):
            return value
        return "json:" + json.dumps(value, ensure_ascii=False)
    text = canonical_json(value)
    if isinstance(value, dict | list | tuple) and len(text) > _MAX_INLINE:
        return "json:sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return text


class VariantTable:
    """The variants of one flag, built up as the importer meets values."""

    def __init__(self) -> None:
        self.variants: dict[str, Any] = {}
        self._by_key: dict[tuple[str, int], str] = {}

    def name(self, value: Any, occurrence: int = 1) -> str:
        """The name of ``value`` (its ``occurrence``-th copy within one experiment)."""
        key = (canonical_json(value), occurrence)
        found = self._by_key.get(key)
        if found is not None:
            return found
        base = value_name(value)
        candidate = base if occurrence == 1 else f"{base}#{occurrence}"
        # A string value may itself look like "x#2"; keep going until the name is free.
        suffix = 1
        while candidate in self.variants:
            suffix += 1
            candidate = f"{base}#{occurrence}.{suffix}"
        self.variants[candidate] = value
        self._by_key[key] = candidate
        return candidate

    def names(self, values: list[Any]) -> list[str]:
        """One distinct name per position: a repeated value gets its ``#2``, ``#3``… copy."""
        seen: dict[str, int] = {}
        out = []
        for value in values:
            key = canonical_json(value)
            seen[key] = seen.get(key, 0) + 1
            out.append(self.name(value, seen[key]))
        return out
