"""The CLI against a real server and a real database: apply, token create, audit verify, init,
db upgrade — on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

import rampgate
import rampgate.cli.apply as apply_module
from rampgate import store
from rampgate.cli import app
from rampgate.store.schema import audit_log
from tests.store.databases import migrated
from tests.store.test_audit import _tampering

from .live import Live, plainly, running_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rampgate.yaml"
FLAGS = ("support-agent", "refund-prompt", "approval-rule")
ENVIRONMENTS = ("dev", "staging", "prod")
runner = CliRunner()


def cli(*args: str) -> Result:
    """Run the CLI in this process (the operator commands dispose their own engine)."""
    return runner.invoke(app, list(args), catch_exceptions=False)


def apply(live: Live, file: Path, *extra: str) -> Result:
    return cli("apply", "-f", str(file), "--url", live.url, "--token", live.admin, *extra)


def audit_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())


def flag(live: Live, env: str, key: str) -> dict[str, Any]:
    response = live.admin_client.get(f"/api/v1/environments/{env}/flags/{key}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def versions(live: Live) -> dict[tuple[str, str], int]:
    return {(env, key): flag(live, env, key)["version"] for env in ENVIRONMENTS for key in FLAGS}


@pytest.fixture
def example(tmp_path: Path) -> Path:
    copy = tmp_path / "rampgate.yaml"
    copy.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return copy


def test_apply_creates_then_finds_nothing_to_do(live: Live, example: Path) -> None:
    before = audit_rows(live.engine)
    dry = apply(live, example, "--dry-run")
    assert dry.exit_code == 0, dry.output
    # The fixture made prod and staging; dev is new. Three flags in each of three environments.
    assert "create environment dev" in dry.output
    for env in ENVIRONMENTS:
        for key in FLAGS:
            assert f"create {env}/{key}" in dry.output, dry.output
    assert "plan: 10 to change, 0 unchanged" in dry.output
    assert audit_rows(live.engine) == before, "--dry-run changed something"
    envs = {e["key"] for e in live.admin_client.get("/api/v1/environments").json()}
    assert envs == {"prod", "staging"}

    first = apply(live, example)
    assert first.exit_code == 0, first.output
    assert len(re.findall(r"applied create \S+: change\s+[0-9a-f-]{36}", first.output)) == 9
    assert "applied create-environment dev: change" in first.output
    assert versions(live) == {(env, key): 1 for env in ENVIRONMENTS for key in FLAGS}
    agent = flag(live, "prod", "support-agent")["document"]
    assert agent["pin"] == "session" and agent["default"] == "stable"
    assert [r["id"] for r in agent["rules"]] == ["staff-first", "design-partners", "canary"]
    assert [r["id"] for r in flag(live, "dev", "support-agent")["document"]["rules"]] == ["all"]
    after_first = audit_rows(live.engine)
    assert after_first == before + 10

    again = apply(live, example)
    assert again.exit_code == 0, again.output
    assert "plan: 0 to change, 9 unchanged" in again.output
    assert "applied" not in again.output
    assert audit_rows(live.engine) == after_first
    assert versions(live) == {(env, key): 1 for env in ENVIRONMENTS for key in FLAGS}


def test_apply_updates_with_a_diff_and_keeps_a_kill(live: Live, example: Path) -> None:
    assert apply(live, example).exit_code == 0
    killed = live.admin_client.post(
        "/api/v1/environments/prod/flags/support-agent/kill", json={"reason": "incident"}
    )
    assert killed.status_code == 200 and killed.json()["after_version"] == 2

    # The kill is operational state: an apply of the same file leaves it alone.
    same = apply(live, example)
    assert same.exit_code == 0 and "plan: 0 to change" in same.output, same.output
    assert flag(live, "prod", "support-agent")["document"]["killed"] is True

    text = example.read_text(encoding="utf-8")
    example.write_text(
        text.replace(
            "weights: {stable: 0.95, candidate: 0.05}", "weights: {stable: 0.75, candidate: 0.25}"
        ),
        encoding="utf-8",
    )
    before = audit_rows(live.engine)
    dry = apply(live, example, "--dry-run")
    assert dry.exit_code == 0, dry.output
    # dev overrides the rules, so only staging and prod see the new weights.
    assert (
        "update prod/support-agent" in dry.output and "update staging/support-agent" in dry.output
    )
    assert "unchanged dev/support-agent" in dry.output
    assert "plan: 2 to change, 7 unchanged" in dry.output
    diff = dry.output.replace(" ", "")
    assert '-"candidate":0.05' in diff and '+"candidate":0.25' in diff, dry.output
    assert audit_rows(live.engine) == before

    applied = apply(live, example)
    assert applied.exit_code == 0, applied.output
    prod = flag(live, "prod", "support-agent")
    assert prod["version"] == 3 and prod["document"]["killed"] is True
    assert prod["document"]["rules"][2]["split"]["weights"] == {"stable": 0.75, "candidate": 0.25}
    assert flag(live, "staging", "support-agent")["version"] == 2
    updates = live.admin_client.get("/api/v1/audit", params={"action": "flag.update"}).json()
    assert sorted((u["resource"], u["detail"]["before_version"], u["detail"]["after_version"])
                  for u in updates) == [
        ("environments/prod/flags/support-agent", 2, 3),
        ("environments/staging/flags/support-agent", 1, 2),
    ]  # fmt: skip
    assert "plan: 0 to change" in apply(live, example).output


def test_apply_refuses_to_overwrite_a_change_made_after_its_plan(
    live: Live, example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apply writes with If-Match: a change made between its plan and its write is a 409."""
    assert apply(live, example).exit_code == 0
    example.write_text(
        example.read_text(encoding="utf-8").replace(
            "Customer-support agent configuration", "Support agent, v2"
        ),
        encoding="utf-8",
    )
    planned = apply_module.plan

    def plan_then_race(http: httpx.Client, path: Path) -> list[apply_module.Step]:
        steps = planned(http, path)
        live.admin_client.post("/api/v1/environments/prod/flags/support-agent/kill")
        return steps

    monkeypatch.setattr(apply_module, "plan", plan_then_race)
    raced = apply(live, example)
    assert raced.exit_code == 1
    assert "409" in raced.output, raced.output
    prod = flag(live, "prod", "support-agent")
    assert prod["version"] == 2 and prod["document"]["killed"] is True
    assert prod["document"]["description"] == "Customer-support agent configuration"
    monkeypatch.undo()
    # Planned afresh, the same file applies on top of the kill, which it keeps.
    assert apply(live, example).exit_code == 0
    prod = flag(live, "prod", "support-agent")
    assert prod["version"] == 3 and prod["document"]["killed"] is True
    assert prod["document"]["description"] == "Support agent, v2"


def test_apply_without_a_valid_token_fails_cleanly(live: Live, example: Path) -> None:
    result = cli("apply", "-f", str(example), "--url", live.url, "--token", live.sdk)
    assert result.exit_code == 1 and "403" in result.output, result.output
    result = cli("apply", "-f", str(example), "--url", live.url)
    assert result.exit_code == 1 and "--token" in result.output, result.output


def test_operator_commands_on_a_fresh_database(database_url: str) -> None:
    upgraded = cli("db", "upgrade", "--database", database_url)
    assert upgraded.exit_code == 0 and "database at revision" in upgraded.output, upgraded.output
    again = cli("db", "upgrade", "--database", database_url)
    assert again.exit_code == 0 and again.output == upgraded.output

    first = cli("init", "--database", database_url)
    assert first.exit_code == 0, first.output
    admin = _token(first.output, "admin")
    second = cli("init", "--database", database_url)
    assert second.exit_code == 1 and "already exists" in second.output, second.output
    assert "rg_" not in second.output

    with migrated(database_url) as engine:
        with store.write(engine) as conn:
            store.create_environment(conn, "prod", actor="setup")
        made = cli("token", "create", "--kind", "sdk", "--env", "prod", "--database", database_url)
        assert made.exit_code == 0, made.output
        sdk = _token(made.output, "sdk")
        refused = cli(
            "token", "create", "--kind", "sdk", "--env", "nowhere", "--database", database_url
        )
        assert refused.exit_code == 1, refused.output
        refused = cli("token", "create", "--kind", "sdk", "--database", database_url)
        assert refused.exit_code == 1 and "--env" in refused.output, refused.output

        with running_server(engine) as url:
            as_sdk = httpx.get(
                f"{url}/api/v1/sdk/ruleset", headers={"Authorization": f"Bearer {sdk}"}
            )
            assert as_sdk.status_code == 200 and as_sdk.json()["environment"] == "prod"
            as_admin = httpx.get(
                f"{url}/api/v1/environments", headers={"Authorization": f"Bearer {admin}"}
            )
            assert as_admin.status_code == 200 and [e["key"] for e in as_admin.json()] == ["prod"]
        # Only hashes are stored: neither secret is anywhere in the database.
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalars().all()
        assert len(stored) == 2 and admin not in stored and sdk not in stored


def _token(output: str, kind: str) -> str:
    found: list[str] = re.findall(rf"rg_{kind}_[A-Za-z0-9_-]+", output)
    assert len(found) == 1, output
    return found[0]


def test_audit_verify_reports_the_tampered_entry(database_url: str) -> None:
    with migrated(database_url) as engine:
        with store.write(engine) as conn:
            store.create_environment(conn, "prod", actor="alice")
            store.create_environment(conn, "staging", actor="alice")
            store.create_token(conn, "sdk", "prod", "svc", actor="bob")
        intact = cli("audit", "verify", "--database", database_url)
        assert intact.exit_code == 0 and "audit log intact: 3 entries" in intact.output, (
            intact.output
        )
        as_json = cli("audit", "verify", "--database", database_url, "--json")
        assert as_json.exit_code == 0 and '"ok": true' in as_json.output, as_json.output

        with store.read(engine) as conn:
            second = store.list_audit(conn)[1].seq
        with _tampering(engine) as conn:
            conn.execute(
                audit_log.update().where(audit_log.c.seq == second).values(actor="mallory")
            )
        broken = cli("audit", "verify", "--database", database_url)
        assert broken.exit_code == 1, broken.output
        assert f"audit log broken at entry {second}" in broken.output, broken.output
        as_json = cli("audit", "verify", "--database", database_url, "--json")
        assert as_json.exit_code == 1 and f'"first_broken_seq": {second}' in as_json.output


CONTEXTS = [
    rampgate.Context(user_id="u-1", attributes={"email": "ana@example.com"}),
    rampgate.Context(user_id="u-2", attributes={"plan": "enterprise"}),
    rampgate.Context(user_id="u-3", attributes={"country": "CA", "plan": "pro"}),
    *(rampgate.Context(user_id=f"user-{i}", session_id=f"s-{i}") for i in range(40)),
]
DESIGN_PARTNER = rampgate.Context(user_id="u-4", attributes={"tenant": "acme"})


def _served(live: Live, example: Path, contexts: list[rampgate.Context]) -> None:
    """An SDK streaming from the server serves what the applied file serves, context by context."""
    assert apply(live, example).exit_code == 0
    from_file = rampgate.Client.from_file(example, environment="prod")
    remote = rampgate.Client(url=live.url, sdk_key=live.sdk)
    try:
        assert remote.wait_ready(5)
        deadline = time.monotonic() + 5
        while set(remote.ruleset.flags) != set(FLAGS) and time.monotonic() < deadline:
            time.sleep(0.01)
        for ctx in contexts:
            for key in FLAGS:
                want = from_file.evaluate(key, ctx, expose=False)
                got = remote.evaluate(key, ctx, expose=False)
                assert (got.variant, got.reason, got.rule_id, got.value) == (
                    want.variant,
                    want.reason,
                    want.rule_id,
                    want.value,
                ), (key, ctx)
    finally:
        remote.close()
        from_file.close()


def test_an_applied_file_serves_like_the_file(live: Live, example: Path) -> None:
    _served(live, example, CONTEXTS)


def test_an_applied_file_keeps_its_saved_groups(live: Live, example: Path) -> None:
    plainly(lambda: _served(live, example, [DESIGN_PARTNER]))


def test_apply_keeps_what_a_running_rollout_manages(live: Live, example: Path) -> None:
    """Syncing the file mid-rollout neither drops nor moves the controller's rule and shadow."""
    from rampgate.control import RolloutState
    from rampgate.server.control_docs import state_to_document
    from rampgate.server.controller import Controller
    from rampgate.store.rollouts import create_rollout

    assert apply(live, example).exit_code == 0
    plan = {
        "environment": "prod",
        "flag": "support-agent",
        "from": "stable",
        "to": "candidate",
        "steps": [{"weight": 0.1}, {"weight": 1.0}],
        "guardrails": [{"metric": "task_success", "margin": 0.1}],
    }
    with store.write(live.engine) as conn:
        create_rollout(
            conn,
            "prod",
            "v4",
            flag="support-agent",
            plan={"plan": plan, "metrics": None},
            initial_state=lambda rid: state_to_document(RolloutState(rid)),
            status="pending",
            actor="test",
        )
    Controller(live.engine).tick()  # step 0: the rollout's rule goes in above the catch-all
    managed = flag(live, "prod", "support-agent")["document"]
    rules = [r["id"] for r in managed["rules"]]
    assert rules == ["staff-first", "design-partners", "rollout:v4", "canary"]
    again = apply(live, example)
    assert again.exit_code == 0, again.output
    assert "plan: 0 to change, 9 unchanged" in again.output
    assert flag(live, "prod", "support-agent")["document"] == managed


def test_apply_keeps_a_shadow_config_the_file_does_not_set() -> None:
    server = {"rules": [{"id": "a"}], "shadow": {"variant": "candidate", "sample": 0.2}}
    assert apply_module._keep_managed({"rules": [{"id": "a"}]}, server)["shadow"] == {
        "variant": "candidate",
        "sample": 0.2,
    }
    mine = {"rules": [], "shadow": {"variant": "candidate", "sample": 0.0}}
    assert apply_module._keep_managed(mine, server)["shadow"]["sample"] == 0.0
