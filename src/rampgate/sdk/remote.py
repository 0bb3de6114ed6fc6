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
from contextlib import AbstractContextManager
from typing import Any

import httpx
import orjson

from rampgate.domain.engine import Ruleset

from .failsafe import Failsafe
from .settings import RemoteSettings
from .sse import iter_lines, parse_events
from .stream import DirectStream, EventStream, open_httpx_stream
from .wire import read_cache, ruleset_from_payload, write_cache

__all__ = ["STREAM_PATH", "RulesetSync"]

STREAM_PATH = "/api/v1/sdk/stream"


class RulesetSync:
    def __init__(
        self,
        client: httpx.Client,
        apply: Callable[[Ruleset], None],
        settings: RemoteSettings,
        failsafe: Failsafe,
        *,
        direct_stream: bool = False,
    ) -> None:
        """``direct_stream``: read the stream with :class:`~.stream.DirectStream` rather than
        through ``client`` (see :func:`~.stream.direct_stream_possible`)."""
        self._http = client
        self._direct = direct_stream
        self._apply = apply
        self.settings = settings
        self._failsafe = failsafe
        self.version: str | None = None
        self._etag: str | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._live: EventStream | None = None
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
        live = self._live
        if live is not None:
            live.interrupt()
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
        got_any = False
        with self._open(headers) as stream:
            self._live = stream
            try:
                if self._stop.is_set():  # stop() came while connecting, before _live was set
                    return got_any
                if self.version:  # connected, and what we hold is current until told otherwise
                    self.ready.set()
                for event in parse_events(self._lines(stream.chunks())):
                    got_any = True
                    if event.event == "ruleset":
                        self._accept(orjson.loads(event.data))
                    if self._stop.is_set():
                        break
            finally:
                self._live = None
        return got_any

    def _open(self, headers: dict[str, str]) -> AbstractContextManager[EventStream]:
        settings = self.settings
        if not self._direct:
            timeout = httpx.Timeout(settings.timeout, read=settings.read_timeout)
            return open_httpx_stream(self._http, STREAM_PATH, headers, timeout)
        base = self._http.base_url
        url = base.copy_with(raw_path=base.raw_path.rstrip(b"/") + STREAM_PATH.encode())
        for name in ("Authorization", "User-Agent"):
            value = self._http.headers.get(name)
            if value is not None:
                headers[name] = value
        return DirectStream(
            url, headers, connect_timeout=settings.timeout, read_timeout=settings.read_timeout
        )

    def _lines(self, chunks: Iterator[bytes]) -> Iterator[str]:
        """The stream's lines until stop() — heartbeats included, so a stop is seen within one."""
        for line in iter_lines(chunks):
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
