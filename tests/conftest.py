"""Suite-wide hooks: the conformance tally printed at the end of every run."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

_tally: dict[str, Counter[str]] = defaultdict(Counter)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/conformance/" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        # tests/conformance/test_feature_spec.py::test_feature[name] -> test_feature_spec
        module = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _tally[module.removeprefix("test_")][outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _tally:
        return
    terminalreporter.section("GrowthBook SDK conformance (../shared/spec)")
    for name in sorted(_tally):
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_tally[name].items()))
        terminalreporter.write_line(f"{name:28} {counts}")
