"""The fields of an exposure or outcome event: what an SDK sends, and what the store keeps.

One definition for both sides of the wire: the SDK's batches are built from it, and the store's
columns (plus ``received_at``, which it sets) follow it in this order.
"""

from __future__ import annotations

__all__ = ["EVENT_FIELDS"]

# An exposure leaves the event's fields (name, value, properties) null, and the other way round.
EVENT_FIELDS = (
    "id",
    "environment",
    "type",
    "time_ms",
    "user_id",
    "session_id",
    "flag",
    "variant",
    "reason",
    "rule_id",
    "flag_version",
    "name",
    "value",
    "properties",
)
