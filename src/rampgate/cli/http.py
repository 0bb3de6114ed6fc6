"""The admin API for one command: requests, and a refused one printed as its problem.

A refused request exits 1 with the server's problem+json: its detail, then each field and the
fix. An unreachable server exits 1 naming the URL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from .options import fail

__all__ = ["Api", "connect", "segment"]


def _problem(response: httpx.Response) -> NoReturn:
    where = f"{response.request.method} {response.request.url.path}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        fail(f"{where}: {response.status_code} {response.text[:500]}")
    title = body.get("title") or response.reason_phrase
    lines = [f"{response.status_code} {title}: {body.get('detail', '')}"]
    for e in body.get("errors") or []:
        if isinstance(e, dict) and e.get("field"):
            lines.append(f"  field: {e['field']}")
            if e.get("fix"):
                lines.append(f"  fix: {e['fix']}")
    fail("\n".join(lines))


class Api:
    """The admin API of one server, for one command."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        none_if_missing: bool = False,
    ) -> Any:
        """``path`` under ``/api/v1``; the answer's JSON, or exit 1 with its problem.

        ``none_if_missing``: a 404 is ``None`` rather than an error.
        """
        try:
            response = self.http.request(method, "/api/v1" + path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.http.base_url}: {exc}")
        if none_if_missing and response.status_code == 404:
            return None
        if not response.is_success:
            _problem(response)
        return response.json()


@contextmanager
def connect(url: str, token: str) -> Iterator[Api]:
    if not token:
        fail("--token (or RAMPGATE_TOKEN) is required: an admin token")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        yield Api(http)


def segment(text: str) -> str:
    """``text`` as one path segment (a name with ``/`` or ``#`` stays one)."""
    return quote(text, safe="")
