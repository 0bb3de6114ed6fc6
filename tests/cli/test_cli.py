"""The CLI: thin commands whose output and exit codes users and scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rampgate import __version__
from rampgate.cli import app

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "rampgate.yaml")
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"rampgate {__version__}"


def test_validate_ok_json() -> None:
    result = runner.invoke(app, ["validate", EXAMPLE, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["valid"] is True
    assert data["environments"]["dev"]["support-agent"] == 1
    assert data["environments"]["prod"]["support-agent"] == 3


def test_validate_reports_path_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = Path(EXAMPLE).read_text(encoding="utf-8").replace("{$in: [US, CA]}", "{$in: US}")
    bad.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "flags.refund-prompt.rules[0].when.$or[1].country.$in" in result.output


def test_eval_json() -> None:
    args = [
        "eval",
        EXAMPLE,
        "support-agent",
        "--env",
        "prod",
        "--user",
        "u-1",
        "--attr",
        "email=ana@example.com",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["variant"] == "candidate" and data["reason"] == "TARGETING_MATCH"
    assert data["rule_id"] == "staff-first" and data["value"]["prompt_version"] == "v4"


def test_eval_attr_values_are_json_when_they_parse() -> None:
    args = [
        "eval",
        EXAMPLE,
        "refund-prompt",
        "--user",
        "u-6",
        "--attr",
        "plan=enterprise",
        "--attr",
        "n=3",
        "--json",
    ]
    data = json.loads(runner.invoke(app, args).output)
    assert (data["variant"], data["rule_id"]) == ("v2", "ab-test")


def test_eval_unknown_flag_and_bad_attr() -> None:
    result = runner.invoke(app, ["eval", EXAMPLE, "nope"])
    assert result.exit_code == 1 and "not defined" in result.output
    result = runner.invoke(app, ["eval", EXAMPLE, "support-agent", "--attr", "novalue"])
    assert result.exit_code == 1 and "KEY=VALUE" in result.output


def test_tour_runs_and_tells_the_ramp_story() -> None:
    result = runner.invoke(app, ["tour", EXAMPLE, "--users", "2000"])
    assert result.exit_code == 0, result.output
    assert "left the canary:      0" in result.output
    assert "1,000 of 1,000 keep their variant" in result.output
    assert "{'DISABLED': 1000}" in result.output


def test_experiment_plan_sequential_needs_more_than_fixed() -> None:
    base = [
        "experiment",
        "plan",
        "--baseline-rate",
        "0.6",
        "--mde",
        "0.02",
        "--units-per-day",
        "5000",
        "--json",
    ]
    fixed = json.loads(runner.invoke(app, base).output)
    sequential = json.loads(runner.invoke(app, [*base, "--sequential"]).output)
    assert 0 < fixed["total"] < sequential["total"]
    assert fixed["days"] == fixed["total"] / 5000
    guarded = json.loads(
        runner.invoke(app, [*base, "--guardrail", "escalation:rate=0.12,margin=10%"]).output
    )
    assert guarded["guardrails"][0]["control"] > 0 and guarded["days"] >= fixed["days"]


def test_experiment_plan_refuses_a_bad_baseline() -> None:
    result = runner.invoke(app, ["experiment", "plan", "--mde", "0.02", "--units-per-day", "10"])
    assert result.exit_code == 1 and "--baseline-rate" in result.output
    result = runner.invoke(
        app,
        ["experiment", "plan", "--baseline-rate", "1.5", "--mde", "0.02", "--units-per-day", "10"],
    )
    assert result.exit_code == 1 and "rate" in result.output
