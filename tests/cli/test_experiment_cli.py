"""``rampgate experiment register|start|analyze|stop|list`` against a real server and database.

The commands are thin: the contract comes from a config file, the server checks it, keeps the
receipts and applies the split; the CLI shows what the server decided, or the field to fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rampgate.cli import app
from tests.server.conftest import live  # noqa: F401 - the fixture, for the tests below
from tests.server.live import Live
from tests.server.test_experiments_api import rate, simulate
from tests.store.databases import database_url, engine  # noqa: F401 - fixtures of `live`

CONFIG = """
environments: [prod]
flags:
  refund-prompt:
    variants: {v1: {prompt: refund-v1}, v2: {prompt: refund-v2}}
    default: v1
    rules:
      - {id: staff, when: {email: {$regex: "@example\\\\.com$"}}, serve: v2}
experiments:
  refund-ab:
    environment: prod
    flag: refund-prompt
    hypothesis: The v2 refund prompt resolves more tickets
    arms: {control: v1, treatment: v2}
    split: {unit: user_id, weights: {control: 0.5, treatment: 0.5}}
    primary: task_success
    guardrails: [{metric: escalation, margin: 0.1}]
    mde: 0.1
    max_duration: 14d
  too-precise:
    environment: prod
    flag: refund-prompt
    hypothesis: A one-point lift, found in a week
    arms: {control: v1, treatment: v2}
    split: {weights: {control: 0.5, treatment: 0.5}}
    primary: task_success
    mde: 0.01
    max_duration: 7d
"""
runner = CliRunner()
PLANNING = ("--units-per-day", "2000", "--baseline", "task_success:rate=0.3")
GUARDRAIL = ("--baseline", "escalation:rate=0.05")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "rampgate.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def cli(server: Live, *args: str) -> Result:
    full = [*args, "--url", server.url, "--token", server.admin]
    return runner.invoke(app, full, catch_exceptions=False)


def said(result: Result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_register_start_analyze_stop(live: Live, config: Path) -> None:  # noqa: F811
    assert cli(live, "apply", "-f", str(config)).exit_code == 0
    register = ("experiment", "register", "refund-ab", "-f", str(config), *PLANNING)
    missing = cli(live, *register)
    assert missing.exit_code == 1 and "baselines.escalation" in said(missing), missing.output
    first = cli(live, *register, *GUARDRAIL)
    assert first.exit_code == 0, first.output
    assert "registered prod/refund-ab: needs" in said(first)
    again = cli(live, *register, *GUARDRAIL)
    assert again.exit_code == 0 and again.output == first.output, "a retry is one change"

    refused = cli(live, "experiment", "register", "too-precise", "-f", str(config), *PLANNING)
    assert refused.exit_code == 1 and "contract.max_duration" in said(refused), refused.output
    assert "422" in said(refused)
    unknown = cli(live, "experiment", "register", "nope", "-f", str(config), *PLANNING)
    assert unknown.exit_code == 1 and "has no experiments.nope" in said(unknown)

    early = cli(live, "experiment", "analyze", "refund-ab", "--dry-run")
    assert early.exit_code == 1 and "409" in said(early)

    started = cli(live, "experiment", "start", "refund-ab")
    assert started.exit_code == 0, started.output
    assert "rule experiment:refund-ab on flag refund-prompt" in said(started)

    def outcome(variant: str, i: int) -> dict[str, float]:
        success = rate(i, 25 if variant == "v1" else 60)
        return ({"task_success": 1.0} if success else {}) | (
            {"escalated": 1.0} if rate(i + 7, 4) else {}
        )

    simulate(live, "refund-ab", 1000, outcome)
    peek = cli(live, "experiment", "analyze", "refund-ab", "--dry-run", "--json")
    assert peek.exit_code == 0, peek.output
    assert json.loads(peek.output)["decision"] == "promote"
    analyzed = cli(live, "experiment", "analyze", "refund-ab")
    assert analyzed.exit_code == 0, analyzed.output
    for text in ("promote", "task_success", "escalation", "snapshot prod/refund-ab/checkpoint/1"):
        assert text in said(analyzed), analyzed.output

    listed = cli(live, "experiment", "list")
    assert listed.exit_code == 0 and "refund-ab" in said(listed) and "running" in said(listed)

    stopped = cli(live, "experiment", "stop", "refund-ab", "--serve-winner", "--reason", "won")
    assert stopped.exit_code == 0, stopped.output
    assert "now serving v2" in said(stopped)
    rows = json.loads(cli(live, "experiment", "list", "--json").output)
    assert [(r["name"], r["status"]) for r in rows] == [("refund-ab", "stopped")]
    assert rows[0]["last_checkpoint"]["decision"] == "promote"


def test_commands_need_a_token(config: Path) -> None:
    result = runner.invoke(app, ["experiment", "start", "x", "--token", ""])
    assert result.exit_code == 1 and "--token" in said(result)
    bad = runner.invoke(
        app,
        [
            "experiment",
            "register",
            "refund-ab",
            "-f",
            str(config),
            "--baseline",
            "oops",
            "--token",
            "t",
        ],
    )
    assert bad.exit_code == 1 and "--baseline 'oops'" in said(bad)
