"""Timing and memory helpers shared by the benchmarks.

The machines these run on are noisy, so every figure is the median (and the minimum) of several
runs, and the contestants of one benchmark take turns within each run rather than running one
after another: a burst of noise then hurts all of them alike.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Contestant",
    "Measurement",
    "fmt_ns",
    "machine_summary",
    "race",
    "rss_bytes",
    "run_child",
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
