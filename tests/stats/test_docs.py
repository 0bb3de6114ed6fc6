"""docs/statistics.md cannot fall behind the public surface of rampgate.stats."""

from __future__ import annotations

from pathlib import Path

import rampgate.stats
from rampgate.stats import ReasonCode, Verdict

DOC = (Path(__file__).resolve().parents[2] / "docs" / "statistics.md").read_text(encoding="utf-8")


def test_every_public_name_is_documented() -> None:
    missing = [name for name in rampgate.stats.__all__ if f"`{name}" not in DOC]
    assert not missing


def test_every_reason_code_is_in_the_table_with_its_verdict() -> None:
    from rampgate.stats import verdict_for_reason

    for reason in ReasonCode:
        assert f"| `{reason}` |" in DOC, reason
        row = next(line for line in DOC.splitlines() if line.startswith(f"| `{reason}` |"))
        assert row.rstrip(" |").endswith(f"`{verdict_for_reason(reason)}`"), row


def test_the_verdict_order_is_documented() -> None:
    assert " < ".join(v.value for v in Verdict) in DOC
