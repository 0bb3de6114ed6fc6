"""Simulated agent traffic, sent through the real SDK: what each config does to a conversation.

Each simulated user opens one conversation. The SDK decides the config (``evaluate`` — or
``shadow`` while a candidate is shadowed), and the conversation's outcome is drawn from that
config's behaviour: resolved or not, escalated to a human or not, a lognormal latency (LLM
latencies are right-skewed) and a gamma-distributed cost. The outcomes are reported with
``client.track`` exactly as an agent service would report them.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from rampgate import Client, Context
from rampgate.testing import FakeClock

__all__ = ["BEHAVIOUR", "Behaviour", "Traffic"]

FLAG = "support-agent"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a config behaves: probabilities per conversation, latency median (ms), mean cost."""

    success: float
    escalation: float
    latency_median_ms: float
    cost_usd: float
    latency_sigma: float = 0.5
    cost_shape: float = 4.0


BEHAVIOUR = {
    "stable": Behaviour(success=0.70, escalation=0.15, latency_median_ms=1200, cost_usd=0.040),
    # Cheaper and terse: it resolves about as often, but hands many more users to a human and
    # is slower (retries on a smaller model) — the kind of regression a demo on a few
    # hand-picked prompts misses.
    "candidate-a": Behaviour(success=0.69, escalation=0.27, latency_median_ms=1700, cost_usd=0.030),
    # Healthy: slightly better on everything.
    "candidate-b": Behaviour(success=0.73, escalation=0.14, latency_median_ms=1150, cost_usd=0.038),
}

# Shadowed calls really run (sleeping their latency at this scale), so the SDK's own timing of
# the paired calls measures something: 1,200 ms of simulated latency is 1.2 ms of sleep.
SHADOW_TIME_SCALE = 1e-3


class Traffic:
    """Users arriving at a steady rate on a simulated clock, each through the SDK."""

    def __init__(self, client: Client, clock: FakeClock, seed: int) -> None:
        self.client = client
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        # The shadowed agents draw from a stdlib generator: the candidate runs on the SDK's
        # worker threads, and numpy generators are not meant to be shared across threads.
        self.replies = random.Random(seed)
        self.users = 0

    def run(self, users: int, seconds: float, *, shadow: bool = False) -> Counter[str]:
        """``users`` conversations spread over the next ``seconds``; returns variants served."""
        served: Counter[str] = Counter()
        start = self.clock.now
        u = self.rng.random((users, 2))
        z = self.rng.standard_normal(users)
        g = self.rng.standard_gamma(4.0, users)
        for i in range(users):
            self.clock.now = start + seconds * i / users
            self.users += 1
            ctx = Context(user_id=f"user-{self.users}", session_id=f"conv-{self.users}")
            if shadow:
                variant = self._shadowed(ctx)
            else:
                variant = self.client.evaluate(FLAG, ctx).variant or "stable"
            served[variant] += 1
            b = BEHAVIOUR[variant]
            if u[i, 0] < b.success:
                self.client.track("task_success", ctx, value=1)
            if u[i, 1] < b.escalation:
                self.client.track("escalated", ctx, value=1)
            latency = b.latency_median_ms * math.exp(b.latency_sigma * z[i])
            self.client.track("latency_ms", ctx, value=round(latency, 1))
            self.client.track("cost_usd", ctx, value=round(b.cost_usd * g[i] / b.cost_shape, 5))
        self.clock.now = start + seconds
        return served

    def _shadowed(self, ctx: Context) -> str:
        """One conversation answered by stable while the candidate runs beside it."""
        result: dict[str, Any] = self.client.shadow(
            FLAG,
            ctx,
            stable=_agent("stable", self.replies),
            candidate=_agent_for_config(self.replies),
            cost=lambda reply: float(reply["cost_usd"]),
            timeout=0.5,
        )
        return str(result["variant"])


def _agent(variant: str, rng: random.Random) -> Any:
    def answer(config: Any) -> dict[str, Any]:
        return _reply(variant, rng)

    return answer


def _agent_for_config(rng: random.Random) -> Any:
    """The candidate's agent: which config it got decides how it behaves."""

    def answer(config: Any) -> dict[str, Any]:
        variant = "candidate-b" if config.get("model") == "claude-sonnet-4" else "candidate-a"
        return _reply(variant, rng)

    return answer


def _reply(variant: str, rng: random.Random) -> dict[str, Any]:
    b = BEHAVIOUR[variant]
    latency = b.latency_median_ms * math.exp(b.latency_sigma * rng.gauss(0.0, 1.0))
    time.sleep(latency / 1000 * SHADOW_TIME_SCALE)
    resolved = rng.random() < b.success
    return {
        "variant": variant,
        "text": "Your refund is on its way." if resolved else "Let me get a colleague.",
        "cost_usd": b.cost_usd * rng.gammavariate(b.cost_shape, 1.0) / b.cost_shape,
    }
