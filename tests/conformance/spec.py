"""Load GrowthBook's SDK conformance cases from ``../shared/spec`` without copying them.

The file is not ours to vendor (see ``../shared/spec/README.md``), so a fresh clone elsewhere has
no copy: there the cases skip with a visible reason, while under ``CI=true`` a missing file fails.
``RAMPGATE_SPEC_CASES`` points at another copy.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SPEC_NAME = "growthbook-sdk-cases-0.8.0.json"
_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "spec" / SPEC_NAME
MISSING = object()


def spec_path() -> Path:
    return Path(os.environ.get("RAMPGATE_SPEC_CASES", _DEFAULT))


@cache
def _load() -> dict[str, Any] | None:
    path = spec_path()
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def cases(category: str, *, named: bool = True) -> list[Any]:
    """Parameters for one category: each case as a ``pytest.param`` with its name as the id.

    A missing file yields one placeholder parameter whose test calls :func:`require`, so the
    absence shows up as a skip (or a CI failure) instead of silently collecting nothing.
    """
    data = _load()
    if data is None:
        return [pytest.param(MISSING, id="spec-file-missing")]
    out = []
    seen: dict[str, int] = {}
    for case in data[category]:
        # Unnamed categories (hash, getEqualWeights) are identified by their inputs.
        name = str(case[0]) if named else json.dumps(case[:-1], ensure_ascii=False)
        # Some categories repeat a case name; pytest ids must be unique.
        seen[name] = seen.get(name, 0) + 1
        ident = name if seen[name] == 1 else f"{name}#{seen[name]}"
        out.append(pytest.param(case, id=ident))
    return out


def require(case: Any) -> None:
    """Skip (or, under CI, fail) when the spec file is absent."""
    if case is MISSING:
        message = f"GrowthBook spec cases not found at {spec_path()} (set RAMPGATE_SPEC_CASES)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
