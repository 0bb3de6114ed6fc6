"""Benchmark P1: how long does evaluating one flag for one request take?

The flag: "(``plan`` = enterprise OR ``country`` in [US, CA]) → treatment; else a 10% canary split
by user", evaluated for 200,000 distinct users with a realistic mix of attributes, exposures on.
Contestants, each in its fastest realistic per-request form and with its inputs built before
timing:

- rampgate ``Client.evaluate(flag, ctx)``, the client holding an event sink, so every evaluation
  appends its exposure to the buffer that a background thread drains into the sink;
- the GrowthBook Python SDK on the equivalent feature (a force rule with the same condition, then
  an experiment rule with the same seed, hash attribute, hash version 2 and weights 0.9/0.1), with
  an ``on_experiment_viewed`` callback (its exposures), through both of its server-side APIs: one
  shared ``GrowthBook`` with ``set_attributes`` + ``eval_feature`` per user, and the async
  ``GrowthBookClient`` with a ``UserContext`` per user (what its README recommends for servers);
- a floor: one ``mmh3`` hash of the user id and one comparison — the cheapest bucketing there is.

Then the resident memory of a client holding 1,000 realistic flags, in a fresh interpreter.

    uv run --frozen python -m benchmarks.p1_evaluation [--users N] [--runs N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import random
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from benchmarks._common import (
    Contestant,
    Measurement,
    fmt_ns,
    machine_summary,
    race,
    rss_bytes,
    run_child,
)

FLAG = "p1-agent"
CONDITION: dict[str, Any] = {"$or": [{"plan": "enterprise"}, {"country": {"$in": ["US", "CA"]}}]}
CONTROL = {
    "model": "gpt-4o-2024-08",
    "prompt_version": "v3",
    "tools": ["search", "refund"],
    "temperature": 0.2,
    "max_iterations": 8,
}
TREATMENT = {**CONTROL, "model": "claude-sonnet-4", "prompt_version": "v4"}
CANARY = 0.1

GOAL_NS = 1_000
GOAL_VS_GB = 8.0
GOAL_RSS_MB = 50.0
N_FLAGS_RSS = 1_000

PLANS = {"free": 0.62, "pro": 0.25, "team": 0.08, "enterprise": 0.05}
COUNTRIES = {
    "US": 0.28, "CA": 0.04, "GB": 0.08, "DE": 0.07, "FR": 0.05, "IN": 0.12, "BR": 0.07,
    "JP": 0.05, "MX": 0.04, "AU": 0.03, "NL": 0.03, "ES": 0.03, "IT": 0.03, "PL": 0.02,
    "KR": 0.02, "ZA": 0.02, "NG": 0.02,
}  # fmt: skip
VERSIONS = ["2.3.1", "2.4.0", "2.5.0-beta.1", "3.0.0"]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    session_id: str
    attributes: Mapping[str, Any]


def make_users(n: int, seed: int = 20260901) -> list[User]:
    """``n`` distinct users: UUID ids, a conversation id, plan, country (3% unknown) and more."""
    rng = random.Random(seed)
    plans, plan_w = list(PLANS), list(PLANS.values())
    countries, country_w = list(COUNTRIES), list(COUNTRIES.values())
    users: list[User] = []
    seen: set[str] = set()
    while len(users) < n:
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if uid in seen:
            continue
        seen.add(uid)
        attrs: dict[str, Any] = {
            "plan": rng.choices(plans, plan_w)[0],
            "tenant": f"tenant-{rng.randrange(5_000)}",
            "app_version": rng.choice(VERSIONS),
            "locale": rng.choice(["en-US", "en-GB", "de-DE", "fr-FR", "pt-BR", "ja-JP"]),
            "is_staff": rng.random() < 0.002,
        }
        if rng.random() >= 0.03:
            attrs["country"] = rng.choices(countries, country_w)[0]
        users.append(User(uid, f"conv-{rng.getrandbits(64):016x}", attrs))
    return users


# -- the contestants --------------------------------------------------------------------------


class DiscardSink:
    """A sink that counts and drops what it is sent: the cost measured is rampgate's, not I/O."""

    def __init__(self) -> None:
        self.received = 0

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
        self.received += len(batch)

    def close(self) -> None:
        pass


def rampgate_flag() -> Any:
    from rampgate import Flag, Rule, Split

    return Flag(
        key=FLAG,
        variants={"control": CONTROL, "treatment": TREATMENT},
        default="control",
        rules=(
            Rule(id="targeted", condition=CONDITION, serve="treatment"),
            Rule(
                id="canary",
                split=Split(weights={"control": 1 - CANARY, "treatment": CANARY}, unit="user_id"),
            ),
        ),
    )


def growthbook_features() -> dict[str, Any]:
    """The equivalent GrowthBook feature: a rampgate split is an experiment rule with
    ``seed`` = the flag's salt (its key), ``hashVersion`` 2 and ``hashAttribute`` = the unit."""
    return {
        FLAG: {
            "defaultValue": CONTROL,
            "rules": [
                {"id": "targeted", "condition": CONDITION, "force": TREATMENT},
                {
                    "id": "canary",
                    "key": FLAG,
                    "seed": FLAG,
                    "hashAttribute": "user_id",
                    "hashVersion": 2,
                    "variations": [CONTROL, TREATMENT],
                    "weights": [1 - CANARY, CANARY],
                    "coverage": 1.0,
                },
            ],
        }
    }


class Setup:
    """Every contestant with its inputs built before any timing."""

    def __init__(self, users: Sequence[User]) -> None:
        import mmh3
        from growthbook import GrowthBook, GrowthBookClient, Options, UserContext

        import rampgate

        self.n = len(users)
        self.ids = [u.id for u in users]
        self.sink = DiscardSink()
        self.client = rampgate.Client.from_flags(
            [rampgate_flag()], environment="bench", sink=self.sink
        )
        self.contexts = [rampgate.Context(u.id, u.session_id, u.attributes) for u in users]
        # GrowthBook reads the unit from its attributes, so the ids go in there.
        self.gb_attributes = [
            {**u.attributes, "user_id": u.id, "session_id": u.session_id} for u in users
        ]
        self.gb_user_contexts = [UserContext(attributes=a) for a in self.gb_attributes]
        self.gb_viewed: list[Any] = []

        def on_viewed(*, experiment: Any, result: Any, user_context: Any) -> None:
            self.gb_viewed.append(result)

        self._on_viewed = on_viewed
        self._gb_cls = GrowthBook
        self.gb = self._new_gb()
        self._gb_client_cls, self._gb_options = GrowthBookClient, Options
        self.loop = asyncio.new_event_loop()
        self.gb_client = self._new_gb_client()
        self._mmh3 = mmh3.hash

    def _new_gb(self) -> Any:
        return self._gb_cls(features=growthbook_features(), on_experiment_viewed=self._on_viewed)

    def _new_gb_client(self) -> Any:
        client = self._gb_client_cls(self._gb_options(on_experiment_viewed=self._on_viewed))
        self.loop.run_until_complete(client.set_features(growthbook_features()))
        return client

    # Each run is a fresh cohort for GrowthBook too: its clients remember which (user, variant)
    # exposures they already reported and skip repeats, so the memory is reset between runs.
    def reset_gb(self) -> None:
        self.gb.destroy()
        self.gb = self._new_gb()
        self.gb_viewed.clear()

    def reset_gb_client(self) -> None:
        self.loop.run_until_complete(self.gb_client.close())
        self.gb_client = self._new_gb_client()
        self.gb_viewed.clear()

    def run_rampgate(self) -> None:
        evaluate = self.client.evaluate
        for ctx in self.contexts:
            evaluate(FLAG, ctx)

    def run_rampgate_drained(self) -> None:
        self.run_rampgate()
        self.client.flush()

    def run_rampgate_unexposed(self) -> None:
        evaluate = self.client.evaluate
        for ctx in self.contexts:
            evaluate(FLAG, ctx, expose=False)

    def run_gb(self) -> None:
        gb = self.gb
        set_attributes, eval_feature = gb.set_attributes, gb.eval_feature
        for attrs in self.gb_attributes:
            set_attributes(attrs)
            eval_feature(FLAG)

    def run_gb_client(self) -> None:
        async def main() -> None:
            eval_feature = self.gb_client.eval_feature
            for uc in self.gb_user_contexts:
                await eval_feature(FLAG, uc)

        self.loop.run_until_complete(main())

    def run_floor(self) -> None:
        h = self._mmh3
        threshold = int(CANARY * 10_000)
        for uid in self.ids:
            _ = h(uid) % 10_000 < threshold

    def run_empty(self) -> None:
        for _ctx in self.contexts:
            pass

    def check_equivalence(self) -> tuple[int, dict[str, int]]:
        """How many users both SDKs serve the same config, and rampgate's reasons."""
        same = 0
        reasons: dict[str, int] = {}
        for ctx, attrs in zip(self.contexts, self.gb_attributes, strict=True):
            ev = self.client.evaluate(FLAG, ctx, expose=False)
            self.gb.set_attributes(attrs)
            gb_value = self.gb.eval_feature(FLAG).value
            same += ev.value["prompt_version"] == gb_value["prompt_version"]
            reasons[str(ev.reason)] = reasons.get(str(ev.reason), 0) + 1
        self.reset_gb()
        return same, reasons

    def close(self) -> None:
        self.client.close()
        self.gb.destroy()
        self.loop.run_until_complete(self.gb_client.close())
        self.loop.close()


# -- where the time goes ----------------------------------------------------------------------


def breakdown(setup: Setup, runs: int) -> list[Measurement]:
    """Time the pieces of one rampgate evaluation separately, over the same contexts."""
    from rampgate import Client, ClientSettings
    from rampgate.domain.conditions import compile_condition
    from rampgate.domain.hashing import hash_v2

    compiled = setup.client.ruleset.flags[FLAG]
    condition = compile_condition(CONDITION)
    contexts, ids, n = setup.contexts, setup.ids, setup.n
    no_sink = Client.from_flags([rampgate_flag()], environment="bench")
    # Room for a whole run and no early wake-up: the drain waits until the untimed flush.
    deferred = Client.from_flags(
        [rampgate_flag()],
        environment="bench",
        sink=DiscardSink(),
        settings=ClientSettings(buffer_size=2 * n, batch_size=2 * n, flush_interval=3_600.0),
    )

    def engine() -> None:
        evaluate = compiled.evaluate
        for ctx in contexts:
            evaluate(ctx.merged)

    def cond() -> None:
        for ctx in contexts:
            condition(ctx.merged)

    def hashing() -> None:
        for uid in ids:
            hash_v2(FLAG, uid)

    def evaluate_with(client: Client) -> Any:
        def run() -> None:
            evaluate = client.evaluate
            for ctx in contexts:
                evaluate(FLAG, ctx)

        return run

    try:
        return race(
            [
                Contestant("loop alone (for ctx in contexts: pass)", setup.run_empty, n),
                Contestant("compiled condition (plan/country)", cond, n),
                Contestant("hash_v2(seed, user_id)", hashing, n),
                Contestant("engine: CompiledFlag.evaluate(ctx.merged)", engine, n),
                Contestant("Client.evaluate(expose=False)", setup.run_rampgate_unexposed, n),
                Contestant("Client.evaluate, no sink (record built, not queued)",
                           evaluate_with(no_sink), n),
                Contestant("Client.evaluate, exposure queued, drain deferred to after the run",
                           evaluate_with(deferred), n, after=deferred.flush),
                Contestant("drain: Client.flush per queued exposure (record, id, sink)",
                           deferred.flush, n, before=evaluate_with(deferred)),
            ],
            runs=runs,
        )  # fmt: skip
    finally:
        no_sink.close()
        deferred.close()


def profile(setup: Setup) -> str:
    """cProfile one pass of the rampgate loop; ns per call of the functions that cost most."""
    profiler = cProfile.Profile()
    profiler.runcall(setup.run_rampgate)
    setup.client.flush()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = [
        (tottime, cumtime, ncalls, f"{func} ({file.rsplit('/', 2)[-1]}:{line})")
        for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items()
        if ncalls >= setup.n // 100  # per-evaluation work, not the loop or the odd lock
    ]
    rows.sort(reverse=True)
    lines = ["  (cProfile adds its own overhead to every call; compare rows, not absolutes)"]
    lines.append(f"  {'own ns/call':>12} {'cum ns/call':>12} {'calls':>9}  function")
    for tottime, cumtime, ncalls, name in rows[:12]:
        own, cum = tottime / ncalls * 1e9, cumtime / ncalls * 1e9
        lines.append(f"  {own:>12,.0f} {cum:>12,.0f} {ncalls:>9,}  {name}")
    return "\n".join(lines)


# -- resident memory, measured in a fresh interpreter -----------------------------------------


def realistic_flag(i: int) -> Any:
    from rampgate import Flag, Rule, Split

    tools = ["search", "refund", "escalate", "lookup_order", "send_email", "kb_article"]
    stable = {
        "model": "gpt-4o-2024-08",
        "prompt_version": f"v{3 + i % 4}",
        "system_prompt": f"You are agent #{i} of ACME support. Be concise, cite the policy, "
        f"never promise refunds above {50 + i % 200} EUR without approval. " * 2,
        "tools": tools[: 2 + i % 5],
        "temperature": round(0.1 + (i % 7) / 20, 2),
        "max_iterations": 4 + i % 8,
    }
    candidate = {**stable, "model": "claude-sonnet-4", "prompt_version": f"v{4 + i % 4}"}
    condition = {
        "$or": [
            {"plan": "enterprise"},
            {"country": {"$in": ["US", "CA", f"X{i % 50}"]}},
            {"email": {"$regex": f"@tenant{i}\\.example\\.com$"}},
        ],
        "app_version": {"$vgte": f"2.{i % 5}.0"},
    }
    return Flag(
        key=f"agent-{i:04d}",
        description=f"Agent configuration #{i}",
        variants={"stable": stable, "candidate": candidate},
        default="stable",
        rules=(
            Rule(id="early-access", condition=condition, serve="candidate"),
            Rule(id="canary", split=Split(weights={"stable": 0.95, "candidate": 0.05})),
        ),
    )


def rss_child() -> None:
    import rampgate

    gc.collect()
    baseline = rss_bytes()
    client = rampgate.Client.from_flags(
        [realistic_flag(i) for i in range(N_FLAGS_RSS)], environment="bench"
    )
    ctx = rampgate.Context(
        "u-1", attributes={"plan": "pro", "country": "US", "app_version": "2.4.0"}
    )
    served = sum(client.evaluate(key, ctx).variant == "candidate" for key in client.ruleset.flags)
    gc.collect()
    after = rss_bytes()
    print(
        json.dumps(
            {
                "baseline": baseline,
                "after": after,
                "flags": len(client.ruleset.flags),
                "served": served,
            }
        )
    )


# -- the report -------------------------------------------------------------------------------


def _row(m: Measurement) -> str:
    return f"  {m.name:<72} {fmt_ns(m.median):>11} {fmt_ns(m.min):>10}"


def _header(args: argparse.Namespace, runs: int) -> None:
    v = metadata.version
    print(f"Benchmark P1 — one flag, {args.users:,} distinct users, median and min of {runs} runs")
    print(f"  {machine_summary()}")
    print(f"  rampgate {v('rampgate')}, growthbook {v('growthbook')}, mmh3 {v('mmh3')}")
    print(f"  flag: {json.dumps(CONDITION)} → treatment;")
    print(f"        else split control/treatment {1 - CANARY:g}/{CANARY:g} by user_id")
    print("  Inputs (rampgate Contexts, GrowthBook attribute dicts and UserContexts, id strings)")
    print("  are built before timing, for every contestant alike. Each timed loop is")
    print("  `for x in inputs: call(x)`, so a few ns of loop overhead are in every figure.")
    print("  GC stays on (the prebuilt inputs are gc.freeze()-d so that one contestant's")
    print("  inputs do not slow another's collections); contestants take turns in each run.")


def _contest(setup: Setup, runs: int) -> list[Measurement]:
    n = setup.n
    return race(
        [
            Contestant("rampgate  Client.evaluate, exposures on (hot path)",
                       setup.run_rampgate, n, after=setup.client.flush),
            Contestant("rampgate  the same + draining every exposure to the sink",
                       setup.run_rampgate_drained, n),
            Contestant("GrowthBook  GrowthBook: set_attributes + eval_feature",
                       setup.run_gb, n, after=setup.reset_gb),
            Contestant("GrowthBook  GrowthBookClient: await eval_feature(key, UserContext)",
                       setup.run_gb_client, n, after=setup.reset_gb_client),
            Contestant("floor  mmh3.hash(user_id) % 10000 < 1000",
                       setup.run_floor, n),
        ],
        runs=runs,
    )  # fmt: skip


def _memory() -> tuple[float, float, int]:
    mem = run_child("benchmarks.p1_evaluation", "--rss-child")
    return mem["baseline"] / 2**20, mem["after"] / 2**20, mem["flags"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.p1_evaluation", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--users", type=int, default=200_000, help="distinct users")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per contestant, ≥ 5")
    parser.add_argument("--profile", action="store_true", help="always run cProfile")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child()
        return 0
    runs = max(args.runs, 5)
    _header(args, runs)

    setup = Setup(make_users(args.users))
    same, reasons = setup.check_equivalence()
    print(f"  equivalence: both SDKs serve the same config to {same:,}/{setup.n:,} users")
    print(f"  (rampgate reasons: {reasons})")
    if same != setup.n:
        print("  !! the two features are not equivalent: the figures compare different work")
    # The inputs of all contestants (~1.4M objects) would otherwise be re-scanned by every full
    # collection that any contestant's garbage triggers; frozen, each pays for its own objects.
    gc.freeze()

    hot, drained, gb_sync, gb_async, floor = results = _contest(setup, runs)
    print()
    print(f"  {'contestant':<72} {'median':>11} {'min':>10}")
    for m in results:
        print(_row(m))
    stats = setup.client.stats()
    print(f"  rampgate exposures: {setup.sink.received:,} reached the sink, "
          f"{stats['events_dropped']:,} dropped by the bounded buffer")  # fmt: skip

    gb_best = min(gb_sync, gb_async, key=lambda m: m.median)
    vs_gb = gb_best.median / hot.median
    print()
    print("Ratios (of medians)")
    print(
        f"  GrowthBook, its faster API ({gb_best.name.split('  ')[1].split(':')[0]}) / rampgate: "
        f"{vs_gb:.1f}x   (/ rampgate with draining: {gb_best.median / drained.median:.1f}x)"
    )
    print(
        f"  GrowthBook, its slower API / rampgate: "
        f"{max(gb_sync.median, gb_async.median) / hot.median:.1f}x"
    )
    print(f"  rampgate / mmh3 floor: {hot.median / floor.median:.1f}x   "
          f"(with draining: {drained.median / floor.median:.1f}x)")  # fmt: skip

    print()
    print("Where rampgate's time goes (each piece timed alone over the same inputs, 5 runs)")
    for m in breakdown(setup, runs=5):
        print(_row(m))
    if args.profile or hot.median > GOAL_NS:
        print()
        print("cProfile of one pass of the rampgate hot path")
        print(profile(setup))
    setup.close()

    base_mb, after_mb, n_flags = _memory()
    print()
    print("Resident memory (VmRSS of a fresh interpreter)")
    print(f"  after `import rampgate`: {base_mb:.1f} MB; with a client holding {n_flags:,} flags "
          f"(agent-config variants, a condition rule and a split each): {after_mb:.1f} MB "
          f"(+{after_mb - base_mb:.1f} MB)")  # fmt: skip

    print()
    print("Goals")
    checks = [
        (f"rampgate median ≤ {GOAL_NS:,} ns per evaluation, exposures on",
         hot.median <= GOAL_NS, fmt_ns(hot.median)),
        (f"rampgate ≥ {GOAL_VS_GB:g}x faster than GrowthBook's faster API",
         vs_gb >= GOAL_VS_GB, f"{vs_gb:.1f}x"),
        (f"{N_FLAGS_RSS:,} flags resident in ≤ {GOAL_RSS_MB:g} MB RSS (whole process)",
         after_mb <= GOAL_RSS_MB, f"{after_mb:.1f} MB"),
    ]  # fmt: skip
    for text, ok, figure in checks:
        print(f"  {'MET' if ok else 'MISSED':<7} {text}: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
