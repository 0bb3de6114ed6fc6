"""Decision-quality simulations, shared by the fast tests and the full benchmark.

Data are generated with numpy, vectorised over runs and looks, straight into the per-look
cumulative aggregates the analysis sees (exact sufficient statistics where the distribution
allows, raw draws reduced per look otherwise). Every verdict and interval then comes from the
public ``rampgate.stats`` API, one call per run and look, exactly as a gate would make it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rampgate.stats import (
    Guardrail,
    MeanStats,
    ProportionStats,
    QuantileSketch,
    RatioStats,
    SketchLayout,
    Verdict,
)

Array = npt.NDArray[np.float64]
# A coarser layout than the default keeps simulated sketches small; 2% accuracy, 1 ms to 100 s.
SIM_LAYOUT = SketchLayout(lowest=1.0, highest=1e5, relative_accuracy=0.02)
_CHUNK = 4_000_000  # values drawn at once per arm (32 MB of doubles)


def looks(final: int, count: int) -> list[int]:
    """``count`` evenly spaced looks ending at ``final`` units per arm."""
    return sorted({max(2, round(final * (i + 1) / count)) for i in range(count)})


def _increments(schedule: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip([0, *schedule[:-1]], schedule, strict=True)]


class Metric(Protocol):
    def true_value(self, factor: float) -> float:
        """The population value when the metric is scaled by ``factor`` (1 = stable)."""
        ...

    def arms(
        self, rng: np.random.Generator, runs: int, schedule: Sequence[int], factor: float
    ) -> list[list[Any]]:
        """Cumulative aggregates: ``[run][look]``."""
        ...


@dataclass(frozen=True)
class Bernoulli:
    """A 0/1 metric with rate ``p``; ``factor`` scales the rate (a relative change)."""

    p: float

    def true_value(self, factor: float) -> float:
        return self.p * factor

    def arms(
        self, rng: np.random.Generator, runs: int, schedule: Sequence[int], factor: float
    ) -> list[list[ProportionStats]]:
        p = self.true_value(factor)
        steps = np.asarray(_increments(schedule))
        successes = np.cumsum(rng.binomial(steps, p, size=(runs, len(steps))), axis=1)
        return [
            [ProportionStats(n, int(s)) for n, s in zip(schedule, row, strict=True)]
            for row in successes
        ]


@dataclass(frozen=True)
class Normal:
    """Normal per-unit values; exact sufficient statistics (sum and within-look sum of squares)."""

    mean: float
    sd: float

    def true_value(self, factor: float) -> float:
        return self.mean * factor

    def arms(
        self, rng: np.random.Generator, runs: int, schedule: Sequence[int], factor: float
    ) -> list[list[MeanStats]]:
        mu = self.true_value(factor)
        steps = np.asarray(_increments(schedule), dtype=np.float64)
        shape = (runs, len(steps))
        sums = rng.normal(steps * mu, np.sqrt(steps) * self.sd, size=shape)
        within = self.sd**2 * rng.chisquare(np.maximum(steps - 1, 1), size=shape)
        within = np.where(steps > 1, within, 0.0)
        squares = np.cumsum(within + sums**2 / steps, axis=1)
        sums = np.cumsum(sums, axis=1)
        return [
            [MeanStats(n, float(s), float(q)) for n, s, q in zip(schedule, srow, qrow, strict=True)]
            for srow, qrow in zip(sums, squares, strict=True)
        ]


def _reduce_draws(
    rng: np.random.Generator,
    runs: int,
    schedule: Sequence[int],
    draw: Callable[[np.random.Generator, tuple[int, int]], tuple[Array, ...]],
    reduce: Callable[[tuple[Array, ...], npt.NDArray[np.intp]], list[Array]],
) -> list[Array]:
    """Draw raw per-unit values in chunks of runs and reduce them to per-look sums."""
    final = schedule[-1]
    starts = np.asarray([0, *schedule[:-1]], dtype=np.intp)
    per_chunk = max(1, _CHUNK // final)
    pieces: list[list[Array]] = []
    for start in range(0, runs, per_chunk):
        count = min(per_chunk, runs - start)
        pieces.append(reduce(draw(rng, (count, final)), starts))
    return [np.concatenate([p[i] for p in pieces]) for i in range(len(pieces[0]))]


@dataclass(frozen=True)
class LogNormal:
    """Skewed positive values (latency, cost): ``exp(N(mu, sigma²))``, scaled by ``factor``."""

    mu: float
    sigma: float

    def true_value(self, factor: float) -> float:
        return factor * math.exp(self.mu + self.sigma**2 / 2)

    def true_quantile(self, q: float, factor: float) -> float:
        from scipy.special import ndtri

        return factor * math.exp(self.mu + self.sigma * float(ndtri(q)))

    def _draw(
        self, factor: float
    ) -> Callable[[np.random.Generator, tuple[int, int]], tuple[Array, ...]]:
        def draw(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[Array, ...]:
            return (factor * rng.lognormal(self.mu, self.sigma, size=shape),)

        return draw

    def arms(
        self, rng: np.random.Generator, runs: int, schedule: Sequence[int], factor: float
    ) -> list[list[MeanStats]]:
        def reduce(values: tuple[Array, ...], starts: npt.NDArray[np.intp]) -> list[Array]:
            (x,) = values
            return [np.add.reduceat(x, starts, axis=1), np.add.reduceat(x * x, starts, axis=1)]

        sums, squares = (
            np.cumsum(a, axis=1)
            for a in _reduce_draws(rng, runs, schedule, self._draw(factor), reduce)
        )
        return [
            [MeanStats(n, float(s), float(q)) for n, s, q in zip(schedule, srow, qrow, strict=True)]
            for srow, qrow in zip(sums, squares, strict=True)
        ]

    def sketches(
        self, rng: np.random.Generator, runs: int, schedule: Sequence[int], factor: float
    ) -> list[list[QuantileSketch]]:
        size = SIM_LAYOUT.size
        n_looks = len(schedule)
        look_of_unit = np.repeat(np.arange(n_looks), _increments(schedule))

        def reduce(values: tuple[Array, ...], _starts: npt.NDArray[np.intp]) -> list[Array]:
            (x,) = values
            rows = x.shape[0]
            bins = SIM_LAYOUT.index(x)
            cell = (np.arange(rows)[:, None] * n_looks + look_of_unit[None, :]) * size + bins
            counts = np.bincount(cell.ravel(), minlength=rows * n_looks * size)
            return [counts.reshape(rows, n_looks, size).astype(np.float64)]

        (counts,) = _reduce_draws(rng, runs, schedule, self._draw(factor), reduce)
        cumulative = np.cumsum(counts, axis=1).astype(np.int64)
        return [
            [QuantileSketch(tuple(int(c) for c in look), SIM_LAYOUT) for look in run]
            for run in cumulative
        ]


@dataclass(frozen=True)
class Ratio:
    """Cost per task: ``y = 1 + Poisson(tasks)`` tasks per unit, cost ``x = y · cost · Gamma``.

    The ratio ``Σx/Σy`` estimates ``cost · factor``; ``x`` and ``y`` are strongly correlated.
    """

    tasks: float
    cost: float

    def true_value(self, factor: float) -> float:
        return self.cost * factor

    def arms(
        self, rng: np.random.Generator, runs: int, schedule: Sequence[int], factor: float
    ) -> list[list[RatioStats]]:
        def draw(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[Array, ...]:
            y = 1.0 + rng.poisson(self.tasks, size=shape)
            x = y * self.cost * factor * rng.gamma(4.0, 0.25, size=shape)
            return x, y

        def reduce(values: tuple[Array, ...], starts: npt.NDArray[np.intp]) -> list[Array]:
            x, y = values
            return [np.add.reduceat(v, starts, axis=1) for v in (x, y, x * x, y * y, x * y)]

        sums = [np.cumsum(a, axis=1) for a in _reduce_draws(rng, runs, schedule, draw, reduce)]
        return [
            [RatioStats(n, *(float(a[r, k]) for a in sums)) for k, n in enumerate(schedule)]
            for r in range(runs)
        ]


@dataclass(frozen=True)
class GuardrailOutcome:
    """Share of runs: FAIL at any look; PASS at the last look without an earlier FAIL; PASS at any.

    Under a margin-sized harm, ``pass_anytime`` is the rate of false non-inferiority for a gate
    that would advance at the first PASS.
    """

    runs: int
    fail_by_end: float
    pass_at_end: float
    pass_anytime: float

    def stderr(self, rate: float) -> float:
        return math.sqrt(max(rate * (1 - rate), 1e-12) / self.runs)


def guardrail_outcome(
    guardrail: Guardrail,
    control: list[list[Any]],
    treatment: list[list[Any]],
) -> GuardrailOutcome:
    runs = len(control)
    fails = passes = ever_passed = 0
    for c_run, t_run in zip(control, treatment, strict=True):
        verdicts = [guardrail.evaluate(c, t).verdict for c, t in zip(c_run, t_run, strict=True)]
        ever_passed += Verdict.PASS in verdicts
        if Verdict.FAIL in verdicts:
            fails += 1
        elif verdicts[-1] is Verdict.PASS:
            passes += 1
    return GuardrailOutcome(runs, fails / runs, passes / runs, ever_passed / runs)


def time_uniform_coverage(
    intervals: Callable[[Any, Any], tuple[float, float]],
    truth: float,
    control: list[list[Any]],
    treatment: list[list[Any]],
) -> tuple[float, float]:
    """(share of runs whose interval holds the truth at every look, at the last look)."""
    always = last = 0
    for c_run, t_run in zip(control, treatment, strict=True):
        held = [
            lo <= truth <= hi
            for lo, hi in (intervals(c, t) for c, t in zip(c_run, t_run, strict=True))
        ]
        always += all(held)
        last += held[-1]
    return always / len(control), last / len(control)


def leak_detection(
    rng: np.random.Generator, runs: int, units: int, leak: float, threshold: float
) -> tuple[float, float]:
    """SRM flag rates (with a leak, without) over ``runs`` 50/50 splits of ``units`` units.

    A leak of ``leak`` moves that share of *all* units from treatment to control: 2% at 20,000
    units records 52% of units in control.
    """
    from rampgate.stats import srm_test

    rates = []
    for shift in (leak, 0.0):
        control = rng.binomial(units, 0.5 + shift, size=runs)
        flagged = sum(
            srm_test([int(c), units - int(c)], [0.5, 0.5], threshold=threshold).flagged
            for c in control
        )
        rates.append(flagged / runs)
    return rates[0], rates[1]
