"""Every error answer is ``application/problem+json`` (RFC 9457) naming the field and the fix.

Shape: ``{"type", "title", "status", "detail", "errors": [{"field", "message", "fix"}]}`` plus
context where it helps (``current_version`` on a conflict). Handlers here translate the
library's exceptions once, so routes just raise.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rampgate.errors import ConfigError
from rampgate.store.errors import (
    AlreadyExists,
    IdempotencyMismatch,
    NotFound,
    VersionConflict,
)

__all__ = ["ApiError", "install", "problem"]

logger = logging.getLogger("rampgate.server")
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://rampgate.dev/problems/"


class ApiError(Exception):
    """Raised by routes for a problem that is not a library exception (auth, preconditions)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        field: str = "",
        fix: str = "",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.field, self.fix, self.headers, self.extra = field, fix, headers, extra


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    slug = title.lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors or [],
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"] or [str(loc[0])] if loc else []
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove this field; it is not part of the API",
    "json_invalid": "send a valid JSON body",
}


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        loc = err.get("loc", ())
        where = loc[0] if loc else "body"
        field = _field(loc) or str(where)
        message = str(err.get("msg", "invalid value"))
        fix = _FIXES.get(
            err.get("type", ""), f"correct {field}: {message[:1].lower()}{message[1:]}"
        )
        errors.append({"field": field, "in": str(where), "message": err.get("msg", ""), "fix": fix})
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}"
    return problem(422, "Invalid request", detail, errors=errors)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}
    title = titles.get(exc.status_code, "HTTP error")
    detail = str(exc.detail) if exc.detail else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /openapi.json"
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}; see /openapi.json"
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, title, detail, headers=headers)


async def _api(request: Request, exc: ApiError) -> JSONResponse:
    errors = [{"field": exc.field, "message": exc.detail, "fix": exc.fix}] if exc.field else []
    return problem(
        exc.status, exc.title, exc.detail, errors=errors, headers=exc.headers, **exc.extra
    )


async def _config(request: Request, exc: ConfigError) -> JSONResponse:
    field = exc.path or "body"
    fix = f"expected {exc.expected}" if exc.expected else "correct this value"
    errors = [{"field": field, "message": exc.reason, "fix": fix}]
    return problem(422, "Invalid definition", str(exc), errors=errors)


async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    return problem(404, "Not found", str(exc))


async def _exists(request: Request, exc: AlreadyExists) -> JSONResponse:
    return problem(
        409,
        "Already exists",
        str(exc),
        errors=[
            {
                "field": "key",
                "message": str(exc),
                "fix": "choose another key, or update the existing resource with PUT",
            }
        ],
    )


async def _conflict(request: Request, exc: VersionConflict) -> JSONResponse:
    current = exc.current
    return problem(
        409,
        "Version conflict",
        str(exc),
        errors=[
            {
                "field": "If-Match",
                "message": str(exc),
                "fix": f're-read the resource and retry with If-Match: "{current}"',
            }
        ],
        current_version=current,
        headers={"ETag": f'"{current}"'} if current is not None else None,
    )


async def _mismatch(request: Request, exc: IdempotencyMismatch) -> JSONResponse:
    return problem(
        422,
        "Idempotency key reused",
        str(exc),
        errors=[
            {
                "field": "Idempotency-Key",
                "message": str(exc),
                "fix": "use a new key for a different request",
            }
        ],
    )


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    # Input the database or the datetime arithmetic cannot hold (a lone surrogate, a NUL in
    # PostgreSQL text, a year beyond 9999): the client's value, not the server, is at fault.
    detail = f"a value in the request cannot be stored or compared: {type(exc).__name__}"
    fix = "remove NUL characters and unpaired surrogates; keep dates within years 1-9999"
    return problem(
        422, "Invalid value", detail, errors=[{"field": "body", "message": detail, "fix": fix}]
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the server failed; the error is logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api)  # type: ignore[arg-type]
    app.add_exception_handler(ConfigError, _config)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(AlreadyExists, _exists)  # type: ignore[arg-type]
    app.add_exception_handler(VersionConflict, _conflict)  # type: ignore[arg-type]
    app.add_exception_handler(IdempotencyMismatch, _mismatch)  # type: ignore[arg-type]
    for kind in (DataError, UnicodeEncodeError, OverflowError):
        app.add_exception_handler(kind, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
