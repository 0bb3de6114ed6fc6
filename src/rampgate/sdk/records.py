"""What the SDK reports: exposures and outcome events, with time-ordered unique ids.

The hot path only appends a tuple to a deque; turning it into a JSON-ready record — the id, the
timestamp, the unit ids — happens later on the flush thread. Ids are UUIDv7-shaped: 48 bits of
milliseconds, then a random per-client prefix and the client's sequence number, so they sort by
time and never collide within a process (the server deduplicates on them).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from rampgate.domain.model import Context, Evaluation

__all__ = ["IdFactory", "RawRecord", "to_record"]

# (kind, time_ns, sequence, evaluation-or-event-name, context, value, properties)
RawRecord = tuple[
    Literal["exposure", "event"],
    int,
    int,
    "Evaluation | str",
    Context,
    float | None,
    Mapping[str, Any] | None,
]


class IdFactory:
    """UUIDv7-shaped ids: time first, then a per-client random prefix and a sequence number."""

    def __init__(self) -> None:
        self._prefix = secrets.randbits(40)

    def make(self, time_ns: int, sequence: int) -> str:
        ms = (time_ns // 1_000_000) & ((1 << 48) - 1)
        tail = (self._prefix << 34) | (sequence & ((1 << 34) - 1))  # 74 bits
        rand_a = tail >> 62  # 12 bits
        rand_b = tail & ((1 << 62) - 1)
        value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
        return str(uuid.UUID(int=value))


def _units(ctx: Context) -> dict[str, Any]:
    return {"user_id": ctx.user_id, "session_id": ctx.session_id}


def to_record(raw: RawRecord, ids: IdFactory, environment: str) -> dict[str, Any]:
    kind, time_ns, seq, subject, ctx, value, properties = raw
    record: dict[str, Any] = {
        "id": ids.make(time_ns, seq),
        "type": kind,
        "time_ms": time_ns // 1_000_000,
        "environment": environment,
        **_units(ctx),
    }
    if isinstance(subject, Evaluation):
        record.update(
            flag=subject.flag,
            variant=subject.variant,
            reason=str(subject.reason),
            rule_id=subject.rule_id,
            flag_version=subject.flag_version,
        )
    else:
        record.update(name=subject, value=value, properties=dict(properties or {}))
    return record
