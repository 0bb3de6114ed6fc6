"""Value tests for compiled conditions, and the JavaScript coercions GrowthBook's spec relies on.

Every factory here takes an operand that :mod:`rampgate.domain.conditions` has already checked
and returns a ``ValueTest``: a closure over precomputed data (a frozenset, a compiled regex, a
padded version) that answers one question about one attribute value. The closures never raise:
they look at the exact type of the value first, and anything that is not JSON-shaped goes
through :func:`norm`, which turns subclasses (``StrEnum``, ``IntEnum``, ``FrozenDict``, numpy
floats) into plain values using the base type's own methods and everything else into an opaque
marker that no test matches.

GrowthBook's reference SDK is JavaScript, and where the written spec is silent its cases follow
JavaScript's coercions: ``{"$gt": 5}`` matches the string ``"8"``, and a missing attribute
orders as ``0``. ``js_to_number``, ``js_string`` and ``utf16_units`` reproduce exactly those
conversions (ECMAScript ToNumber, ToString and UTF-16 string order), so a rampgate condition
selects the same users as the GrowthBook SDKs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = [
    "OPAQUE",
    "ValueTest",
    "all_of",
    "always",
    "any_of",
    "arrays",
    "equals",
    "js_number_str",
    "js_string",
    "js_to_number",
    "js_type",
    "membership",
    "negate",
    "nested_getter",
    "never",
    "norm",
    "ordering",
    "regex_test",
    "utf16_units",
]

ValueTest = Callable[[Any], bool]


class _Opaque:
    """A value that is not JSON-shaped (a datetime, bytes, an arbitrary object)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OPAQUE"


OPAQUE: Final = _Opaque()
_PLAIN: Final = frozenset({str, int, float, bool, type(None), list, tuple, dict})


def norm(value: Any) -> Any:
    """A plain JSON-shaped value, or :data:`OPAQUE`.

    Only the base types' own methods are called, never a subclass override, so a hostile or
    broken object cannot raise here.
    """
    if type(value) in _PLAIN:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):  # bool cannot be subclassed, but keep it out of int
        return value
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return dict(dict.items(value))
    if isinstance(value, list):
        return list(list.__iter__(value))
    if isinstance(value, tuple):
        return tuple(tuple.__iter__(value))
    return OPAQUE


def js_type(value: Any) -> str:
    """GrowthBook's ``getType`` for a Python value; a missing attribute is ``null``."""
    value = norm(value)
    if value is None:
        return "null"
    t = type(value)
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if t is list or t is tuple:
        return "array"
    if t is dict:
        return "object"
    return "unknown"


# --- Combinators and attribute lookup ---------------------------------------------------------


def always(_: Any) -> bool:
    return True


def never(_: Any) -> bool:
    return False


# The loops below beat all()/any() over a generator by a few hundred ns: they are the hot path.
def all_of(tests: Sequence[ValueTest]) -> ValueTest:
    """Every test passes (``$and``, several operators on one value, several attributes)."""
    tests = [t for t in tests if t is not always]
    if any(t is never for t in tests):
        return never
    if not tests:
        return always
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda x: first(x) and second(x)
    chain = tuple(tests)

    def every(x: Any) -> bool:
        for test in chain:  # noqa: SIM110
            if not test(x):
                return False
        return True

    return every


def any_of(tests: Sequence[ValueTest]) -> ValueTest:
    """Some test passes (``$or``); GrowthBook lets an empty ``$or`` pass."""
    if not tests:
        return always
    tests = [t for t in tests if t is not never]
    if any(t is always for t in tests):
        return always
    if not tests:
        return never
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda x: first(x) or second(x)
    chain = tuple(tests)

    def some(x: Any) -> bool:
        for test in chain:  # noqa: SIM110
            if test(x):
                return True
        return False

    return some


def negate(test: ValueTest) -> ValueTest:
    if test is always:
        return never
    if test is never:
        return always
    return lambda x: not test(x)


def arrays(each: Callable[[Sequence[Any]], bool]) -> ValueTest:
    """A test only arrays (lists, tuples) can pass; ``each`` receives a plain sequence."""

    def test(v: Any) -> bool:
        if type(v) is list or type(v) is tuple:
            return each(v)
        return isinstance(v, list | tuple) and each(norm(v))

    return test


def _index(part: str) -> int | None:
    # JavaScript's getPath reaches into arrays by canonical index ("0", "12"; not "01").
    if part.isascii() and part.isdigit() and len(part) <= 10 and (part == "0" or part[0] != "0"):
        return int(part)
    return None


def nested_getter(path: str) -> Callable[[Mapping[str, Any]], Any]:
    """GrowthBook's ``getPath`` for a dotted path, split once: ``"father.age"``."""
    first, *rest = path.split(".")
    steps = tuple((part, _index(part)) for part in rest)

    def get(attrs: Mapping[str, Any]) -> Any:
        current = attrs.get(first)
        for part, index in steps:
            if isinstance(current, dict):
                current = dict.get(current, part)  # the base method: no subclass override runs
            elif isinstance(current, list | tuple):
                items = norm(current)
                if index is not None and index < len(items):
                    current = items[index]
                elif part == "length":
                    current = len(items)
                else:
                    return None
            else:
                return None
        return current

    return get


# --- JavaScript coercions -------------------------------------------------------------------

# StrWhiteSpaceChar of ECMAScript: what Number("  8 ") trims (unlike str.strip, no \x1c-\x1f).
_JS_SPACE: Final = "\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
_JS_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_JS_RADIX: Final = re.compile(r"0(?:([xX])[0-9a-fA-F]+|([oO])[0-7]+|([bB])[01]+)")


def js_to_number(text: str) -> int | float:
    """ECMAScript ``Number(text)``: NaN unless the whole (trimmed) string is a numeric literal."""
    s = text.strip(_JS_SPACE)
    if not s:
        return 0
    if _JS_DECIMAL.fullmatch(s):
        return float(s)  # a decimal literal past the float range becomes ±inf, as in JS
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    radix = _JS_RADIX.fullmatch(s)
    if radix is None:
        return math.nan
    return int(s[2:], 16 if radix[1] else 8 if radix[2] else 2)


def js_number_str(value: int | float) -> str:
    """ECMAScript ``String(number)``: ``1.0`` is ``"1"``, ``1e21`` is ``"1e+21"``."""
    if type(value) is int and -(2**53) <= value <= 2**53:  # exactly representable as a double
        return str(value)
    try:
        x = float(value)
    except OverflowError:  # an int beyond the double range is ±Infinity in JS
        x = math.inf if value > 0 else -math.inf
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x < 0:
        return "-" + js_number_str(-x)
    # repr gives the shortest round-tripping digits, as JS does; only the layout differs.
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    significant = (whole + fraction).lstrip("0")
    digits = significant.rstrip("0")
    k = len(digits)
    n = len(significant) + int(exponent or 0) - len(fraction)  # x = 0.digits * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    head = digits[0] + (f".{digits[1:]}" if k > 1 else "")
    return f"{head}e{'+' if n > 0 else '-'}{abs(n - 1)}"


def _js_join(items: Iterable[Any], seen: set[int]) -> str:
    # Array.prototype.join: null becomes "", and an array met again inside itself is "".
    out = []
    for raw in items:
        item = norm(raw)
        if item is None:
            out.append("")
        elif type(item) is list or type(item) is tuple:
            if id(item) in seen:
                out.append("")
            else:
                seen.add(id(item))
                out.append(_js_join(item, seen))
                seen.discard(id(item))
        else:
            out.append(js_string(item) or "")
    return ",".join(out)


def js_string(value: Any) -> str | None:
    """ECMAScript ``String(value)`` for a JSON value; None for an opaque value."""
    value = norm(value)
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int or t is float:
        return js_number_str(value)
    if t is dict:
        return "[object Object]"
    if t is list or t is tuple:
        try:
            return _js_join(value, {id(value)})
        except RecursionError:  # thousands of nested arrays: no sensible string, so no match
            return None
    return None


def utf16_units(text: str) -> str:
    """``text`` with every astral character split into its UTF-16 surrogate pair.

    Python orders strings by code point, JavaScript by UTF-16 code unit; the two disagree only
    when an astral character meets one in U+E000..U+FFFF. Comparing these forms is JS order.
    """
    if text.isascii():
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if o > 0xFFFF:
            o -= 0x10000
            out.append(chr(0xD800 | (o >> 10)) + chr(0xDC00 | (o & 0x3FF)))
        else:
            out.append(ch)
    return "".join(out)


# --- Value tests ------------------------------------------------------------------------------


def _json_equal(expected: Any, value: Any) -> bool:
    # ``expected`` is canonical (tuples for arrays, dicts with str keys); JSON types must match
    # exactly, so True never equals 1 (as Python's == would have it) while 1 equals 1.0.
    if type(value) not in _PLAIN:
        value = norm(value)
    te, tv = type(expected), type(value)
    if te is str:
        return tv is str and value == expected
    if expected is None or te is bool:
        return value is expected
    if te is int or te is float:
        return (tv is int or tv is float) and value == expected
    if te is tuple:
        return (
            (tv is list or tv is tuple)
            and len(value) == len(expected)
            and all(_json_equal(e, v) for e, v in zip(expected, value, strict=True))
        )
    return (
        tv is dict
        and len(value) == len(expected)
        and all(k in value and _json_equal(e, value[k]) for k, e in expected.items())
    )


def equals(expected: Any, *, insensitive: bool = False) -> ValueTest:
    """Literal equality with a canonical JSON value (``{"country": "US"}``, ``$eq``)."""
    if type(expected) is str:
        if insensitive:
            folded = expected.lower()
            return lambda v: isinstance(v, str) and str.__str__(v).lower() == folded
        return lambda v: v == expected if type(v) is str else _json_equal(expected, v)
    if expected is None:
        return lambda v: v is None
    if type(expected) is bool:
        return lambda v: v is expected
    if type(expected) is int or type(expected) is float:

        def number(v: Any) -> bool:
            t = type(v)
            if t is int or t is float:
                return bool(v == expected)
            return _json_equal(expected, v)

        return number
    return lambda v: _json_equal(expected, v)


def membership(items: Iterable[Any], *, insensitive: bool = False) -> ValueTest:
    """GrowthBook's ``isIn``: the value is one of ``items``, or an array sharing one with them.

    The items (strings, numbers, booleans, null) are split by JSON type into frozensets so a
    lookup is one hash probe and Python's ``True == 1`` never leaks in: JavaScript's
    ``includes`` compares without coercion.
    """
    items = tuple(items)
    fold: Callable[[str], str] = str.lower if insensitive else str.__str__
    strs = frozenset(fold(x) for x in items if type(x) is str)
    nums = frozenset(x for x in items if type(x) is int or type(x) is float)
    bools = frozenset(x for x in items if type(x) is bool)
    has_null = any(x is None for x in items)

    def scalar(v: Any) -> bool:
        t = type(v)
        if t is str:
            return fold(v) in strs
        if t is int or t is float:
            return v in nums
        if t is bool:
            return v in bools
        if v is None:
            return has_null
        if t in _PLAIN:  # an array or object element: JS compares those by reference
            return False
        v = norm(v)
        return type(v) not in (list, tuple, dict) and v is not OPAQUE and scalar(v)

    def test(v: Any) -> bool:
        t = type(v)
        if t is str:
            return fold(v) in strs
        if t is list or t is tuple or (t not in _PLAIN and isinstance(v, list | tuple)):
            return any(scalar(item) for item in norm(v))
        return scalar(v)

    if insensitive or nums or bools or has_null:
        return test

    def strings(v: Any) -> bool:  # the common case: a list of ids, countries, plans
        return v in strs if type(v) is str else test(v)

    return strings


def ordering(compare: Callable[[Any, Any], bool], operand: int | float | str) -> ValueTest:
    """``$lt $lte $gt $gte`` with JavaScript's relational coercions.

    Two strings compare as strings (in UTF-16 order); anything else compares as numbers, with
    null as 0, booleans as 0/1 and strings parsed by ``Number()``. Arrays and objects first
    become strings (``[5]`` is ``"5"``). A NaN on either side makes every comparison false.
    """
    if isinstance(operand, str):
        text: str | None = operand
        number = js_to_number(operand)
    else:
        text, number = None, operand
    ascii_text = text is not None and text.isascii()
    text_units = utf16_units(text) if text is not None else ""

    def strings(v: str) -> bool:
        if ascii_text or v.isascii():  # with an ASCII side, both languages order alike
            return compare(v, text)
        return compare(utf16_units(v), text_units)

    def slow(v: Any) -> bool:
        v = norm(v)
        t = type(v)
        if t is list or t is tuple or t is dict:  # ToPrimitive: arrays and objects as strings
            v = js_string(v)
            if v is None:
                return False
            t = str
        if t is str:
            return strings(v) if text is not None else compare(js_to_number(v), number)
        if v is None:
            return compare(0, number)
        if t is bool:
            return compare(int(v), number)
        if t is int or t is float:
            return compare(v, number)
        return False

    def test(v: Any) -> bool:
        t = type(v)
        if t is int or t is float:
            return compare(v, number)
        if t is str and text is not None:
            return strings(v)
        return slow(v)

    return test


def regex_test(pattern: re.Pattern[str]) -> ValueTest:
    """``$regex``: a search anywhere in the value, which JavaScript first turns into a string."""
    search = pattern.search

    def test(v: Any) -> bool:
        if type(v) is str:
            return search(v) is not None
        text = js_string(v)
        return text is not None and search(text) is not None

    return test
