"""Compile one environment's flags and segments into the SDK document (docs/sdk-document.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.projects.models import Environment
from flagplane.engine import SCHEMA_VERSION


def flag_entry(flag: Flag, state: FlagState) -> dict[str, Any]:
    """One flag in document form; also what the preview evaluates. ``metadata`` and
    ``client_side`` appear only when set, so flags without them keep their exact form."""
    entry = {
        "key": flag.key,
        "kind": flag.kind,
        "variant_type": flag.variant_type,
        "version": state.version,
        "on": state.on,
        "salt": flag.effective_salt,
        "bucket_by": state.bucket_by,
        "variants": [{"key": v["key"], "value": v["value"]} for v in flag.variants],
        "off_variant": flag.off_variant,
        "targets": state.targets,
        "rules": state.rules,
        "default": state.default_serve,
    }
    if flag.metadata:
        entry["metadata"] = flag.metadata
    if flag.client_side:
        entry["client_side"] = True
    return entry


def segment_entry(segment: Segment) -> dict[str, Any]:
    return {"key": segment.key, "included": segment.included, "excluded": segment.excluded, "rules": segment.rules}


def segments_of(environment: Environment) -> dict[str, dict[str, Any]]:
    return {
        segment.key: segment_entry(segment) for segment in Segment.objects.filter(project_id=environment.project_id)
    }


def build_content(environment: Environment) -> dict[str, Any]:
    """The document without its version: flags (archived ones left out) and segments."""
    states = (
        FlagState.objects.filter(environment=environment, flag__archived=False)
        .select_related("flag")
        .order_by("flag__key")
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "project": environment.project.key,
        "environment": environment.key,
        "flags": {state.flag.key: flag_entry(state.flag, state) for state in states},
        "segments": segments_of(environment),
    }


def canonical_json(document: dict[str, Any]) -> str:
    """Deterministic serialisation: the same content always gives the same bytes and ETag."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
