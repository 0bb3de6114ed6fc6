"""GrowthBook-compatible hashing: FNV-1a 32 and the v1/v2 bucket hashes.

GrowthBook's JavaScript SDK hashes ``String.charCodeAt`` values, i.e. UTF-16 code units, and
its Python SDK 4.0 does the same. For ASCII that is byte-for-byte FNV-1a, which the optional C
accelerator ``fnv-hash-fast`` computes; anything else goes through the code-unit loop here, so a
non-ASCII id lands in the same bucket in every SDK. The accelerator is the one third-party
import ``domain`` allows: it is optional and tested equal to the pure loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["fnv1a32", "gb_hash", "hash_string", "hash_v2"]

_OFFSET = 0x811C9DC5
_PRIME = 0x01000193
_MASK = 0xFFFFFFFF


def _fnv1a32_units(units: bytes, step: int) -> int:
    h = _OFFSET
    if step == 1:
        for b in units:
            h = ((h ^ b) * _PRIME) & _MASK
    else:
        for i in range(0, len(units), 2):
            h = ((h ^ (units[i] | (units[i + 1] << 8))) * _PRIME) & _MASK
    return h


def _pure_ascii(data: bytes) -> int:
    return _fnv1a32_units(data, 1)


_ascii_fnv: Callable[[bytes], int]
try:
    from fnv_hash_fast import fnv1a_32 as _ascii_fnv
except ImportError:  # pragma: no cover - the accelerator ships with the default install
    _ascii_fnv = _pure_ascii


def fnv1a32(s: str) -> int:
    """FNV-1a 32 over the UTF-16 code units of ``s`` (ASCII: over its bytes, the same thing)."""
    if s.isascii():
        return _ascii_fnv(s.encode())
    return _fnv1a32_units(s.encode("utf-16-le", "surrogatepass"), 2)


def hash_v2(seed: str, value: str) -> float:
    """GrowthBook hash version 2: ``fnv(str(fnv(seed + value))) % 10000 / 10000``.

    The inner hash's decimal string is always ASCII, so the outer hash always takes the fast path.
    """
    s = seed + value
    inner = _ascii_fnv(s.encode()) if s.isascii() else fnv1a32(s)
    return (_ascii_fnv(str(inner).encode()) % 10000) / 10000


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook ``hash(seed, value, version)``: in [0, 1), or None for an unknown version."""
    if version == 2:
        return hash_v2(seed, value)
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def hash_string(value: object) -> str:
    """Format a unit attribute the way JavaScript's ``String()`` does; ``""`` means unusable.

    Only strings and finite or infinite real numbers identify a unit; booleans, None, lists and
    objects do not (they would all collapse to a handful of buckets).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, int):
        return str(value)
    return _js_float(value)


def _js_float(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    text = repr(x)
    if "e" in text:
        # JavaScript writes 1e-7 as "1e-7" and 1e21 as "1e+21"; Python as "1e-07" / "1e+21".
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{int(exponent.lstrip('+-'))}"
    return text
