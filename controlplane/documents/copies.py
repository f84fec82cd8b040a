"""Writing the Redis copy of an environment's published document (``documents.cache``) from
PostgreSQL's: whole, or, after a change, by re-compressing only the chunks it touched
(``documents.layout``), so that publishing one flag of 10,000 costs one chunk, not 13 MB.

Callers hold the environment's publication lock, so PostgreSQL's published version does not
move while its copy is written.
"""

from __future__ import annotations

import logging
from functools import partial

import redis

from controlplane.documents import assembly, cache, events, layout
from controlplane.documents.models import EnvironmentDocument
from controlplane.projects.models import Environment

logger = logging.getLogger(__name__)

Changes = dict[str, dict[str, bool]]
"""``Fragment.Kind`` -> changed key -> whether the entry left the document."""


def store_whole(environment: Environment, force: bool = False) -> bool:
    """Put the published document, as PostgreSQL has it now, into Redis, and announce it."""
    published = assembly.published(environment.id)
    if published is None:
        return False
    pieces = layout.full(published.project, published.environment, published.version, published.entries)
    uid = str(environment.uid)
    event = events.document_event(uid, published.version, published.etag)
    stored = cache.store_layout(uid, published.version, published.etag, pieces, event, force=force)
    _record_size(environment.id, published.version, pieces.size)
    return stored


def store_change(
    environment: Environment, previous: tuple[int, str], document: EnvironmentDocument, changes: Changes
) -> bool:
    """Turn the copy of version ``previous`` (version, etag) into the copy of ``document``, whose
    entries differ from it by ``changes``. Redis holding anything else (no copy, another
    version, a copy that fails verification) gets the whole document instead."""
    uid = str(environment.uid)
    try:
        old = cache.stored_layout(uid)
    except redis.RedisError as exc:
        logger.warning("Could not read the Redis copy of SDK document %s: %s", uid, exc)
        return False  # the reconciler repairs it once Redis answers
    if old is None or (old.version, old.etag) != previous or _touches_most(old.layout, changes):
        return store_whole(environment)
    read = partial(assembly.entries_in, environment.id)
    pieces = layout.updated(old.layout, document.version, environment.project.key, environment.key, changes, read)
    event = events.document_event(uid, document.version, document.etag)
    if not cache.store_layout(uid, document.version, document.etag, pieces, event, replacing=old):
        return store_whole(environment)
    _record_size(environment.id, document.version, pieces.size)
    return True


def _touches_most(pieces: layout.Layout, changes: Changes) -> bool:
    """More changed entries than chunks: re-cutting would read most of them anyway."""
    return sum(len(keys) for keys in changes.values()) > sum(len(chunks) for chunks in pieces.chunks.values())


def _record_size(environment_id: int, version: int, size: int) -> None:
    EnvironmentDocument.objects.filter(environment_id=environment_id, version=version).exclude(size=size).update(
        size=size
    )
