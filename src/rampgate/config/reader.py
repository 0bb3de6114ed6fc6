"""Typed access to parsed YAML/JSON that remembers where it is.

Every accessor knows its dotted path (``flags.support-agent.rules[1].when``) and the source
file, so a mistake anywhere in a config is reported as *where*, *what was found* and *what was
expected* — and an unknown key is an error, because a misspelt ``coverge`` silently ignored
would ship a 100% rollout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rampgate.domain.values import describe as _describe
from rampgate.domain.values import parse_duration
from rampgate.errors import ConfigError

__all__ = ["Node", "parse_duration"]


def _is_mapping(value: Any) -> bool:
    # A plain dict (what JSON and YAML give) without the ABC check, which costs several times
    # more and runs for every key of every flag an SDK is pushed.
    return type(value) is dict or isinstance(value, Mapping)


# Not frozen, though nothing assigns to a node once made: a frozen __init__ costs a call per
# field, and every SDK makes dozens of nodes for each flag pushed to it.
@dataclass(slots=True)
class Node:
    """A value inside a config document, with its path and source for error messages."""

    value: Any
    path: str = ""
    source: str = ""

    def child_path(self, key: str | int) -> str:
        if type(key) is str:
            return f"{self.path}.{key}" if self.path else key
        return f"{self.path}[{key}]"

    def error(
        self, message: str, *, expected: str = "", key: str | int | None = None
    ) -> ConfigError:
        path = self.child_path(key) if key is not None else self.path
        return ConfigError(message, path=path, source=self.source, expected=expected)

    # -- shapes -------------------------------------------------------------------------------

    def mapping(
        self, *, allowed: tuple[str, ...] | None = None, required: tuple[str, ...] = ()
    ) -> Node:
        if not _is_mapping(self.value):
            raise self.error(f"found {_describe(self.value)}", expected="a mapping")
        for key in self.value:
            if type(key) is not str and not isinstance(key, str):
                raise self.error(f"key {key!r} is not a string", expected="string keys")
            if allowed is not None and key not in allowed:
                raise self.error(
                    f"unknown key {key!r}", key=key, expected="one of " + ", ".join(allowed)
                )
        for key in required:
            if key not in self.value:
                raise self.error(f"missing required key {key!r}", key=key)
        return self

    def items(self) -> Iterator[tuple[str, Node]]:
        self.mapping()
        for key, value in self.value.items():
            yield key, Node(value, self.child_path(key), self.source)

    def elements(self) -> Iterator[Node]:
        if not isinstance(self.value, list):
            raise self.error(f"found {_describe(self.value)}", expected="a list")
        for i, value in enumerate(self.value):
            yield Node(value, self.child_path(i), self.source)

    def has(self, key: str) -> bool:
        return _is_mapping(self.value) and key in self.value

    def get(self, key: str, default: Any = None) -> Node:
        value = self.value.get(key, default) if _is_mapping(self.value) else default
        return Node(value, self.child_path(key), self.source)

    # -- scalars ------------------------------------------------------------------------------

    def string(self, *, pattern: re.Pattern[str] | None = None, expected: str = "a string") -> str:
        if not isinstance(self.value, str) or (
            pattern is not None and not pattern.match(self.value)
        ):
            raise self.error(f"found {_describe(self.value)}", expected=expected)
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"found {_describe(self.value)}", expected="true or false")
        return self.value

    def number(self, *, low: float | None = None, high: float | None = None) -> float:
        value = self.value
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and low is not None and value < low:
            ok = False
        if ok and high is not None and value > high:
            ok = False
        if not ok:
            bounds = f" in [{low}, {high}]" if low is not None and high is not None else ""
            raise self.error(f"found {_describe(value)}", expected=f"a number{bounds}")
        return float(value)

    def integer(self, *, low: int | None = None) -> int:
        value = self.value
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (low is not None and value < low)
        ):
            more = f" ≥ {low}" if low is not None else ""
            raise self.error(f"found {_describe(value)}", expected=f"an integer{more}")
        return value

    def duration(self) -> float:
        return parse_duration(self.value, path=self.path, source=self.source)
