"""Log a misuse warning once per (flag, problem), so a hot loop cannot flood the logs."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("flagplane")


class WarnOnce:
    """Remembers which (flag, problem) pairs were already logged. Thread-safe, bounded."""

    def __init__(self, limit: int = 10_000) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._limit = limit

    def warn(self, flag_key: object, problem: str, message: str) -> None:
        key = (flag_key if isinstance(flag_key, str) else repr(flag_key), problem)
        with self._lock:
            if key in self._seen or len(self._seen) >= self._limit:
                return
            self._seen.add(key)
        logger.warning("flagplane: flag %r: %s", key[0], message)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
