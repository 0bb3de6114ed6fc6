"""Flags to documents and back: the one JSON shape used by files, the API and the SDK wire.

``flag_to_document`` writes a flag in the same shape a ``rampgate.yaml`` uses (``when``,
``serve``, ``split``…), so what the server stores and sends is what a person would write, and
``flag_from_document`` reads it back through the same checked parser — one format, one set of
error messages. The wire adds ``version``, ``killed`` and ``pin_generation``, which files never
set by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rampgate.domain.frozen import thaw
from rampgate.domain.model import (
    DEFAULT_PIN_TTL_SECONDS,
    Flag,
    Pin,
    Portion,
    Prerequisite,
    Rule,
    Split,
)

from .flags import parse_flag
from .reader import Node

__all__ = ["flag_from_document", "flag_to_document", "inline_saved_groups"]

WIRE_KEYS = ("version", "pin_generation")


def _split(split: Split) -> dict[str, Any]:
    out: dict[str, Any] = {"unit": split.unit, "weights": dict(split.weights)}
    if split.coverage != 1.0:
        out["coverage"] = split.coverage
    if split.fallback_unit is not None:
        out["fallback_unit"] = split.fallback_unit
    if split.namespace is not None:
        ns = split.namespace
        out["namespace"] = {"id": ns.id, "range": [ns.start, ns.end]}
    if split.seed is not None:
        out["seed"] = split.seed
    if split.hash_version != 2:
        out["hash_version"] = split.hash_version
    return out


def _portion(portion: Portion) -> dict[str, Any]:
    out: dict[str, Any] = {"coverage": portion.coverage, "unit": portion.unit}
    if portion.fallback_unit is not None:
        out["fallback_unit"] = portion.fallback_unit
    if portion.seed is not None:
        out["seed"] = portion.seed
    if portion.hash_version != 2:
        out["hash_version"] = portion.hash_version
    return out


def _prereqs(prereqs: Sequence[Prerequisite]) -> list[dict[str, Any]]:
    return [{"flag": p.flag, "when": thaw(p.condition)} for p in prereqs]


def _rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule.id}
    if rule.condition:
        out["when"] = thaw(rule.condition)
    if rule.serve is not None:
        out["serve"] = rule.serve
    if rule.portion is not None:
        out["portion"] = _portion(rule.portion)
    if rule.split is not None:
        out["split"] = _split(rule.split)
    if rule.prerequisites:
        out["prerequisites"] = _prereqs(rule.prerequisites)
    return out


def flag_to_document(flag: Flag, *, wire: bool = True) -> dict[str, Any]:
    """The flag as a JSON-ready document (with ``version``/``pin_generation`` when ``wire``)."""
    doc: dict[str, Any] = {
        "description": flag.description,
        "variants": thaw(dict(flag.variants)),
        "default": flag.default,
        "rules": [_rule(r) for r in flag.rules],
    }
    if flag.schema is not None:
        doc["schema"] = thaw(flag.schema)
    if flag.salt is not None:
        doc["salt"] = flag.salt
    if flag.killed:
        doc["killed"] = True
    if flag.pin is Pin.SESSION:
        doc["pin"] = "session"
    if flag.pin_ttl != DEFAULT_PIN_TTL_SECONDS:
        doc["pin_ttl"] = flag.pin_ttl
    if flag.prerequisites:
        doc["prerequisites"] = _prereqs(flag.prerequisites)
    if flag.shadow is not None:
        doc["shadow"] = {"variant": flag.shadow.variant, "sample": flag.shadow.sample}
    if wire:
        doc["version"] = flag.version
        if flag.pin_generation:
            doc["pin_generation"] = flag.pin_generation
    return doc


def flag_from_document(
    key: str,
    document: Mapping[str, Any],
    *,
    source: str = "<api>",
    path: str = "",
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
    check_conditions: bool = True,
) -> Flag:
    """Parse a flag document (raises ``ConfigError`` naming the field and the fix).

    ``check_conditions``: see :func:`~rampgate.config.flags.parse_flag`.
    """
    node = Node(document, path or f"flags.{key}", source)
    node.mapping()
    body = {k: v for k, v in document.items() if k not in WIRE_KEYS}
    return parse_flag(
        key,
        Node(body, node.path, source),
        environments=(),
        groups=saved_groups or {},
        check_conditions=check_conditions,
        version=node.get("version", 1).integer(low=1),
        pin_generation=node.get("pin_generation", 0).integer(low=0),
    ).base


_GROUP_OPERATORS = {"$inGroup": "$in", "$notInGroup": "$nin"}


def _inline(condition: Any, groups: Mapping[str, Sequence[Any]]) -> Any:
    if isinstance(condition, list):
        return [_inline(c, groups) for c in condition]
    if not isinstance(condition, Mapping):
        return condition
    out: dict[str, Any] = {}
    for key, value in condition.items():
        if key in _GROUP_OPERATORS and isinstance(value, str) and value in groups:
            out[_GROUP_OPERATORS[key]] = list(groups[value])
        else:
            out[key] = _inline(value, groups)
    return out


def inline_saved_groups(
    document: dict[str, Any], groups: Mapping[str, Sequence[Any]]
) -> dict[str, Any]:
    """The document with ``$inGroup: g`` as ``$in: [members]`` (``$notInGroup`` as ``$nin``).

    Exactly equivalent — GrowthBook defines ``$inGroup`` as ``$in`` over the group's list — and it
    makes a flag self-contained, so a server that stores flags one by one serves the same
    answers as the file they came from. A group not in ``groups`` is left as it is.
    """
    if not groups:
        return document
    out = dict(document)
    out["rules"] = [
        {
            **rule,
            **({"when": _inline(rule["when"], groups)} if "when" in rule else {}),
            **(
                {"prerequisites": _inline(rule["prerequisites"], groups)}
                if "prerequisites" in rule
                else {}
            ),
        }
        for rule in document.get("rules", [])
    ]
    if "prerequisites" in document:
        out["prerequisites"] = _inline(document["prerequisites"], groups)
    return out
