"""Fixtures for the statistics tests: the gbstats oracle, created on first use."""

from __future__ import annotations

from pathlib import Path

import pytest

from .oracle import require_oracle


@pytest.fixture(scope="session")
def gbstats_python() -> Path:
    """Python of ``.venv-gbstats``; skips with the reason when it cannot be made, except in CI."""
    return require_oracle()
