"""Shared by the shadow tests: a shadowed flag, and waiting for the shadow threads to finish."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rampgate import Client, Flag, Rule, ShadowConfig
from rampgate.testing import MemorySink

STABLE = {"model": "gpt-4o", "prompt_version": "v3"}
CANDIDATE = {"model": "claude-sonnet-4", "prompt_version": "v4"}


def shadowed_flag(sample: float = 1.0, **changes: Any) -> Flag:
    fields: dict[str, Any] = {
        "key": "agent",
        "variants": {"stable": STABLE, "candidate": CANDIDATE},
        "default": "stable",
        "rules": (Rule("staff", condition={"staff": True}, serve="candidate"),),
        "shadow": ShadowConfig("candidate", sample),
    }
    return Flag(**(fields | changes))


def settle(client: Client, timeout: float = 10.0) -> None:
    """Wait until no shadowed call is queued, running or being reported; then flush."""
    deadline = time.monotonic() + timeout
    while client.stats()["shadow_pending"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"shadow work still pending after {timeout} s")
        time.sleep(0.005)
    client.flush()


def shadow_events(sink: MemorySink) -> list[dict[str, Any]]:
    return [r for r in sink.of_type("event") if r["name"].startswith("shadow:")]


def name_counts(sink: MemorySink) -> Counter[str]:
    return Counter(r["name"] for r in shadow_events(sink))
