"""``rampgate experiment …``: plan an experiment, then register, start, analyse and stop it.

``plan`` is local arithmetic. The others are thin commands over the server's HTTP API
(``--url``/``--token`` or ``RAMPGATE_URL``/``RAMPGATE_TOKEN``, like ``rampgate apply``): the
server checks the contract, keeps the receipts and applies the split to the flag.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from .apply import Token, Url
from .http import connect, segment
from .options import Json, console, fail, load_or_exit

experiment_app = typer.Typer(help="Experiments as contracts.", no_args_is_help=True)


def _guardrail(text: str) -> tuple[Any, Any]:
    """``NAME:rate=0.12,margin=10%[,higher]`` (or ``mean=…,sd=…``) → (Guardrail, Baseline)."""
    from rampgate.stats import Baseline, Guardrail

    spec = text.partition(":")[2]
    fields: dict[str, str] = {}
    for part in filter(None, spec.split(",")):
        key, _, value = part.partition("=")
        fields[key] = value
    try:
        margin_text = fields["margin"]
        relative = margin_text.endswith("%")
        margin = float(margin_text.rstrip("%")) / (100 if relative else 1)
        if "rate" in fields:
            baseline = Baseline.rate(float(fields["rate"]))
        else:
            baseline = Baseline(float(fields["mean"]), float(fields["sd"]) ** 2)
        return Guardrail(margin, higher_is_better="higher" in fields, relative=relative), baseline
    except (KeyError, ValueError) as exc:
        fail(
            f"--guardrail {text!r}: {exc}; expected NAME:rate=0.12,margin=10% "
            "or NAME:mean=800,sd=300,margin=50"
        )


@experiment_app.command("plan")
def plan(
    mde: Annotated[
        float,
        typer.Option(
            "--mde", help="Smallest effect worth detecting (absolute, or relative with --relative)."
        ),
    ],
    units_per_day: Annotated[
        float, typer.Option("--units-per-day", help="Units entering the experiment per day.")
    ],
    baseline_rate: Annotated[
        float | None, typer.Option("--baseline-rate", help="Control rate of a proportion metric.")
    ] = None,
    baseline_mean: Annotated[
        float | None, typer.Option("--baseline-mean", help="Control mean of a mean metric.")
    ] = None,
    baseline_sd: Annotated[
        float | None,
        typer.Option("--baseline-sd", help="Per-unit standard deviation of a mean metric."),
    ] = None,
    relative: Annotated[
        bool, typer.Option("--relative", help="--mde is a relative lift (0.05 = 5%).")
    ] = False,
    alpha: Annotated[float, typer.Option("--alpha", help="False positive rate.")] = 0.05,
    power: Annotated[
        float, typer.Option("--power", help="Probability of detecting the MDE.")
    ] = 0.8,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="Plan for always-valid (peek-anytime) analysis.")
    ] = False,
    treatment_share: Annotated[
        float, typer.Option("--treatment-share", help="Treatment's share of units.")
    ] = 0.5,
    guardrail: Annotated[
        list[str] | None,
        typer.Option("--guardrail", help="NAME:rate=0.12,margin=10% (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sample size per arm, duration, and each guardrail's minimum sample (power at its margin)."""
    from rampgate.stats import Baseline, Design, plan_experiment

    try:
        if baseline_rate is not None:
            baseline = Baseline.rate(baseline_rate)
        elif baseline_mean is not None and baseline_sd is not None:
            baseline = Baseline(baseline_mean, baseline_sd**2)
        else:
            fail("give --baseline-rate, or --baseline-mean with --baseline-sd")
        design = Design(
            alpha=alpha, power=power, sequential=sequential, treatment_share=treatment_share
        )
        result = plan_experiment(
            baseline,
            mde,
            units_per_day=units_per_day,
            relative=relative,
            design=design,
            guardrails=tuple(_guardrail(g) for g in guardrail or []),
        )
    except ValueError as exc:
        fail(str(exc))
    guardrails: list[dict[str, Any]] = [
        {"spec": spec, "control": s.control, "treatment": s.treatment}
        for spec, (_, s) in zip(guardrail or [], result.guardrails, strict=True)
    ]
    out = {
        "control": result.sample.control,
        "treatment": result.sample.treatment,
        "total": result.sample.total,
        "days": result.days,
        "design": {
            "alpha": alpha,
            "power": power,
            "sequential": sequential,
            "treatment_share": treatment_share,
        },
        "guardrails": guardrails,
    }
    if as_json:
        console.print_json(json.dumps(out))
        return
    table = Table("what", "control", "treatment", "total", title="experiment plan")
    kind = "sequential (always valid)" if sequential else "fixed horizon"
    table.add_row(
        f"primary: MDE {mde:g}{' relative' if relative else ''}, {kind}",
        f"{result.sample.control:,}",
        f"{result.sample.treatment:,}",
        f"{result.sample.total:,}",
    )
    for item in guardrails:
        table.add_row(
            f"guardrail {item['spec']}",
            f"{item['control']:,}",
            f"{item['treatment']:,}",
            f"{item['control'] + item['treatment']:,}",
        )
    console.print(table)
    console.print(f"at {units_per_day:,.0f} units/day: [bold]{result.days:.1f} days[/bold]")


Name = Annotated[str, typer.Argument(help="The experiment's name.")]
Env = Annotated[
    str,
    typer.Option("--env", "-e", envvar="RAMPGATE_ENV", help="Environment of the experiment."),
]


def _send(
    url: str,
    token: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One request; a refused one exits 1 naming each field and its fix."""
    with connect(url, token) as api:
        return api.call(method, path, body, headers=headers)


def _path(env: str, name: str = "", tail: str = "") -> str:
    base = f"/environments/{segment(env)}/experiments"
    return "/".join(part for part in (base, segment(name), tail) if part)


def _baselines(specs: list[str]) -> dict[str, dict[str, float]]:
    """``METRIC:rate=0.3`` or ``METRIC:mean=800,sd=300`` → the API's ``baselines``."""
    out: dict[str, dict[str, float]] = {}
    for text in specs:
        metric, _, rest = text.partition(":")
        try:
            fields = dict(part.split("=", 1) for part in rest.split(",") if part)
            out[metric] = {key: float(value) for key, value in fields.items()}
        except ValueError:
            fail(f"--baseline {text!r}: expected METRIC:rate=0.3 or METRIC:mean=800,sd=300")
        if not metric or not out[metric]:
            fail(f"--baseline {text!r}: expected METRIC:rate=0.3 or METRIC:mean=800,sd=300")
    return out


@experiment_app.command("register")
def register_command(
    name: Name,
    file: Annotated[Path, typer.Option("--file", "-f", help="Config file with experiments.NAME.")],
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", help="Environment (default: the contract's environment)."),
    ] = None,
    units_per_day: Annotated[
        float | None,
        typer.Option("--units-per-day", help="Units entering per day, before coverage."),
    ] = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option("--baseline", help="METRIC:rate=0.3 or METRIC:mean=800,sd=300 (repeatable)."),
    ] = None,
    url: Url = "http://127.0.0.1:7400",
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Register experiment NAME from FILE: refused unless its sample can reach the MDE in time."""
    config = load_or_exit(file)
    contract = (config.sections.get("experiments") or {}).get(name)
    if not isinstance(contract, dict):
        fail(f"{file} has no experiments.{name}")
    environment = env or contract.get("environment")
    if not environment:
        fail(f"experiments.{name} names no environment: give --env")
    body: dict[str, Any] = {"name": name, "contract": contract}
    if config.sections.get("metrics"):
        body["metrics"] = config.sections["metrics"]
    if units_per_day is not None:
        body["units_per_day"] = units_per_day
    if baseline:
        body["baselines"] = _baselines(baseline)
    # Derived from the request: registering the same thing twice is one change.
    key = hashlib.sha256(json.dumps([environment, body], sort_keys=True).encode()).hexdigest()
    headers = {"Idempotency-Key": f"register-{key[:40]}"}
    out = _send(url, token, "POST", _path(environment), body, headers)
    if as_json:
        console.print_json(json.dumps(out))
        return
    plan = out["experiment"]["plan"]
    console.print(
        f"registered {environment}/{name}: needs {plan['days']:.1f} of {plan['max_days']:.1f} "
        f"days at {plan['units_per_day']:,.0f} units/day; change {out['receipt']['change_id']}"
    )


@experiment_app.command("start")
def start_command(
    name: Name,
    env: Env = "prod",
    url: Url = "http://127.0.0.1:7400",
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Start NAME: its split goes live on the flag, and its registered fields freeze."""
    out = _send(url, token, "POST", _path(env, name, "start"))
    if as_json:
        console.print_json(json.dumps(out))
        return
    experiment = out["experiment"]
    console.print(
        f"started {env}/{name}: rule {experiment['rule_id']} on flag {experiment['flag']} "
        f"(version {experiment['flag_version']}); change {out['receipt']['change_id']}"
    )


@experiment_app.command("stop")
def stop_command(
    name: Name,
    env: Env = "prod",
    reason: Annotated[str, typer.Option("--reason", help="Why, kept in the receipt.")] = "",
    serve_winner: Annotated[
        bool,
        typer.Option("--serve-winner", help="Serve the winner of the latest promote checkpoint."),
    ] = False,
    url: Url = "http://127.0.0.1:7400",
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Stop NAME: its rule leaves the flag, or serves the promoted winner."""
    body = {"reason": reason, "serve_winner": serve_winner}
    out = _send(url, token, "POST", _path(env, name, "stop"), body)
    if as_json:
        console.print_json(json.dumps(out))
        return
    served = out["experiment"]["stopped"]["served"]
    what = f"now serving {served}" if served else "its rule is off the flag"
    console.print(f"stopped {env}/{name}: {what}; change {out['receipt']['change_id']}")


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def _analysis_table(look: dict[str, Any]) -> Table:
    """One row per comparison: the primary and secondary metrics' effects, then each
    guardrail's harm (treatment minus control, in the metric's units) against its margin."""
    title = f"{look['environment']}/{look['experiment']}: {look['decision']}"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("metric", min_width=12)
    for column in ("arm", "role"):
        table.add_column(column, no_wrap=True)
    table.add_column("effect [interval]")
    for column in ("adj. p", "verdict"):
        table.add_column(column, no_wrap=True)

    def effect(estimate: Any, low: Any, high: Any) -> str:
        return f"{_number(estimate)} [{_number(low)}, {_number(high)}]"

    for role in ("primary", "secondary"):
        for c in look[role]:
            verdict = "better" if c["better"] else "worse" if c["worse"] else "n.s."
            shown = effect(c["estimate"], c["ci_low"], c["ci_high"])
            table.add_row(c["metric"], c["arm"], role, shown, _number(c["adjusted_p"]), verdict)
    for g in look["guardrails"]:
        shown = effect(g["harm"], g["harm_low"], g["harm_high"])
        table.add_row(g["guardrail"], g["arm"], "guardrail", shown, "", g["verdict"])
    return table


@experiment_app.command("analyze")
def analyze_command(
    name: Name,
    env: Env = "prod",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Look without recording a checkpoint or acting.")
    ] = False,
    url: Url = "http://127.0.0.1:7400",
    token: Token = "",
    as_json: Json = False,
) -> None:
    """Analyse NAME: record a checkpoint (a stop decision stops it) and show the decision."""
    if dry_run:
        look = _send(url, token, "GET", _path(env, name, "analysis"))
    else:
        look = _send(url, token, "POST", _path(env, name, "checkpoint"))["checkpoint"]
    if as_json:
        console.print_json(json.dumps(look))
        return
    console.print(_analysis_table(look))
    units = ", ".join(f"{arm} {n:,}" for arm, n in look["units"].items())
    srm = "[red]SRM[/red]" if look["srm"]["flagged"] else "no SRM"
    console.print(f"units: {units}; {srm}")
    console.print(f"[bold]{look['decision']}[/bold]: {look['rationale']}")
    if look.get("id"):
        console.print(f"snapshot {look['id']}")


@experiment_app.command("list")
def list_command(
    env: Env = "prod", url: Url = "http://127.0.0.1:7400", token: Token = "", as_json: Json = False
) -> None:
    """The environment's experiments: status, checkpoints and the latest decision."""
    experiments = _send(url, token, "GET", _path(env))
    if as_json:
        console.print_json(json.dumps(experiments))
        return
    table = Table("name", "flag", "status", "version", "checkpoints", "decision", title=env)
    for e in experiments:
        last = e.get("last_checkpoint") or {}
        counts = (str(e["version"]), str(e["checkpoints"]), last.get("decision", "-"))
        table.add_row(e["name"], e["flag"], e["status"], *counts)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")
