"""Blocking work of the edge (Django ORM queries, large compression) off the event loop.

The threads are few and long-lived, so their database connections persist (CONN_MAX_AGE);
each call starts and ends like a request does, closing a connection that broke or aged out.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import OperationalError, close_old_connections

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.EDGE_DB_THREADS, thread_name_prefix="edge-db")
    return _executor


def _as_request(function: Callable[..., T], *args: Any) -> T:
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


async def run(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking function (that may use the ORM) in the edge's thread pool. Raises
    OperationalError after ``EDGE_DB_TIMEOUT_S`` (a PostgreSQL that hangs rather than fails must
    not hold requests that memory or Redis can answer)."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_pool(), functools.partial(_as_request, function, *args))
    try:
        return await asyncio.wait_for(future, settings.EDGE_DB_TIMEOUT_S)
    except TimeoutError:
        raise OperationalError(f"no answer from the database within {settings.EDGE_DB_TIMEOUT_S} s") from None


async def compute(function: Callable[..., T], *args: Any) -> T:
    """CPU work that releases the GIL (zlib, hashlib on large buffers), in the default pool."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(function, *args))
