"""The compiled document of each environment, kept in process memory and recompiled only when
the published document's ETag changes."""

from __future__ import annotations

import json
import threading

from controlplane.documents import cache
from controlplane.documents.services import served_document
from controlplane.projects.models import Environment
from flagplane.engine import Snapshot, compile_document

_compiled: dict[int, tuple[str, Snapshot]] = {}
_lock = threading.Lock()


def snapshot_of(environment: Environment) -> Snapshot:
    """What SDKs of the environment are served, compiled: the Redis copy's header says whether
    the compiled one is current, so the body is read and compiled only after a change."""
    cached = _compiled.get(environment.id)
    header = cache.header(environment.uid)
    if cached is not None and header is not None and cached[0] == header[1]:
        return cached[1]
    document = cache.get(environment.uid) or served_document(environment.id)
    if document is None:
        raise LookupError(f"{environment} has no published document")
    if cached is not None and cached[0] == document.etag:
        return cached[1]
    snapshot = compile_document(json.loads(document.body))
    with _lock:
        _compiled[environment.id] = (document.etag, snapshot)
    return snapshot
