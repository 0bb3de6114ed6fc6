"""The ruleset as the server sends it, and the last-known-good copy on disk.

Payload: ``{"environment": str, "version": int, "flags": {key: document}, "saved_groups": {...}}``
where each document is :func:`rampgate.config.flag_to_document`'s shape.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rampgate.config import flag_from_document
from rampgate.domain.engine import Ruleset, compile_ruleset
from rampgate.errors import ConfigError

__all__ = ["read_cache", "ruleset_from_payload", "write_cache"]


def ruleset_from_payload(payload: Mapping[str, Any], *, source: str = "<server>") -> Ruleset:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("flags"), Mapping):
        raise ConfigError("ruleset payload has no 'flags' mapping", source=source)
    groups = payload.get("saved_groups") or {}
    # Conditions are checked once, by compile_ruleset, rather than also by the parser: every
    # process connected to the server does this for every change, all at the same moment.
    flags = [
        flag_from_document(key, doc, source=source, saved_groups=groups, check_conditions=False)
        for key, doc in payload["flags"].items()
    ]
    return compile_ruleset(
        str(payload.get("environment", "")),
        flags,
        version=str(payload.get("version", "")),
        saved_groups=groups,
    )


def write_cache(path: Path, payload: Mapping[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous good copy, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".rampgate-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
