"""Fixtures of the edge's fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.edge.faults import PrivateRedis


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test's own on a free port, for faults the shared one must not see."""
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
