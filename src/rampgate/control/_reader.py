"""Reading ``metrics:``, ``rollouts:`` and ``experiments:`` sections: dict in, errors with paths.

``control`` may not import ``rampgate.config`` (its reader lives in a layer above), so this is a
small reader of its own with the same habits: every value knows its dotted path
(``rollouts.support-agent-v4.steps[1].weight``), an unknown key is an error (a misspelt
``approvl`` silently ignored would skip a human), and a message says what was expected.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from rampgate.domain.values import describe as _describe
from rampgate.domain.values import parse_duration
from rampgate.errors import ConfigError

__all__ = ["E", "Field", "choice", "parse_duration", "parse_margin"]

E = TypeVar("E", bound=enum.StrEnum)

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def choice(cls: type[E], value: Any, path: str) -> E:
    """``value`` as a member of the string enum ``cls``, or an error listing the choices."""
    try:
        return cls(value)
    except ValueError:
        raise ConfigError(
            f"found {_describe(value)}",
            path=path,
            expected="one of " + ", ".join(repr(m.value) for m in cls),
        ) from None


def parse_margin(value: Any, *, path: str) -> tuple[float, bool]:
    """``0.02`` is absolute, ``"10%"`` is relative to the stable arm: (value, relative)."""
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match is None:
            raise ConfigError(
                f"found {_describe(value)}",
                path=path,
                expected="a number (absolute) or a percentage such as '10%' (relative)",
            )
        return float(match.group(1)) / 100.0, True
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value), False
    raise ConfigError(
        f"found {_describe(value)}",
        path=path,
        expected="a number (absolute) or a percentage such as '10%' (relative)",
    )


@dataclass(frozen=True, slots=True)
class Field:
    """A value inside a definition, with its dotted path for error messages."""

    value: Any
    path: str

    def error(self, message: str, *, expected: str = "") -> ConfigError:
        return ConfigError(message, path=self.path, expected=expected)

    def child(self, key: str | int) -> Field:
        if isinstance(key, int):
            return Field(self.value[key], f"{self.path}[{key}]")
        return Field(self.value.get(key), f"{self.path}.{key}" if self.path else key)

    def has(self, key: str) -> bool:
        return isinstance(self.value, Mapping) and self.value.get(key) is not None

    def mapping(self, *, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Field:
        if not isinstance(self.value, Mapping):
            raise self.error(f"found {_describe(self.value)}", expected="a mapping")
        for key in self.value:
            if key not in allowed:
                raise ConfigError(
                    f"unknown key {key!r}",
                    path=f"{self.path}.{key}",
                    expected="one of " + ", ".join(allowed),
                )
        for key in required:
            if self.value.get(key) is None:
                raise ConfigError(f"{key!r} is required", path=f"{self.path}.{key}")
        return self

    def items(self) -> list[tuple[str, Field]]:
        """The entries of a mapping of named definitions (``rollouts:``, ``metrics:``)."""
        if not isinstance(self.value, Mapping):
            raise self.error(f"found {_describe(self.value)}", expected="a mapping of names")
        out = []
        for key in self.value:
            if not isinstance(key, str) or not key:
                raise self.error(f"name {key!r} is not a non-empty string")
            out.append((key, self.child(key)))
        return out

    def elements(self) -> list[Field]:
        if not isinstance(self.value, list | tuple):
            raise self.error(f"found {_describe(self.value)}", expected="a list")
        return [self.child(i) for i in range(len(self.value))]

    def string(self) -> str:
        if not isinstance(self.value, str) or not self.value:
            raise self.error(f"found {_describe(self.value)}", expected="a non-empty string")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"found {_describe(self.value)}", expected="true or false")
        return self.value

    def number(self) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.error(f"found {_describe(v)}", expected="a number")
        return float(v)

    def fraction(self) -> float:
        """A number, or a percentage written as ``"5%"``."""
        if isinstance(self.value, str) and _PERCENT.match(self.value):
            return parse_margin(self.value, path=self.path)[0]
        return self.number()

    def integer(self) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(f"found {_describe(v)}", expected="a whole number")
        return v

    def duration(self, *, allow_zero: bool = False) -> float:
        return parse_duration(self.value, path=self.path, allow_zero=allow_zero)

    def strings(self) -> tuple[str, ...]:
        return tuple(item.string() for item in self.elements())
