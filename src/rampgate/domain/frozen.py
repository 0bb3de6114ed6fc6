"""Read-only JSON values.

Evaluations are built once per flag version and shared by every caller, so the variant value an
agent receives must not be mutable: one request editing ``value["tools"]`` would change the
config every other request sees. ``freeze`` turns JSON into a ``dict`` subclass that refuses
mutation and tuples for arrays; both still serialise with ``json.dumps`` and compare equal to
the plain values they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = ["FrozenDict", "freeze", "thaw"]


class FrozenDict(dict[str, Any]):
    """A ``dict`` that cannot be changed after construction; ``thaw`` gives a mutable copy."""

    __slots__ = ()

    def _readonly(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "rampgate variant values are shared and read-only; use rampgate.thaw(value) for a copy"
        )

    __setitem__ = _readonly
    __delitem__ = _readonly
    clear = _readonly
    pop = _readonly
    popitem = _readonly
    setdefault = _readonly
    update = _readonly
    __ior__ = _readonly

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self.items())))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return freeze(value)
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """A deep read-only copy of a JSON value (objects → FrozenDict, arrays → tuple)."""
    # Exact-type checks first: every SDK recompiles every pushed flag, and an ABC isinstance
    # for each scalar of each variant was a fifth of the parse.
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A deep mutable copy of a frozen JSON value (FrozenDict → dict, tuple → list)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value
