"""Apply a stream's ``patch`` event to a compiled snapshot (docs/streaming.md).

A patch leads from ``previous_version`` to ``version`` and carries the entries that changed
(``null``: the flag or segment left the document), plus every flag and segment that uses a
changed segment, so only those are compiled again; the other compiled flags are kept as they
are (the same objects, with their evaluation counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flagplane.compiler import _SegmentCompiler, _Shared, compile_flag
from flagplane.errors import InvalidDocument
from flagplane.snapshot import Snapshot


class PatchMismatch(Exception):
    """The patch does not start from the version being served."""


def patch_versions(patch: Any) -> tuple[int, int]:
    """(previous_version, version) of a patch; raises InvalidDocument if it has none."""
    if not isinstance(patch, Mapping):
        raise InvalidDocument("patch", "must be an object")
    previous, version = _version(patch, "previous_version"), _version(patch, "version")
    if version <= previous:
        raise InvalidDocument("patch.version", "must be greater than previous_version")
    return previous, version


def _version(patch: Mapping[str, Any], name: str) -> int:
    value = patch.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidDocument(f"patch.{name}", "must be an integer >= 0")
    return value


def apply_patch(snapshot: Snapshot, patch: Any) -> Snapshot:
    """The snapshot ``patch`` leads to. Raises PatchMismatch if it does not apply to this
    snapshot's version, InvalidDocument if an entry is malformed (nothing is changed then)."""
    previous, version = patch_versions(patch)
    if previous != snapshot.version:
        raise PatchMismatch(f"patch from version {previous}, serving version {snapshot.version}")
    raw_flags = _entries(patch, "flags")
    raw_segments = _entries(patch, "segments")

    changed_segments = {key: raw for key, raw in raw_segments.items() if raw is not None}
    compiler = _SegmentCompiler(changed_segments)
    compiler.compiled.update(
        (key, matcher) for key, matcher in snapshot.segments.items() if key not in raw_segments
    )
    segments = compiler.compile_all()

    flags = dict(snapshot.flags)
    shared = _Shared()
    for key, raw in raw_flags.items():
        if raw is None:
            flags.pop(key, None)
        else:
            flags[key] = compile_flag(raw, compiler.resolve, f'flags["{key}"]', key, shared)
    return Snapshot(
        snapshot.schema_version, snapshot.project, snapshot.environment, version, flags, segments
    )


def _entries(patch: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    entries = patch.get(field, {})
    if not isinstance(entries, Mapping) or not all(isinstance(key, str) for key in entries):
        raise InvalidDocument(f"patch.{field}", "must be an object")
    return entries
