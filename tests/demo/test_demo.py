"""``rampgate demo`` tells both stories: candidate A rolled back, candidate B promoted."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rampgate.cli import app


def test_the_demo_rolls_back_a_and_promotes_b() -> None:
    result = CliRunner().invoke(app, ["demo", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    a, b = summary["stories"]
    assert (a["rollout"], a["outcome"]) == ("support-agent-a", "rolled_back")
    assert "guardrail failed" in a["rationale"] and "escalation" in a["rationale"]
    assert a["final_weights"] == {"stable": 1.0, "candidate-a": 0.0}
    assert (b["rollout"], b["outcome"]) == ("support-agent-b", "promoted")
    assert b["final_weights"] == {"stable": 0.0, "candidate-b": 1.0}
    # B went through the shadow phase and every step: 1% → 5% → 25% → 100%.
    statuses = [s["status"] for s in b["steps"]]
    assert statuses[0] == "shadow" and statuses[-1] == "promoted"
    assert [s["step"] for s in b["steps"] if "advanced" in s["rationale"]] == [1, 2]
    assert a["receipts"] and b["receipts"] and b["snapshot"]
    assert summary["audit"]["ok"] and summary["audit"]["entries"] > 10
