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

__all__ = ["fnv1a32", "gb_hash", "hash_string", "hash_v2", "seeded_v2"]

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


def seeded_v2(seed: str) -> Callable[[str], float]:
    """``hash_v2`` with the seed fixed: its bytes are encoded once, per compiled split."""
    if not seed.isascii():
        return lambda value: hash_v2(seed, value)
    seed_bytes = seed.encode()
    fast = _ascii_fnv

    def hashed(value: str) -> float:
        inner = fast(seed_bytes + value.encode()) if value.isascii() else fnv1a32(seed + value)
        return (fast(str(inner).encode()) % 10000) / 10000

    return hashed


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook ``hash(seed, value, version)``: in [0, 1), or None for an unknown version."""
    if version == 2:
        return hash_v2(seed, value)
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def hash_string(value: object) -> str:
    """The text a unit attribute is hashed as; ``""`` means the unit is missing.

    Mirrors GrowthBook's JavaScript SDK: only a non-empty string or a finite, non-zero number
    identifies a unit (booleans, None, 0, NaN, infinities, lists and objects do not — they would
    pile thousands of units into one bucket), and a number is written as JavaScript's
    ``String(number)`` writes the double it becomes.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    try:
        x = float(value)
    except OverflowError:  # an int beyond the double range is Infinity in JavaScript
        return ""
    if x == 0 or not math.isfinite(x):
        return ""
    return _js_number(x)


def _js_number(x: float) -> str:
    """ECMAScript Number::toString for a finite, non-zero double."""
    if x < 0:
        return "-" + _js_number(-x)
    # repr gives the shortest digits that round-trip: "1.5", "0.0001", "1e+16", "1.5e-07".
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    padded = (whole + fraction).lstrip("0")
    digits = padded.rstrip("0")
    k = len(digits)
    # x = 0.d1…dk * 10^n
    n = int(exponent or "0") - len(fraction) + len(padded)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(e)}"
