"""The engine's clock, in Unix seconds. Tests replace ``now`` to move time without waiting."""

import time


def now() -> float:
    return time.time()
