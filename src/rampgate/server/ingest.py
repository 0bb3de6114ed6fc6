"""A batch of events, parsed and checked: ``{"events": [...]}`` or ``{"columns": {...}}``.

Rows are what any sender writes naturally; columns are what the SDK sends — the same events,
one list per field, so no key is repeated per event: about half the bytes, and a third of the
parsing. Either way the result is one list per field of :data:`EVENT_FIELDS`, as the store
inserts them.

Two paths give the same answers. The lean one checks whole columns at a time (each check a C
loop over the batch) and accepts only what ``EventIn`` accepts, giving what it gives: building
one pydantic model per event cost more than storing it. Anything it is unsure of — a coercion
pydantic would make, an escape it cannot vouch for, any error — goes to pydantic
(``EventsIn`` or ``EventColumnsIn``), which decides and names the field, so problem+json
errors are exactly those of the models.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pydantic_core
import sqlalchemy as sa
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from rampgate.server.models import EventColumnsIn, EventsIn
from rampgate.server.problems import ApiError
from rampgate.store.events import EVENT_FIELDS, event_columns
from rampgate.store.schema import events

__all__ = ["batch_columns", "lean_columns", "validated_columns"]

Columns = dict[str, list[Any]]


def batch_columns(body: bytes, limit: int) -> Columns:
    """The batch's columns; a 422 naming the field, or a 413 past ``limit`` events."""
    columns = lean_columns(body, limit)
    return columns if columns is not None else validated_columns(body, limit)


def _too_many(count: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "Request too large",
        f"{count} events in one batch",
        field="events",
        fix=f"send at most {limit} events per request",
    )


# -- the full path --------------------------------------------------------------------------


def validated_columns(body: bytes, limit: int) -> Columns:
    """The full validation (pydantic): slower, and it names every bad field."""
    model: type[BaseModel] = EventColumnsIn if _is_columnar(body) else EventsIn
    try:
        batch = model.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    if isinstance(batch, EventsIn):
        if len(batch.events) > limit:
            raise _too_many(len(batch.events), limit)
        # A validated model's __dict__ holds exactly its fields: model_dump() would copy each.
        return event_columns([e.__dict__ for e in batch.events])
    given: dict[str, list[Any] | None] = batch.columns.__dict__  # type: ignore[attr-defined]
    count = len(given["id"] or ())
    if count > limit:
        raise _too_many(count, limit)
    return {name: given[name] or [None] * count for name in EVENT_FIELDS}


def _is_columnar(body: bytes) -> bool:
    """``{"columns": …}`` without ``"events"``: a body with both is read as rows, both ways."""
    try:
        payload = pydantic_core.from_json(body, allow_inf_nan=True)
    except ValueError:
        return False  # not JSON: EventsIn reports it
    return type(payload) is dict and "columns" in payload and "events" not in payload


# -- the lean path --------------------------------------------------------------------------


def lean_columns(body: bytes, limit: int) -> Columns | None:
    """The batch's columns when every event is plainly valid; ``None`` to let pydantic judge."""
    # NUL characters (refused by ``EventIn``) and UTF-16 surrogates (a lone one is refused by
    # its JSON parser, not by json's) can only arrive escaped: leave such a batch to pydantic.
    if b"\\u" in body and (b"\\u0000" in body or b"\\ud" in body or b"\\uD" in body):
        return None
    # orjson, like pydantic and unlike json, refuses NaN, Infinity, invalid UTF-8 and integers
    # past 64 bits: each of those goes to pydantic, which names the field. It parses a batch
    # about four times faster than json, which was half of the server's time per event.
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(payload) is not dict:
        return None
    if "events" in payload:
        columns = _row_columns(payload["events"], limit)
    else:
        columns = _given_columns(payload.get("columns"), limit)
    return columns if columns is not None and _plainly_valid(columns) else None


def _row_columns(events: Any, limit: int) -> Columns | None:
    if type(events) is not list or not set(map(type, events)) <= {dict}:
        return None
    if len(events) > limit:
        raise _too_many(len(events), limit)
    return event_columns(events)


_REQUIRED = ("id", "type", "time_ms")


def _given_columns(given: Any, limit: int) -> Columns | None:
    if type(given) is not dict or not all(name in given for name in _REQUIRED):
        return None
    known = [given[name] for name in EVENT_FIELDS if name in given]
    if not all(type(column) is list for column in known):
        return None
    lengths = set(map(len, known))
    if len(lengths) > 1:
        return None
    count = lengths.pop() if lengths else 0
    if count > limit:
        raise _too_many(count, limit)
    return {name: given.get(name) or [None] * count for name in EVENT_FIELDS}


_NONE = type(None)
_STR, _STR_OR_NONE = frozenset({str}), frozenset({str, _NONE})
_INT, _INT_OR_NONE = frozenset({int}), frozenset({int, _NONE})
_NUMBER_OR_NONE = frozenset({float, int, _NONE})
_DICT_OR_NONE = frozenset({dict, _NONE})
_EVENT_TYPES = frozenset({"exposure", "event"})


def _string_bounds() -> tuple[tuple[str, int], ...]:
    """Every string field and its bound, read from the events table's VARCHAR(n) (as
    ``EventIn``'s are: a value that does not fit is a 422, never the database's 500)."""
    bounds = []
    for name in EVENT_FIELDS:
        kind = events.c[name].type
        if isinstance(kind, sa.String) and kind.length is not None:
            bounds.append((name, kind.length))
    return tuple(bounds)


_TEXT = _string_bounds()
_MAX_EXACT_FLOAT_INT = 2**53


def _plainly_valid(columns: dict[str, list[Any]]) -> bool:
    for name, longest in _TEXT:
        column = columns[name]
        kinds = set(map(type, column))
        if not kinds <= (_STR if name == "id" else _STR_OR_NONE):
            return False
        if _NONE in kinds:
            column = [v for v in column if v is not None]
        if column and max(map(len, column)) > longest:
            return False
    ids = columns["id"]
    if ids and min(map(len, ids)) < 8:
        return False
    types = columns["type"]
    if not set(map(type, types)) <= _STR or not set(types) <= _EVENT_TYPES:
        return False
    times = columns["time_ms"]
    if times and (not set(map(type, times)) <= _INT or min(times) < 0 or max(times) >= 2**63):
        return False
    versions = columns["flag_version"]
    kinds = set(map(type, versions))
    if not kinds <= _INT_OR_NONE:
        return False
    if int in kinds:
        numbers = [v for v in versions if v is not None]
        if min(numbers) < -(2**31) or max(numbers) >= 2**31:
            return False
    if not set(map(type, columns["properties"])) <= _DICT_OR_NONE:
        return False
    return _plain_values(columns)


def _plain_values(columns: dict[str, list[Any]]) -> bool:
    """``value`` is a finite float or null; an integer becomes the float ``EventIn`` makes."""
    values = columns["value"]
    kinds = set(map(type, values))
    if not kinds <= _NUMBER_OR_NONE:
        return False
    if int in kinds:
        if any(type(v) is int and abs(v) > _MAX_EXACT_FLOAT_INT for v in values):
            return False
        values = columns["value"] = [float(v) if type(v) is int else v for v in values]
    if float in kinds:
        finite = values if _NONE not in kinds else [v for v in values if v is not None]
        return all(map(math.isfinite, finite))
    return True
