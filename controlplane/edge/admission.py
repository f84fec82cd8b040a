"""Load shedding for the SDK paths: refuse early and cheaply, rather than queue into timeouts.

A request is refused (503 with Retry-After, which the SDK honours) when this process already
has ``EDGE_MAX_INFLIGHT`` SDK requests in progress, or when its event loop runs late by more
than ``EDGE_MAX_LAG_MS`` (the sign that accepted requests would wait). Streams have their own
ceiling, ``EDGE_MAX_STREAMS`` per process.
"""

from __future__ import annotations

import asyncio
import random

TICK_S = 0.02


class Admission:
    def __init__(self, max_inflight: int, max_streams: int, max_lag_s: float) -> None:
        self.max_inflight = max_inflight
        self.max_streams = max_streams
        self.max_lag_s = max_lag_s
        self.inflight = 0
        self.streams = 0
        self.lag_s = 0.0
        self.shed = 0

    def admit_request(self) -> bool:
        if self.inflight >= self.max_inflight or self.lag_s > self.max_lag_s:
            self.shed += 1
            return False
        return True

    def admit_stream(self) -> bool:
        if self.streams >= self.max_streams or self.lag_s > self.max_lag_s:
            self.shed += 1
            return False
        return True

    @staticmethod
    def retry_after() -> bytes:
        """Seconds to wait, spread so that refused clients do not all come back at once."""
        return str(random.randint(1, 3)).encode()

    async def watch_lag(self) -> None:
        """Measure how late the event loop runs (a moving average over the last ~0.2 s)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(TICK_S)
            late = max(0.0, loop.time() - started - TICK_S)
            self.lag_s = 0.8 * self.lag_s + 0.2 * late
