"""Shared fixtures for the SDK tests (no Django, no network beyond 127.0.0.1)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

SDK_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_ROOT.parent
GOLDEN = REPO_ROOT / "docs" / "golden"

if str(SDK_ROOT) not in sys.path:  # works without `pip install -e ./sdk` too
    sys.path.insert(0, str(SDK_ROOT))


def load_golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


@pytest.fixture
def golden_document() -> dict[str, Any]:
    return copy.deepcopy(load_golden("evaluation.json")["document"])


def make_flag(key: str = "f", **overrides: Any) -> dict[str, Any]:
    """A valid boolean flag of the document format, 50/50 split on the default."""
    flag: dict[str, Any] = {
        "key": key,
        "kind": "boolean",
        "variant_type": "boolean",
        "version": 1,
        "on": True,
        "salt": key,
        "bucket_by": "key",
        "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
        "off_variant": "off",
        "targets": [],
        "rules": [],
        "default": {
            "split": [{"variant": "on", "weight": 50_000}, {"variant": "off", "weight": 50_000}]
        },
    }
    flag.update(overrides)
    return flag


def make_document(*flags: dict[str, Any], version: int = 1, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "project": "web",
        "environment": "production",
        "version": version,
        "flags": {flag["key"]: flag for flag in flags},
        "segments": {},
    }
    doc.update(extra)
    return doc


@pytest.fixture
def flag_factory() -> Any:
    return make_flag


@pytest.fixture
def document_factory() -> Any:
    return make_document
