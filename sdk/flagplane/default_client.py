"""The module-level default client: ``flagplane.init(...)`` then ``flagplane.is_enabled(...)``."""

from __future__ import annotations

import os
import threading
from typing import Any

from flagplane._warnings import WarnOnce
from flagplane.client import Client, Context
from flagplane.engine import Evaluation, Reason

_client: Client | None = None
_lock = threading.Lock()
_warn = WarnOnce()


def _after_fork_in_child() -> None:
    global _lock, _warn
    _lock = threading.Lock()
    _warn = WarnOnce()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def init(sdk_key: str = "", base_url: str = "http://localhost:8000", **options: Any) -> Client:
    """Create (or replace) the default client; same arguments as ``flagplane.Client``."""
    global _client
    client = Client(sdk_key, base_url, **options)
    with _lock:
        previous, _client = _client, client
    if previous is not None:
        previous.close()
    return client


def get_client() -> Client | None:
    """The default client, or None before ``init()``."""
    return _client


def close() -> None:
    """Close and forget the default client."""
    global _client
    with _lock:
        previous, _client = _client, None
    if previous is not None:
        previous.close()


def _missing(flag_key: str) -> None:
    _warn.warn(flag_key, "no-init", "flagplane.init() was not called; serving the default")


def is_enabled(flag_key: str, context: Context, default: bool = False) -> bool:
    client = _client
    if client is None:
        _missing(flag_key)
        return default
    return client.is_enabled(flag_key, context, default)


def variant(flag_key: str, context: Context, default: Any = None) -> Any:
    client = _client
    if client is None:
        _missing(flag_key)
        return default
    return client.variant(flag_key, context, default)


def evaluate(flag_key: str, context: Context, default: Any = None) -> Evaluation:
    client = _client
    if client is None:
        _missing(flag_key)
        return Evaluation(default, None, Reason.NOT_READY)
    return client.evaluate(flag_key, context, default)
