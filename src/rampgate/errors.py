"""Every error rampgate raises on purpose, under one root.

::

    RampgateError
    ├── ConfigError             a definition is malformed: names the file and the path
    │   ├── ConditionError      a targeting condition cannot be compiled: names the operator
    │   └── SchemaError         a variant does not satisfy the flag's JSON schema
    ├── FlagNotFoundError       a flag key is not defined in the environment
    └── ClientClosedError       the SDK client was used after ``close()``

The evaluation hot path never lets these escape into the host application: it serves the
safe default with reason ``ERROR`` instead (see ``rampgate.sdk``). They surface where a
human can act on them: loading a config, the CLI, the API.
"""

from __future__ import annotations

import copy
from typing import Self

__all__ = [
    "ClientClosedError",
    "ConditionError",
    "ConfigError",
    "FlagNotFoundError",
    "RampgateError",
    "SchemaError",
]


class RampgateError(Exception):
    """Root of every error rampgate raises on purpose."""


class ConfigError(RampgateError):
    """A definition is malformed.

    ``path`` is a dotted location such as ``flags.support-agent.rules[1].condition.$in``;
    ``source`` is the file (or ``"<api>"``) the definition came from; ``expected`` says what
    would have been accepted, so the message tells the user how to fix it.
    """

    def __init__(
        self, message: str, *, path: str = "", source: str = "", expected: str = ""
    ) -> None:
        self.path = path
        self.source = source
        self.expected = expected
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        text = f"{where}: {self.reason}" if where else self.reason
        return f"{text} (expected {self.expected})" if self.expected else text

    def with_source(self, source: str) -> Self:
        """The same error, located in ``source`` (a file name, ``<api>``…)."""
        located = copy.copy(self)
        located.source = source
        located.args = (located._format(),)
        return located


class ConditionError(ConfigError):
    """A targeting condition cannot be compiled (unknown operator, bad regex, bad operand)."""

    def __init__(
        self,
        message: str,
        *,
        operator: str = "",
        path: str = "",
        source: str = "",
        expected: str = "",
    ) -> None:
        self.operator = operator
        super().__init__(message, path=path, source=source, expected=expected)


class SchemaError(ConfigError):
    """A flag variant does not satisfy the flag's JSON schema."""


class FlagNotFoundError(RampgateError):
    """No flag with this key exists in the environment."""

    def __init__(self, key: str, environment: str = "") -> None:
        self.key = key
        self.environment = environment
        where = f" in environment {environment!r}" if environment else ""
        super().__init__(f"flag {key!r} is not defined{where}")


class ClientClosedError(RampgateError):
    """The client was used after ``close()``."""
