"""Event sinks that ship with the SDK: JSON Lines files (the HTTP sink comes with the server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["JsonlSink"]


class JsonlSink:
    """Appends each record as one JSON line; one ``write`` per batch, flushed to the OS."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Mapping[str, Any]]) -> None:
        # default=str: an odd property value (a datetime, a Decimal) must not lose the batch.
        text = "".join(
            json.dumps(record, separators=(",", ":"), default=str) + "\n" for record in batch
        )
        with self._lock:
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()
