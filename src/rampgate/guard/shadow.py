"""Shadow runs, the pure part: which calls to shadow, and the events a finished call becomes.

A shadowed call has two arms: the *stable* arm is the variant the flag served, run by the caller
on its own path; the *candidate* arm is the flag's shadow variant, run beside it by
:mod:`rampgate.guard.pool` or an asyncio task. When both are known, :func:`report` turns them
into the events named in :mod:`rampgate.domain.shadow` — exactly one value per (call, arm,
measure), because a call is settled once (by its worker, or by the watcher at its deadline).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from rampgate.domain.engine import CompiledFlag
from rampgate.domain.model import Context, Evaluation, Reason, ShadowConfig
from rampgate.domain.shadow import (
    ShadowArm,
    ShadowMeasure,
    ShadowStatus,
    shadow_event,
    shadow_pair_event,
)
from rampgate.errors import ConfigError

from .compare import Comparator, check_score

__all__ = [
    "ArmResult",
    "ErrorSink",
    "Recorder",
    "ShadowCall",
    "ShadowSettings",
    "check_timeout",
    "report",
    "shadow_target",
]

# (event name, context, value, properties): the SDK's ``track``.
Recorder = Callable[[str, Context, float, Mapping[str, Any] | None], None]


class ErrorSink(Protocol):
    """Counts a failure by kind and logs its first occurrence (the SDK's failsafe)."""

    def __call__(
        self, kind: str, key: str, error: BaseException | None = None, message: str = ""
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    """Bounds of the shadow machinery; past them a shadowed call is skipped and counted."""

    workers: int = 4  # threads running sync candidates (and comparing every finished call)
    queue_size: int = 64  # sync shadowed calls waiting for a worker; more are dropped
    max_in_flight: int = 64  # async candidate tasks running at once; more are dropped
    timeout: float = 30.0  # seconds a candidate may take, unless the call gives its own

    def __post_init__(self) -> None:
        for name in ("workers", "queue_size", "max_in_flight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"found {value!r}", path=name, expected="an integer ≥ 1")
        check_timeout(self.timeout)


def check_timeout(timeout: Any) -> float:
    """``timeout`` as seconds > 0 (raises ``ConfigError`` naming what was found)."""
    ok = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if not (ok and math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"found {timeout!r}", path="timeout", expected="seconds > 0")
    return float(timeout)


@dataclass(frozen=True, slots=True)
class ArmResult:
    """How one arm's call ended: its status, wall time and (when it returned) its result."""

    status: ShadowStatus
    latency_ms: float
    result: Any = None


@dataclass(slots=True, eq=False)
class ShadowCall:
    """One shadowed call, from the caller's path to its report."""

    flag: str
    context: Context
    stable_variant: str
    candidate_variant: str
    value: Any  # the candidate variant's config, what ``candidate`` is called with
    candidate: Callable[[Any], Any]
    compare: Comparator
    cost: Callable[[Any], float] | None
    timeout: float
    stable: ArmResult | None = None
    started: float = 0.0  # perf_counter() when the candidate started
    settled: bool = False  # reported (or dropped) already: guarded by the pool's lock


_NOT_SHADOWED = (Reason.ERROR, Reason.DISABLED)


def shadow_target(
    compiled: CompiledFlag | None, evaluation: Evaluation
) -> tuple[str, ShadowConfig, Any] | None:
    """(served variant, shadow config, candidate's value) if ``evaluation`` may be shadowed.

    Not when the flag has no (or a zero-sample) shadow, is killed, failed to evaluate, already
    serves the shadow variant, or changed version since ``evaluation`` was made.
    """
    if compiled is None or compiled.killed or compiled.version != evaluation.flag_version:
        return None
    config = compiled.flag.shadow
    served = evaluation.variant
    if (
        config is None
        or config.sample <= 0.0
        or served is None
        or served == config.variant
        or evaluation.reason in _NOT_SHADOWED
    ):
        return None
    candidate = compiled.pinned(config.variant)  # pre-built and frozen: nothing to copy
    return None if candidate is None else (served, config, candidate.value)


@lru_cache(maxsize=1024)
def _names(flag: str) -> tuple[str, dict[ShadowArm, tuple[str, str, str]]]:
    arms = {
        arm: (
            shadow_event(flag, arm, ShadowMeasure.LATENCY_MS),
            shadow_event(flag, arm, ShadowMeasure.ERROR),
            shadow_event(flag, arm, ShadowMeasure.COST_USD),
        )
        for arm in ShadowArm
    }
    return shadow_pair_event(flag), arms


def report(call: ShadowCall, candidate: ArmResult, record: Recorder, on_error: ErrorSink) -> None:
    """Record the events of a settled call (see :mod:`rampgate.domain.shadow`)."""
    stable = call.stable
    if stable is None:  # a call is handed over only once its stable arm is known
        raise RuntimeError(f"shadowed call of {call.flag!r} reported before its stable arm")
    pair, arms = _names(call.flag)
    ctx = call.context
    score: float | None = 0.0
    exact = False
    if stable.status is ShadowStatus.OK and candidate.status is ShadowStatus.OK:
        try:
            exact = bool(stable.result == candidate.result)
        except Exception:  # a result type whose == is not a truth value (e.g. an array)
            exact = False
        try:
            score = check_score(call.compare(stable.result, candidate.result))
        except Exception as exc:  # the caller's comparator: reported, and this pair skipped
            on_error("shadow_compare_error", call.flag, exc)
            score = None
    if score is not None:
        properties = {
            "exact": exact,
            "status": str(candidate.status),
            "stable_variant": call.stable_variant,
            "candidate_variant": call.candidate_variant,
        }
        record(pair, ctx, score, properties)
    for arm, outcome in ((ShadowArm.STABLE, stable), (ShadowArm.CANDIDATE, candidate)):
        latency, error, cost = arms[arm]
        record(latency, ctx, outcome.latency_ms, None)
        record(error, ctx, 0.0 if outcome.status is ShadowStatus.OK else 1.0, None)
        # What a failed call cost is unknown to us: no value rather than a made-up zero.
        if call.cost is not None and outcome.status is ShadowStatus.OK:
            try:
                usd = float(call.cost(outcome.result))
                if not math.isfinite(usd):
                    raise ValueError(f"the cost function returned {usd!r}")
            except Exception as exc:  # the caller's cost function
                on_error("shadow_cost_error", call.flag, exc)
                continue
            record(cost, ctx, usd, None)
