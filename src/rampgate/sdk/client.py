"""``rampgate.Client``: evaluate flags locally, record exposures and outcome events.

Evaluation never touches the network and never raises into the host application. The client
holds one immutable compiled :class:`~rampgate.domain.engine.Ruleset`; a reload compiles a new
one and swaps the reference, which is atomic, so a concurrent evaluation sees either the old
ruleset or the new one, never a mix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from time import time_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from rampgate.config import load_file
from rampgate.domain.engine import CompiledFlag, Ruleset, compile_ruleset
from rampgate.domain.model import Context, Evaluation, Flag, Reason
from rampgate.errors import ClientClosedError, ConfigError
from rampgate.guard import Comparator, ShadowCall, ShadowRunner, ShadowSettings

from .buffer import EventBuffer, Sink
from .failsafe import Failsafe
from .pins import LruPinStore, PinRecord, PinStore
from .settings import ClientSettings, RemoteSettings
from .watch import FileWatcher

if TYPE_CHECKING:
    import httpx

    from .remote import RulesetSync

__all__ = ["Client", "ClientSettings"]

_PINNABLE = (Reason.SPLIT, Reason.TARGETING_MATCH, Reason.DEFAULT)
_MISSING: Any = object()
T = TypeVar("T")


class Client:
    """Evaluates flags for contexts and records what it served and what happened."""

    def __init__(
        self,
        ruleset: Ruleset | None = None,
        *,
        url: str | None = None,
        sdk_key: str | None = None,
        remote: RemoteSettings | None = None,
        transport: httpx.BaseTransport | None = None,
        sink: Sink | None = None,
        settings: ClientSettings | None = None,
        pin_store: PinStore | None = None,
        clock: Callable[[], float] = time.time,
        shadow_settings: ShadowSettings | None = None,
    ) -> None:
        """A client over a compiled ``ruleset`` (embedded) or a server at ``url`` with ``sdk_key``.

        Server mode starts from the last-known-good file (``remote.cache_path``) if there is one,
        then follows the server in the background; until the first ruleset arrives every
        evaluation serves its default with reason ``ERROR``. Events go to the server unless
        another ``sink`` is given. ``transport`` is the httpx seam for tests and proxies.
        """
        if (ruleset is None) == (url is None):
            raise ConfigError("give either a ruleset (embedded mode) or url= (server mode)")
        self.settings = settings or ClientSettings()
        self._ruleset = ruleset if ruleset is not None else Ruleset("", {})
        self._flags = self._ruleset.flags
        self._clock = clock
        # Records are stamped by the same clock the client decides with (a simulated clock in
        # tests and the demo); the default keeps the cheap integer wall clock on the hot path.
        self._now_ns: Callable[[], int] = (
            time_ns if clock is time.time else (lambda: int(clock() * 1_000_000_000))
        )
        self._pins: PinStore = pin_store or LruPinStore(self.settings.pin_capacity)
        self._failsafe = Failsafe()
        self._sync: RulesetSync | None = None
        self._http: httpx.Client | None = None
        if url is not None:
            # Imported here: an embedded client has no use for httpx and its import cost.
            import httpx  # noqa: PLC0415

            from .http_sink import HttpSink  # noqa: PLC0415
            from .remote import RulesetSync  # noqa: PLC0415
            from .stream import direct_stream_possible  # noqa: PLC0415
            from .tls import shared_ssl_context  # noqa: PLC0415

            if not sdk_key:
                raise ConfigError("server mode needs sdk_key=", expected="an SDK token (rg_sdk_…)")
            remote = remote or RemoteSettings()
            self._http = httpx.Client(
                base_url=url,
                headers={"Authorization": f"Bearer {sdk_key}"},
                timeout=remote.timeout,
                transport=transport,
                verify=shared_ssl_context(),
            )
            self._sync = RulesetSync(
                self._http,
                self.swap,
                remote,
                self._failsafe,
                direct_stream=direct_stream_possible(
                    self._http.base_url, custom_transport=transport is not None
                ),
            )
            if sink is None:
                sink = HttpSink(self._http)
        self._events = EventBuffer(
            sink,
            environment=lambda: self._ruleset.environment,
            capacity=self.settings.buffer_size,
            batch_size=self.settings.batch_size,
            flush_interval=self.settings.flush_interval,
            on_error=lambda what, exc: self._failsafe.record("sink_error", what, exc),
        )
        self._record = self._events.enabled
        self._queue = self._events.queue
        self._capacity = self._events.capacity
        self._shadows = ShadowRunner(
            shadow_settings or ShadowSettings(),
            record=lambda name, ctx, value, props: self.track(
                name, ctx, value=value, properties=props
            ),
            on_error=self._failsafe.record,
        )
        self._closed = False
        self._watcher: FileWatcher | None = None
        self._reload_lock = threading.Lock()
        if self._sync is not None:
            self._sync.load_cache()
            self._sync.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the server has answered once (True), or ``timeout`` passed (False).

        Embedded clients are always ready.
        """
        return True if self._sync is None else self._sync.ready.wait(timeout)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_flags(
        cls,
        flags: Iterable[Flag],
        *,
        environment: str = "default",
        saved_groups: Mapping[str, Sequence[Any]] | None = None,
        **kwargs: Any,
    ) -> Client:
        """A client over flags built in code (raises ``ConfigError`` for a bad flag)."""
        return cls(compile_ruleset(environment, flags, saved_groups=saved_groups), **kwargs)

    @classmethod
    def from_file(
        cls, path: str | Path, *, environment: str, watch: bool = False, **kwargs: Any
    ) -> Client:
        """A client over a ``rampgate.yaml`` file; ``watch=True`` reloads it when it changes.

        A bad file raises ``ConfigError`` here, at start-up. A bad edit while watching keeps the
        last good flags, and is logged and counted.
        """
        client = cls(_compile_file(path, environment), **kwargs)
        if watch:
            client._watcher = FileWatcher(
                Path(path),
                lambda: client._reload_file(path, environment),
                interval=client.settings.watch_interval,
            )
        return client

    def _reload_file(self, path: str | Path, environment: str) -> None:
        try:
            ruleset = _compile_file(path, environment)
        except ConfigError as exc:
            self._failsafe.record("reload_error", str(path), message=str(exc))
            return
        self.swap(ruleset)

    def swap(self, ruleset: Ruleset) -> None:
        """Serve ``ruleset`` from now on; sessions pinned to a now-killed flag lose their pins."""
        with self._reload_lock:
            for key, compiled in ruleset.flags.items():
                if compiled.killed and compiled.pin_session:
                    self._pins.clear_flag(key)
            self._ruleset = ruleset
            self._flags = ruleset.flags  # the hot path reads this one attribute

    @property
    def ruleset(self) -> Ruleset:
        return self._ruleset

    # -- the hot path ---------------------------------------------------------------------------

    def evaluate(
        self, flag: str, context: Context, *, default: Any = _MISSING, expose: bool = True
    ) -> Evaluation:
        """Evaluate ``flag`` for ``context``; never raises.

        An unknown flag gives ``default`` (``None`` if not given) with reason ``ERROR``; a bad
        context or an internal failure gives the flag's safe default with reason ``ERROR``.
        """
        try:
            compiled = self._flags.get(flag)
            if compiled is None:
                return self._unknown(flag, default)
            if compiled.pin_session and context.session_id is not None and not compiled.killed:
                result = self._evaluate_pinned(compiled, context.session_id, context)
            else:
                result = compiled.evaluate(context.merged)
            if expose and self._record:
                # EventBuffer.append, inlined: this runs on every request.
                queue = self._queue
                if len(queue) >= self._capacity:
                    self._events.dropped += 1  # approximate under races; see EventBuffer
                queue.append(
                    (self._now_ns(), result.signature, context.user_id, context.session_id)
                )
            return result
        except Exception as exc:  # fail open: see rampgate.sdk.failsafe
            return self._failed(flag, exc)

    def _evaluate_pinned(
        self, compiled: CompiledFlag, session: str, context: Context
    ) -> Evaluation:
        now = self._clock()
        record = self._pins.get(compiled.key, session, now)
        if record is not None and record.generation == compiled.pin_generation:
            pinned = compiled.pinned(record.variant)
            if pinned is not None:
                return pinned
        result = compiled.evaluate(context.merged)
        if result.reason in _PINNABLE and result.variant is not None:
            self._pins.put(
                compiled.key,
                session,
                PinRecord(result.variant, compiled.pin_generation, now + compiled.pin_ttl),
            )
        return result

    def _unknown(self, flag: str, default: Any) -> Evaluation:
        self._failsafe.record("unknown_flag", flag, message=f"flag {flag!r} is not defined")
        value = None if default is _MISSING else default
        return Evaluation(flag, None, value, Reason.ERROR, None, 0, "unknown flag")

    def _failed(self, flag: str, exc: Exception) -> Evaluation:
        try:
            self._failsafe.record("evaluation_error", _label(flag), exc)
            compiled = self._ruleset.flags.get(flag) if isinstance(flag, str) else None
            if compiled is not None:
                return compiled.error
        except Exception:  # even the fallback must not raise into the caller
            pass
        return Evaluation(_label(flag), None, None, Reason.ERROR, None, 0, "evaluation failed")

    def track(
        self,
        event: str,
        context: Context,
        *,
        value: float = 1.0,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an outcome (``resolved``, ``escalated``, ``latency_ms``…) for the context."""
        try:
            if not isinstance(event, str) or not event:
                raise TypeError(f"event name must be a non-empty string, not {_label(event)}")
            if not isinstance(context, Context):
                raise TypeError(f"context must be a rampgate.Context, not {type(context).__name__}")
            number = float(value)
            if properties is not None and not isinstance(properties, Mapping):
                raise TypeError(f"properties must be a mapping, not {type(properties).__name__}")
            # Copied now: the caller may reuse or mutate its dict before the flush thread runs.
            props = dict(properties) if properties else None
            self._events.append(
                (self._now_ns(), event, context.user_id, context.session_id, number, props)
            )
        except Exception as exc:  # fail open: a broken track() call must not break the request
            self._failsafe.record("track_error", _label(event), exc)

    # -- shadow runs ----------------------------------------------------------------------------

    def shadow(
        self,
        flag: str,
        context: Context,
        *,
        stable: Callable[[Any], T],
        candidate: Callable[[Any], Any],
        compare: Comparator | None = None,
        cost: Callable[[Any], float] | None = None,
        timeout: float | None = None,
        default: Any = _MISSING,
    ) -> T:
        """``stable(value)`` of the served variant, with the flag's shadow variant run beside it.

        Evaluates ``flag`` as :meth:`evaluate` does and returns ``stable(value)``; its exceptions
        are the caller's and propagate unchanged. If the flag has a shadow config naming another
        variant and this call is drawn (``sample``), ``candidate(shadow_value)`` runs on a worker
        thread within ``timeout`` seconds; its result, errors and timing, compared with stable's
        by ``compare`` (default :func:`~rampgate.guard.exact_match`) and costed by ``cost``, are
        recorded as ``shadow:…`` events (see :mod:`rampgate.domain.shadow`), never raised.
        """
        ev = self.evaluate(flag, context, default=default)
        call = self._shadow_call(
            flag, ev, context, candidate=candidate, compare=compare, cost=cost, timeout=timeout
        )
        if call is None:
            return stable(ev.value)
        return self._shadows.run(call, stable, ev.value)

    async def ashadow(
        self,
        flag: str,
        context: Context,
        *,
        stable: Callable[[Any], Awaitable[T]],
        candidate: Callable[[Any], Awaitable[Any]],
        compare: Comparator | None = None,
        cost: Callable[[Any], float] | None = None,
        timeout: float | None = None,
        default: Any = _MISSING,
    ) -> T:
        """:meth:`shadow` for coroutine functions: the candidate runs in a task of this loop."""
        ev = self.evaluate(flag, context, default=default)
        call = self._shadow_call(
            flag, ev, context, candidate=candidate, compare=compare, cost=cost, timeout=timeout
        )
        if call is None:
            return await stable(ev.value)
        return await self._shadows.arun(call, stable, ev.value)

    def _shadow_call(
        self,
        flag: str,
        ev: Evaluation,
        context: Context,
        *,
        candidate: Callable[[Any], Any],
        compare: Comparator | None,
        cost: Callable[[Any], float] | None,
        timeout: float | None,
    ) -> ShadowCall | None:
        try:
            compiled = self._flags.get(flag) if isinstance(flag, str) else None
            return self._shadows.prepare(
                compiled,
                ev,
                context,
                candidate=candidate,
                compare=compare,
                cost=cost,
                timeout=timeout,
            )
        except Exception as exc:  # fail open: serve stable without a shadow
            self._failsafe.record("shadow_error", _label(flag), exc)
            return None

    # -- lifecycle and introspection ------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Send buffered records now (blocking up to ``timeout`` seconds)."""
        self._events.flush(None if timeout is None else time.monotonic() + timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop watching and shadowing, flush records (within ``timeout``), release the sink."""
        if self._closed:
            return
        self._closed = True
        budget = self.settings.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        if self._watcher is not None:
            self._watcher.stop()
        if self._sync is not None:
            self._sync.stop()
        # Shadow candidates get half the budget at most: their events still have to be sent.
        self._shadows.close(budget / 2)
        self._events.close(max(0.0, deadline - time.monotonic()))
        if self._http is not None:
            self._http.close()

    def stats(self) -> dict[str, int]:
        """Counters: failures by kind, records sent, failed and dropped, records buffered."""
        return {
            **self._failsafe.counts(),
            **self._shadows.counts(),
            "events_sent": self._events.sent,
            "events_failed": self._events.failed,
            "events_dropped": self._events.dropped,
            "events_buffered": len(self._events),
        }

    def __enter__(self) -> Client:
        if self._closed:
            raise ClientClosedError("this client has been closed")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _label(key: object) -> str:
    """A name for a key in a log line that never calls the caller's ``__str__`` (it may raise)."""
    return key if isinstance(key, str) else f"<{type(key).__name__}>"


def _compile_file(path: str | Path, environment: str) -> Ruleset:
    config = load_file(path)
    return compile_ruleset(
        environment, config.flags_for(environment), saved_groups=config.saved_groups
    )
