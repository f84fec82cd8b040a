"""The engine's clock, in Unix seconds. Tests replace ``now`` to move time without waiting."""

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def moment(seconds: float) -> datetime:
    """The engine's seconds as an aware datetime, as rows store them."""
    return datetime.fromtimestamp(seconds, tz=UTC)
