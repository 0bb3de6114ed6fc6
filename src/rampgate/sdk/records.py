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
    """UUIDv7-shaped ids: time first, then a per-client random prefix and a sequence number.

    Layout (128 bits): 48 bits of milliseconds, version 7, then 74 bits made of a 40-bit random
    prefix and a 34-bit sequence, with the RFC 9562 variant bits. Everything but the
    milliseconds and the sequence is fixed per client, so it is formatted once; the drain
    formats ~10⁵ ids a second and this keeps it a few string operations each.
    """

    def __init__(self) -> None:
        prefix = secrets.randbits(40)
        self._rand_a = prefix >> 28  # top 12 bits of the 74
        # The low 64 bits: variant 0b10, the prefix's low 28 bits, then the 34-bit sequence.
        self._base = (0b10 << 62) | ((prefix & 0xFFF_FFFF) << 34)
        self._sequence = 0  # only the single draining thread touches it
        self._ms = -1
        self._head = ""

    def make(self, time_ns: int) -> str:
        ms = (time_ns // 1_000_000) & 0xFFFF_FFFF_FFFF
        if ms != self._ms:
            self._ms = ms
            h = f"{ms:012x}"
            self._head = f"{h[:8]}-{h[8:]}-7{self._rand_a:03x}-"
        self._sequence = (self._sequence + 1) & 0x3_FFFF_FFFF
        tail = f"{self._base | self._sequence:016x}"
        return f"{self._head}{tail[:4]}-{tail[4:]}"


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
