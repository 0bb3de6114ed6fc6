"""The shadow runner an SDK client holds: decide, run the stable arm, hand the candidate off.

On the caller's path it costs a draw from a random generator, two clock reads, and one append
to a bounded queue (sync) or one ``create_task`` (async). Everything else — the candidate, the
comparison, the cost function and building the events — happens on shadow threads or tasks,
and nothing rampgate does there can raise into the caller: failures are counted and logged
once through ``on_error``. Only the caller's own ``stable`` function may raise, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from rampgate.domain.engine import CompiledFlag
from rampgate.domain.model import Context, Evaluation
from rampgate.domain.shadow import ShadowStatus

from .compare import Comparator, exact_match
from .pool import ShadowPool
from .shadow import (
    ArmResult,
    ErrorSink,
    Recorder,
    ShadowCall,
    ShadowSettings,
    check_timeout,
    report,
    shadow_target,
)

__all__ = ["ShadowRunner"]

T = TypeVar("T")


class ShadowRunner:
    def __init__(
        self,
        settings: ShadowSettings,
        *,
        record: Recorder,
        on_error: ErrorSink,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._on_error = on_error
        self._draw = (rng or random.Random()).random
        self._pool = ShadowPool(
            workers=settings.workers,
            queue_size=settings.queue_size,
            finish=lambda call, candidate: report(call, candidate, record, on_error),
            on_error=on_error,
        )
        # Async candidates in flight; a task must be referenced or the loop may collect it.
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._async_started = 0
        self._closed = False

    def prepare(
        self,
        compiled: CompiledFlag | None,
        evaluation: Evaluation,
        context: Context,
        *,
        candidate: Callable[[Any], Any],
        compare: Comparator | None,
        cost: Callable[[Any], float] | None,
        timeout: float | None,
    ) -> ShadowCall | None:
        """The call to shadow, or None (no shadow config, or not drawn this time).

        Raises for bad arguments, which the client counts as ``shadow_error``.
        """
        target = shadow_target(compiled, evaluation)
        if target is None:
            return None
        served, config, value = target
        # Checked before the draw, so a mistake shows on the first call, not the sampled one.
        for name, fn in (("candidate", candidate), ("compare", compare), ("cost", cost)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, not {type(fn).__name__}")
        seconds = self.settings.timeout if timeout is None else check_timeout(timeout)
        if self._draw() >= config.sample:
            return None
        return ShadowCall(
            flag=evaluation.flag,
            context=context,
            stable_variant=served,
            candidate_variant=config.variant,
            value=value,
            candidate=candidate,
            compare=compare or exact_match,
            cost=cost,
            timeout=seconds,
        )

    # -- the caller's path ------------------------------------------------------------------

    def run(self, call: ShadowCall, stable: Callable[[Any], T], value: Any) -> T:
        """``stable(value)`` on the caller's path, then the candidate on a worker thread."""
        start = time.perf_counter()
        try:
            result = stable(value)
        except Exception:
            self._hand_off(call, _arm(ShadowStatus.ERROR, start), self._pool.submit)
            raise
        self._hand_off(call, _arm(ShadowStatus.OK, start, result), self._pool.submit)
        return result

    async def arun(self, call: ShadowCall, stable: Callable[[Any], Awaitable[T]], value: Any) -> T:
        """``await stable(value)`` for the caller, then the candidate in a task of the same loop."""
        start = time.perf_counter()
        try:
            result = await stable(value)
        except Exception:
            self._hand_off(call, _arm(ShadowStatus.ERROR, start), self._launch)
            raise
        self._hand_off(call, _arm(ShadowStatus.OK, start, result), self._launch)
        return result

    def _hand_off(
        self, call: ShadowCall, stable: ArmResult, start: Callable[[ShadowCall], None]
    ) -> None:
        try:
            call.stable = stable
            start(call)
        except Exception as exc:  # fail open: the caller already has its result
            self._on_error("shadow_error", call.flag, exc)

    def _launch(self, call: ShadowCall) -> None:
        with self._lock:
            full = self._closed or len(self._tasks) >= self.settings.max_in_flight
            if not full:
                task = asyncio.get_running_loop().create_task(self._candidate(call))
                self._tasks.add(task)
                self._async_started += 1
        if full:
            why = "closing" if self._closed else "too many async candidates in flight"
            self._on_error("shadow_dropped", call.flag, None, f"candidate skipped: {why}")
            return
        task.add_done_callback(self._forget)

    # -- off the caller's path --------------------------------------------------------------

    async def _candidate(self, call: ShadowCall) -> None:
        start = time.perf_counter()
        try:
            result = await asyncio.wait_for(call.candidate(call.value), call.timeout)
        except TimeoutError:
            message = f"the candidate took longer than its {call.timeout:g} s timeout"
            self._on_error("shadow_timeout", call.flag, None, message)
            outcome = _arm(ShadowStatus.TIMEOUT, start)
        except asyncio.CancelledError:  # the client closed, or the loop is shutting down
            self._on_error("shadow_dropped", call.flag, None, "candidate task cancelled")
            raise
        except Exception as exc:
            self._on_error("shadow_candidate_error", call.flag, exc)
            outcome = _arm(ShadowStatus.ERROR, start)
        else:
            outcome = _arm(ShadowStatus.OK, start, result)
        # Compared and recorded on a worker thread: a slow comparator must not stall the loop.
        try:
            self._pool.submit(call, outcome)
        except Exception as exc:  # e.g. no thread could be started: count it, keep the task quiet
            self._on_error("shadow_error", call.flag, exc)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._tasks.discard(task)

    # -- introspection and shutdown ---------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """``shadow_started`` (candidates started) and ``shadow_pending`` (queued or running)."""
        with self._lock:
            started, in_flight = self._async_started, len(self._tasks)
        return {
            "shadow_started": self._pool.started + started,
            "shadow_pending": self._pool.pending() + in_flight,
        }

    def close(self, timeout: float) -> None:
        """Cancel async candidates, stop the threads within ``timeout`` seconds."""
        with self._lock:
            self._closed = True
            tasks = list(self._tasks)
        for task in tasks:
            # RuntimeError: its loop is closed already, and the task with it.
            with contextlib.suppress(RuntimeError):
                task.get_loop().call_soon_threadsafe(task.cancel)
        self._pool.close(timeout)


def _arm(status: ShadowStatus, start: float, result: Any = None) -> ArmResult:
    return ArmResult(status, (time.perf_counter() - start) * 1000.0, result)
