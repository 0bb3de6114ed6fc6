"""The HTTP API on a real server: safe writes, receipts, problem+json, ingestion, SDK rulesets."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from rampgate.store.schema import audit_log
from tests.store.test_audit import _tampering

from .conftest import AGENT
from .live import Live

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
        assert all(e.get("fix") for e in body["errors"]), body
    return body


def test_flag_lifecycle_with_receipts_and_history(live: Live) -> None:
    c = live.admin_client
    url = "/api/v1/environments/prod/flags/support-agent"
    created = c.put(url, json=AGENT)
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    receipt = created.json()
    assert (receipt["action"], receipt["before_version"], receipt["after_version"]) == (
        "flag.create",
        None,
        1,
    )
    assert receipt["actor"] == "token:tester"

    read = c.get(url)
    assert (
        read.headers["ETag"] == '"1"' and read.json()["document"]["variants"] == AGENT["variants"]
    )

    changed = copy.deepcopy(AGENT)
    changed["rules"][1]["split"]["weights"] = {"stable": 0.75, "candidate": 0.25}
    assert_problem(c.put(url, json=changed), 428, "If-Match")
    updated = c.put(url, json=changed, headers={"If-Match": '"1"'})
    assert updated.status_code == 200 and updated.json()["after_version"] == 2
    stale = assert_problem(c.put(url, json=changed, headers={"If-Match": '"1"'}), 409, "If-Match")
    assert stale["current_version"] == 2

    killed = c.post(f"{url}/kill", json={"reason": "escalations spiking"})
    assert killed.json()["action"] == "flag.kill" and killed.json()["after_version"] == 3
    assert c.get(url).json()["document"]["killed"] is True
    assert c.post(f"{url}/unkill").json()["after_version"] == 4

    history = c.get(f"{url}/versions").json()
    assert [v["version"] for v in history] == [4, 3, 2, 1]
    assert (
        c.get(f"/api/v1/receipts/{receipt['change_id']}").json()["change_id"]
        == receipt["change_id"]
    )

    assert_problem(c.delete(url), 428, "If-Match")
    assert c.delete(url, headers={"If-Match": '"4"'}).status_code == 200
    assert_problem(c.get(url), 404)


def test_idempotency_key_replays_and_refuses_reuse(live: Live) -> None:
    c = live.admin_client
    url = "/api/v1/environments/prod/flags/agent"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = c.put(url, json=AGENT, headers=key)
    again = c.put(url, json=AGENT, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert [v["version"] for v in c.get(f"{url}/versions").json()] == [1]
    other = copy.deepcopy(AGENT) | {"description": "something else"}
    assert_problem(c.put(url, json=other, headers=key), 422, "Idempotency-Key")


def test_semantic_errors_name_the_field(live: Live) -> None:
    c = live.admin_client
    url = "/api/v1/environments/prod/flags/agent"
    bad = copy.deepcopy(AGENT)
    bad["rules"][0]["when"] = {"email": {"$regex": "(unclosed"}}
    assert_problem(c.put(url, json=bad), 422, "body.rules[0].when.email.$regex")
    bad = copy.deepcopy(AGENT)
    bad["rules"][1]["split"]["weights"] = {"stable": 0.5, "ghost": 0.5}
    body = assert_problem(c.put(url, json=bad), 422)
    assert "ghost" in body["detail"]
    assert_problem(c.put(url, json={**AGENT, "colour": "blue"}), 422, "colour")
    assert_problem(c.put(url, json={**AGENT, "default": 3}), 422, "default")
    assert_problem(
        c.put(url, content=b"{not json", headers={"Content-Type": "application/json"}), 422
    )
    assert_problem(c.put("/api/v1/environments/nowhere/flags/x", json=AGENT), 404)


def test_routing_errors_are_problems(live: Live) -> None:
    c = live.admin_client
    assert_problem(c.get("/api/v1/no-such-thing"), 404)
    assert_problem(c.delete("/healthz"), 405)
    huge = {"events": [], "padding": "x" * (6 * 1024 * 1024)}
    assert_problem(c.post("/api/v1/events", json=huge), 413)


def test_environments_and_tokens(live: Live) -> None:
    c = live.admin_client
    assert {e["key"] for e in c.get("/api/v1/environments").json()} == {"prod", "staging"}
    assert c.post("/api/v1/environments", json={"key": "dev"}).status_code == 201
    assert_problem(c.post("/api/v1/environments", json={"key": "dev"}), 409, "key")
    assert_problem(c.post("/api/v1/environments", json={"key": "bad key!"}), 422, "key")
    made = c.post("/api/v1/tokens", json={"kind": "sdk", "environment": "dev", "name": "svc"})
    assert made.status_code == 201 and made.json()["token"].startswith("rg_")
    listed = c.get("/api/v1/tokens").json()
    assert all("token" not in t and "hash" not in t for t in listed)
    assert_problem(c.post("/api/v1/tokens", json={"kind": "sdk"}), 422, "environment")
    dev_client = live.client(made.json()["token"])
    assert dev_client.get("/api/v1/sdk/ruleset").json()["environment"] == "dev"
    assert c.delete(f"/api/v1/tokens/{made.json()['id']}").status_code == 200
    assert_problem(dev_client.get("/api/v1/sdk/ruleset"), 401, "Authorization")


def test_sdk_ruleset_etag_and_events_dedup(live: Live) -> None:
    live.admin_client.put("/api/v1/environments/prod/flags/agent", json=AGENT)
    sdk = live.client(live.sdk)
    first = sdk.get("/api/v1/sdk/ruleset")
    payload = first.json()
    assert payload["environment"] == "prod" and set(payload["flags"]) == {"agent"}
    assert (
        sdk.get("/api/v1/sdk/ruleset", headers={"If-None-Match": first.headers["ETag"]}).status_code
        == 304
    )
    events = [
        {"id": str(uuid.uuid4()), "type": "event", "time_ms": 1_800_000_000_000 + i, "name": "resolved",
         "value": 1.0, "user_id": f"u{i}"}
        for i in range(50)
    ]  # fmt: skip
    assert sdk.post("/api/v1/events", json={"events": events}).json() == {
        "accepted": 50,
        "inserted": 50,
        "duplicates": 0,
    }
    assert sdk.post("/api/v1/events", json={"events": events[:20]}).json()["duplicates"] == 20
    bad = assert_problem(
        sdk.post("/api/v1/events", json={"events": [{"id": "x", "type": "nope"}]}), 422
    )
    assert any(e["field"].startswith("events[0]") for e in bad["errors"])
    assert_problem(
        sdk.post("/api/v1/events", json={"events": [{**events[0], "environment": "staging"}]}), 403
    )


def test_audit_log_verifies_and_reports_tampering(live: Live) -> None:
    c = live.admin_client
    c.put("/api/v1/environments/prod/flags/agent", json=AGENT)
    c.post("/api/v1/environments/prod/flags/agent/kill")
    entries = c.get("/api/v1/audit", params={"resource": "environments/prod/flags"}).json()
    assert [e["action"] for e in entries] == ["flag.create", "flag.kill"]
    assert c.post("/api/v1/audit/verify").json()["ok"] is True
    with _tampering(live.engine) as conn:
        conn.execute(
            audit_log.update().where(audit_log.c.seq == entries[0]["seq"]).values(actor="mallory")
        )
    verdict = c.post("/api/v1/audit/verify").json()
    assert verdict["ok"] is False and verdict["first_broken_seq"] == entries[0]["seq"]


def test_probes_and_openapi(live: Live) -> None:
    c = live.client()
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json()["status"] == "ready"
    assert "rampgate_ruleset_version" in c.get("/metrics").text
    spec = c.get("/openapi.json").json()
    paths = set(spec["paths"])
    for route in ["/api/v1/environments/{environment}/flags/{key}", "/api/v1/sdk/stream", "/api/v1/events",
                  "/api/v1/audit/verify", "/api/v1/tokens", "/healthz", "/readyz"]:  # fmt: skip
        assert route in paths


@pytest.mark.parametrize("count", [200])
def test_concurrent_conflicting_writes_lose_nothing(live: Live, count: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    c = live.admin_client
    url = "/api/v1/environments/prod/flags/agent"
    c.put(url, json=AGENT)

    def write(i: int) -> int:
        doc = copy.deepcopy(AGENT) | {"description": f"writer {i}"}
        return live.client(live.admin).put(url, json=doc, headers={"If-Match": '"1"'}).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(write, range(count)))
    assert statuses.count(200) == 1 and statuses.count(409) == count - 1
    current = c.get(url).json()
    assert current["version"] == 2
    winner = current["document"]["description"]
    history = c.get(f"{url}/versions").json()
    assert [v["version"] for v in history] == [2, 1] and history[0]["document"][
        "description"
    ] == winner
    with live.engine.connect() as conn:
        updates = conn.execute(
            sa.select(sa.func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == "flag.update")
        ).scalar_one()
    assert updates == 1


def test_a_flag_may_carry_a_shadow_config(live: Live) -> None:
    c = live.admin_client
    url = "/api/v1/environments/prod/flags/agent"
    shadowed = {**AGENT, "shadow": {"variant": "candidate", "sample": 0.25}}
    assert c.put(url, json=shadowed).status_code == 201
    assert c.get(url).json()["document"]["shadow"] == {"variant": "candidate", "sample": 0.25}
    bad = {**AGENT, "shadow": {"variant": "nope", "sample": 0.25}}
    assert_problem(c.put(url, json=bad, headers={"If-Match": '"1"'}), 422, "body.shadow.variant")
