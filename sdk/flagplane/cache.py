"""The last known good document on disk: the document, written atomically (temp file +
os.replace), and beside it the stream patches applied since, one JSON line each
(``<path>.patches``), so that a patch costs an append rather than rewriting the document."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CACHE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CachedDocument:
    document: dict[str, Any]
    etag: str | None
    fetched_at: float  # epoch seconds of the fetch that produced it
    patches: list[Any] = field(default_factory=list)
    """Patches received after the document, oldest first (a torn last line is left out)."""


def patches_path(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    return target.with_name(target.name + ".patches")


def write_cache(
    path: str | os.PathLike[str], body: bytes, etag: str | None, fetched_at: float
) -> None:
    """Atomically replace ``path`` with the document ``body`` (raw JSON) and its metadata."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"format": CACHE_FORMAT, "etag": etag, "fetched_at": fetched_at})
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(header[:-1].encode("utf-8") + b', "document": ' + body + b"}")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(patches_path(target))  # they are part of the document now


def append_patch(path: str | os.PathLike[str], patch: bytes) -> None:
    """Record a patch applied on top of the cached document."""
    with open(patches_path(path), "ab") as handle:
        handle.write(patch.replace(b"\n", b" ") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_cache(path: str | os.PathLike[str]) -> CachedDocument | None:
    """The cached document, or None if the file is absent. Raises ValueError if corrupt."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        raise ValueError("not a flagplane cache file")
    document = data.get("document")
    if not isinstance(document, dict):
        raise ValueError("cache file has no document")
    etag = data.get("etag")
    return CachedDocument(
        document,
        etag if isinstance(etag, str) else None,
        float(data.get("fetched_at") or 0.0),
        _read_patches(path),
    )


def _read_patches(path: str | os.PathLike[str]) -> list[Any]:
    try:
        lines = patches_path(path).read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    patches = []
    for line in lines:
        if not line.strip():
            continue
        try:
            patches.append(json.loads(line))
        except ValueError:
            break  # a line cut short by a crash: what follows it cannot apply
    return patches
