"""Reload a config file when it changes, by polling its size and modification time.

Polling (once a second by default) needs no platform file-event API and costs one ``stat``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["FileWatcher"]

logger = logging.getLogger("rampgate")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class FileWatcher:
    def __init__(self, path: Path, on_change: Callable[[], None], *, interval: float) -> None:
        self._path = path
        self._on_change = on_change
        self._interval = interval
        self._seen = _signature(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rampgate-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            current = _signature(self._path)
            if current is not None and current != self._seen:
                self._seen = current
                try:
                    self._on_change()
                except Exception:  # a reload bug must not kill the watcher
                    logger.exception("rampgate: reloading %s failed", self._path)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
