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
from typing import Any

from rampgate.domain.values import describe as _describe
from rampgate.domain.values import parse_duration
from rampgate.errors import ConfigError

__all__ = ["Node", "parse_duration"]


def _is_mapping(value: Any) -> bool:
    # A plain dict (what JSON and YAML give) without the ABC check, which costs several times
    # more and runs for every key of every flag an SDK is pushed.
    return type(value) is dict or isinstance(value, Mapping)


class Node:
    """A value inside a config document, with its path and source for error messages.

    A child's path is worked out only when something asks for it (an error, mostly): an SDK
    parses every flag of every push, and building ``flags.x.rules[0].split.weights.stable`` for
    each value it reads was a tenth of that work.
    """

    __slots__ = ("_key", "_parent", "_path", "source", "value")

    def __init__(
        self,
        value: Any,
        path: str = "",
        source: str = "",
        *,
        parent: Node | None = None,
        key: str | int = "",
    ) -> None:
        self.value = value
        self.source = source
        self._path: str | None = path if parent is None else None
        self._parent = parent
        self._key = key

    @property
    def path(self) -> str:
        path = self._path
        if path is None:  # a child's, not asked for before
            parent = self._parent
            path = self._path = parent.child_path(self._key) if parent is not None else ""
        return path

    def __repr__(self) -> str:
        return f"Node({self.value!r}, path={self.path!r}, source={self.source!r})"

    def child_path(self, key: str | int) -> str:
        path = self.path
        if type(key) is str:
            return f"{path}.{key}" if path else key
        return f"{path}[{key}]"

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
        source = self.source
        for key, value in self.value.items():
            yield key, Node(value, source=source, parent=self, key=key)

    def elements(self) -> Iterator[Node]:
        if not isinstance(self.value, list):
            raise self.error(f"found {_describe(self.value)}", expected="a list")
        source = self.source
        for i, value in enumerate(self.value):
            yield Node(value, source=source, parent=self, key=i)

    # has() and get() spell _is_mapping out: they run for every key an SDK reads from a push,
    # and the call costs ~35 ns of their ~85 (measured with timeit).
    def has(self, key: str) -> bool:
        value = self.value
        return (type(value) is dict or isinstance(value, Mapping)) and key in value

    def get(self, key: str, default: Any = None) -> Node:
        value = self.value
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(key, default)
        else:
            value = default
        return Node(value, source=self.source, parent=self, key=key)

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
