"""Keep a client's ruleset in step with the server: stream first, poll as a fallback.

One background thread per client. It fetches the ruleset (with ``If-None-Match``), then holds a
Server-Sent Events stream open and applies each new version as it arrives. When the stream
fails it reconnects with exponential backoff and jitter, polling meanwhile so that a proxy that
breaks streaming costs freshness, not correctness. Every good ruleset is written to a
last-known-good file, which a client restarted while the server is away starts from.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from rampgate.domain.engine import Ruleset

from .failsafe import Failsafe
from .settings import RemoteSettings
from .sse import iter_lines, parse_events
from .wire import read_cache, ruleset_from_payload, write_cache

__all__ = ["RulesetSync"]


class RulesetSync:
    def __init__(
        self,
        client: httpx.Client,
        apply: Callable[[Ruleset], None],
        settings: RemoteSettings,
        failsafe: Failsafe,
    ) -> None:
        self._http = client
        self._apply = apply
        self.settings = settings
        self._failsafe = failsafe
        self.version: str | None = None
        self._etag: str | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, name="rampgate-sync", daemon=True)

    def load_cache(self) -> bool:
        """Serve the last-known-good ruleset, if there is one, until the server answers."""
        path = self.settings.cache_path
        payload = read_cache(path) if path is not None else None
        return payload is not None and self._accept(payload, from_cache=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            response.close()
        # A read blocked on a quiet stream notices the stop at the next heartbeat at the latest;
        # the thread is a daemon, so close() need not wait for it that long.
        self._thread.join(timeout=0.5)

    # -- applying -----------------------------------------------------------------------------

    def _accept(self, payload: Any, *, from_cache: bool = False) -> bool:
        try:
            ruleset = ruleset_from_payload(payload, source="<cache>" if from_cache else "<server>")
        except Exception as exc:  # a bad payload must not replace good flags
            self._failsafe.record("ruleset_error", "cache" if from_cache else "server", exc)
            return False
        self._apply(ruleset)
        self.version = ruleset.version
        if not from_cache:
            self.ready.set()
            if self.settings.cache_path is not None:
                try:
                    write_cache(self.settings.cache_path, payload)
                except OSError as exc:
                    self._failsafe.record("cache_error", str(self.settings.cache_path), exc)
        return True

    # -- fetching -----------------------------------------------------------------------------

    def fetch(self) -> bool:
        """One poll; True when the server answered (with a new version or 304)."""
        headers = {"If-None-Match": self._etag} if self._etag else {}
        response = self._http.get("/api/v1/sdk/ruleset", headers=headers)
        if response.status_code == 304:
            self.ready.set()
            return True
        response.raise_for_status()
        if self._accept(response.json()):
            self._etag = response.headers.get("ETag")
        return True

    def _stream(self) -> bool:
        """Follow the stream until it ends; True if at least one event arrived."""
        headers = {"Accept": "text/event-stream"}
        if self.version:
            headers["Last-Event-ID"] = self.version
        timeout = httpx.Timeout(self.settings.timeout, read=self.settings.read_timeout)
        got_any = False
        with self._http.stream("GET", "/api/v1/sdk/stream", headers=headers, timeout=timeout) as r:
            self._response = r
            try:
                r.raise_for_status()
                if self.version:  # connected, and what we hold is current until told otherwise
                    self.ready.set()
                for event in parse_events(self._lines(r)):
                    got_any = True
                    if event.event == "ruleset":
                        self._accept(orjson.loads(event.data))
                    if self._stop.is_set():
                        break
            finally:
                self._response = None
        return got_any

    def _lines(self, response: httpx.Response) -> Iterator[str]:
        """The stream's lines until stop() — heartbeats included, so a stop is seen within one."""
        for line in iter_lines(response.iter_bytes()):
            if self._stop.is_set():
                return
            yield line

    def _run(self) -> None:
        backoff = self.settings.backoff_initial
        while not self._stop.is_set():
            try:
                if self.settings.stream:
                    if self._stream():
                        backoff = self.settings.backoff_initial
                else:
                    self.fetch()
                    self._stop.wait(self.settings.poll_interval)
                    continue
            except Exception as exc:  # network trouble is expected; count, back off, go on
                if self._stop.is_set():  # close() cut the stream: not a failure
                    break
                self._failsafe.record("sync_error", "server", exc)
                try:  # keep fresh by polling while the stream is down
                    self.fetch()
                except Exception as poll_exc:
                    self._failsafe.record("sync_error", "poll", poll_exc)
            if self._stop.wait(backoff * random.uniform(0.5, 1.0)):
                break
            backoff = min(backoff * 2, self.settings.backoff_max)
