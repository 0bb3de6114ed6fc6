"""``rampgate rollout …``, ``kill``, ``unkill``, ``evals post`` and ``validate`` of a file's
rollouts, against a real server on SQLite and PostgreSQL.

As in tests/server/test_rollouts_api.py, the server's own controller is off and the test calls
a :class:`Controller`'s ``tick`` for each pass, so every effect is checked deterministically.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

import rampgate.cli.rollout as rollout_module
from rampgate.cli import app
from rampgate.server.controller import Controller
from tests.server.conftest import AGENT
from tests.server.live import Live, running_server, tokens
from tests.store.databases import database_url, engine, postgres_engine

__all__ = ["database_url", "engine", "postgres_engine"]  # fixtures this module uses

runner = CliRunner()
CHANGE = re.compile(r"change [0-9a-f-]{36}")
CONFIG: dict[str, Any] = {
    "environments": ["prod"],
    "metrics": {
        "defect_rate": {"kind": "proportion", "event": "defect", "higher_is_better": False},
        "unused": {"kind": "mean", "event": "tokens", "higher_is_better": False},
    },
    "flags": {"agent": AGENT},
    "rollouts": {
        "agent-v2": {
            "environment": "prod",
            "flag": "agent",
            "from": "stable",
            "to": "candidate",
            "steps": [{"weight": "20%", "approval": True}, {"weight": 0.5}, {"weight": 1.0}],
            "guardrails": [
                {"metric": "task_success", "margin": 0.05},
                {"metric": "defect_rate", "below": 0.02},
            ],
            "max_duration": "3d",
        }
    },
}


class Server:
    def __init__(self, live: Live, file: Path) -> None:
        self.live = live
        self.file = file
        self.controller = Controller(live.engine)

    def cli(self, *args: str) -> Result:
        """Run ``rampgate ARGS`` against this server (URL and token from the environment)."""
        env = {"RAMPGATE_URL": self.live.url, "RAMPGATE_TOKEN": self.live.admin, "COLUMNS": "160"}
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self.cli(*args)
        assert result.exit_code == 0, result.output
        return result

    def status(self, name: str = "agent-v2") -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.ok("rollout", "status", name, "--json").output)
        return document


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def server(engine: Engine, tmp_path: Path) -> Iterator[Server]:
    admin, sdk = tokens(engine)
    with running_server(engine, controller_interval=0) as url:
        live = Live(url, engine, admin, sdk)
        put = live.admin_client.put("/api/v1/environments/prod/flags/agent", json=AGENT)
        assert put.status_code == 201, put.text
        yield Server(live, write_config(tmp_path / "rampgate.yaml", CONFIG))
        live.close()


def test_start_then_status_shows_the_live_state(server: Server) -> None:
    started = server.ok("rollout", "start", "-f", str(server.file), "agent-v2")
    assert "started agent-v2#1 in prod" in started.output
    assert CHANGE.search(started.output), started.output
    # Only the custom metric the plan uses travels with it.
    stored = server.live.admin_client.get("/api/v1/environments/prod/rollouts/agent-v2")
    assert stored.json()["plan"]["guardrails"][1] == {"metric": "defect_rate", "below": 0.02}

    pending = server.status()
    assert pending["status"] == "pending" and pending["step"] is None
    server.controller.tick()
    running = server.status()
    assert running["status"] == "running" and running["step"] == 0
    assert running["traffic"] == {"stable": 0.8, "candidate": 0.2}

    shown = server.ok("rollout", "status", "agent-v2", "--env", "prod").output
    for text in ("running", "1 of 3", "20% → 50% → 100%", "stable 80%", "candidate 20%"):
        assert text in shown, shown
    # max_duration 3d, of which a moment has passed (the view shows the two largest units).
    assert re.search(r"time left +step 0s, rollout (3d|2d 23h)", shown), shown

    listed = server.ok("rollout", "list").output
    assert "agent-v2#1" in listed and "running" in listed and "20%" in listed
    rows = json.loads(server.ok("rollout", "list", "--env", "prod", "--json").output)
    assert [(r["id"], r["status"]) for r in rows] == [("agent-v2#1", "running")]


def test_operator_commands_print_receipts(server: Server) -> None:
    server.ok("rollout", "start", "-f", str(server.file), "agent-v2")
    server.controller.tick()

    paused = server.ok("rollout", "pause", "agent-v2", "--reason", "a ticket")
    assert "pause accepted for agent-v2#1" in paused.output and CHANGE.search(paused.output)
    server.controller.tick()
    assert server.status()["status"] == "paused"
    server.ok("rollout", "resume", "agent-v2")
    server.controller.tick()
    assert server.status()["status"] == "running"

    approved = json.loads(
        server.ok("rollout", "approve", "agent-v2", "--step", "0", "--json").output
    )
    assert approved["receipt"]["action"] == "rollout.approve"
    assert approved["receipt"]["detail"]["step"] == 0

    no_reason = server.cli("rollout", "promote", "agent-v2")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    server.ok("rollout", "promote", "agent-v2", "--reason", "reviewed the evidence")
    server.controller.tick()
    shown = server.ok("rollout", "status", "agent-v2").output
    assert "promoted" in shown and "candidate 100%" in shown and "time left" not in shown

    # An ended rollout: the problem's detail, field and fix, and exit status 1.
    ended = server.cli("rollout", "rollback", "agent-v2", "--mode", "hard")
    assert ended.exit_code == 1, ended.output
    assert "409 Rollout has ended" in ended.output
    assert "field: name" in ended.output and "fix: start a new run" in ended.output
    bad_mode = server.cli("rollout", "rollback", "agent-v2", "--mode", "gentle")
    assert bad_mode.exit_code == 2


def test_rollback_with_a_mode_and_watch_until_it_ends(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.ok("rollout", "start", "-f", str(server.file), "agent-v2")
    server.controller.tick()

    # Between two refreshes of --watch, an operator rolls back and the controller passes.
    def meanwhile(seconds: float) -> None:
        assert seconds == 0.5
        server.ok("rollout", "rollback", "agent-v2", "--mode", "soft", "--reason", "tickets")
        server.controller.tick()

    monkeypatch.setattr(rollout_module, "time", SimpleNamespace(sleep=meanwhile))
    watched = server.ok("rollout", "status", "agent-v2", "--watch", "--interval", "0.5", "--json")
    states = [json.loads(line)["status"] for line in watched.output.splitlines()]
    assert states == ["running", "rolled_back"]

    # A watch of an ended rollout shows it once and returns.
    shown = server.ok("rollout", "status", "agent-v2", "--watch").output
    assert "rolled_back" in shown and "stable 100%" in shown and "tickets" in shown


def test_start_refuses_a_bad_plan_locally_and_on_the_server(server: Server, tmp_path: Path) -> None:
    bad = json.loads(json.dumps(CONFIG))
    bad["rollouts"]["agent-v2"]["steps"][1]["weight"] = 0.1
    local = server.cli(
        "rollout", "start", "-f", str(write_config(tmp_path / "b.yaml", bad)), "agent-v2"
    )
    assert local.exit_code == 1
    assert "rollouts.agent-v2.steps[1].weight" in local.output, local.output

    missing = server.cli("rollout", "start", "-f", str(server.file), "nope")
    assert missing.exit_code == 1 and "rollouts in the file: agent-v2" in missing.output

    # The file's flag is unknown to the server: the server's 422 names the body's field.
    other = json.loads(json.dumps(CONFIG))
    other["flags"]["ghost"] = other["flags"]["agent"]
    other["rollouts"]["agent-v2"]["flag"] = "ghost"
    remote = server.cli(
        "rollout", "start", "-f", str(write_config(tmp_path / "g.yaml", other)), "agent-v2"
    )
    assert remote.exit_code == 1, remote.output
    assert "422 Invalid definition" in remote.output and "field: plan.flag" in remote.output
    assert "fix: expected an existing flag" in remote.output

    server.ok("rollout", "start", "-f", str(server.file), "agent-v2")
    twice = server.cli("rollout", "start", "-f", str(server.file), "agent-v2")
    assert twice.exit_code == 1 and "409 Rollout already active" in twice.output


def test_kill_and_unkill_a_flag_or_the_environment(server: Server) -> None:
    server.ok("rollout", "start", "-f", str(server.file), "agent-v2")
    server.controller.tick()

    one = server.ok("kill", "agent", "--reason", "bad answers")
    assert "killed prod/agent" in one.output and CHANGE.search(one.output)
    assert "revived prod/agent" in server.ok("unkill", "agent").output

    for args in (("kill",), ("kill", "agent", "--all", "--env", "prod"), ("kill", "--all")):
        refused = server.cli(*args)
        assert refused.exit_code == 1, (args, refused.output)
    killed = server.ok("kill", "--all", "--env", "prod", "--reason", "incident")
    assert "killed environments/prod/flags/agent" in killed.output
    assert "prod: 1 flag(s) killed" in killed.output
    server.controller.tick()
    assert server.status()["status"] == "aborted"
    revived = json.loads(server.ok("unkill", "--all", "--env", "prod", "--json").output)
    assert [r["action"] for r in revived["receipts"]] == ["flag.unkill"]

    unknown = server.cli("kill", "ghost")
    assert unknown.exit_code == 1 and "404" in unknown.output


def test_evals_post(server: Server) -> None:
    base = ("evals", "post", "--flag", "agent", "--variant", "candidate", "--suite", "regression")
    passed = server.ok(*base, "--passed", "--detail", "412/412")
    assert "regression passed for prod/agent:candidate" in passed.output
    assert CHANGE.search(passed.output)
    failed = json.loads(server.ok(*base, "--failed", "--json").output)
    assert failed["receipt"]["detail"]["passed"] is False
    undecided = server.cli(*base)
    assert undecided.exit_code == 1 and "--passed or --failed" in undecided.output
    wrong = server.cli(*base[:4], "--variant", "nope", "--suite", "s", "--passed")
    assert wrong.exit_code == 1 and "field: variant" in wrong.output


def test_commands_need_a_token_and_a_server(server: Server) -> None:
    no_token = runner.invoke(
        app, ["rollout", "list", "--url", server.live.url], env={"RAMPGATE_TOKEN": ""}
    )
    assert no_token.exit_code == 1 and "--token" in no_token.output
    away = runner.invoke(
        app, ["rollout", "list", "--url", "http://127.0.0.1:9", "--token", "x"], env={}
    )
    assert away.exit_code == 1 and "cannot reach" in away.output
    wrong = runner.invoke(
        app, ["rollout", "list", "--url", server.live.url, "--token", server.live.sdk]
    )
    assert wrong.exit_code == 1 and "403" in wrong.output


# --- validate: no server needed --------------------------------------------------------------


def test_validate_checks_rollouts_and_metrics(tmp_path: Path) -> None:
    good = write_config(tmp_path / "good.yaml", CONFIG)
    result = runner.invoke(app, ["validate", str(good), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rollouts"] == {"agent-v2": "prod"}
    shown = runner.invoke(app, ["validate", str(good)])
    assert "rollout agent-v2: prod/agent 20% → 50% → 100%" in shown.output


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("rollouts", "agent-v2", "flag"), "ghost", "rollouts.agent-v2.flag"),
        (("rollouts", "agent-v2", "to"), "nope", "rollouts.agent-v2.to"),
        (("rollouts", "agent-v2", "from"), "nope", "rollouts.agent-v2.from"),
        (("rollouts", "agent-v2", "environment"), "dev", "rollouts.agent-v2.environment"),
        (("rollouts", "agent-v2", "on_inconclusive"), "promote", "on_inconclusive"),
        (("metrics", "defect_rate", "kind"), "share", "metrics.defect_rate.kind"),
    ],
)
def test_validate_names_the_path_of_a_bad_rollout(
    tmp_path: Path, path: tuple[str, ...], value: Any, where: str
) -> None:
    config = json.loads(json.dumps(CONFIG))
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    file = write_config(tmp_path / "bad.yaml", config)
    result = runner.invoke(app, ["validate", str(file)])
    assert result.exit_code == 1, result.output
    assert f"{file}: " in result.output and where in result.output, result.output
