"""Flagplane Python SDK: local feature flag evaluation."""

from flagplane.bucketing import bucket
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

__version__ = "0.1.0"

__all__ = [
    "OPERATORS",
    "SCHEMA_VERSION",
    "Evaluation",
    "InvalidDocument",
    "Reason",
    "Snapshot",
    "__version__",
    "bucket",
    "compile_document",
    "evaluate_flag",
]
