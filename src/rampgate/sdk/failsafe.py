"""The one place rampgate fails open.

The SDK runs inside someone else's request path, so an internal error must never become their
outage: it is turned into the safe default, counted here, and logged once per kind and key (a
broken flag evaluated a million times logs once, not a million times).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

__all__ = ["Failsafe"]

logger = logging.getLogger("rampgate")


class Failsafe:
    """Counts failures by kind and logs the first of each (kind, key) pair."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def record(
        self, kind: str, key: str, error: BaseException | None = None, message: str = ""
    ) -> None:
        with self._lock:
            self._counts[kind] += 1
            first = (kind, key) not in self._logged
            if first:
                self._logged.add((kind, key))
        if first:
            text = message or (f"{type(error).__name__}: {error}" if error else kind)
            logger.warning(
                "rampgate %s for %r: %s (serving the safe default; repeats are only counted)",
                kind,
                key,
                text,
                exc_info=error if error is not None and not message else None,
            )

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
