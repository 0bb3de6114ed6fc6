"""Reading human-written values: durations, and how to name a wrong value in an error.

Shared by every parser of definitions (``config`` for files and the API, ``control`` for
rollout plans), so ``"30m"`` means the same everywhere and every error reads alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from rampgate.errors import ConfigError

__all__ = ["describe", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def describe(value: Any) -> str:
    """``found …`` wording for a value in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def parse_duration(
    value: Any, *, path: str = "", source: str = "", allow_zero: bool = False
) -> float:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"1h"``, ``"14d"`` or ``"2w"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise ConfigError(
                f"found {describe(value)}",
                path=path,
                source=source,
                expected="a duration such as 90, '90s', '30m', '1h' or '14d'",
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(
            f"found {value!r}", path=path, source=source, expected=f"a duration {bound}"
        )
    return seconds
