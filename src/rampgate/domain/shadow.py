"""The shadow-run event contract: the names the SDK writes and the controller reads.

A shadowed call serves the stable arm to the caller and runs the candidate arm beside it. For
each such call the SDK records, through the same buffer as ``track`` and with the context's
``user_id`` and ``session_id``, exactly one value per (call, arm, measure):

=====================================  ======================================================
event name                             value
=====================================  ======================================================
``shadow:{flag}:pair``                 agreement score in [0, 1] (0 unless both arms
                                       returned); properties ``exact`` (bool), ``status``
                                       (the candidate's: ``ok``, ``error``, ``timeout``),
                                       ``stable_variant``, ``candidate_variant``
``shadow:{flag}:{arm}:latency_ms``     the arm's wall time, in milliseconds
``shadow:{flag}:{arm}:error``          1 if the arm raised (or, the candidate, timed out), else 0
``shadow:{flag}:{arm}:cost_usd``       the caller's cost function of the arm's result; only
                                       when one was given and the arm returned
=====================================  ======================================================

``arm`` is ``stable`` or ``candidate``. Names are built and parsed only here, so the writer and
the reader cannot drift apart; a flag key may contain ``:``, and parsing still works because
arm, measure and ``pair`` never do.
"""

from __future__ import annotations

import enum

__all__ = [
    "SHADOW_PREFIX",
    "ShadowArm",
    "ShadowMeasure",
    "ShadowStatus",
    "parse_shadow_event",
    "shadow_event",
    "shadow_pair_event",
]

SHADOW_PREFIX = "shadow:"
_PAIR = "pair"


class ShadowArm(enum.StrEnum):
    STABLE = "stable"
    CANDIDATE = "candidate"


class ShadowMeasure(enum.StrEnum):
    LATENCY_MS = "latency_ms"
    COST_USD = "cost_usd"
    ERROR = "error"


class ShadowStatus(enum.StrEnum):
    """How an arm's call ended."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"


_ARMS = frozenset(a.value for a in ShadowArm)
_MEASURES = frozenset(m.value for m in ShadowMeasure)


def shadow_event(flag: str, arm: str, measure: str) -> str:
    """``shadow:{flag}:{arm}:{measure}``; raises ``ValueError`` for an unknown arm or measure."""
    return f"{SHADOW_PREFIX}{flag}:{ShadowArm(arm)}:{ShadowMeasure(measure)}"


def shadow_pair_event(flag: str) -> str:
    """``shadow:{flag}:pair``: one per shadowed call, valued by the agreement score."""
    return f"{SHADOW_PREFIX}{flag}:{_PAIR}"


def parse_shadow_event(
    name: str,
) -> tuple[str, ShadowArm | None, ShadowMeasure | None] | None:
    """``(flag, arm, measure)`` of a shadow event; ``(flag, None, None)`` for the pair event.

    None when ``name`` is not a shadow event.
    """
    if not name.startswith(SHADOW_PREFIX):
        return None
    body = name[len(SHADOW_PREFIX) :]
    head, _, last = body.rpartition(":")
    if last == _PAIR and head:
        return head, None, None
    flag, _, arm = head.rpartition(":")
    if not flag or arm not in _ARMS or last not in _MEASURES:
        return None
    return flag, ShadowArm(arm), ShadowMeasure(last)
