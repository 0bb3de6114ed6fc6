"""Targeting conditions: GrowthBook's condition language, compiled once into plain callables.

A rule's ``when`` is a GrowthBook condition — MongoDB-like JSON such as
``{"country": {"$in": ["US", "CA"]}, "email": {"$regex": "@example\\.com$"}}``.
:func:`compile_condition` turns it into a :data:`Predicate`, a function of the attributes,
when a flag version loads. Evaluating a rule then calls closures and nothing else: no walking
of the condition, no operator lookup, no regex compilation, no version padding. Each closure is
specialised for its operand — ``{"plan": "pro"}`` becomes one dict lookup and a string compare,
a string ``$in`` one frozenset probe, ``$and``/``$or`` of two parts a single ``and``/``or``.

Semantics follow GrowthBook's SDK spec (``docs/lib/build-your-own.mdx``) and pass all of its
``evalCondition`` cases. Where the written spec is silent, the JavaScript reference SDK decides,
coercions included (see :mod:`rampgate.domain._condition_ops`). Equality is the spec's "deep
comparison" of JSON values: types must match, so ``true`` never equals ``1`` and ``"8"`` never
equals ``8`` (as in GrowthBook's Python SDK, where the JavaScript SDK coerces), while ``1``
equals ``1.0`` and object key order does not matter. ``$notRegex``/``$notRegexi``, newer than
the spec, are supported as in GrowthBook's Python SDK.

Mistakes are load-time errors, not silent non-matches. GrowthBook evaluates an unknown operator
or an invalid regex to false at runtime; rampgate raises :class:`~rampgate.errors.ConditionError`
naming the operator and where it is (``condition.country.$in``; the caller prefixes the flag
and rule). The same goes for constructs that GrowthBook would evaluate to a constant or that no
SDK agrees on: ``$in`` without a list, ``$eq`` with an array (compared by reference, so never
equal), an operator used as an attribute (``{"$in": [...]}`` at the top), an object mixing
operators with plain keys, an empty object as a value, ``$exists`` with a non-boolean,
``$type`` with an unknown type name. An unknown saved group is not an error: ``$inGroup``
fails and ``$notInGroup`` passes, as the spec says.

Compiled predicates never raise, whatever the attributes hold (None, NaN, huge ints, nested or
self-referencing containers, enums, arbitrary objects): a value of an unexpected type simply
does not match. Regexes use Python's ``re`` syntax, as in GrowthBook's Python SDK.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from rampgate.errors import ConditionError

from ._condition_ops import (
    ValueTest,
    all_of,
    always,
    any_of,
    arrays,
    equals,
    js_type,
    membership,
    negate,
    nested_getter,
    never,
    norm,
    ordering,
    regex_test,
)
from .semver import padded_version_string

__all__ = ["ALWAYS", "Predicate", "compile_condition"]

Predicate = Callable[[Mapping[str, Any]], bool]


def _error(op: str, where: str, message: str, expected: str) -> ConditionError:
    # Every compile error names the operator (if any), where it is, and what would be accepted.
    return ConditionError(message, operator=op, path=where, expected=expected)


ALWAYS: Final[Predicate] = always
"""The predicate of an empty or absent condition: every context matches."""

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge,
    "$vlt": operator.lt, "$vlte": operator.le, "$vgt": operator.gt, "$vgte": operator.ge,
    "$veq": operator.eq, "$vne": operator.ne,
}  # fmt: skip
_TYPES: Final = ("string", "number", "boolean", "array", "object", "null")
_LOGICAL: Final = ("$and", "$or", "$nor")
_COMBINE: Final[dict[str, Callable[[Sequence[ValueTest]], ValueTest]]] = {
    "$and": all_of,
    "$or": any_of,
    "$nor": lambda parts: negate(any_of(parts)),  # an empty $nor fails: an empty $or passes
}
_EMPTY: Final[Mapping[str, Any]] = {}
_SCALAR: Final = "a string, number, boolean or null"


def _fields_of(item: Any) -> Mapping[str, Any]:
    # An array element seen as attributes: a plain dict (a subclass's own get() never runs);
    # anything else has no fields, as in JavaScript's getPath.
    if type(item) is dict:
        return item
    return norm(item) if isinstance(item, dict) else _EMPTY


# --- The compiler -----------------------------------------------------------------------------


class _Compiler:
    """One compilation: the saved groups, and each group's membership test built once."""

    def __init__(self, saved_groups: Mapping[str, Sequence[Any]]) -> None:
        self.saved_groups = saved_groups
        self.groups: dict[str, ValueTest] = {}

    def condition(self, condition: Any, where: str) -> Predicate:
        if not isinstance(condition, Mapping):
            kind = type(condition).__name__
            raise _error("", where, f"a condition must be an object, not {kind}", '{"plan": "pro"}')
        tests: list[ValueTest] = []
        for key, value in condition.items():
            here = f"{where}.{key}"
            if not isinstance(key, str) or not key:
                raise _error("", here, "attribute names must be non-empty strings", "a string")
            if key in _LOGICAL:
                if not isinstance(value, list | tuple):
                    raise _error(
                        key, here, f"{key} takes a list of conditions", "a list of conditions"
                    )
                parts = [self.condition(c, f"{here}[{i}]") for i, c in enumerate(value)]
                tests.append(_COMBINE[key](parts))
            elif key == "$not":
                tests.append(negate(self.condition(value, here)))
            elif key in _OPERATORS:
                # The spec would read this as an attribute literally named "$in": never meant.
                message = f"{key} is an operator on an attribute's value, not an attribute name"
                raise _error(key, here, message, f'{{"<attribute>": {{"{key}": ...}}}}')
            else:
                tests.append(self.attribute(key, value, here))
        return all_of(tests)

    def attribute(self, key: str, value: Any, where: str) -> Predicate:
        if "." not in key:
            fused = self.fused(key, value, where)
            if fused is not None:
                return fused
        test = self.value(value, where)
        if test is always or test is never:
            return test
        if "." in key:
            get = nested_getter(key)
            return lambda attrs: test(get(attrs))
        return lambda attrs: test(attrs.get(key))

    def fused(self, key: str, value: Any, where: str) -> Predicate | None:
        """The hottest shapes as one closure each: the attribute lookup inlined in the test."""
        kind = type(value)
        if kind is str:
            slow = equals(value)
            return lambda attrs: v == value if type(v := attrs.get(key)) is str else slow(v)
        if value is None or kind is bool:
            return lambda attrs: attrs.get(key) is value
        if not (isinstance(value, Mapping) and len(value) == 1):
            return None
        ((op, arg),) = value.items()
        if op == "$exists":
            self.exists(op, arg, f"{where}.{op}")  # validates the operand
            if arg:
                return lambda attrs: attrs.get(key) is not None
            return lambda attrs: attrs.get(key) is None
        if op not in ("$in", "$nin"):
            return None
        items = self.items(op, arg, f"{where}.{op}")
        if not all(type(x) is str for x in items):
            return None
        strings, slow = frozenset(items), membership(items)
        if op == "$in":
            return lambda attrs: v in strings if type(v := attrs.get(key)) is str else slow(v)
        return lambda attrs: v not in strings if type(v := attrs.get(key)) is str else not slow(v)

    def value(self, value: Any, where: str, *, insensitive: bool = False) -> ValueTest:
        """A test of one attribute value: an operator object, or a literal to equal."""
        if isinstance(value, Mapping):
            if not value:
                raise _error(
                    "",
                    where,
                    "an empty object is ambiguous: GrowthBook SDKs disagree on whether it "
                    "matches anything or only {}",
                    'operators such as {"$exists": true}, or a non-empty value',
                )
            ops = [k for k in value if isinstance(k, str) and k.startswith("$")]
            if len(ops) == len(value):
                return all_of(
                    [self.operator(op, arg, f"{where}.{op}") for op, arg in value.items()]
                )
            if ops:
                plain = [str(k) for k in value if k not in ops]
                raise _error(
                    "",
                    where,
                    f"an object mixing operators ({', '.join(ops)}) with plain keys "
                    f"({', '.join(plain)}) is compared literally and almost never matches",
                    "only operators, or only plain keys",
                )
        return equals(self.literal(value, where), insensitive=insensitive)

    def literal(self, value: Any, where: str) -> Any:
        """A canonical JSON value: tuples for arrays, dicts with string keys."""
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, str | int | float):  # subclasses (enums) become plain values
            return norm(value)
        if isinstance(value, list | tuple):
            return tuple(self.literal(v, f"{where}[{i}]") for i, v in enumerate(value))
        if isinstance(value, Mapping):
            for k in value:
                if not isinstance(k, str):
                    raise _error("", f"{where}.{k}", "object keys must be strings", "a string")
            return {k: self.literal(v, f"{where}.{k}") for k, v in value.items()}
        kind = type(value).__name__
        raise _error("", where, f"{kind} is not a JSON value", "a JSON value (no dates, bytes…)")

    def scalar(self, op: str, value: Any, where: str, expected: str = _SCALAR) -> Any:
        if value is None or isinstance(value, str | int | float):  # bool is an int here
            return self.literal(value, where)
        raise _error(
            op, where, f"{op} compares single values, not {type(value).__name__}", expected
        )

    def items(self, op: str, value: Any, where: str) -> tuple[Any, ...]:
        expected = "a list of strings, numbers, booleans or nulls"
        if not isinstance(value, list | tuple):
            raise _error(op, where, f"{op} takes a list, not {type(value).__name__}", expected)
        return tuple(self.scalar(op, v, f"{where}[{i}]", expected) for i, v in enumerate(value))

    def operator(self, op: str, arg: Any, where: str) -> ValueTest:
        build = _OPERATORS.get(op)
        if build is None:
            close = difflib.get_close_matches(op, _OPERATORS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise _error(
                op, where, f"unknown operator {op}{hint}", "one of " + " ".join(sorted(_OPERATORS))
            )
        return build(self, op, arg, where)

    # --- operators: each validates its operand and returns a specialised test --------------

    def eq(self, op: str, arg: Any, where: str) -> ValueTest:
        # JavaScript's === compares arrays and objects by reference: never equal to a parsed one.
        test = equals(self.scalar(op, arg, where, f"{_SCALAR} (compare arrays directly)"))
        return test if op == "$eq" else negate(test)

    def order(self, op: str, arg: Any, where: str) -> ValueTest:
        if isinstance(arg, bool) or not isinstance(arg, int | float | str):
            raise _error(
                op,
                where,
                f"{op} orders by a number or a string, not {type(arg).__name__}",
                "a number or a string",
            )
        return ordering(_COMPARE[op], norm(arg))

    def member(self, op: str, arg: Any, where: str) -> ValueTest:
        test = membership(self.items(op, arg, where), insensitive=op in ("$ini", "$nini"))
        return test if op in ("$in", "$ini") else negate(test)

    def group(self, op: str, arg: Any, where: str) -> ValueTest:
        if not isinstance(arg, str):
            raise _error(op, where, f"{op} names a saved group", "a group id")
        test = self.groups.get(arg)
        if test is None:
            values = self.saved_groups.get(arg)
            if values is None:
                test = never  # the spec: an unknown group has no members
            elif isinstance(values, list | tuple):
                test = membership(self.items(op, values, f"saved_groups.{arg}"))
            else:
                raise _error(
                    op, where, f"saved group {arg!r} is not a list", f"a list of {_SCALAR} values"
                )
            self.groups[arg] = test
        return test if op == "$inGroup" else negate(test)

    def not_value(self, op: str, arg: Any, where: str) -> ValueTest:
        return negate(self.value(arg, where))

    def elem_match(self, op: str, arg: Any, where: str) -> ValueTest:
        if not isinstance(arg, Mapping) or not arg:
            raise _error(
                op,
                where,
                f"{op} takes a non-empty object",
                "operators for each element, or a condition on each element's fields",
            )
        # Operators test each element itself; anything else (including $and/$or/$nor, which
        # JavaScript would reject as unknown operators) is a condition on its fields, as in
        # GrowthBook's Python SDK. Every element is tested, as the written spec says.
        each: ValueTest
        if all(isinstance(k, str) and k.startswith("$") and k not in _LOGICAL for k in arg):
            each = self.value(arg, where)  # {"$gt": 10}: operators on each element
        else:
            fields = self.condition(arg, where)  # {"name": ...}: a condition on each element
            each = lambda item: fields(_fields_of(item))  # noqa: E731
        return arrays(lambda items: any(each(item) for item in items))

    def size(self, op: str, arg: Any, where: str) -> ValueTest:
        if isinstance(arg, bool) or not isinstance(arg, int | float | Mapping):
            raise _error(op, where, f"{op} takes a length", 'a number or {"$gt": 2}')
        length = self.value(arg, where)
        return arrays(lambda items: length(len(items)))

    def all_of(self, op: str, arg: Any, where: str) -> ValueTest:
        if not isinstance(arg, list | tuple):
            raise _error(op, where, f"{op} takes a list", "a list of values")
        wanted = [
            self.value(v, f"{where}[{i}]", insensitive=op == "$alli") for i, v in enumerate(arg)
        ]
        return arrays(lambda items: all(any(w(item) for item in items) for w in wanted))

    def exists(self, op: str, arg: Any, where: str) -> ValueTest:
        if not isinstance(arg, bool):
            raise _error(op, where, f"{op} takes true or false", "true or false")
        return (lambda v: v is not None) if arg else (lambda v: v is None)

    def type_is(self, op: str, arg: Any, where: str) -> ValueTest:
        if arg not in _TYPES:
            hint = " (a missing attribute is null)" if arg == "undefined" else ""
            raise _error(op, where, f"unknown type {arg!r}{hint}", "one of " + ", ".join(_TYPES))
        return lambda v: js_type(v) == arg

    def regex(self, op: str, arg: Any, where: str) -> ValueTest:
        if not isinstance(arg, str):
            raise _error(op, where, f"{op} takes a pattern", "a regular expression")
        try:
            pattern = re.compile(arg, re.IGNORECASE if op.endswith("i") else 0)
        except re.error as exc:
            raise _error(
                op,
                where,
                f"invalid regular expression {arg!r}: {exc}",
                "a regular expression in Python re syntax",
            ) from exc
        test = regex_test(pattern)
        return negate(test) if op.startswith("$notRegex") else test

    def version(self, op: str, arg: Any, where: str) -> ValueTest:
        if not isinstance(arg, str):
            raise _error(op, where, f"{op} compares versions", 'a string like "1.2.3"')
        target, compare = padded_version_string(arg), _COMPARE[op]
        return lambda v: compare(padded_version_string(v), target)


_OPERATORS: Final[dict[str, Callable[[_Compiler, str, Any, str], ValueTest]]] = {
    **dict.fromkeys(("$eq", "$ne"), _Compiler.eq),
    **dict.fromkeys(("$lt", "$lte", "$gt", "$gte"), _Compiler.order),
    **dict.fromkeys(("$in", "$nin", "$ini", "$nini"), _Compiler.member),
    **dict.fromkeys(("$inGroup", "$notInGroup"), _Compiler.group),
    **dict.fromkeys(("$all", "$alli"), _Compiler.all_of),
    **dict.fromkeys(("$regex", "$regexi", "$notRegex", "$notRegexi"), _Compiler.regex),
    **dict.fromkeys(("$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte"), _Compiler.version),
    "$not": _Compiler.not_value,
    "$elemMatch": _Compiler.elem_match,
    "$size": _Compiler.size,
    "$exists": _Compiler.exists,
    "$type": _Compiler.type_is,
}


def compile_condition(
    condition: Mapping[str, Any] | None,
    *,
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
    path: str = "condition",
) -> Predicate:
    """Compile a GrowthBook condition into a predicate over a context's attributes.

    ``saved_groups`` maps a group id to its members, for ``$inGroup``/``$notInGroup``; each
    referenced group becomes a frozenset here, once. ``path`` locates the condition in its
    definition and prefixes every error's path.

    Raises :class:`~rampgate.errors.ConditionError` for anything malformed: an unknown
    operator, an invalid regex, an operand of the wrong shape. The returned predicate itself
    never raises.
    """
    if condition is None or (isinstance(condition, Mapping) and not condition):
        return ALWAYS
    try:
        return _Compiler(saved_groups or {}).condition(condition, path)
    except RecursionError:
        raise ConditionError(
            "the condition is nested too deeply", path=path, expected="fewer nested levels"
        ) from None
