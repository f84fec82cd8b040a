"""Load shedding for the SDK paths: refuse early and cheaply, rather than queue into timeouts.

A request is judged by how long it has waited in this process before it got to run: from the
moment its bytes were read (``protocol.RECEIVED_AT``) plus the event loop's current lag (how
late the loop runs, which is how long bytes wait in the socket before they are read). Past
``EDGE_MAX_QUEUE_MS`` it is refused with 503 and Retry-After (the SDK honours it), whatever it
asks for: answering it late helps nobody, and its SDK is told to come back later, which is
what brings the load back under capacity. A request that is answered from process memory (a
known key, the served document: every 304) is never refused for any other reason. Requests
that have to wait for Redis or PostgreSQL are limited to ``EDGE_MAX_INFLIGHT`` at a time, and
streams to ``EDGE_MAX_STREAMS`` per process.
"""

from __future__ import annotations

import asyncio
import random

from controlplane.edge.http import Scope
from controlplane.edge.protocol import RECEIVED_AT

TICK_S = 0.01
ADMIT_ONE_IN = 10
"""Of the requests that waited too long, every tenth in a row is answered all the same: clients
that ignore Retry-After and ask again at once (a closed loop) keep every request late, and
refusing all of them would serve none."""


class Admission:
    def __init__(self, max_inflight: int, max_streams: int, max_queue_s: float) -> None:
        self.max_inflight = max_inflight
        self.max_streams = max_streams
        self.max_queue_s = max_queue_s
        self.inflight = 0
        """Requests of this process waiting for Redis or PostgreSQL now."""
        self.streams = 0
        self.lag_s = 0.0
        self.shed = 0
        self._late_in_a_row = 0

    def waited(self, scope: Scope) -> float:
        """Seconds the request has waited: in the socket (the loop's lag) and since it was read."""
        received = scope.get(RECEIVED_AT)
        in_process = asyncio.get_running_loop().time() - received if received is not None else 0.0
        return self.lag_s + in_process

    def too_late(self, scope: Scope) -> bool:
        """Whether the request waited too long to be worth answering (it is then counted shed)."""
        if self.waited(scope) <= self.max_queue_s:
            self._late_in_a_row = 0
            return False
        self._late_in_a_row += 1
        if self._late_in_a_row >= ADMIT_ONE_IN:
            self._late_in_a_row = 0
            return False
        self.shed += 1
        return True

    def may_wait(self) -> bool:
        """Whether one more request may wait for Redis or PostgreSQL."""
        if self.inflight >= self.max_inflight:
            self.shed += 1
            return False
        return True

    def admit_stream(self) -> bool:
        if self.streams >= self.max_streams:
            self.shed += 1
            return False
        return True

    @staticmethod
    def retry_after() -> bytes:
        """Seconds to wait, spread so that refused clients do not all come back at once."""
        return str(random.randint(1, 3)).encode()

    async def watch_lag(self) -> None:
        """Measure how late the event loop runs (a moving average over the last ~0.05 s)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(TICK_S)
            late = max(0.0, loop.time() - started - TICK_S)
            self.lag_s = 0.8 * self.lag_s + 0.2 * late
