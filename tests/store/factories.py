"""Small builders shared by the store tests."""

from __future__ import annotations

from typing import Any

from rampgate import Flag, Rule, Split


def agent_flag(key: str = "support-agent", *, candidate_weight: float = 0.05, **extra: Any) -> Flag:
    """A two-variant agent flag with a canary split whose weights are listed candidate-last."""
    return Flag(
        key=key,
        variants={
            "stable": {"model": "gpt-4o", "prompt_version": "v3", "temperature": 0.2},
            "candidate": {"model": "claude-sonnet-4", "prompt_version": "v4", "temperature": 0.2},
        },
        default="stable",
        rules=(
            Rule(id="staff", condition={"email": {"$regex": "@example\\.com$"}}, serve="candidate"),
            Rule(
                id="canary",
                split=Split(
                    weights={"stable": 1 - candidate_weight, "candidate": candidate_weight}
                ),
            ),
        ),
        description="Customer-support agent",
        **extra,
    )
