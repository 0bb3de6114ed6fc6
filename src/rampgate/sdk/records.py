"""What the SDK reports: exposures and outcome events, with time-ordered unique ids.

The hot path appends a small tuple to a deque and nothing else; the flush thread turns it into
a JSON-ready record. Ids are UUIDv7-shaped: 48 bits of the record's millisecond timestamp, then
a random per-client prefix and a sequence number given at drain time, so they sort by time and
never collide (the server deduplicates on them). A record keeps its id through every retry.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

__all__ = ["IdFactory", "RawRecord", "to_record"]

# Exposure: (time_ns, evaluation signature, user_id, session_id).
# Event: (time_ns, name, user_id, session_id, value, properties).
RawRecord = tuple[Any, ...]


class IdFactory:
    """UUIDv7-shaped ids: time first, then a per-client random prefix and a sequence number."""

    def __init__(self) -> None:
        self._prefix = secrets.randbits(40)
        self._sequence = 0  # only the single draining thread touches it

    def make(self, time_ns: int) -> str:
        self._sequence += 1
        ms = (time_ns // 1_000_000) & 0xFFFF_FFFF_FFFF
        tail = (self._prefix << 34) | (self._sequence & 0x3_FFFF_FFFF)  # 74 random-ish bits
        rand_a, rand_b = tail >> 62, tail & 0x3FFF_FFFF_FFFF_FFFF
        h = f"{ms:012x}7{rand_a:03x}{(0b10 << 62) | rand_b:016x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def to_record(raw: RawRecord, ids: IdFactory, environment: str) -> dict[str, Any]:
    time_ns: int = raw[0]
    subject = raw[1]
    record: dict[str, Any] = {
        "id": ids.make(time_ns),
        "type": "event" if type(subject) is str else "exposure",
        "time_ms": time_ns // 1_000_000,
        "environment": environment,
        "user_id": raw[2],
        "session_id": raw[3],
    }
    if type(subject) is str:
        properties: Mapping[str, Any] | None = raw[5]
        record["name"] = subject
        record["value"] = raw[4]
        record["properties"] = dict(properties or {})
    else:
        flag, variant, reason, rule_id, flag_version = subject
        record["flag"] = flag
        record["variant"] = variant
        record["reason"] = reason
        record["rule_id"] = rule_id
        record["flag_version"] = flag_version
    return record
