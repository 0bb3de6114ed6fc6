"""The few scipy functions the statistics need, typed, behind one import.

scipy ships no type stubs; wrapping the scalar calls here keeps mypy strict everywhere else and
skips ``scipy.stats`` distribution objects, whose per-call overhead dwarfs the maths on aggregates.
"""

from __future__ import annotations

from collections.abc import Callable

from scipy import special  # type: ignore[import-untyped]  # no stubs in scipy

__all__ = [
    "betainc",
    "betaincc",
    "betaln",
    "brentq",
    "chdtrc",
    "log_ndtr",
    "ndtr",
    "ndtri",
    "stdtr",
    "stdtrit",
]


def stdtr(df: float, t: float) -> float:
    """Student's t CDF."""
    return float(special.stdtr(df, t))


def stdtrit(df: float, p: float) -> float:
    """Student's t quantile."""
    return float(special.stdtrit(df, p))


def ndtr(x: float) -> float:
    """Standard normal CDF."""
    return float(special.ndtr(x))


def ndtri(p: float) -> float:
    """Standard normal quantile."""
    return float(special.ndtri(p))


def log_ndtr(x: float) -> float:
    """``log Φ(x)``, accurate far into the lower tail."""
    return float(special.log_ndtr(x))


def chdtrc(df: float, x: float) -> float:
    """Chi-square survival function."""
    return float(special.chdtrc(df, x))


def betaln(a: float, b: float) -> float:
    return float(special.betaln(a, b))


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta: ``P(Beta(a, b) <= x)``."""
    return float(special.betainc(a, b, x))


def betaincc(a: float, b: float, x: float) -> float:
    """Its complement ``P(Beta(a, b) > x)``, without cancellation."""
    return float(special.betaincc(a, b, x))


def brentq(
    f: Callable[[float], float], low: float, high: float, *, xtol: float, rtol: float
) -> float:
    """The root of ``f`` in ``[low, high]``, where ``f`` changes sign."""
    # Imported on first use: scipy.optimize pulls in scipy.linalg and scipy.sparse, 0.4 s that
    # every CLI command reading a rollout paid at start; only sample-size planning finds roots.
    from scipy import optimize  # noqa: PLC0415

    return float(optimize.brentq(f, low, high, xtol=xtol, rtol=rtol))
