"""Reading what SDKs are served, for tests of the writes that change it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controlplane.documents import assembly, cache

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "sdk-document.schema.json").read_text())
"""The SDK document's JSON Schema (docs/sdk-document.schema.json)."""


def published_document(environment_id: int) -> dict[str, Any]:
    """The environment's published SDK document (what the edge serves once Redis has its copy)."""
    assembled = assembly.assemble(environment_id)
    assert assembled is not None, "the environment's document was never published"
    return json.loads(assembled.body)


def store_one_piece(environment_uid, version: int, etag: str, body: bytes, force: bool = False) -> bool:
    """Plant ``body`` in Redis as a copy of a single piece, through the cache's own guarded write
    (not newer than what is there unless ``force``): a copy no publication would write, which the
    next one replaces whole. True if stored."""
    deflate = assembly.deflate_segment(body)
    manifest = json.dumps([["body", "", len(deflate), len(body)]]).encode()
    return cache._write(
        environment_uid, version, etag, (manifest, deflate, len(body)), b"{}", "force" if force else "newer"
    )
