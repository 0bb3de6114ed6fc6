"""Experiments as contracts over the HTTP API, on a real server, on SQLite and PostgreSQL.

Register (refused when the sample cannot reach the MDE in time), amend before start, frozen
after it, start (the SDK ruleset carries the experiment's split), checkpoints over events sent
by the real SDK — a real effect promotes, a guardrail harm stops at once — and stop.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import rampgate

from .live import Live

PROBLEM = "application/problem+json"
BASE = "/api/v1/environments/prod/experiments"
FLAG = {
    "description": "refund prompt",
    "variants": {"v1": {"prompt": "refund-v1"}, "v2": {"prompt": "refund-v2"}},
    "default": "v1",
    "rules": [{"id": "staff", "when": {"email": {"$regex": "@example\\.com$"}}, "serve": "v2"}],
}
CONTRACT = {
    "flag": "refund-prompt",
    "hypothesis": "The v2 refund prompt resolves more tickets without more escalations",
    "arms": {"control": "v1", "treatment": "v2"},
    "split": {"unit": "user_id", "weights": {"control": 0.5, "treatment": 0.5}},
    "primary": "task_success",
    "guardrails": [{"metric": "escalation", "margin": 0.1}],
    "mde": 0.1,
    "max_duration": "14d",
}
BASELINES = {"task_success": {"rate": 0.3}, "escalation": {"rate": 0.05}}


def body(name: str = "refund-ab", **changes: Any) -> dict[str, Any]:
    contract = {**copy.deepcopy(CONTRACT), **changes}
    return {"name": name, "contract": contract, "units_per_day": 2000, "baselines": BASELINES}


def problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    payload: dict[str, Any] = response.json()
    assert field in [e["field"] for e in payload["errors"]], payload
    assert all(e["fix"] for e in payload["errors"]), payload
    return payload


@pytest.fixture
def admin(live: Live) -> httpx.Client:
    c = live.admin_client
    created = c.put("/api/v1/environments/prod/flags/refund-prompt", json=FLAG)
    assert created.status_code == 201, created.text
    return c


def ruleset_rule(live: Live, rule_id: str) -> dict[str, Any] | None:
    ruleset = live.client(live.sdk).get("/api/v1/sdk/ruleset").json()
    rules = ruleset["flags"]["refund-prompt"]["rules"]
    return next((r for r in rules if r["id"] == rule_id), None)


def test_register_read_list_and_replay(live: Live, admin: httpx.Client) -> None:
    key = {"Idempotency-Key": "register-refund-ab"}
    created = admin.post(BASE, json=body(), headers=key)
    assert created.status_code == 201, created.text
    payload = created.json()
    experiment = payload["experiment"]
    assert (experiment["status"], experiment["version"], experiment["flag"]) == (
        "registered",
        1,
        "refund-prompt",
    )
    assert experiment["contract"] == CONTRACT and experiment["units_per_day"] == 2000
    assert 0 < experiment["plan"]["days"] <= 14 and experiment["plan"]["arms"][0]["arm"] == (
        "treatment"
    )
    receipt = payload["receipt"]
    assert receipt["action"] == "experiment.register" and receipt["actor"] == "token:tester"
    assert created.headers["ETag"] == '"1"'

    replay = admin.post(BASE, json=body(), headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["receipt"]["change_id"] == receipt["change_id"]
    problem(admin.post(BASE, json=body()), 409, "key")

    read = admin.get(f"{BASE}/refund-ab")
    assert read.status_code == 200 and read.headers["ETag"] == '"1"'
    assert read.json()["contract"]["hypothesis"] == CONTRACT["hypothesis"]
    assert [e["name"] for e in admin.get(BASE).json()] == ["refund-ab"]
    assert admin.get(f"/api/v1/receipts/{receipt['change_id']}").status_code == 200
    problem(admin.get(f"{BASE}/refund-ab/analysis"), 409, "name")


def test_registration_refuses_what_cannot_work(live: Live, admin: httpx.Client) -> None:
    # A 1-point MDE at 2,000 units a day cannot be reached in a week.
    short = problem(
        admin.post(BASE, json=body(mde=0.01, max_duration="7d")), 422, "contract.max_duration"
    )
    assert "days" in short["detail"]
    problem(admin.post(BASE, json={**body(), "baselines": {}}), 422, "baselines.task_success")
    no_traffic = {k: v for k, v in body().items() if k != "units_per_day"}
    problem(admin.post(BASE, json=no_traffic), 422, "units_per_day")
    in_contract = {**no_traffic, "contract": {**CONTRACT, "units_per_day": 2000}}
    assert admin.post(BASE, json=in_contract).status_code == 201
    bad_arm = body("b", arms={"control": "v1", "treatment": "v9"})
    problem(admin.post(BASE, json=bad_arm), 422, "contract.arms.treatment")
    problem(admin.post(BASE, json=body("c", primary="nope")), 422, "contract.primary")
    problem(admin.post(BASE, json=body("d", flag="missing")), 422, "contract.flag")
    problem(admin.post(BASE, json=body("e", environment="staging")), 422, "contract.environment")
    twin = body("f", arms={"control": "v1", "treatment": "v1"})
    problem(admin.post(BASE, json=twin), 422, "contract.arms")
    rate = {**body("g"), "baselines": {**BASELINES, "task_success": {"rate": 1.5}}}
    problem(admin.post(BASE, json=rate), 422, "baselines.task_success")


def test_amend_before_start_freeze_after(live: Live, admin: httpx.Client) -> None:
    url = f"{BASE}/refund-ab"
    admin.post(BASE, json=body())
    problem(admin.patch(url, json={"contract": {"mde": 0.08}}), 428, "If-Match")
    amended = admin.patch(url, json={"contract": {"mde": 0.08}}, headers={"If-Match": '"1"'})
    assert amended.status_code == 200, amended.text
    assert amended.json()["experiment"]["contract"]["mde"] == 0.08
    assert amended.json()["receipt"]["action"] == "experiment.amend"
    assert amended.headers["ETag"] == '"2"'
    stale = problem(admin.patch(url, json={}, headers={"If-Match": '"1"'}), 409, "If-Match")
    assert stale["current_version"] == 2
    too_small = {"contract": {"mde": 0.001}}
    problem(
        admin.patch(url, json=too_small, headers={"If-Match": '"2"'}), 422, "contract.max_duration"
    )

    started = admin.post(f"{url}/start")
    assert started.status_code == 200, started.text
    version = started.json()["experiment"]["version"]
    frozen = problem(
        admin.patch(url, json={"contract": {"mde": 0.05}}, headers={"If-Match": f'"{version}"'}),
        409,
        "contract.mde",
    )
    assert "mde" in frozen["detail"]
    removed = {"contract": {"guardrails": None}}
    problem(
        admin.patch(url, json=removed, headers={"If-Match": f'"{version}"'}),
        409,
        "contract.guardrails",
    )
    problem(
        admin.patch(url, json={"units_per_day": 10}, headers={"If-Match": f'"{version}"'}),
        409,
        "units_per_day",
    )
    same = {"contract": {"mde": 0.08, "description": "now with an owner", "owner": "ana"}}
    described = admin.patch(url, json=same, headers={"If-Match": f'"{version}"'})
    assert described.status_code == 200, described.text
    assert described.json()["experiment"]["contract"]["owner"] == "ana"


def test_start_puts_the_split_on_the_flag_and_stop_takes_it_off(
    live: Live, admin: httpx.Client
) -> None:
    admin.post(
        BASE, json=body(split={"weights": {"control": 0.5, "treatment": 0.5}, "coverage": 0.5})
    )
    key = {"Idempotency-Key": "start-once"}
    started = admin.post(f"{BASE}/refund-ab/start", headers=key)
    assert started.status_code == 200, started.text
    actions = [r["action"] for r in started.json()["receipts"]]
    assert actions == ["flag.update", "experiment.start"]
    assert started.json()["experiment"]["status"] == "running"
    again = admin.post(f"{BASE}/refund-ab/start", headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == started.json()
    problem(admin.post(f"{BASE}/refund-ab/start"), 409, "name")

    rule = ruleset_rule(live, "experiment:refund-ab")
    assert rule is not None, "the SDK ruleset does not carry the experiment"
    assert rule["split"]["weights"] == {"v1": 0.5, "v2": 0.5}
    assert rule["split"]["coverage"] == 0.5 and rule["split"]["seed"] == "refund-ab"
    flag = admin.get("/api/v1/environments/prod/flags/refund-prompt").json()
    assert [r["id"] for r in flag["document"]["rules"]] == ["staff", "experiment:refund-ab"]
    assert started.json()["experiment"]["flag_version"] == flag["version"]

    # One experiment on a flag at a time unless both sit in disjoint ranges of one namespace.
    overlapping = problem(admin.post(BASE, json=body("other")), 422, "contract.split.namespace")
    assert "refund-ab" in overlapping["detail"]
    problem(admin.post(f"{BASE}/refund-ab/stop", json={"serve_winner": True}), 409, "serve_winner")

    stopped = admin.post(f"{BASE}/refund-ab/stop", json={"reason": "enough"})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["experiment"]["stopped"]["reason"] == "enough"
    assert ruleset_rule(live, "experiment:refund-ab") is None
    problem(admin.post(f"{BASE}/refund-ab/stop"), 409, "name")
    problem(admin.post(f"{BASE}/refund-ab/checkpoint"), 409, "name")
    assert admin.get(f"{BASE}/refund-ab/analysis").json()["decision"] == "running"


def test_namespaces_let_experiments_share_a_flag(live: Live, admin: httpx.Client) -> None:
    for name, low, high in (("left", 0, 0.5), ("right", 0.5, 1)):
        split = {
            "weights": {"control": 0.5, "treatment": 0.5},
            "namespace": {"id": "refunds", "range": [low, high]},
        }
        assert admin.post(BASE, json=body(name, split=split)).status_code == 201
        assert admin.post(f"{BASE}/{name}/start").status_code == 200
    assert ruleset_rule(live, "experiment:left") and ruleset_rule(live, "experiment:right")


def test_a_flag_in_a_rollout_takes_no_experiment(live: Live, admin: httpx.Client) -> None:
    plan = {
        "flag": "refund-prompt",
        "from": "v1",
        "to": "v2",
        "steps": [{"weight": 0.1}, {"weight": 1.0}],
        "guardrails": [{"metric": "escalation", "margin": 0.05}],
    }
    rollout = admin.post("/api/v1/environments/prod/rollouts", json={"name": "r", "plan": plan})
    assert rollout.status_code == 201, rollout.text
    refused = problem(admin.post(BASE, json=body()), 409, "contract.flag")
    assert "rollout" in refused["detail"]


Outcome = Callable[[str, int], dict[str, float]]


def simulate(live: Live, name: str, users: int, outcome: Outcome) -> dict[str, int]:
    """Real SDK traffic: each user is evaluated (an exposure) and tracks the outcome's events.
    Returns users per rule. Every tenth user is staff, served v2 by the rule above."""
    client = rampgate.Client(url=live.url, sdk_key=live.sdk)
    served: dict[str, int] = {}
    try:
        assert client.wait_ready(10)
        deadline = time.monotonic() + 10
        probe = rampgate.Context(user_id="probe")
        while client.evaluate("refund-prompt", probe, expose=False).rule_id != f"experiment:{name}":
            assert time.monotonic() < deadline, "the SDK never saw the experiment's rule"
            time.sleep(0.05)
        for i in range(users):
            email = f"u{i}@example.com" if i % 10 == 0 else f"u{i}@customer.org"
            ctx = rampgate.Context(user_id=f"u-{i}", attributes={"email": email})
            ev = client.evaluate("refund-prompt", ctx)
            served[ev.rule_id or ""] = served.get(ev.rule_id or "", 0) + 1
            for event, value in outcome(ev.variant or "", i).items():
                client.track(event, ctx, value=value)
    finally:
        client.close(10)
    return served


def started(admin: httpx.Client, name: str = "refund-ab") -> None:
    assert admin.post(BASE, json=body(name)).status_code == 201
    assert admin.post(f"{BASE}/{name}/start").status_code == 200


def rate(i: int, percent: int) -> float:
    """1.0 for ``percent`` of users, spread evenly (deterministic, so tests do not flake)."""
    return 1.0 if (i * 37) % 100 < percent else 0.0


def test_a_real_effect_is_promoted_and_the_winner_served(live: Live, admin: httpx.Client) -> None:
    started(admin)

    def outcome(variant: str, i: int) -> dict[str, float]:
        success = rate(i, 25 if variant == "v1" else 60)
        events = {"task_success": 1.0} if success else {}
        return events | ({"escalated": 1.0} if rate(i + 7, 4) else {})

    served = simulate(live, "refund-ab", 1200, outcome)
    assert served == {"staff": 120, "experiment:refund-ab": 1080}

    peek = admin.get(f"{BASE}/refund-ab/analysis")
    assert peek.status_code == 200, peek.text
    look = peek.json()
    assert sum(look["units"].values()) == 1080, "staff served by another rule are not in it"
    assert look["decision"] == "promote", look["rationale"]
    assert look["winner"] == "treatment" and look["serve_variant"] == "v2"
    primary = look["primary"][0]
    assert primary["metric"] == "task_success" and primary["better"] and primary["ci_low"] > 0
    assert [g["verdict"] for g in look["guardrails"]] == ["PASS"]
    assert admin.get(f"{BASE}/refund-ab/checkpoints").json() == [], "a GET stores nothing"

    recorded = admin.post(f"{BASE}/refund-ab/checkpoint", headers={"Idempotency-Key": "cp-1"})
    assert recorded.status_code == 201, recorded.text
    snapshot = recorded.json()["checkpoint"]
    assert snapshot["id"] == "prod/refund-ab/checkpoint/1" and snapshot["decision"] == "promote"
    assert snapshot["receipts"] == [recorded.json()["receipt"]["change_id"]]
    assert recorded.json()["receipt"]["detail"]["snapshot_id"] == snapshot["id"]
    replay = admin.post(f"{BASE}/refund-ab/checkpoint", headers={"Idempotency-Key": "cp-1"})
    assert replay.json()["checkpoint"]["id"] == snapshot["id"]
    stored = admin.get(f"/api/v1/snapshots/{snapshot['id']}").json()
    assert stored["decision"] == "promote" and stored["rationale"] == snapshot["rationale"]
    experiment = recorded.json()["experiment"]
    assert experiment["status"] == "running" and experiment["checkpoints"] == 1
    assert experiment["last_checkpoint"]["decision"] == "promote"

    shipped = admin.post(f"{BASE}/refund-ab/stop", json={"serve_winner": True, "reason": "won"})
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["experiment"]["stopped"]["served"] == "v2"
    assert ruleset_rule(live, "experiment:refund-ab") == {
        "id": "experiment:refund-ab",
        "serve": "v2",
    }


def test_a_guardrail_harm_stops_the_experiment(live: Live, admin: httpx.Client) -> None:
    started(admin)

    def outcome(variant: str, i: int) -> dict[str, float]:
        escalated = rate(i, 4 if variant == "v1" else 40)
        return {"task_success": rate(i + 3, 50), **({"escalated": 1.0} if escalated else {})}

    simulate(live, "refund-ab", 1000, outcome)
    recorded = admin.post(f"{BASE}/refund-ab/checkpoint")
    assert recorded.status_code == 201, recorded.text
    snapshot = recorded.json()["checkpoint"]
    assert snapshot["decision"] == "guardrail_stop", snapshot["rationale"]
    assert snapshot["serve"] == "control"
    assert [g["verdict"] for g in snapshot["guardrails"]] == ["FAIL"]
    actions = [r["action"] for r in recorded.json()["receipts"]]
    assert actions == ["flag.update", "experiment.guardrail_stop"]
    assert len(snapshot["receipts"]) == 2
    assert recorded.json()["experiment"]["status"] == "stopped"
    assert ruleset_rule(live, "experiment:refund-ab") is None
    listed = admin.get(f"{BASE}/refund-ab/checkpoints").json()
    assert [s["id"] for s in listed] == ["prod/refund-ab/checkpoint/1"]


ROUTES = [
    ("GET", BASE, None),
    ("POST", BASE, body()),
    ("GET", f"{BASE}/refund-ab", None),
    ("PATCH", f"{BASE}/refund-ab", {"contract": {"owner": "x"}}),
    ("POST", f"{BASE}/refund-ab/start", None),
    ("POST", f"{BASE}/refund-ab/stop", None),
    ("GET", f"{BASE}/refund-ab/analysis", None),
    ("POST", f"{BASE}/refund-ab/checkpoint", None),
    ("GET", f"{BASE}/refund-ab/checkpoints", None),
]


@pytest.fixture
def anonymous(live: Live) -> dict[str, httpx.Client]:
    return {"no token": live.client(), "sdk token": live.client(live.sdk)}


def test_every_route_needs_an_admin_token(
    live: Live, admin: httpx.Client, anonymous: dict[str, httpx.Client]
) -> None:
    for method, url, payload in ROUTES:
        for who, client in anonymous.items():
            response = client.request(method, url, json=payload, headers={"If-Match": '"1"'})
            status = 401 if who == "no token" else 403
            problem(response, status, "Authorization")
    assert admin.get(BASE).json() == []


HOSTILE: dict[str, Any] = {
    "contract not a mapping of keys": {"contract": {"arms": [1, 2]}},
    "mde too large for a float": {"contract": {"mde": 10**400}},
    "mde infinite": {"contract": {"mde": "Infinity"}},
    "traffic in the contract too large": {"contract": {"units_per_day": 10**400}},
    "traffic in the contract negative and huge": {"contract": {"units_per_day": -(10**400)}},
    "baseline too large": {"baselines": {"task_success": {"rate": 10**400}}},
    "baseline sd zero": {"baselines": {"task_success": {"mean": 3, "sd": 0}}},
    "baseline extra key": {"baselines": {"task_success": {"rate": 0.3, "sd": 1}}},
    "baselines in the contract not a mapping": {"contract": {"baselines": [1]}},
    "exposure not a mapping": {"contract": {"exposure": "everyone"}},
    "exposure unknown operator": {"contract": {"exposure": {"plan": {"$nope": 1}}}},
    "namespace backwards": {
        "contract": {
            "split": {
                "weights": {"control": 1, "treatment": 1},
                "namespace": {"id": "n", "range": [0.9, 0.1]},
            }
        }
    },
    "unit the server cannot analyse": {
        "contract": {"split": {"unit": "tenant", "weights": {"control": 1, "treatment": 1}}}
    },
    "quantile primary": {"contract": {"primary": "latency_p95"}},
    "metric of an unknown kind": {
        "metrics": {"odd": {"kind": "median", "event": "x", "higher_is_better": True}}
    },
    "max_duration nonsense": {"contract": {"max_duration": "soon"}},
}
# Text the database may or may not hold: any answer below 500 will do.
ODD_TEXT = {
    "NUL in hypothesis": {"contract": {"hypothesis": "a\u0000b"}},
    "lone surrogate in owner": {"contract": {"owner": "\ud800"}},
}


def test_hostile_definitions_are_client_errors(live: Live, admin: httpx.Client) -> None:
    wrong = {}
    for i, (case, change) in enumerate({**HOSTILE, **ODD_TEXT}.items()):
        sent = body(f"hostile-{i}")
        sent["contract"] = {**sent["contract"], **change.get("contract", {})}
        sent.update({k: v for k, v in change.items() if k != "contract"})
        raw = json.dumps(sent).encode()  # json.dumps writes 10**400 as a number, as clients may
        response = admin.post(BASE, content=raw, headers={"Content-Type": "application/json"})
        status = response.status_code
        if status >= 500 or (case in HOSTILE and status < 400):
            wrong[case] = f"{status} {response.text[:300]}"
        elif status >= 400 and not response.headers["content-type"].startswith(PROBLEM):
            wrong[case] = f"{status} is not {PROBLEM}"
    assert not wrong, wrong
