"""A replaced ruleset is freed by reference counting, not by the cycle collector.

SDKs swap rulesets on every flag change; a ruleset that formed a reference cycle was freed only
by full collections, which paused a client for ~150 ms (the tail of benchmark P2).
"""

from __future__ import annotations

import gc

from rampgate.domain.engine import compile_ruleset
from rampgate.domain.model import Flag, Prerequisite, Rule, Split


def _garbage_after_dropping(flags: list[Flag]) -> int:
    gc.collect()
    gc.disable()
    try:
        ruleset = compile_ruleset("prod", flags)
        assert ruleset.flags
        del ruleset
        return gc.collect()
    finally:
        gc.enable()


def test_a_ruleset_without_prerequisites_leaves_no_cycle() -> None:
    flags = [
        Flag(
            key=f"f{i}",
            variants={"a": {"model": "x"}, "b": {"model": "y"}},
            default="a",
            rules=(Rule(id="split", split=Split(weights={"a": 0.5, "b": 0.5})),),
        )
        for i in range(20)
    ]
    assert _garbage_after_dropping(flags) == 0


def test_prerequisites_still_resolve_through_the_ruleset() -> None:
    parent = Flag(key="parent", variants={"on": True, "off": False}, default="on")

    def child_serves(wanted: bool) -> str | None:
        child = Flag(
            key="child",
            variants={"a": 1, "b": 2},
            default="a",
            rules=(Rule(id="all", serve="b"),),
            prerequisites=(Prerequisite(flag="parent", condition={"value": wanted}),),
        )
        return compile_ruleset("prod", [parent, child]).flags["child"].evaluate({}).variant

    assert child_serves(True) == "b"  # the parent serves True: the child's rules run
    assert child_serves(False) == "a"  # the prerequisite fails: the child's default
