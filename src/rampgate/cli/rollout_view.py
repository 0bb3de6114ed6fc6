"""What ``rampgate rollout status`` and ``list`` show: a run's state as rich renderables.

Read from the API's status document (``GET …/rollouts/{name}``): step and traffic, time left,
and per guardrail the arms, the harm with its interval, and the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["ENDED", "render_status", "share", "status_text", "step_text"]

ENDED = ("promoted", "rolled_back", "aborted")
VERDICT_STYLE = {
    "PASS": "green",
    "FAIL": "bold red",
    "INCONCLUSIVE": "yellow",
    "NODATA": "dim",
    "ERROR": "magenta",
}
STATUS_STYLE = {
    "running": "cyan",
    "awaiting_approval": "yellow",
    "paused": "yellow",
    "held": "yellow",
    "promoted": "green",
    "rolled_back": "red",
    "aborted": "red",
}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def step_text(doc: Mapping[str, Any]) -> str:
    step, steps = doc.get("step"), doc.get("steps") or []
    return "-" if step is None else f"{step + 1} of {len(steps)}"


def share(doc: Mapping[str, Any]) -> str:
    traffic = doc.get("traffic") or {}
    return f"{traffic.get(doc['candidate'], 0.0):.0%}"


def _duration(seconds: float) -> str:
    s = round(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (s, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def _number(value: Any, relative: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if relative else f"{value:+.4g}"


def _arm(arm: Mapping[str, Any] | None) -> str:
    if not arm:
        return "-"
    return f"{arm['estimate']:.4g} (n={arm['n']})" if arm.get("estimate") is not None else "-"


def _harm(e: Mapping[str, Any]) -> str:
    """``harm [low, high] vs margin``: the interval the verdict rests on, against its limit."""
    relative = bool(e.get("relative"))
    interval = (
        f"{_number(e.get('harm'), relative)} "
        f"[{_number(e.get('harm_low'), relative)}, {_number(e.get('harm_high'), relative)}]"
    )
    if e.get("limit") is not None:
        return f"{interval} vs limit {e['limit']:g}"
    margin = e.get("margin")
    if margin is None:
        return interval
    return f"{interval} vs {margin:.0%}" if relative else f"{interval} vs {margin:g}"


def _guardrails(evidence: Sequence[Mapping[str, Any]]) -> Table:
    # Cells are Text, never markup: intervals are written in square brackets.
    table = Table(
        "guardrail", "stable", "candidate", escape("harm [low, high] vs margin"), "verdict"
    )
    for e in evidence:
        verdict = str(e.get("verdict", ""))
        note = f" ({e['reason']})" if e.get("reason") else ""
        table.add_row(
            Text(e.get("guardrail") or e.get("metric", "")),
            Text(_arm(e.get("stable"))),
            Text(_arm(e.get("candidate"))),
            Text(_harm(e)),
            Text(verdict + note, style=VERDICT_STYLE.get(verdict, "")),
        )
    return table


def render_status(doc: Mapping[str, Any]) -> RenderableType:
    """The ``GET …/rollouts/{name}`` document as an operator reads it."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row(
        "rollout",
        Text(
            f"{doc['id']} in {doc['environment']}: flag {doc['flag']}, "
            f"{doc['stable']} → {doc['candidate']}"
        ),
    )
    head.add_row("status", status_text(doc["status"]))
    steps = " → ".join(f"{w:.0%}" for w in doc.get("steps") or [])
    head.add_row("step", f"{step_text(doc)}  ({steps})")
    traffic = doc.get("traffic") or {}
    head.add_row("traffic", Text(", ".join(f"{k} {v:.0%}" for k, v in traffic.items())))
    if doc.get("rationale"):
        head.add_row("why", Text(doc["rationale"]))
    left = doc.get("time_left") or {}
    times = []
    if left.get("step_min_duration") is not None:
        times.append(f"step {_duration(left['step_min_duration'])}")
    if left.get("max_duration") is not None:
        times.append(f"rollout {_duration(left['max_duration'])}")
    if times:
        head.add_row("time left", ", ".join(times))
    parts: list[RenderableType] = [head]
    if doc.get("guardrails"):
        parts.append(_guardrails(doc["guardrails"]))
    gates = doc.get("gates") or []
    if gates:
        line = Text("gates  ")
        for g in gates:
            mark = "✓" if g.get("passed") else "✗"
            line.append(f"{mark} {g['name']}  ", style="green" if g.get("passed") else "red")
        parts.append(line)
    srm = doc.get("srm")
    if srm and srm.get("flagged"):
        parts.append(Text(f"SRM alarm: units per arm {srm.get('observed')}", style="bold red"))
    pending = doc.get("pending_commands") or []
    if pending:
        parts.append(Text("pending: " + ", ".join(f"{c['kind']} by {c['actor']}" for c in pending)))
    for a in (doc.get("alerts") or [])[:5]:
        style = "red" if a.get("level") == "critical" else "yellow"
        parts.append(Text(f"{a['at'][:19]}  {a['kind']}: {a['message']}", style=style))
    return Group(*parts)
