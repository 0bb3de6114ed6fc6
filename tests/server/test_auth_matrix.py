"""The auth matrix: every route of the OpenAPI document against every kind of credential.

The routes come from the live server's ``/openapi.json``, not from a list kept here, so a new
mutating route fails this module until it has a request below — and that request is then
refused without a token, with a bad token and with an SDK token like every other. Each refusal
is checked to have changed nothing, and each request is finally sent with an admin token and
must succeed, so a refusal can only have come from authentication, never from a bad request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from rampgate import store
from rampgate.server.app import create_app
from rampgate.server.controller import Controller
from rampgate.server.settings import ServerSettings
from rampgate.store.schema import audit_log

from .conftest import AGENT
from .live import Live, plainly

PROBLEM = "application/problem+json"
MUTATING = ("post", "put", "patch", "delete")
PUBLIC = {("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics")}
SDK_ONLY = {("get", "/api/v1/sdk/ruleset"), ("get", "/api/v1/sdk/stream")}
EVENTS = ("post", "/api/v1/events")
FLAG = "/api/v1/environments/{environment}/flags/{key}"
ENVIRONMENT = "/api/v1/environments/{environment}"
ROLLOUTS = ENVIRONMENT + "/rollouts"
EXPERIMENTS = "/api/v1/environments/{environment}/experiments"
EXPERIMENT = EXPERIMENTS + "/{name}"


@dataclass
class Resources:
    """Real things for path parameters, made through the API before the matrix runs."""

    live: Live
    flag: str = "guarded"
    victim_token: str = ""  # a token for DELETE /tokens/{token_id} to revoke
    change_id: str = ""  # a receipt to read
    revoked_admin: str = ""
    staging_sdk: str = ""
    experiment: str = "matrix-read"  # running, on its own flag: what the read routes show
    pending: str = "matrix-exp"  # registered on `flag`: what the mutating routes change
    spare: str = "spare"  # a flag whose running rollout the rollout routes read and steer
    ramped: str = "ramped"  # a flag free of rollouts, for POST …/rollouts
    rollout: str = "spare-v2"
    snapshot_id: str = ""  # URL-quoted: a snapshot id holds '#'

    def version(self) -> str:
        response = self.live.admin_client.get(f"/api/v1/environments/prod/flags/{self.flag}")
        assert response.status_code == 200, response.text
        return response.headers["ETag"]

    def experiment_version(self) -> str:
        response = self.live.admin_client.get(
            f"/api/v1/environments/prod/experiments/{self.pending}"
        )
        assert response.status_code == 200, response.text
        return response.headers["ETag"]

    def experiment_body(self, name: str) -> dict[str, Any]:
        contract = {
            "flag": self.flag,
            "hypothesis": "the candidate resolves more",
            "arms": {"control": "stable", "treatment": "candidate"},
            "split": {"weights": {"control": 0.5, "treatment": 0.5}},
            "primary": "task_success",
            "mde": 0.1,
            "max_duration": "14d",
        }
        baselines = {"task_success": {"rate": 0.3}}
        return {"name": name, "contract": contract, "units_per_day": 2000, "baselines": baselines}

    def pending_path(self, template: str) -> str:
        return self.path(template.replace("{name}", self.pending))

    def path(self, template: str) -> str:
        template = template.replace("/experiments/{name}", f"/experiments/{self.experiment}")
        values = {
            "environment": "prod",
            "key": self.flag,
            "token_id": self.victim_token,
            "change_id": self.change_id,
            "name": self.rollout,
            "snapshot_id": self.snapshot_id,
        }
        return template.format(**values)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(self.method, self.path, json=self.json, headers=self.headers)


def _event() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "event",
        "time_ms": 1_800_000_000_000,
        "name": "resolved",
        "value": 1.0,
        "user_id": "u-1",
        "environment": "prod",
    }


def _plan(flag: str) -> dict[str, Any]:
    return {
        "flag": flag,
        "from": "stable",
        "to": "candidate",
        "steps": [{"weight": 0.1}, {"weight": 1.0}],
        "guardrails": [{"metric": "task_success", "margin": 0.05}],
    }


# What each mutating route is sent: a request an admin may make, built when it is sent (so
# If-Match names the version of that moment). The admin run goes in this order, so the flag
# is deleted last. A new mutating route must be added here, or the coverage check fails.
Builder = Callable[[Resources], Request]
REQUESTS: dict[tuple[str, str], Builder] = {
    ("post", "/api/v1/environments"): lambda r: Request(
        "POST", "/api/v1/environments", {"key": f"env-{uuid.uuid4().hex[:8]}"}
    ),
    ("post", "/api/v1/tokens"): lambda r: Request(
        "POST", "/api/v1/tokens", {"kind": "sdk", "environment": "prod", "name": "matrix"}
    ),
    ("delete", "/api/v1/tokens/{token_id}"): lambda r: Request(
        "DELETE", r.path("/api/v1/tokens/{token_id}")
    ),
    ("post", "/api/v1/audit/verify"): lambda r: Request("POST", "/api/v1/audit/verify"),
    ("put", FLAG): lambda r: Request(
        "PUT", r.path(FLAG), {**AGENT, "description": "changed"}, {"If-Match": r.version()}
    ),
    ("post", FLAG + "/kill"): lambda r: Request(
        "POST", r.path(FLAG + "/kill"), {"reason": "auth matrix"}
    ),
    ("post", FLAG + "/unkill"): lambda r: Request("POST", r.path(FLAG + "/unkill"), {}),
    EVENTS: lambda r: Request("POST", "/api/v1/events", {"events": [_event()]}),
    ("post", EXPERIMENTS): lambda r: Request(
        "POST", r.path(EXPERIMENTS), r.experiment_body(f"exp-{uuid.uuid4().hex[:8]}")
    ),
    ("patch", EXPERIMENT): lambda r: Request(
        "PATCH",
        r.pending_path(EXPERIMENT),
        {"contract": {"owner": "matrix"}},
        {"If-Match": r.experiment_version()},
    ),
    ("post", EXPERIMENT + "/start"): lambda r: Request(
        "POST", r.pending_path(EXPERIMENT + "/start")
    ),
    ("post", EXPERIMENT + "/checkpoint"): lambda r: Request(
        "POST", r.pending_path(EXPERIMENT + "/checkpoint")
    ),
    ("post", EXPERIMENT + "/stop"): lambda r: Request(
        "POST", r.pending_path(EXPERIMENT + "/stop"), {"reason": "auth matrix"}
    ),
    ("post", ROLLOUTS): lambda r: Request(
        "POST", r.path(ROLLOUTS), {"name": f"r-{uuid.uuid4().hex[:8]}", "plan": _plan(r.ramped)}
    ),
    # Before the environment's kill switch, which aborts the rollout at the controller's pass.
    ("post", ROLLOUTS + "/{name}/{kind}"): lambda r: Request(
        "POST", r.path(ROLLOUTS + "/{name}/pause"), {"reason": "auth matrix"}
    ),
    ("post", FLAG + "/evals"): lambda r: Request(
        "POST", r.path(FLAG + "/evals"), {"suite": "s", "variant": "candidate", "passed": True}
    ),
    ("post", ENVIRONMENT + "/kill"): lambda r: Request(
        "POST", r.path(ENVIRONMENT + "/kill"), {"reason": "auth matrix"}
    ),
    ("post", ENVIRONMENT + "/unkill"): lambda r: Request("POST", r.path(ENVIRONMENT + "/unkill")),
    ("delete", FLAG): lambda r: Request("DELETE", r.path(FLAG), headers={"If-Match": r.version()}),
}


def _operations(live: Live) -> list[tuple[str, str]]:
    spec = live.client().get("/openapi.json").json()
    return [(method, path) for path, ops in spec["paths"].items() for method in ops]


def _routes(routes: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app serves, whether in /openapi.json or not."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x: include_router
        if included is not None:
            yield from _routes(included.routes)
        for method in getattr(route, "methods", None) or ():
            yield method.lower(), route.path


def _mutating(live: Live) -> list[tuple[str, str]]:
    return [op for op in _operations(live) if op[0] in MUTATING]


def assert_refused(response: httpx.Response, status: int, where: str, field_: str) -> None:
    assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), where
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"], where
    fields = [e["field"] for e in body["errors"]]
    assert field_ in fields, f"{where}: {body}"
    assert all(e.get("fix") for e in body["errors"]), f"{where}: {body}"
    if status == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), where


def _changes(live: Live) -> tuple[int, int, int]:
    """Audit rows, stored events and active tokens: a refused request changes none of them."""
    with store.read(live.engine) as conn:
        audited = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
        tokens = len(store.list_tokens(conn))
        return int(audited), store.count_events(conn), tokens


@pytest.fixture
def resources(live: Live) -> Resources:
    r = Resources(live)
    c = live.admin_client
    created = c.put(f"/api/v1/environments/prod/flags/{r.flag}", json=AGENT)
    assert created.status_code == 201, created.text
    r.change_id = created.json()["change_id"]
    victim = c.post("/api/v1/tokens", json={"kind": "sdk", "environment": "prod", "name": "v"})
    r.victim_token = victim.json()["id"]
    read_flag = {"variants": {"a": 1, "b": 2}, "default": "a"}
    assert c.put("/api/v1/environments/prod/flags/experimented", json=read_flag).status_code == 201
    reading = {**r.experiment_body(r.experiment)}
    reading["contract"] = {
        **reading["contract"],
        "flag": "experimented",
        "arms": {"a": "a", "b": "b"},
    }
    reading["contract"]["split"] = {"weights": {"a": 0.5, "b": 0.5}}
    for body in (reading, r.experiment_body(r.pending)):
        assert c.post("/api/v1/environments/prod/experiments", json=body).status_code == 201
    started = c.post(f"/api/v1/environments/prod/experiments/{r.experiment}/start")
    assert started.status_code == 200, started.text
    with store.write(live.engine) as conn:
        admin_id, r.revoked_admin = store.create_token(conn, "admin", None, "old", actor="setup")
        store.revoke_token(conn, admin_id, actor="setup")
        _, r.staging_sdk = store.create_token(conn, "sdk", "staging", "stg", actor="setup")
    # A running rollout with a snapshot, for the rollout and snapshot routes' path parameters.
    for key in (r.spare, r.ramped):
        assert c.put(f"/api/v1/environments/prod/flags/{key}", json=AGENT).status_code == 201
    started = c.post(r.path(ROLLOUTS), json={"name": r.rollout, "plan": _plan(r.spare)})
    assert started.status_code == 201, started.text
    # The server's controller may take this pass first; either way the snapshot exists after.
    Controller(live.engine).tick()
    snapshot = c.get(r.path(ROLLOUTS + "/{name}")).json()["latest_snapshot"]
    assert snapshot, "the rollout did not start"
    r.snapshot_id = quote(snapshot, safe="/")
    return r


def _unauthenticated(live: Live, r: Resources) -> dict[str, httpx.Client]:
    """Clients whose requests must all get 401."""
    return {
        "no token": live.client(),
        "garbage token": live.client("not-a-token"),
        "unknown rg_ token": live.client("rg_admin_" + uuid.uuid4().hex),
        "revoked admin token": live.client(r.revoked_admin),
        "bearer without token": _raw(live, "Bearer"),
        "basic scheme": _raw(live, f"Basic {live.admin}"),
        "token without scheme": _raw(live, live.admin),
    }


def _raw(live: Live, header: str) -> httpx.Client:
    client = live.client()
    client.headers["Authorization"] = header
    return client


def test_every_mutating_route_has_a_request_in_the_matrix(live: Live) -> None:
    mutating = _mutating(live)
    # A route left out of the OpenAPI document (include_in_schema=False) is still a route.
    app = create_app(ServerSettings(database_url="sqlite://"), engine=live.engine)
    routed = {op for op in _routes(app.routes) if op[0] in MUTATING}
    assert routed == set(mutating), f"routes missing from /openapi.json: {routed - set(mutating)}"
    missing = sorted(set(mutating) - set(REQUESTS))
    assert not missing, f"mutating routes missing from the auth matrix: {missing}"
    stale = sorted(set(REQUESTS) - set(mutating))
    assert not stale, f"routes in the auth matrix that the API no longer has: {stale}"


def test_every_mutating_route_refuses_bad_credentials(live: Live, resources: Resources) -> None:
    mutating = _mutating(live)
    assert len(mutating) >= 9
    refusers = _unauthenticated(live, resources)
    sdk = {
        "prod SDK token": live.client(live.sdk),
        "staging SDK token": live.client(resources.staging_sdk),
    }
    before = _changes(live)
    checked: list[tuple[str, str]] = []
    for op in mutating:
        build = REQUESTS.get(op)
        if build is None:  # still refuse anonymous requests; the coverage test names it
            method, template = op
            path = template.replace("{", "").replace("}", "")
            anonymous = live.client().request(method.upper(), path, json={})
            assert_refused(anonymous, 401, f"{op} no token", "Authorization")
            continue
        for who, client in refusers.items():
            request = build(resources)
            assert_refused(request.send(client), 401, f"{op} {who}", "Authorization")
        for who, client in sdk.items():
            if op == EVENTS:
                continue  # SDK tokens send events: see test_events_take_the_sdk_tokens_environment
            request = build(resources)
            assert_refused(request.send(client), 403, f"{op} {who}", "Authorization")
        checked.append(op)
    assert _changes(live) == before, "a refused request changed something"

    # The same requests with an admin token succeed: the refusals above were about credentials.
    for op, build in REQUESTS.items():
        response = build(resources).send(live.admin_client)
        assert response.is_success, f"{op} admin: {response.status_code} {response.text}"
    assert len(checked) == len(mutating), f"unchecked: {set(mutating) - set(checked)}"


def _bad_body_without_token(live: Live, r: Resources, op: tuple[str, str]) -> None:
    request = REQUESTS[op](r)
    bad = Request(request.method, request.path, {"unexpected": [1, 2, 3]}, request.headers)
    assert_refused(bad.send(live.client()), 401, f"{op} no token, bad body", "Authorization")


def test_credentials_are_checked_before_the_body(live: Live, resources: Resources) -> None:
    """A request without a token gets 401 whatever its body: nothing is validated for strangers."""
    for op in _mutating(live):
        if op != EVENTS:  # see the next test
            _bad_body_without_token(live, resources, op)


def test_events_check_credentials_before_the_body(live: Live, resources: Resources) -> None:
    plainly(lambda: _bad_body_without_token(live, resources, EVENTS))


def test_events_take_the_sdk_tokens_environment(live: Live, resources: Resources) -> None:
    prod, staging = live.client(live.sdk), live.client(resources.staging_sdk)
    own = prod.post("/api/v1/events", json={"events": [_event()]})
    assert own.status_code == 200 and own.json()["inserted"] == 1, own.text
    unnamed = {k: v for k, v in _event().items() if k != "environment"}
    assert prod.post("/api/v1/events", json={"events": [unnamed]}).json()["inserted"] == 1

    # A staging token may not write prod's events: 403 naming the events' environment.
    refused = staging.post("/api/v1/events", json={"events": [_event()]})
    assert_refused(refused, 403, "staging token, prod events", "events[].environment")
    # Unnamed events from a staging token are staging's, never prod's.
    other = {**unnamed, "id": str(uuid.uuid4())}
    assert staging.post("/api/v1/events", json={"events": [other]}).json()["inserted"] == 1
    with store.read(live.engine) as conn:
        assert store.count_events(conn, environment="prod") == 2
        assert store.count_events(conn, environment="staging") == 1

    # An admin must name the environment; an unnamed admin batch is refused.
    admin = live.admin_client
    assert admin.post("/api/v1/events", json={"events": [_event()]}).status_code == 200
    assert_refused(
        admin.post("/api/v1/events", json={"events": [{**unnamed, "id": str(uuid.uuid4())}]}),
        403,
        "admin, unnamed events",
        "Authorization",
    )


def test_admin_read_routes_refuse_sdk_tokens(live: Live, resources: Resources) -> None:
    reads = [op for op in _operations(live) if op[0] == "get"]
    admin_reads = [op for op in reads if op not in PUBLIC | SDK_ONLY]
    assert set(reads) >= SDK_ONLY and set(reads) >= PUBLIC
    assert len(admin_reads) >= 8, admin_reads
    refusers = _unauthenticated(live, resources)
    sdk = {
        "prod SDK token": live.client(live.sdk),
        "staging SDK token": live.client(resources.staging_sdk),
    }
    for op in admin_reads:
        path = resources.path(op[1])
        for who, client in refusers.items():
            assert_refused(client.get(path), 401, f"{op} {who}", "Authorization")
        for who, client in sdk.items():
            assert_refused(client.get(path), 403, f"{op} {who}", "Authorization")
        ok = live.admin_client.get(path)
        assert ok.status_code == 200, f"{op} admin: {ok.text}"
    for op in PUBLIC:
        assert live.client().get(op[1]).status_code == 200, op


def test_sdk_routes_need_an_sdk_token(live: Live, resources: Resources) -> None:
    """The ruleset and its stream serve the SDK token's own environment; admins are refused
    (there is no way to name an environment on these routes), as is every bad credential."""
    for _, path in sorted(SDK_ONLY):
        for who, client in _unauthenticated(live, resources).items():
            assert_refused(client.get(path), 401, f"{path} {who}", "Authorization")
        assert_refused(live.admin_client.get(path), 403, f"{path} admin", "Authorization")
    ruleset = "/api/v1/sdk/ruleset"
    prod = live.client(live.sdk).get(ruleset).json()
    flags = {resources.flag, "experimented", resources.spare, resources.ramped}
    assert prod["environment"] == "prod" and set(prod["flags"]) == flags
    staging = live.client(resources.staging_sdk).get(ruleset).json()
    assert staging["environment"] == "staging" and staging["flags"] == {}
    with live.client(resources.staging_sdk).stream("GET", "/api/v1/sdk/stream") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        data = next(line for line in stream.iter_lines() if line.startswith("data:"))
    assert '"environment":"staging"' in data


def test_admin_events_for_an_unknown_environment_are_refused(live: Live) -> None:
    def check() -> None:
        response = live.admin_client.post(
            "/api/v1/events", json={"events": [{**_event(), "environment": "nowhere"}]}
        )
        assert response.status_code == 404, response.text
        with store.read(live.engine) as conn:
            assert store.count_events(conn, environment="nowhere") == 0

    plainly(check)
