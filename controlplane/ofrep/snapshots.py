"""The compiled document of each environment, kept in process memory and recompiled only when
the served document's ETag changes."""

from __future__ import annotations

import json
import threading

from controlplane.documents.services import served_document
from controlplane.projects.models import Environment
from flagplane.engine import Snapshot, compile_document

_compiled: dict[int, tuple[str, Snapshot]] = {}
_lock = threading.Lock()


def snapshot_of(environment: Environment) -> Snapshot:
    etag, body = served_document(environment)
    cached = _compiled.get(environment.id)
    if cached is not None and cached[0] == etag:
        return cached[1]
    snapshot = compile_document(json.loads(body))
    with _lock:
        _compiled[environment.id] = (etag, snapshot)
    return snapshot
