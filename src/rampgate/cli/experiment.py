"""``rampgate experiment plan``: how many units and days an experiment needs, before it starts."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from .options import console, fail

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


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")
