"""gbstats as an oracle: random aggregate cases, the same analysis by rampgate and by gbstats 0.8.0.

gbstats runs in ``.venv-gbstats`` (``scripts/gbstats-venv``) through ``gbstats_oracle.py``, one
subprocess for a whole batch, JSON in and out. Shared by the agreement tests and the benchmark.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rampgate.stats import (
    CupedStats,
    Effect,
    MeanStats,
    ProportionStats,
    RatioStats,
    SupportsSummary,
    cuped,
    sequential_test,
    welch_test,
)

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-gbstats"
SCRIPT = ROOT / "scripts" / "gbstats-venv"
ORACLE = Path(__file__).with_name("gbstats_oracle.py")
KINDS = ("mean", "proportion", "ratio", "cuped")


class OracleUnavailableError(RuntimeError):
    """The gbstats virtualenv could not be created (no network, no Python 3.11...)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def ensure_oracle() -> Path:
    """The oracle's Python, creating ``.venv-gbstats`` first if needed."""
    try:
        done = subprocess.run(
            [str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OracleUnavailableError(f"{SCRIPT.name} could not run: {exc}") from exc
    python = VENV / "bin" / "python"
    if done.returncode != 0 or not python.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise OracleUnavailableError(
            f"{SCRIPT.name} failed ({done.returncode}): " + " | ".join(tail)
        )
    return python


def require_oracle() -> Path:
    """The oracle's Python; skips the test with the reason when it cannot be made, except in CI."""
    try:
        return ensure_oracle()
    except OracleUnavailableError as exc:
        if in_ci():
            pytest.fail(f"CI=true requires the gbstats oracle: {exc}")
        pytest.skip(f"gbstats oracle unavailable: {exc}")


def run_oracle(python: Path, request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(ORACLE)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _n(rng: np.random.Generator) -> int:
    return int(_loguniform(rng, 2.0, 2e6)) if rng.random() < 0.9 else int(rng.integers(2, 30))


def _mean_arm(n: int, mean: float, sd: float) -> dict[str, Any]:
    total = n * mean
    return {"n": n, "sum": total, "sum_squares": (n - 1) * sd**2 + total**2 / n}


def random_case(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    """Control and treatment sums with a treatment effect of 0 to about 5 standard errors.

    Effects stay in the range where decisions are made: far beyond it gbstats' p-value
    ``2(1 - cdf)`` loses its digits to cancellation and stops being a reference.
    """
    n_a, n_b = _n(rng), _n(rng)
    z = rng.uniform(-5.0, 5.0)
    if kind == "proportion":
        p_a = rng.uniform(0.002, 0.998)
        se = math.sqrt(p_a * (1 - p_a) * (1 / n_a + 1 / n_b))
        p_b = min(max(p_a + z * se, 0.001), 0.999)
        s_a = min(max(round(n_a * p_a), 1), n_a - 1)
        s_b = min(max(round(n_b * p_b), 1), n_b - 1)
        return {"kind": kind, "a": {"n": n_a, "successes": s_a}, "b": {"n": n_b, "successes": s_b}}
    mean_a = _loguniform(rng, 1e-3, 1e4) * (1 if rng.random() < 0.9 else -1)
    sd = abs(mean_a) * _loguniform(rng, 0.01, 10.0)
    mean_b = mean_a + z * sd * math.sqrt(1 / n_a + 1 / n_b)
    sd_b = sd * _loguniform(rng, 0.5, 2.0)
    a, b = _mean_arm(n_a, mean_a, sd), _mean_arm(n_b, mean_b, sd_b)
    if kind == "mean":
        return {"kind": kind, "a": a, "b": b}
    if kind == "ratio":
        n_b = n_a if rng.random() < 0.5 else n_b
        out = {}
        for name, n, m in (("a", n_a, 1.0), ("b", n_b, 1.0 + z * 0.01)):
            den_mean = _loguniform(rng, 0.5, 20.0)
            den_sd = den_mean * _loguniform(rng, 0.05, 1.0)
            num_mean = den_mean * abs(mean_a) * m
            num_sd = abs(num_mean) * _loguniform(rng, 0.1, 2.0)
            corr = rng.uniform(-0.2, 0.9)
            num, den = _mean_arm(n, num_mean, num_sd), _mean_arm(n, den_mean, den_sd)
            cross = (n - 1) * corr * num_sd * den_sd + num["sum"] * den["sum"] / n
            out[name] = {
                "n": n,
                "num_sum": num["sum"],
                "den_sum": den["sum"],
                "num_sum_squares": num["sum_squares"],
                "den_sum_squares": den["sum_squares"],
                "sum_products": cross,
            }
        return {"kind": kind, **out}
    # cuped: a pre-exposure covariate correlated with the metric
    out = {"a": a, "b": b}
    for name in ("a", "b"):
        arm = out[name]
        n = arm["n"]
        mean_y = arm["sum"] / n
        sd_y = math.sqrt((arm["sum_squares"] - arm["sum"] ** 2 / n) / (n - 1))
        pre_mean = mean_y * _loguniform(rng, 0.5, 2.0)
        pre_sd = sd_y * _loguniform(rng, 0.5, 2.0)
        corr = rng.uniform(0.0, 0.95)
        pre = _mean_arm(n, pre_mean, pre_sd)
        arm["pre_sum"] = pre["sum"]
        arm["pre_sum_squares"] = pre["sum_squares"]
        arm["sum_products"] = (n - 1) * corr * sd_y * pre_sd + arm["sum"] * pre["sum"] / n
    return {"kind": kind, **out}


def random_cases(seed: int, per_kind: dict[str, int]) -> list[dict[str, Any]]:
    """Each random aggregate pair analysed four ways: absolute/relative x fixed/sequential."""
    rng = np.random.default_rng(seed)
    cases = []
    for kind, count in per_kind.items():
        for _ in range(count):
            base = random_case(rng, kind)
            alpha = float(rng.choice([0.01, 0.05, 0.1, 0.2]))
            tuning = float(rng.choice([1000.0, 5000.0, 20000.0]))
            for relative in (False, True):
                for sequential in (False, True):
                    case = dict(base, relative=relative, sequential=sequential)
                    cases.append(dict(case, alpha=alpha, tuning=tuning))
    return cases


def _arm(kind: str, arm: dict[str, Any]) -> MeanStats | ProportionStats | RatioStats | CupedStats:
    if kind == "mean":
        return MeanStats(**arm)
    if kind == "proportion":
        return ProportionStats(**arm)
    if kind == "ratio":
        return RatioStats(**arm)
    return CupedStats(**arm)


def ours(case: dict[str, Any]) -> Effect:
    """rampgate's answer to an oracle case."""
    kind = case["kind"]
    control: SupportsSummary
    treatment: SupportsSummary
    a, b = _arm(kind, case["a"]), _arm(kind, case["b"])
    if isinstance(a, CupedStats) and isinstance(b, CupedStats):
        adjusted = cuped(a, b)
        control, treatment = adjusted.control, adjusted.treatment
    else:
        assert not isinstance(a, CupedStats)
        assert not isinstance(b, CupedStats)
        control, treatment = a, b
    if case["sequential"]:
        return sequential_test(
            control,
            treatment,
            relative=case["relative"],
            alpha=case["alpha"],
            tuning=case["tuning"],
        )
    return welch_test(control, treatment, relative=case["relative"], alpha=case["alpha"])


def relative_error(mine: float, theirs: float) -> float:
    if mine == theirs:
        return 0.0
    return abs(mine - theirs) / abs(theirs) if theirs else math.inf


FIELDS = ("estimate", "ci_low", "ci_high", "p_value")


def errors(case: dict[str, Any], answer: dict[str, Any]) -> dict[str, float]:
    """Relative error of each figure against gbstats' answer for one case."""
    mine = asdict(ours(case))
    return {f: relative_error(mine[f], answer[f]) for f in FIELDS}
