"""Server settings from ``RAMPGATE_*`` environment variables (see docs/server.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from rampgate.errors import ConfigError

__all__ = ["ServerSettings"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    database_url: str = "sqlite:///rampgate.db"  # RAMPGATE_DATABASE_URL
    host: str = "127.0.0.1"  # RAMPGATE_HOST
    port: int = 7400  # RAMPGATE_PORT
    heartbeat_seconds: float = 15.0  # RAMPGATE_HEARTBEAT_SECONDS: SSE keep-alive comments
    max_body_bytes: int = 5 * 1024 * 1024  # RAMPGATE_MAX_BODY_BYTES: larger requests get 413
    max_events_per_batch: int = 10_000  # RAMPGATE_MAX_EVENTS_PER_BATCH
    change_poll_seconds: float = 1.0  # RAMPGATE_CHANGE_POLL_SECONDS: safety net behind NOTIFY
    # RAMPGATE_CONTROLLER_INTERVAL: seconds between rollout reconciles; 0 turns the controller off
    controller_interval: float = 10.0
    workers: int = 1  # RAMPGATE_WORKERS: server processes on one port (PostgreSQL only)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ServerSettings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f"RAMPGATE_{f.name.upper()}"
            if name not in env:
                continue
            raw = env[name]
            kind: type = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                raise ConfigError(
                    f"{name}={raw!r} is not a valid {kind.__name__}", source="environment"
                ) from exc
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
