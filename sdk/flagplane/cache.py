"""The last known good document on disk, written atomically (temp file + os.replace)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CachedDocument:
    document: dict[str, Any]
    etag: str | None
    fetched_at: float  # epoch seconds of the fetch that produced it


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
        document, etag if isinstance(etag, str) else None, float(data.get("fetched_at") or 0.0)
    )
