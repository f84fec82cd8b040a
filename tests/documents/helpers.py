"""Reading what SDKs are served, for tests of the writes that change it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controlplane.documents import assembly

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "sdk-document.schema.json").read_text())
"""The SDK document's JSON Schema (docs/sdk-document.schema.json)."""


def published_document(environment_id: int) -> dict[str, Any]:
    """The environment's published SDK document (what the edge serves once Redis has its copy)."""
    assembled = assembly.assemble(environment_id)
    assert assembled is not None, "the environment's document was never published"
    return json.loads(assembled.body)
