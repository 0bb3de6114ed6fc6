"""Worker threads for shadow candidates: a bounded inbox, per-call deadlines, a bounded close.

The caller's path appends to a bounded deque and does nothing else: no lock, and no wake-up of
another thread. Waking a thread from the caller's path invites the operating system to run it
in the caller's place (a woken thread that slept long preempts its waker), which showed as
stalls of several milliseconds at the 99th percentile on a busy machine. Instead a watcher
thread polls the inbox — every few milliseconds while there is work, backing off when idle —
and wakes the workers itself. A full inbox drops the call and counts it, so a slow candidate
can never make the host slower or bigger.

A Python thread cannot be interrupted, so a candidate past its deadline keeps its worker busy
until it returns; the watcher reports it as timed out at the deadline, and whatever it returns
later is ignored. Threads start on first use and are daemons: a candidate
that never returns cannot keep the process alive.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from rampgate.domain.shadow import ShadowStatus

from .shadow import ArmResult, ErrorSink, ShadowCall

__all__ = ["ShadowPool"]

# The finished call and its candidate arm; called on a worker or the watcher thread.
Finish = Callable[[ShadowCall, ArmResult], None]
# A call to run, or (async) a finished call only to report: (call, None) or (call, result).
Job = tuple[ShadowCall, ArmResult | None]

# The watcher's polling period: short after it found calls queued, doubling up to the idle
# period while it finds none. It bounds how late a queued candidate starts (a running one's
# deadline wakes the watcher on time); polling fast all the while a long candidate runs would
# cost a wake-up every 2 ms for nothing.
_POLL_BUSY = 0.002
_POLL_IDLE = 0.1


class ShadowPool:
    def __init__(self, *, workers: int, queue_size: int, finish: Finish, on_error: ErrorSink):
        self._size = queue_size
        self._n_workers = workers
        self._finish = finish
        self._on_error = on_error
        self._inbox: deque[Job] = deque()
        # One lock, two wait queues: workers wait for jobs, the watcher for its next poll.
        self._lock = threading.Lock()
        self._jobs_ready = threading.Condition(self._lock)
        self._watch_wake = threading.Condition(self._lock)
        self._running: set[ShadowCall] = set()  # candidates running, for their deadlines
        self._active = 0  # jobs taken by a worker and not finished
        self._workers: list[threading.Thread] = []
        self._watcher: threading.Thread | None = None
        self._closing = False
        self._stopped = False
        self.started = 0  # candidates started by a worker

    def submit(self, call: ShadowCall, done: ArmResult | None = None) -> None:
        """Queue ``call`` to run its candidate (or, with ``done``, only to be reported)."""
        # Checked without a lock: callers racing at a full inbox may overfill it by one each.
        if self._closing or len(self._inbox) >= self._size:
            self._drop(call, "closing" if self._closing else "the shadow queue is full")
            return
        if self._watcher is None:
            self._start()
        self._inbox.append((call, done))

    def pending(self) -> int:
        """Calls queued, running or being reported."""
        with self._lock:
            return len(self._inbox) + self._active

    def _start(self) -> None:
        with self._lock:
            if self._watcher is not None or self._closing:  # started already, or too late
                return
            for i in range(self._n_workers):
                self._workers.append(_spawn(self._work, f"rampgate-shadow-{i}"))
            self._watcher = _spawn(self._watch, "rampgate-shadow-watch")

    def _drop(self, call: ShadowCall, why: str) -> None:
        self._on_error("shadow_dropped", call.flag, None, f"candidate skipped: {why}")

    # -- worker threads ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._inbox:
                    if self._closing:
                        return
                    self._jobs_ready.wait()
                call, done = self._inbox.popleft()
                self._active += 1
            try:
                if done is None:
                    done = self._run(call)
                if done is not None:
                    self._finish(call, done)
            except Exception as exc:  # a worker must survive anything a call does to it
                self._on_error("shadow_error", call.flag, exc)
            finally:
                with self._lock:
                    self._active -= 1

    def _run(self, call: ShadowCall) -> ArmResult | None:
        """Run the candidate; its result, or None when the watcher already settled the call."""
        start = time.perf_counter()
        with self._lock:
            call.started = start
            self.started += 1
            self._running.add(call)
            self._watch_wake.notify()  # a new deadline (a worker's wake-up, not the caller's)
        error: BaseException | None = None
        result = None
        try:
            result = call.candidate(call.value)
        # The candidate runs on our own thread, where nothing above us wants even a SystemExit.
        except BaseException as exc:
            error = exc
        elapsed = time.perf_counter() - start
        with self._lock:
            if call.settled:
                return None
            call.settled = True
            self._running.discard(call)
        if error is not None:
            self._on_error("shadow_candidate_error", call.flag, error)
            return ArmResult(ShadowStatus.ERROR, elapsed * 1000.0)
        if elapsed > call.timeout:  # returned after its deadline, before the watcher saw it
            self._on_error("shadow_timeout", call.flag, None, _late(call))
            return ArmResult(ShadowStatus.TIMEOUT, elapsed * 1000.0)
        return ArmResult(ShadowStatus.OK, elapsed * 1000.0, result)

    # -- the watcher thread -----------------------------------------------------------------

    def _watch(self) -> None:
        poll = _POLL_IDLE
        while True:
            with self._lock:
                if self._stopped:
                    return
                queued = len(self._inbox)
                if queued:
                    self._jobs_ready.notify(queued)
                now = time.perf_counter()
                expired = [c for c in self._running if c.started + c.timeout <= now]
                for call in expired:
                    call.settled = True
                    self._running.discard(call)
                poll = _POLL_BUSY if queued else min(poll * 2, _POLL_IDLE)
                if not expired:
                    deadlines = [c.started + c.timeout - now for c in self._running]
                    self._watch_wake.wait(min([poll, *deadlines]))
                    continue
            for call in expired:
                self._on_error("shadow_timeout", call.flag, None, _late(call))
                try:
                    self._finish(call, ArmResult(ShadowStatus.TIMEOUT, (now - call.started) * 1e3))
                except Exception as exc:  # the watcher must outlive any one report
                    self._on_error("shadow_error", call.flag, exc)

    # -- shutdown ---------------------------------------------------------------------------

    def close(self, timeout: float) -> None:
        """Drop calls not started; let running ones finish (or time out) within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closing:
                return
            self._closing = True
            # Finished calls waiting to be reported stay (reporting is quick); calls whose
            # candidate has not started are dropped: no new candidate work once closing.
            queued = [call for call, done in self._inbox if done is None]
            kept = [(call, done) for call, done in self._inbox if done is not None]
            self._inbox.clear()
            self._inbox.extend(kept)
            self._jobs_ready.notify_all()
        for call in queued:
            self._drop(call, "closing")
        # Wait for all workers at once (a stuck one must not use up the others' time), keeping
        # a slice of the deadline for the watcher to stop in.
        workers_deadline = deadline - min(0.05, timeout / 4)
        workers = [t for t in self._workers if t.is_alive()]
        while workers and time.monotonic() < workers_deadline:
            workers[0].join(min(0.01, max(0.0, workers_deadline - time.monotonic())))
            workers = [t for t in workers if t.is_alive()]
        with self._lock:
            self._stopped = True
            self._watch_wake.notify_all()
            abandoned = [c for c in self._running if not c.settled]
            for call in abandoned:
                call.settled = True
            self._running.clear()
        for call in abandoned:
            self._drop(call, "still running when the client closed")
        if self._watcher is not None:
            self._watcher.join(max(0.0, deadline - time.monotonic()))


def _spawn(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _late(call: ShadowCall) -> str:
    return f"the candidate took longer than its {call.timeout:g} s timeout"
