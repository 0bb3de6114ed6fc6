"""Version ordering for ``$veq $vne $vgt $vgte $vlt $vlte``, as GrowthBook defines it.

GrowthBook does not parse versions: it rewrites each into a string whose plain string order is
version order (``paddedVersionString``). A leading ``v`` and ``+build`` metadata are dropped; the
rest splits on ``.`` and ``-``; all-digit parts are left-padded with spaces to width 5 (so
``" 9" < "10"``); and a bare ``major.minor.patch`` gains a ``~`` part, the largest printable
ASCII character, so ``1.0.0`` sorts after its pre-releases such as ``1.0.0-rc.1``.

A condition's operand is padded once, when the condition compiles. An attribute's version is
padded on evaluation, behind a small cache: a service sees few distinct client versions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from ._condition_ops import js_number_str, norm, utf16_units

__all__ = ["padded_version_string"]

# JavaScript's /(^v|\+.*$)/g: "." stops at line terminators, "$" is the very end of the input.
_STRIP: Final = re.compile(r"^v|\+[^\n\r\u2028\u2029]*\Z")


@lru_cache(maxsize=1024)
def _padded(text: str) -> str:
    parts = _STRIP.sub("", text).replace("-", ".").split(".")
    if len(parts) == 3:
        parts.append("~")
    padded = "-".join(p.rjust(5) if p.isascii() and p.isdigit() else p for p in parts)
    # JavaScript compares strings by UTF-16 code unit; this form makes Python agree.
    return utf16_units(padded)


def padded_version_string(value: Any) -> str:
    """GrowthBook's ``paddedVersionString``: compare two results as plain strings.

    As in the JavaScript SDK, a number is first written the way JavaScript writes it, and
    anything else that is not a non-empty string (a missing attribute included) is ``"0"``.
    """
    if type(value) is str and value:
        return _padded(value)
    value = norm(value)
    if type(value) is str and value:
        return _padded(value)
    if type(value) is int or type(value) is float:
        return _padded(js_number_str(value))
    return _padded("0")
