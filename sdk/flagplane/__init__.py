"""Flagplane Python SDK: local feature flag evaluation with background refresh.

import flagplane

client = flagplane.Client(sdk_key="...", base_url="https://flags.example.com")
if client.is_enabled("new-checkout", {"key": "user-42", "plan": "free"}):
    ...
"""

from flagplane._version import __version__
from flagplane.bucketing import bucket
from flagplane.client import ChangeEvent, Client, Status, SyncState
from flagplane.default_client import close, evaluate, get_client, init, is_enabled, variant
from flagplane.engine import (
    OPERATORS,
    SCHEMA_VERSION,
    Evaluation,
    Reason,
    Snapshot,
    compile_document,
    evaluate_flag,
)
from flagplane.errors import InvalidDocument
from flagplane.metrics import LATENCY_BOUNDS_MS

__all__ = [
    "LATENCY_BOUNDS_MS",
    "OPERATORS",
    "SCHEMA_VERSION",
    "ChangeEvent",
    "Client",
    "Evaluation",
    "InvalidDocument",
    "Reason",
    "Snapshot",
    "Status",
    "SyncState",
    "__version__",
    "bucket",
    "close",
    "compile_document",
    "evaluate",
    "evaluate_flag",
    "get_client",
    "init",
    "is_enabled",
    "variant",
]
