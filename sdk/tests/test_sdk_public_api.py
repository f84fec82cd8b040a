"""The names and signatures other code relies on (the control plane imports the engine)."""

from __future__ import annotations

import inspect

import pytest

import flagplane
from flagplane import engine


def _params(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_engine_functions_keep_their_signatures() -> None:
    assert _params(engine.compile_document) == ["doc"]
    assert _params(engine.evaluate) == ["snapshot", "flag_key", "context"]
    assert _params(engine.evaluate_flag) == ["flag", "context", "segments"]
    assert _params(engine.bucket) == ["salt", "unit"]
    assert engine.SCHEMA_VERSION == 1
    assert isinstance(engine.OPERATORS, frozenset) and len(engine.OPERATORS) == 21
    assert engine.Evaluation._fields == ("value", "variant", "reason", "rule", "bucket")
    assert {r.value for r in engine.Reason} == {
        "OFF",
        "TARGET",
        "RULE_MATCH",
        "SPLIT",
        "DEFAULT",
        "FLAG_NOT_FOUND",
        "NOT_READY",
        "ERROR",
    }


def test_client_api_keeps_its_signatures() -> None:
    assert _params(flagplane.Client)[:6] == [
        "sdk_key",
        "base_url",
        "poll_interval",
        "cache_path",
        "bootstrap",
        "metrics_flush_interval",
    ]
    assert _params(flagplane.Client.is_enabled) == ["self", "flag_key", "context", "default"]
    assert _params(flagplane.Client.variant) == ["self", "flag_key", "context", "default"]
    assert _params(flagplane.Client.evaluate) == ["self", "flag_key", "context", "default"]
    for name in (
        "init",
        "is_enabled",
        "variant",
        "evaluate",
        "Client",
        "Evaluation",
        "compile_document",
        "evaluate_flag",
        "bucket",
        "InvalidDocument",
    ):
        assert hasattr(flagplane, name), name


def test_evaluation_is_immutable_and_slotted() -> None:
    result = engine.Evaluation(True, "on", "SPLIT", None, 5)
    assert not hasattr(result, "__dict__")
    with pytest.raises(AttributeError):
        result.value = False  # type: ignore[misc]
