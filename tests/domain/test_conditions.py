"""Condition compiler: load-time errors, semantics beyond the spec cases, and never raising."""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate.domain.conditions import ALWAYS, compile_condition
from rampgate.domain.frozen import freeze
from rampgate.domain.semver import padded_version_string
from rampgate.errors import ConditionError, ConfigError

# --- Load-time errors name the operator, the path and what was expected ----------------------


@pytest.mark.parametrize(
    ("condition", "operator", "path", "fragment"),
    [
        ({"country": {"$in": "US"}}, "$in", "condition.country.$in", "takes a list"),
        ({"name": {"$regx": "x"}}, "$regx", "condition.name.$regx", "did you mean $regex?"),
        ({"email": {"$regex": "(["}}, "$regex", "condition.email.$regex", "invalid regular"),
        ({"$or": [{"a": 1}, {"b": {"$gt": [1]}}]}, "$gt", "condition.$or[1].b.$gt", "number"),
        ({"$in": ["x"]}, "$in", "condition.$in", "not an attribute name"),
        ({"a": {"$exists": "false"}}, "$exists", "condition.a.$exists", "true or false"),
        ({"a": {"$type": "undefined"}}, "$type", "condition.a.$type", "missing attribute is null"),
        ({"a": {"$eq": ["x"]}}, "$eq", "condition.a.$eq", "single values"),
        ({"a": {"$in": ["x", ["y"]]}}, "$in", "condition.a.$in[1]", "single values"),
        ({"$and": {"a": 1}}, "$and", "condition.$and", "list of conditions"),
        ({"a": {"$elemMatch": []}}, "$elemMatch", "condition.a.$elemMatch", "non-empty object"),
        ({"a": {"$size": "3"}}, "$size", "condition.a.$size", "length"),
        ({"v": {"$vgt": 1}}, "$vgt", "condition.v.$vgt", "versions"),
        ({"a": {"$not": {"$regexi": 5}}}, "$regexi", "condition.a.$not.$regexi", "pattern"),
        ({"tags": {"$all": [{"$foo": 1}]}}, "$foo", "condition.tags.$all[0].$foo", "unknown"),
        ({"a": {}}, "", "condition.a", "empty object"),
        ({"a": {"$gt": 1, "lt": 9}}, "", "condition.a", "mixing operators ($gt)"),
        ({"day": datetime.date(2025, 1, 1)}, "", "condition.day", "date is not a JSON value"),
        ({"$or": [{"a": 1}, "b"]}, "", "condition.$or[1]", "must be an object"),
    ],
)
def test_errors_name_operator_and_path(
    condition: dict[str, Any], operator: str, path: str, fragment: str
) -> None:
    with pytest.raises(ConditionError) as err:
        compile_condition(condition)
    assert isinstance(err.value, ConfigError)
    assert err.value.operator == operator
    assert err.value.path == path
    assert fragment in str(err.value)
    assert str(err.value).startswith(f"{path}: ")
    assert err.value.expected


def test_caller_prefixes_the_path() -> None:
    where = "flags.support-agent.rules[1].condition"
    with pytest.raises(ConditionError) as err:
        compile_condition({"country": {"$in": "US"}}, path=where)
    assert err.value.path == f"{where}.country.$in"
    assert str(err.value).startswith(f"{where}.country.$in: $in takes a list, not str")


def test_malformed_saved_group_is_an_error_but_an_unknown_one_is_not() -> None:
    with pytest.raises(ConditionError, match="saved group 'staff' is not a list"):
        compile_condition({"id": {"$inGroup": "staff"}}, saved_groups={"staff": "u1"})
    with pytest.raises(ConditionError) as err:
        compile_condition({"id": {"$inGroup": "staff"}}, saved_groups={"staff": [{"id": 1}]})
    assert err.value.path == "saved_groups.staff[0]"
    assert compile_condition({"id": {"$inGroup": "nobody"}})({"id": 1}) is False
    assert compile_condition({"id": {"$notInGroup": "nobody"}})({"id": 1}) is True


def test_too_deep_a_condition_is_an_error() -> None:
    condition: dict[str, Any] = {"a": 1}
    for _ in range(2000):
        condition = {"$not": condition}
    with pytest.raises(ConditionError, match="nested too deeply"):
        compile_condition(condition)


# --- Semantics beyond the spec cases ---------------------------------------------------------


def matches(condition: dict[str, Any], attributes: dict[str, Any], **groups: list[Any]) -> bool:
    return compile_condition(condition, saved_groups=groups)(attributes)


class Plan(enum.StrEnum):
    PRO = "pro"


class Tier(enum.IntEnum):
    GOLD = 3


def test_empty_or_absent_condition_is_always() -> None:
    assert compile_condition({}) is ALWAYS
    assert compile_condition(None) is ALWAYS
    assert matches({"$or": []}, {}) is True
    assert matches({"$nor": []}, {}) is False  # GrowthBook: an empty $or passes, so $nor fails


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ({"$eq": 1}, True, False),  # Python's True == 1 must not leak in
        ({"$eq": True}, 1, False),
        ({"$eq": 1}, 1.0, True),  # JSON has one number type
        ({"$in": [1, 2]}, True, False),
        ({"$in": [True]}, 1, False),
        ({"$in": [0]}, False, False),
        ({"$in": [False, None]}, False, True),
        ({"$nin": [1]}, True, True),
        ({"$ne": 0}, False, True),
    ],
)
def test_booleans_never_equal_numbers(condition: Any, value: Any, expected: bool) -> None:
    assert matches({"x": condition}, {"x": value}) is expected


@pytest.mark.parametrize(
    ("condition", "attributes", "expected"),
    [
        ({"flag": True}, {"flag": 1}, False),
        ({"n": 1}, {"n": True}, False),
        ({"n": 8}, {"n": "8"}, False),  # direct equality compares JSON types strictly
        ({"tags": ["a", 1]}, {"tags": ("a", 1.0)}, True),  # tuples are arrays
        ({"o": {"k": [1]}}, {"o": {"k": [True]}}, False),
        ({"o": {"a": 1, "b": 2}}, {"o": {"b": 2, "a": 1}}, True),
    ],
)
def test_direct_equality_is_strict_json(
    condition: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    assert matches(condition, attributes) is expected


@pytest.mark.parametrize(
    ("operand", "value", "expected"),
    [
        (5, "08", True),  # JavaScript's "08" > 5: the string is read as a number
        (5, "0x10", True),  # ... including hex literals
        (5, "five", False),  # NaN compares false either way
        (5, " 6\n", True),
        (5, "", False),  # Number("") is 0
        (0, None, False),  # missing is null is 0, and 0 > 0 is false
        (-1, None, True),
        (0, True, True),
        ("10", "9", True),  # two strings compare as strings
        ("10", 9, False),  # a string against a number compares as numbers
        ("\ue000", "\U0001f600", False),  # UTF-16 order: a surrogate pair sorts below U+E000
        (5, [6], True),  # an array becomes "6", then 6
        (5, {"a": 1}, False),
        (5, math.nan, False),
        (5, 10**400, True),
    ],
)
def test_ordering_follows_javascript(operand: Any, value: Any, expected: bool) -> None:
    assert matches({"x": {"$gt": operand}}, {"x": value}) is expected


def test_regex_sees_values_as_javascript_strings() -> None:
    assert matches({"n": {"$regex": "^1\\.5$"}}, {"n": 1.5}) is True
    assert matches({"n": {"$regex": "^2$"}}, {"n": 2.0}) is True
    assert matches({"n": {"$regex": "^a,b$"}}, {"n": ["a", "b"]}) is True
    assert matches({"n": {"$regexi": "^TRUE$"}}, {"n": True}) is True
    assert matches({"email": {"$notRegex": "@gmail"}}, {"email": "a@example.com"}) is True
    assert matches({"email": {"$notRegexi": "@GMAIL"}}, {"email": "a@gmail.com"}) is False


def test_enums_and_frozen_values_match_like_plain_ones() -> None:
    assert matches({"plan": "pro"}, {"plan": Plan.PRO}) is True
    assert matches({"plan": {"$in": ["pro"]}}, {"plan": Plan.PRO}) is True
    assert matches({"plan": {"$regex": "^p"}}, {"plan": Plan.PRO}) is True
    assert matches({"tier": {"$gte": 3}}, {"tier": Tier.GOLD}) is True
    assert matches({"tier": 3}, {"tier": Tier.GOLD}) is True
    account = freeze({"plan": "team", "seats": [1, 2]})
    assert matches({"account.plan": "team", "account.seats": {"$size": 2}}, {"account": account})
    assert matches({"tags": {"$all": ["a"]}}, {"tags": ("a", "b")}) is True


def test_paths_reach_into_arrays_like_javascript() -> None:
    attributes = {"tags": ["x", "y"], "orders": [{"total": 5}]}
    assert matches({"tags.1": "y"}, attributes) is True
    assert matches({"tags.length": 2}, attributes) is True
    assert matches({"orders.0.total": {"$gt": 4}}, attributes) is True
    assert matches({"tags.01": {"$exists": False}}, attributes) is True
    assert matches({"tags.x": {"$exists": False}}, {"tags": "xyz"}) is True


def test_elem_match_forms() -> None:
    hobbies = {"hobbies": [{"name": "chess", "level": 3}, "bowling", None]}
    assert matches({"hobbies": {"$elemMatch": {"level": {"$gt": 2}}}}, hobbies) is True
    either = {"$or": [{"name": "go"}, {"level": 3}]}
    assert matches({"hobbies": {"$elemMatch": either}}, hobbies) is True
    assert matches({"hobbies": {"$elemMatch": {"$type": "null"}}}, hobbies) is True
    assert matches({"nums": {"$elemMatch": {"$eq": 0}}}, {"nums": [0]}) is True


def test_insensitive_operators_fold_only_strings() -> None:
    assert matches({"c": {"$ini": ["us", 1]}}, {"c": "US"}) is True
    assert matches({"c": {"$ini": ["us", 1]}}, {"c": True}) is False
    assert matches({"c": {"$nini": ["US"]}}, {"c": ["ca", "us"]}) is False
    assert matches({"t": {"$alli": ["ONE", {"$gt": 2}]}}, {"t": ["one", 5]}) is True


def test_versions_pad_numbers_and_treat_missing_as_zero() -> None:
    assert padded_version_string("v1.2.3+build") == padded_version_string("1.2.3")
    assert padded_version_string(2) == padded_version_string("2")
    assert padded_version_string(None) == padded_version_string("0")
    assert matches({"v": {"$vlt": "1.0.0"}}, {}) is True  # as the JavaScript SDK: no version is 0
    assert matches({"v": {"$vgt": "1.9.0"}}, {"v": "1.10.0"}) is True
    assert matches({"v": {"$veq": "2"}}, {"v": 2.0}) is True


def test_saved_groups_are_typed_sets() -> None:
    assert matches({"id": {"$inGroup": "g"}}, {"id": 1}, g=[True, "1"]) is False
    assert matches({"id": {"$inGroup": "g"}}, {"id": ["x", 2]}, g=[2]) is True
    assert matches({"id": {"$notInGroup": "g"}}, {"id": None}, g=[None]) is False


def test_nothing_is_parsed_on_the_evaluation_path(monkeypatch: pytest.MonkeyPatch) -> None:
    predicate = compile_condition(
        {
            "email": {"$regex": "@example\\.com$"},
            "version": {"$vgte": "1.2.0"},
            "country": {"$in": ["US", "CA"]},
        }
    )

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("compiled a regex while evaluating")

    monkeypatch.setattr(re, "compile", forbidden)
    monkeypatch.setattr(re, "search", forbidden)
    attributes = {"email": "a@example.com", "version": "1.10.0", "country": "CA"}
    assert predicate(attributes) is True


# --- Compiled predicates never raise ---------------------------------------------------------


class Hostile:
    """Every dunder a careless implementation might call raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("lt")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __len__(self) -> int:
        raise RuntimeError("len")

    def __iter__(self) -> Any:
        raise RuntimeError("iter")


class HostileStr(str):
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def lower(self) -> str:
        raise RuntimeError("lower")


class HostileDict(dict[str, Any]):
    def get(self, *args: Any) -> Any:
        raise RuntimeError("get")


def _cyclic() -> list[Any]:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    return cycle


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


ODD_VALUES = [
    math.nan,
    math.inf,
    -math.inf,
    10**400,
    -(10**30),
    Hostile(),
    HostileStr("us"),
    HostileDict(plan="pro"),
    object(),
    b"bytes",
    decimal.Decimal("1.5"),
    datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
    Plan.PRO,
    Tier.GOLD,
    freeze({"a": [1, {"b": None}]}),
    _cyclic(),
    _deep(5000),
    "\ud800",  # a lone surrogate
    "ünïcödé \U0001f600",
]


def _odd(index: int) -> Any:
    # Drawn by index: hypothesis would otherwise repr a 5000-deep list while building strategies.
    return ODD_VALUES[index]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.integers(0, len(ODD_VALUES) - 1).map(_odd),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "x", "0"]), inner, max_size=3)
    ),
    max_leaves=12,
)
NAMES = ["a", "b", "tags", "a.x", "a.0", "a.length", "tags.b"]
attributes = st.dictionaries(st.sampled_from(["a", "b", "tags"]), json_values, max_size=3)

scalars = st.none() | st.booleans() | st.integers(-3, 12) | st.sampled_from(["", "a", "US", "9"])
operands: dict[str, st.SearchStrategy[Any]] = {
    "$eq": scalars,
    "$ne": scalars,
    "$lt": st.integers(-3, 12) | st.sampled_from(["a", "10", "\ue000"]),
    "$gte": st.floats(allow_nan=False) | st.text(max_size=3),
    "$in": st.lists(scalars, max_size=4),
    "$nin": st.lists(scalars, max_size=4),
    "$ini": st.lists(scalars, max_size=3),
    "$exists": st.booleans(),
    "$type": st.sampled_from(["string", "number", "boolean", "array", "object", "null"]),
    "$regex": st.sampled_from(["^a", "s$", "[0-9]+", "", "(?i)US"]),
    "$notRegexi": st.sampled_from(["^a", "u"]),
    "$vgt": st.sampled_from(["1.2.3", "v2.0.0-rc.1", "0", "é"]),
    "$veq": st.sampled_from(["1.2.3", ""]),
    "$size": st.integers(0, 3),
    "$inGroup": st.sampled_from(["g", "missing"]),
    "$notInGroup": st.sampled_from(["g", "missing"]),
}


def _operator_object(op: str) -> Callable[[Any], dict[str, Any]]:
    return lambda operand: {op: operand}


def value_conditions(depth: int) -> st.SearchStrategy[Any]:
    simple = st.one_of(
        scalars,
        st.lists(scalars, max_size=2),
        *(s.map(_operator_object(op)) for op, s in operands.items()),
    )
    if depth == 0:
        return simple
    inner = value_conditions(depth - 1)
    return st.one_of(
        simple,
        st.builds(lambda v: {"$not": v}, inner),
        st.builds(lambda v: {"$elemMatch": v}, inner.filter(lambda v: isinstance(v, dict))),
        st.builds(lambda v: {"$all": v}, st.lists(inner, max_size=2)),
        st.builds(lambda v: {"$size": v}, st.just({"$gt": 0})),
    )


def conditions(depth: int = 2) -> st.SearchStrategy[Any]:
    entry = st.dictionaries(st.sampled_from(NAMES), value_conditions(2), min_size=1, max_size=2)
    if depth == 0:
        return entry
    inner = conditions(depth - 1)
    return st.one_of(
        entry,
        st.builds(lambda cs: {"$or": cs}, st.lists(inner, max_size=3)),
        st.builds(lambda cs: {"$and": cs}, st.lists(inner, max_size=3)),
        st.builds(lambda cs: {"$nor": cs}, st.lists(inner, max_size=2)),
        st.builds(lambda c: {"$not": c}, inner),
    )


GROUPS = {"g": ["US", 1, True, None]}


@settings(max_examples=400, deadline=None)
@given(condition=conditions(), attrs=attributes)
def test_compiled_predicates_never_raise(condition: Any, attrs: dict[str, Any]) -> None:
    try:
        predicate: Callable[[Any], bool] = compile_condition(condition, saved_groups=GROUPS)
    except ConditionError:
        return  # a malformed generated condition (an empty object, say) is a load-time error
    assert predicate(attrs) in (True, False)


OPERATOR_PROBES: list[tuple[str, Any]] = [
    ("$eq", "us"),
    ("$in", ["us", 1]),
    ("$ini", ["US"]),
    ("$nin", [True]),
    ("$gt", 5),
    ("$lte", "m"),
    ("$regex", "u"),
    ("$regexi", "U"),
    ("$vgte", "1.0.0"),
    ("$type", "object"),
    ("$exists", True),
    ("$size", {"$gte": 1}),
    ("$all", ["us", {"$gt": 0}]),
    ("$alli", ["US"]),
    ("$elemMatch", {"$ne": None}),
    ("$elemMatch", {"a": {"$exists": True}, "plan": "pro"}),
    ("$inGroup", "g"),
]


def _survives_every_operator(value: Any) -> None:
    for op, operand in OPERATOR_PROBES:
        for condition in ({"x": {op: operand}}, {"x.a.0": {op: operand}}, {"x": "us"}):
            predicate = compile_condition(condition, saved_groups=GROUPS)
            assert predicate({"x": value}) in (True, False), (op, operand)
            assert predicate({"x": [value, {"a": [value]}]}) in (True, False), (op, operand)


@pytest.mark.parametrize("index", range(len(ODD_VALUES)))
def test_every_operator_survives_odd_values(index: int) -> None:
    _survives_every_operator(ODD_VALUES[index])


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_every_operator_survives_any_value(value: Any) -> None:
    _survives_every_operator(value)
