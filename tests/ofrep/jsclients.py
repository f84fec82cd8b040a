"""Where the JavaScript clients of tests/ofrep/js are, and whether they are installed
(`make ofrep-js`: npm ci from the committed package-lock.json, then the esbuild bundle)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent / "js"
BUNDLE = JS / "dist" / "browser.js"


def require_node_clients() -> str:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@openfeature" / "ofrep-provider").is_dir():
        pytest.skip("the npm clients are not installed: run `make ofrep-js` (node and npm needed)")
    return node


def require_bundle() -> Path:
    if not BUNDLE.is_file():
        pytest.skip("the browser bundle is missing: run `make ofrep-js` (node and npm needed)")
    return BUNDLE
