"""Timing and memory helpers shared by the benchmarks.

The machines these run on are noisy, so every figure is the median (and the minimum) of several
runs, and the contestants of one benchmark take turns within each run rather than running one
after another: a burst of noise then hurts all of them alike.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Contestant",
    "Measurement",
    "cli_server_process",
    "cpu_seconds",
    "fmt_ns",
    "free_port",
    "machine_summary",
    "percentile",
    "postgres_problem",
    "postgres_schema",
    "race",
    "rss_bytes",
    "run_child",
    "server_process",
    "tree_cpu_seconds",
]

ROOT = Path(__file__).resolve().parents[1]


@dataclass(slots=True)
class Contestant:
    """One way of doing the work: ``run()`` performs ``ops`` operations.

    ``before`` and ``after`` run untimed around each timed run (e.g. to fill a buffer that the
    run drains, or to drain one that the run filled).
    """

    name: str
    run: Callable[[], object]
    ops: int
    before: Callable[[], object] | None = None
    after: Callable[[], object] | None = None


@dataclass(slots=True)
class Measurement:
    name: str
    ops: int
    totals_ns: list[int] = field(default_factory=list)

    @property
    def per_op(self) -> list[float]:
        return [t / self.ops for t in self.totals_ns]

    @property
    def median(self) -> float:
        return statistics.median(self.per_op)

    @property
    def min(self) -> float:
        return min(self.per_op)


def race(contestants: Sequence[Contestant], *, runs: int, warmup: int = 1) -> list[Measurement]:
    """Time each contestant ``runs`` times, interleaved; ``warmup`` untimed rounds first."""
    results = [Measurement(c.name, c.ops) for c in contestants]
    for round_no in range(warmup + runs):
        for contestant, result in zip(contestants, results, strict=True):
            if contestant.before is not None:
                contestant.before()
            gc.collect()
            start = time.perf_counter_ns()
            contestant.run()
            elapsed = time.perf_counter_ns() - start
            if contestant.after is not None:
                contestant.after()
            if round_no >= warmup:
                result.totals_ns.append(elapsed)
    return results


def fmt_ns(ns: float) -> str:
    if ns >= 1_000_000:
        return f"{ns / 1_000_000:,.2f} ms"
    if ns >= 10_000:
        return f"{ns / 1_000:,.1f} µs"
    return f"{ns:,.0f} ns"


def rss_bytes() -> int:
    """Resident set size of this process now (``VmRSS`` of ``/proc/self/status``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def run_child(module: str, *args: str, env: Mapping[str, str] | None = None) -> Any:
    """Run ``python -m module args…`` in a fresh interpreter; its last stdout line, as JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine_summary() -> str:
    cpus = os.cpu_count() or 0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                "",
            )
    except OSError:
        pass
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {cpus} CPUs{f' ({model})' if model else ''}; "
        f"load average {load}"
    )


# -- a real rampgate server in a child process (P2, P4) -------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(database_url: str, port: int, settings: dict[str, Any]) -> None:
    """Child process body: ``rampgate serve`` as the CLI runs it (uvicorn, one worker)."""
    import logging

    import uvicorn

    from rampgate.server.app import create_app
    from rampgate.server.settings import ServerSettings

    logging.getLogger("rampgate").setLevel(logging.WARNING)
    config = ServerSettings(database_url=database_url, port=port, **settings)
    app = create_app(config)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def server_process(database_url: str, **settings: Any) -> Iterator[tuple[str, int]]:
    """Serve ``database_url`` from a fresh interpreter on a loopback port until the block ends.

    Yields ``(base_url, pid)``. The server gets its own process (its own GIL), as in
    production, so the benchmark's clients do not slow it down by sharing an interpreter.
    """
    import multiprocessing

    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(database_url, port, settings), daemon=True
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"

    def exited() -> str | None:
        return None if proc.is_alive() else f"the server exited with code {proc.exitcode}"

    try:
        _wait_healthy(url, exited, timeout=30, what="the server")
        assert proc.pid is not None
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.join(timeout=10)
        if proc.is_alive():  # pragma: no cover - uvicorn exits on SIGTERM
            proc.kill()
            proc.join(timeout=5)


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a new, empty PostgreSQL schema, dropped on exit."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from rampgate.store import create_engine

    schema = f"rg_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or ``None`` when it can."""
    import sqlalchemy as sa

    from rampgate.store import create_engine

    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect means "not available", with its reason
        return f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0…1) of ``values``, by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system, all threads) used so far by process ``pid`` (default: this one)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" that ends field 2.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cli_server_process(
    database_url: str, *, workers: int = 1, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """``rampgate serve`` itself, on a loopback port, until the block ends.

    Yields ``(base_url, pid)``; with ``workers`` above 1 (PostgreSQL only) the pid is
    uvicorn's supervisor and the workers are its children: see :func:`tree_cpu_seconds`.
    Its log goes to a file (a pipe nobody reads would stall it once full), shown if it fails.
    """
    port = free_port()
    command = [str(Path(sys.executable).with_name("rampgate")), "serve", "--port", str(port)]
    environ = {
        **os.environ,
        "RAMPGATE_DATABASE_URL": database_url,
        "RAMPGATE_WORKERS": str(workers),
        **(env or {}),
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            url = _wait_until_serving(proc, port, workers, log)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover - uvicorn exits on SIGTERM
                proc.kill()
                proc.wait(timeout=5)


def _wait_healthy(
    url: str, exited: Callable[[], str | None], *, timeout: float, what: str
) -> float:
    """Poll ``url``/healthz until it answers 200; raise what ``exited`` says if the process
    died first, or after ``timeout`` seconds. Returns the deadline, for any further waiting."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if (problem := exited()) is not None:
            raise RuntimeError(problem)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:g} s")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return deadline
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int, workers: int, log: Any) -> str:
    url = f"http://127.0.0.1:{port}"

    def exited() -> str | None:
        if proc.poll() is None:
            return None
        log.seek(0)
        error = log.read().decode(errors="replace")[-4000:]
        return f"rampgate serve exited with code {proc.returncode}:\n{error}"

    # 90 s: a busy 2-CPU machine imports slowly, once per worker.
    deadline = _wait_healthy(url, exited, timeout=90, what="rampgate serve")
    if workers > 1:  # every worker up, not just the first to answer
        while len(_children(proc.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
    return url


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU time used so far by process ``pid`` and its living descendants (server workers)."""
    try:
        own = cpu_seconds(pid)
    except OSError:  # it has just exited
        return 0.0
    return own + sum(tree_cpu_seconds(child) for child in _children(pid))
