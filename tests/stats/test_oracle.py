"""The oracle's environment: made on demand, skipped visibly without it, required in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import oracle


def unavailable() -> Path:
    raise oracle.OracleUnavailableError("no network")


def test_missing_oracle_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oracle, "ensure_oracle", unavailable)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no network"):
        oracle.require_oracle()


def test_missing_oracle_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oracle, "ensure_oracle", unavailable)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        oracle.require_oracle()


def test_the_oracle_is_gbstats_0_8_0_on_numpy_1(gbstats_python: Path) -> None:
    answer = oracle.run_oracle(gbstats_python, {"cases": []})
    assert answer["versions"]["gbstats"] == "0.8.0"
    assert answer["versions"]["numpy"].startswith("1.")
    assert gbstats_python.parent.parent == oracle.VENV
