"""The event sink that posts batches to the rampgate server (``POST /api/v1/events``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .buffer import RejectedBatch

__all__ = ["HttpSink"]

# Client errors other than these mean the server will never accept the batch as it is.
_RETRYABLE_4XX = {408, 409, 425, 429}


class HttpSink:
    def __init__(self, client: httpx.Client, *, owns_client: bool = False) -> None:
        self._http = client
        self._owns = owns_client
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
        # default=str: an odd property value (a datetime, a Decimal) must not block the queue.
        body = json.dumps({"events": list(batch)}, separators=(",", ":"), default=str)
        response = self._http.post(
            "/api/v1/events", content=body, headers={"Content-Type": "application/json"}
        )
        status = response.status_code
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise RejectedBatch(f"server refused the batch: {status} {response.text[:500]}")
        response.raise_for_status()

    def close(self) -> None:
        if self._owns:
            with self._lock:
                self._http.close()
