"""Complete the generated OpenAPI document with what routes read from headers.

Routes read ``Authorization``, ``If-Match``, ``Idempotency-Key``, ``If-None-Match`` and
``Last-Event-ID`` from the request themselves (so one code path serves all of them); this adds
them to the document, with the bearer security scheme, so clients generated from it and
contract testers know about them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rampgate.server.models import EventColumnsIn, EventsIn

__all__ = ["install"]


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", "maxLength": 255},
    }


IF_MATCH = _header("If-Match", 'the version being replaced, as its ETag: "3"')
IDEMPOTENCY = _header(
    "Idempotency-Key", "replays return the first response; a different body is 422"
)
IF_NONE_MATCH = _header("If-None-Match", "the ETag held; 304 when it is current")
LAST_EVENT_ID = _header(
    "Last-Event-ID", "the last ruleset version received; older ones are not resent"
)
OPEN = ("/healthz", "/readyz", "/metrics", "/openapi.json")


def _extend(document: dict[str, Any]) -> dict[str, Any]:
    # POST /api/v1/events validates its raw body itself (for speed); publish the schemas it uses.
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (EventsIn, EventColumnsIn):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    document["components"]["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "an admin token, or an SDK token for /api/v1/sdk/* and /api/v1/events",
        }
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if path in OPEN:
                continue
            operation["security"] = [{"bearer": []}]
            extra: list[dict[str, Any]] = []
            if method in ("put", "post", "delete") and not path.endswith("/events"):
                extra.append(IDEMPOTENCY)
            if "/flags/{key}" in path and method in ("put", "delete", "post"):
                extra.append(IF_MATCH)
            if path.endswith("/sdk/ruleset"):
                extra.append(IF_NONE_MATCH)
            if path.endswith("/sdk/stream"):
                extra.append(LAST_EVENT_ID)
            operation["parameters"] = [*operation.get("parameters", []), *extra]
    return document


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = _extend(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
