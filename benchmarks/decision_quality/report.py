"""Rows of (figure, value, goal, met), printed as they come and summarised at the end."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def rate(value: float, runs: int) -> str:
    """A rate with its Monte Carlo standard error."""
    return f"{value:.4f} ± {math.sqrt(max(value * (1 - value), 1e-12) / runs):.4f}"


@dataclass
class Report:
    rows: list[tuple[str, str, str, bool | None]] = field(default_factory=list)

    def section(self, title: str) -> None:
        print(f"\n== {title}")

    def add(self, figure: str, value: str, goal: str, met: bool | None) -> None:
        """``met=None`` marks a figure reported for information, with no goal to meet."""
        self.rows.append((figure, value, goal, met))
        verdict = "" if met is None else ("ok" if met else "MISSED")
        print(f"  {figure:<84} {value:>17}   {goal:<28} {verdict}", flush=True)

    def summary(self) -> int:
        judged = [met for *_, met in self.rows if met is not None]
        missed = judged.count(False)
        print(f"\n{len(judged) - missed}/{len(judged)} goals met")
        return 1 if missed else 0
