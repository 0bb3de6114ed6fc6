"""Decision quality of whole rollouts: simulated ramps driven through the real controller.

Each run is one rollout of :func:`plan` (1% → 5% → 25% → 100%, with the ``min_duration`` and
``min_units`` a team would write, three guardrails) decided by ``rampgate.control.reconcile``
exactly as the server calls it, with no server: a reconcile every ``interval`` seconds, and a
look at the evidence at every reconcile. Units arrive at a steady rate; each look's newcomers
are split by the current step's weights (binomially, so the SRM check sees honest noise), and
each arm's aggregates are drawn as sufficient statistics rather than unit by unit — binomial
counts for rates; for a mean metric the sum ``N(n·mu, n·sd²)`` and the within-look sum of squares
``sd²·χ²(n-1)``, exact for normal per-unit values. Aggregates count units since the current step
started, as ``Observations`` requires. Numpy draws every run's look at once; only the
reconciles are one call per run.

The figures (issue 5):

- **P3 / D1, A/A**: the candidate behaves exactly as stable. How often is it rolled back (by a
  guardrail ``FAIL`` or the SRM check), promoted, or held at ``max_duration``?
- **D2, harm = 2 x margin** on one guardrail: how often, how fast and on how many units is it
  rolled back, against the fixed-horizon sample of a one-sided non-inferiority-style test of
  that harm (H0: harm <= margin) at the plan's alpha with 80% power — the textbook sample of
  Blackwelder (1982) and Chow, Shao & Wang (2008), see :meth:`Harm.fixed_horizon`. The ratio
  against a test of H0: harm <= 0 (Lachin 1981) is printed beside it for contrast.
- **INCONCLUSIVE never promotes**: every promotion and every advance is checked against the
  verdicts in its own snapshot.

What the controller tests with (``rampgate.control.gates``): each guardrail's one-sided
always-valid bounds — the normal mixture of Howard, Ramdas, McAuliffe & Sekhon (2021,
"Time-uniform, nonparametric, nonasymptotic confidence sequences"), Wilson-MOVER for rates
(Newcombe 1998; Zou & Donner 2008) — restarted at every step, each guardrail's ``alpha/G``
spent half at the first step and the rest equally over the later tested steps (``alpha/6`` then
``alpha/12`` here), with ``N*`` carried to the step's split; and an always-valid SRM check
(Lindon & Malek 2022, "Anytime-valid inference for multinomial count data").
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from rampgate.control import (
    Arms,
    Command,
    CommandKind,
    Observations,
    RecordSnapshot,
    RolloutPlan,
    RolloutState,
    Snapshot,
    Status,
    assess,
    parse_rollout,
    reconcile,
)
from rampgate.control.evidence import Decision
from rampgate.stats import (
    Baseline,
    MeanStats,
    ProportionStats,
    SampleSize,
    Verdict,
)

from .report import Report, rate

MINUTE = 60.0
HOUR = 3600.0

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

# The plan as a team writes it (docs/rollouts.md), without the shadow phase and offline eval,
# which this simulation does not exercise.
PLAN: dict[str, Any] = {
    "flag": "support-agent",
    "environment": "prod",
    "from": "stable",
    "to": "candidate",
    "steps": [
        {"weight": 0.01, "min_duration": "1h", "min_units": 300},
        {"weight": 0.05, "min_duration": "2h"},
        {"weight": 0.25, "min_duration": "6h", "approval": True},
        {"weight": 1.0},
    ],
    "guardrails": [
        {"metric": "task_success", "margin": 0.02},
        {"metric": "escalation", "margin": "10%"},
        {"metric": "cost_usd", "margin": "10%"},
    ],
    "max_duration": "3d",
    "on_inconclusive": "hold",
}


def plan(**overrides: Any) -> RolloutPlan:
    """The simulated plan, from its YAML shape; ``overrides`` replace top-level keys."""
    return parse_rollout("support-agent-v4", {**PLAN, **overrides})


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How one variant's units behave: two rates and a cost per unit (mean and sd, in USD).

    Agent costs are heavy-tailed (a few long conversations cost most), hence a coefficient of
    variation of 2; only the mean and the variance reach the test.
    """

    task_success: float = 0.80
    escalation: float = 0.10
    cost: float = 0.05
    cost_sd: float = 0.10


STABLE = Behaviour()


@dataclass(frozen=True, slots=True)
class Traffic:
    """Units entering per minute, and the seconds between two reconciles (one look each)."""

    units_per_minute: int = 10_000
    interval: float = MINUTE

    @property
    def per_look(self) -> int:
        return round(self.units_per_minute * self.interval / MINUTE)


# Harmful runs are reconciled as often as the server does by default (controller_interval,
# 10 s): a bound crossed between two looks may be recrossed before the next, so sparser looks
# roll back later. A/A runs last 9 hours and more, so 2,000 of them are looked at every 10
# minutes to stay within minutes of CPU; their bounds hold at any look frequency.
AA_TRAFFIC = Traffic(interval=10 * MINUTE)
HARM_TRAFFIC = Traffic(interval=10.0)


def every(traffic: Traffic) -> str:
    """``10 s``, ``10 min``: the time between two looks."""
    t = traffic.interval
    return f"{t / MINUTE:g} min" if t >= MINUTE else f"{t:g} s"


@dataclass(frozen=True, slots=True)
class Harm:
    """A candidate twice the margin worse on one guardrail, and its fixed-horizon comparison.

    ``effect`` is the candidate minus stable (a lift when ``relative``), ``margin`` the
    guardrail's, both signed the metric's way.
    """

    name: str
    metric: str
    candidate: Behaviour
    baseline: Baseline
    effect: float
    margin: float
    relative: bool

    def fixed_horizon(
        self, share: float, *, alpha: float, power: float = 0.8, null: float | None = None
    ) -> SampleSize:
        """Units per arm of a one-sided fixed-horizon test of this harm at ``share``.

        The non-inferiority-style test of H0: harm ≤ margin against the true harm (twice the
        margin) by default, or against H0: harm ≤ ``null``. The textbook sample is
        ``N = (z(1-alpha) + z(power))² A / (harm - null)²``, ``A = v_t/s + v_c/(1-s)`` (or the delta
        method's ``v_t/(μ_c² s) + v_c μ_t²/(μ_c⁴ (1-s))`` for a lift), variances at the true
        rates (Blackwelder 1982, "Proving the null hypothesis in clinical trials", *Controlled
        Clinical Trials* 3; Chow, Shao & Wang 2008, *Sample Size Calculations in Clinical
        Research*, §4.2). At ``null=0`` it is ``rampgate.stats.sample_size`` of a one-sided
        design (Lachin 1981), which the tests check.
        """
        b = self.baseline
        mean_t = b.mean * (1 + self.effect) if self.relative else b.mean + self.effect
        v_c, v_t = b.variance, b.variance_at(mean_t)
        if self.relative:
            spread = v_t / (b.mean**2 * share) + v_c * mean_t**2 / (b.mean**4 * (1 - share))
        else:
            spread = v_t / share + v_c / (1 - share)
        distance = abs(self.effect) - abs(self.margin if null is None else null)
        z = NormalDist().inv_cdf(1 - alpha) + NormalDist().inv_cdf(power)
        total = z**2 * spread / distance**2
        return SampleSize(math.ceil(total * (1 - share)), math.ceil(total * share))


def harms() -> list[Harm]:
    """Twice each guardrail's margin: 4 points of task success, +20% escalation, +20% cost."""
    s = STABLE
    return [
        Harm(
            "task success -4 points (margin 2)",
            "task_success",
            replace(s, task_success=s.task_success - 0.04),
            Baseline.rate(s.task_success),
            -0.04,
            -0.02,
            relative=False,
        ),
        Harm(
            "escalation +20% (margin 10%)",
            "escalation",
            replace(s, escalation=s.escalation * 1.2),
            Baseline.rate(s.escalation),
            0.2,
            0.1,
            relative=True,
        ),
        Harm(
            "cost per unit +20% (margin 10%)",
            "cost_usd",
            replace(s, cost=s.cost * 1.2),
            Baseline(s.cost, s.cost_sd**2),
            0.2,
            0.1,
            relative=True,
        ),
    ]


@dataclass
class Outcome:
    """What happened to each run: status, when, on how many units, and any broken promise."""

    status: list[Status]
    looks: Ints  # reconciles from the start to the end (or the horizon)
    seconds: Floats
    step: Ints  # the step the run ended at (-1: never started)
    units: Ints  # (runs, 2): units per arm in the ending step's evidence
    exposed: Ints  # candidate units over the whole rollout, every step
    failed: list[tuple[str, ...]]  # the guardrails whose FAIL rolled the run back
    srm: Ints  # 1 where the rollback was the SRM check's
    undecided_moves: int = 0  # advances or promotions without every guardrail PASS
    weights: tuple[float, ...] = field(default=())

    @property
    def runs(self) -> int:
        return len(self.status)

    def share(self, status: Status) -> float:
        return sum(s is status for s in self.status) / self.runs

    def where(self, status: Status) -> npt.NDArray[np.bool_]:
        return np.asarray([s is status for s in self.status], dtype=bool)

    @staticmethod
    def merge(parts: Sequence[Outcome]) -> Outcome:
        return Outcome(
            status=[s for p in parts for s in p.status],
            looks=np.concatenate([p.looks for p in parts]),
            seconds=np.concatenate([p.seconds for p in parts]),
            step=np.concatenate([p.step for p in parts]),
            units=np.concatenate([p.units for p in parts]),
            exposed=np.concatenate([p.exposed for p in parts]),
            failed=[f for p in parts for f in p.failed],
            srm=np.concatenate([p.srm for p in parts]),
            undecided_moves=sum(p.undecided_moves for p in parts),
            weights=parts[0].weights,
        )


class _Arms:
    """Per run and arm (stable 0, candidate 1), the sufficient statistics since the step began."""

    def __init__(self, runs: int) -> None:
        self.n = np.zeros((runs, 2), dtype=np.int64)
        self.success = np.zeros((runs, 2), dtype=np.int64)
        self.escalated = np.zeros((runs, 2), dtype=np.int64)
        self.cost_sum = np.zeros((runs, 2))
        self.cost_squares = np.zeros((runs, 2))

    def reset(self, i: int) -> None:
        for a in (self.n, self.success, self.escalated, self.cost_sum, self.cost_squares):
            a[i] = 0

    def add(
        self,
        rng: np.random.Generator,
        idx: npt.NDArray[np.intp],
        arrivals: Ints,
        stable: Behaviour,
        candidate: Behaviour,
    ) -> None:
        """One look's newcomers: ``arrivals`` (len(idx), 2) units per arm, drawn per run."""

        def both(a: float, b: float) -> Floats:
            return np.asarray([a, b])

        self.n[idx] += arrivals
        self.success[idx] += rng.binomial(
            arrivals, both(stable.task_success, candidate.task_success)
        )
        self.escalated[idx] += rng.binomial(arrivals, both(stable.escalation, candidate.escalation))
        mu, sd = both(stable.cost, candidate.cost), both(stable.cost_sd, candidate.cost_sd)
        n = arrivals.astype(np.float64)
        sums = rng.normal(n * mu, np.sqrt(n) * sd)
        # Σx² = Σ(x - x̄)² + (Σx)²/n, with Σ(x - x̄)² ~ σ²χ²(n-1) for normal units.
        within = sd**2 * rng.chisquare(np.maximum(n - 1.0, 1.0))
        squares = np.where(n > 1, within, 0.0) + np.where(n > 0, sums**2 / np.maximum(n, 1), 0.0)
        self.cost_sum[idx] += np.where(n > 0, sums, 0.0)
        self.cost_squares[idx] += squares

    def observations(self, i: int, commands: tuple[Command, ...]) -> Observations:
        n = self.n[i]
        nc, nt = int(n[0]), int(n[1])
        return Observations(
            metrics={
                "task_success": Arms(
                    ProportionStats(nc, int(self.success[i, 0])),
                    ProportionStats(nt, int(self.success[i, 1])),
                ),
                "escalation": Arms(
                    ProportionStats(nc, int(self.escalated[i, 0])),
                    ProportionStats(nt, int(self.escalated[i, 1])),
                ),
                "cost_usd": Arms(
                    MeanStats(nc, float(self.cost_sum[i, 0]), float(self.cost_squares[i, 0])),
                    MeanStats(nt, float(self.cost_sum[i, 1]), float(self.cost_squares[i, 1])),
                ),
            },
            units=(nc, nt),
            commands=commands,
        )


def _snapshot(actions: Sequence[object]) -> Snapshot | None:
    return next((a.snapshot for a in actions if isinstance(a, RecordSnapshot)), None)


def simulate(
    rollout: RolloutPlan,
    candidate: Behaviour,
    runs: int,
    *,
    seed: int | Sequence[int],
    traffic: Traffic = Traffic(),
    stable: Behaviour = STABLE,
    horizon: float | None = None,
) -> Outcome:
    """``runs`` rollouts of ``rollout``, each reconciled every ``traffic.interval`` seconds.

    A run ends when the controller ends it, or at ``horizon`` (default: the plan's
    ``max_duration`` and one more look, so the deadline rule has its say).
    """
    rng = np.random.default_rng(seed)
    end = horizon if horizon is not None else (rollout.max_duration or 3 * 24 * HOUR)
    last_look = math.floor(end / traffic.interval) + 1
    weights = tuple(s.weight for s in rollout.steps)
    # Approvals given ahead of time are kept: an operator pre-approves every step asking for one.
    approvals = tuple(
        Command(CommandKind.APPROVE, "operator", step=i)
        for i, s in enumerate(rollout.steps)
        if s.approval
    )
    states = [RolloutState(f"sim#{i}") for i in range(runs)]
    arms = _Arms(runs)
    out = Outcome(
        status=[Status.PENDING] * runs,
        looks=np.full(runs, last_look, dtype=np.int64),
        seconds=np.full(runs, last_look * traffic.interval),
        step=np.full(runs, -1, dtype=np.int64),
        units=np.zeros((runs, 2), dtype=np.int64),
        exposed=np.zeros(runs, dtype=np.int64),
        failed=[()] * runs,
        srm=np.zeros(runs, dtype=np.int64),
        weights=weights,
    )
    for look in range(last_look + 1):
        now = look * traffic.interval
        active = [i for i, s in enumerate(states) if not s.status.terminal]
        if not active:
            break
        if look > 0:  # units that arrived since the last reconcile, at the weights it set
            idx = np.asarray(active, dtype=np.intp)
            w = np.asarray([_weight(states[i], weights) for i in active])
            to_candidate = rng.binomial(traffic.per_look, w)
            arrivals = np.stack([traffic.per_look - to_candidate, to_candidate], axis=1)
            arms.add(rng, idx, arrivals, stable, candidate)
            out.exposed[idx] += to_candidate
        for i in active:
            before = states[i]
            commands = approvals if look == 0 else ()
            state, actions = reconcile(before, arms.observations(i, commands), now, rollout)
            states[i] = state
            snapshot = _snapshot(actions)
            if snapshot is not None and snapshot.decision in (Decision.ADVANCE, Decision.PROMOTE):
                # A step is left only when every guardrail passes: INCONCLUSIVE never moves on.
                out.undecided_moves += any(e.verdict is not Verdict.PASS for e in snapshot.evidence)
            if state.status.terminal:
                out.status[i] = state.status
                out.looks[i] = look
                out.seconds[i] = now
                out.step[i] = before.step if before.step is not None else -1
                out.units[i] = arms.n[i]
                if snapshot is not None and state.status is Status.ROLLED_BACK:
                    out.failed[i] = tuple(
                        e.metric for e in snapshot.evidence if e.verdict is Verdict.FAIL
                    )
                    out.srm[i] = int(snapshot.srm is not None and snapshot.srm.flagged)
            elif state.step != before.step:
                arms.reset(i)  # a new step measures from its own start
    for i, s in enumerate(states):
        if not s.status.terminal:
            out.status[i] = s.status
            out.step[i] = s.step if s.step is not None else -1
            out.units[i] = arms.n[i]
    return out


def _weight(state: RolloutState, weights: tuple[float, ...]) -> float:
    """The candidate's share served now: nothing before the first step, or while held."""
    return 0.0 if state.step is None else weights[state.step]


def simulate_parallel(
    rollout: RolloutPlan,
    candidate: Behaviour,
    runs: int,
    *,
    seed: int,
    traffic: Traffic = Traffic(),
    workers: int | None = None,
    chunks: int = 8,
) -> Outcome:
    """:func:`simulate` over ``chunks`` independent streams, on ``workers`` processes.

    Each chunk has its own ``(seed, chunk)`` stream, so the result depends on ``chunks`` but not
    on ``workers``.
    """
    workers = workers or min(os.cpu_count() or 1, chunks)
    sizes = [runs // chunks + (k < runs % chunks) for k in range(chunks)]
    jobs = [(rollout, candidate, size, (seed, k), traffic) for k, size in enumerate(sizes) if size]
    if workers <= 1:
        return Outcome.merge([_job(job) for job in jobs])
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return Outcome.merge(list(pool.map(_job, jobs)))


def _job(job: tuple[RolloutPlan, Behaviour, int, tuple[int, int], Traffic]) -> Outcome:
    rollout, candidate, runs, seed, traffic = job
    return simulate(rollout, candidate, runs, seed=seed, traffic=traffic)


# -- summaries shared by the benchmark and the fast test --------------------------------------


@dataclass(frozen=True, slots=True)
class Detection:
    """D2 for one harm: rollbacks, their time and sample, against the fixed horizon."""

    runs: int
    rolled_back: float
    promoted: float
    mean_looks: float
    mean_minutes: float
    mean_units: tuple[float, float]  # per arm (stable, candidate) in the rollback step
    fixed: tuple[float, float]  # the non-inferiority-style fixed horizon per arm, same split
    ratio: float  # mean over rolled-back runs of units seen / fixed-horizon units
    ratio_se: float  # its Monte Carlo standard error
    by_fixed: float  # share of runs rolled back before reaching the fixed-horizon sample
    ratio_from_zero: float  # the same ratio against a test of H0: harm <= 0
    by_step: tuple[float, ...]  # share of rollbacks at each step
    own_guardrail: float  # share of rollbacks whose FAIL named the harmed metric


def detection(outcome: Outcome, harm: Harm, rollout: RolloutPlan) -> Detection:
    """Summarise harmful runs. The fixed horizon is at the plan's (whole-rollout) ``alpha``."""
    back = outcome.where(Status.ROLLED_BACK)
    count = int(back.sum())
    steps = [int(s) for s in outcome.step[back]]
    units = outcome.units[back].astype(np.float64).reshape(-1, 2)
    alpha = rollout.gates.alpha
    shares = {s: outcome.weights[s] for s in set(steps)}
    fixed = {s: harm.fixed_horizon(w, alpha=alpha) for s, w in shares.items()}
    zero = {s: harm.fixed_horizon(w, alpha=alpha, null=0.0) for s, w in shares.items()}
    fixed_arms = np.asarray(
        [(fixed[s].control, fixed[s].treatment) for s in steps], dtype=np.float64
    ).reshape(-1, 2)
    zero_candidate = np.asarray([zero[s].treatment for s in steps], dtype=np.float64)
    # Both arms split by the step's weight, so the candidate's ratio is the stable arm's too.
    ratios = units[:, 1] / fixed_arms[:, 1] if count else np.zeros(0)
    named = sum(harm.metric in f for f, b in zip(outcome.failed, back, strict=True) if b)

    def mean(x: Floats) -> float:
        return float(x.mean()) if x.size else math.nan

    return Detection(
        runs=outcome.runs,
        rolled_back=count / outcome.runs,
        promoted=outcome.share(Status.PROMOTED),
        mean_looks=mean(outcome.looks[back].astype(np.float64)),
        mean_minutes=mean(outcome.seconds[back]) / MINUTE,
        mean_units=(mean(units[:, 0]), mean(units[:, 1])),
        fixed=(mean(fixed_arms[:, 0]), mean(fixed_arms[:, 1])),
        ratio=mean(ratios),
        ratio_se=float(ratios.std(ddof=1) / math.sqrt(count)) if count > 1 else math.nan,
        by_fixed=float((ratios <= 1.0).sum()) / outcome.runs,
        ratio_from_zero=mean(units[:, 1] / zero_candidate) if count else math.nan,
        by_step=tuple(steps.count(k) / max(count, 1) for k in range(len(outcome.weights))),
        own_guardrail=named / max(count, 1),
    )


def upper(goal: float, runs: int) -> float:
    """A rate goal plus three Monte Carlo standard errors: the bound a simulation may reach."""
    return goal + 3 * math.sqrt(goal * (1 - goal) / runs)


def lower(goal: float, runs: int) -> float:
    """A rate goal less three Monte Carlo standard errors."""
    return goal - 3 * math.sqrt(goal * (1 - goal) / runs)


# -- the benchmark ----------------------------------------------------------------------------


def _aa(
    report: Report,
    rollout: RolloutPlan,
    runs: int,
    workers: int | None,
    traffic: Traffic = AA_TRAFFIC,
) -> int:
    report.section(
        f"rollout A/A through reconcile ({runs} runs; {traffic.units_per_minute:,} units/min, "
        f"a look every {every(traffic)})"
    )
    aa = simulate_parallel(rollout, STABLE, runs, seed=900, traffic=traffic, workers=workers)
    alpha = rollout.gates.alpha
    back = aa.share(Status.ROLLED_BACK)
    bound = upper(alpha, runs)
    report.add(
        "P3/D1 candidate = stable: rolled back",
        rate(back, runs),
        f"<= {alpha:g} (+3 s.e. {bound:.4f})",
        back <= bound,
    )
    causes = [
        f"{g.metric.name} {sum(g.metric.name in f for f in aa.failed) / runs:.4f}"
        for g in rollout.guardrails
    ]
    report.add(
        "  rolled back by: " + ", ".join(causes) + f", SRM {aa.srm.sum() / runs:.4f}",
        "",
        "(information)",
        None,
    )
    ended = aa.where(Status.ROLLED_BACK)
    report.add(
        "  rollbacks at step " + "/".join(f"{w:g}" for w in aa.weights[:-1]),
        "/".join(str(int((aa.step[ended] == k).sum())) for k in range(len(aa.weights) - 1)),
        "(information)",
        None,
    )
    promoted = aa.share(Status.PROMOTED)
    report.add("A/A: promoted", rate(promoted, runs), "(information)", None)
    done = aa.where(Status.PROMOTED)
    if done.any():
        report.add(
            "A/A: time to promote, mean (reconciles / hours)",
            f"{aa.looks[done].mean():.0f} / {aa.seconds[done].mean() / HOUR:.1f} h",
            "(information)",
            None,
        )
    report.add(
        f"A/A: held at max_duration, {(rollout.max_duration or 0) / HOUR:g} h (a human decides)",
        rate(aa.share(Status.HELD), runs),
        "(information)",
        None,
    )
    return aa.undecided_moves


def _harm(report: Report, rollout: RolloutPlan, harm: Harm, runs: int, workers: int | None) -> int:
    traffic = HARM_TRAFFIC
    outcome = simulate_parallel(
        rollout, harm.candidate, runs, seed=901, traffic=traffic, workers=workers
    )
    d = detection(outcome, harm, rollout)
    floor = lower(0.8, runs)
    report.add(
        f"D2 {harm.name}: rolled back",
        rate(d.rolled_back, runs),
        f">= 0.80 (-3 s.e. {floor:.3f})",
        d.rolled_back >= floor,
    )
    report.add(
        "  units per arm at rollback, mean (stable / candidate)",
        f"{d.mean_units[0]:,.0f} / {d.mean_units[1]:,.0f}",
        "(information)",
        None,
    )
    report.add(
        f"  fixed horizon: H0 harm <= margin, one-sided, alpha {rollout.gates.alpha:g}, power 0.8",
        f"{d.fixed[0]:,.0f} / {d.fixed[1]:,.0f}",
        "(information)",
        None,
    )
    report.add(
        "  units at rollback / fixed horizon, mean",
        f"{d.ratio:.3f} ± {d.ratio_se:.3f}",
        "<= 0.50",
        d.ratio <= 0.5,
    )
    report.add(
        "  rolled back before the fixed-horizon sample",
        rate(d.by_fixed, runs),
        "(information)",
        None,
    )
    report.add(
        "  the same ratio against H0 harm <= 0 (contrast: no goal)",
        f"{d.ratio_from_zero:.3f}",
        "(information)",
        None,
    )
    report.add(
        "  time to rollback, mean (reconciles / minutes)",
        f"{d.mean_looks:.1f} / {d.mean_minutes:.1f}",
        "(information)",
        None,
    )
    report.add(
        "  by its own guardrail; share at step " + "/".join(f"{w:g}" for w in outcome.weights[:-1]),
        f"{d.own_guardrail:.3f}; " + "/".join(f"{x:.3f}" for x in d.by_step[:-1]),
        "(information)",
        None,
    )
    report.add("  promoted", rate(d.promoted, runs), "(information)", None)
    return outcome.undecided_moves


def tested_alpha(rollout: RolloutPlan, step: int) -> float:
    """The alpha each guardrail is tested at in ``step``, as the controller reports it."""
    state = RolloutState("probe", status=Status.RUNNING, step=step, started_at=0.0)
    return assess(rollout, state, Observations(), 0.0).evidence[0].alpha


def run(
    report: Report,
    scale: float,
    *,
    workers: int | None = None,
    aa_at_server_pace: int = 0,
) -> None:
    """Every figure of issue 5's rollout benchmarks, beside its goal.

    ``aa_at_server_pace`` runs that many more A/A rollouts looked at every 10 s, as the server
    looks (each takes about 4,500 reconciles: some 15 CPU-seconds).
    """
    rollout = plan()
    aa_runs = max(round(2000 * scale), 200)
    harm_runs = max(round(1000 * scale), 100)
    undecided = _aa(report, rollout, aa_runs, workers)
    if aa_at_server_pace:
        undecided += _aa(report, rollout, aa_at_server_pace, workers, HARM_TRAFFIC)
    tested = range(len(rollout.steps) - 1)
    report.add(
        "  alpha of each guardrail at step "
        + "/".join(f"{rollout.steps[k].weight:g}" for k in tested)
        + f" (sums to {rollout.gates.alpha:g} over steps x guardrails)",
        "/".join(f"{tested_alpha(rollout, k):.4f}" for k in tested),
        "(information)",
        None,
    )
    report.section(
        f"rollout, harm = 2 x margin ({harm_runs} runs each; {HARM_TRAFFIC.units_per_minute:,} "
        f"units/min, a look every {every(HARM_TRAFFIC)})"
    )
    for harm in harms():
        undecided += _harm(report, rollout, harm, harm_runs, workers)
    report.add(
        "INCONCLUSIVE never promotes: advances or promotions without every guardrail PASS",
        str(undecided),
        "0",
        undecided == 0,
    )
