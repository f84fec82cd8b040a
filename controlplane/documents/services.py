"""Publishing SDK documents: every committed change reaches the SDKs, in order, and stays there.

1. A write calls ``schedule_rebuild`` inside its own transaction: ``PendingChange`` rows say
   that the environment's published document is behind, and commit (or roll back) with the
   change. After the commit a build is queued, with a bounded broker timeout; if the broker
   cannot take it, nothing is lost: the reconciler finds the pending rows.
2. ``rebuild`` takes the environment's publication lock (a PostgreSQL advisory lock), turns the
   pending changes into fragments, and, if the content changed, publishes a new version: first
   the patch event (what streaming SDKs apply), then the Redis copy of the whole document
   (what polls and new streams are served), re-compressing only the chunks of it the change
   touched (``documents.copies``). Holding the lock until Redis is written keeps
   publications in version order.
3. ``reconcile`` (Celery beat, every ``DOCUMENTS_RECONCILE_SECONDS``) builds every environment
   that is still behind and repairs Redis copies that are missing, older or different.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from controlplane import broker
from controlplane.documents import assembly, cache, copies, events
from controlplane.documents.builder import canonical_json, digest, flag_entries, segment_entries, segment_references
from controlplane.documents.models import EnvironmentDocument, Fragment, PendingChange
from controlplane.flags.models import FlagState, Segment
from controlplane.observability.metrics import (
    DOCUMENT_BUILD_SECONDS,
    DOCUMENT_BUILDS,
    PUBLICATION_LAG,
    RECONCILER_REPAIRS,
)
from controlplane.projects.models import Environment

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x6670  # "fp": the first key of the two-key advisory locks taken here
PATCH_MAX_BYTES = 256 * 1024
"""A bigger change is announced without its entries: SDKs then fetch the whole document."""

Entry = tuple[str, str]  # (fragment kind, key)


# ---------------------------------------------------------------------------------------------
# Recording changes


def schedule_rebuild(
    environment_ids: Iterable[int], *, flags: Iterable[str] = (), segments: Iterable[str] = ()
) -> None:
    """Record, in the current transaction, that these environments' documents must include a
    change to these flags and segments (to everything, if neither is given); queue the build
    once the transaction commits."""
    flag_keys, segment_keys = set(flags), set(segments)
    environment_ids = set(environment_ids)
    rows = []
    for environment_id in environment_ids:
        if not flag_keys and not segment_keys:
            rows.append(PendingChange(environment_id=environment_id, kind=PendingChange.Kind.ALL))
        rows += [PendingChange(environment_id=environment_id, kind=Fragment.Kind.FLAG, key=key) for key in flag_keys]
        rows += [
            PendingChange(environment_id=environment_id, kind=Fragment.Kind.SEGMENT, key=key) for key in segment_keys
        ]
    PendingChange.objects.bulk_create(rows)
    for environment_id in environment_ids:
        transaction.on_commit(functools.partial(_enqueue, environment_id))


_last_enqueue_failed: dict[int, bool] = {}


def _enqueue(environment_id: int) -> None:
    from controlplane.documents.tasks import build_environment_document

    if broker.send(build_environment_document, environment_id):
        _last_enqueue_failed.pop(environment_id, None)
    else:  # the reconciler publishes it within one interval
        _last_enqueue_failed[environment_id] = True


# ---------------------------------------------------------------------------------------------
# Building and publishing


@contextmanager
def publication_lock(environment_id: int, wait: bool = True) -> Iterator[bool]:
    """Hold the environment's publication lock (session-level, so it spans the build's commit
    and the Redis writes after it). Yields False if ``wait`` is False and someone holds it."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, environment_id])
            acquired = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, environment_id])
            acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, environment_id])
            except DatabaseError:  # the session is gone, and its locks with it
                logger.warning("Could not release the publication lock of environment %s", environment_id)


@dataclass(frozen=True)
class Built:
    document: EnvironmentDocument
    environment: Environment
    previous_version: int
    previous_etag: str
    changes: copies.Changes
    """The entries this build changed (for the Redis copy: only their chunks are rebuilt)."""
    patch: bytes | None
    """The changed entries as the SSE patch payload; None if unchanged or too big to send."""
    oldest_change: datetime | None
    """When the oldest change this build published was committed."""

    @property
    def changed(self) -> bool:
        return self.document.version != self.previous_version


def rebuild(environment_id: int, wait: bool = True) -> EnvironmentDocument | None:
    """Publish the environment's pending changes. Returns the published document's header
    (None if the environment is gone, or if ``wait`` is False and another build runs).

    Call it outside a transaction: what it publishes must be committed first.
    """
    with publication_lock(environment_id, wait) as acquired:
        if not acquired:
            return None
        started = time.perf_counter()
        try:
            built = _build(environment_id)
        except Exception:
            DOCUMENT_BUILDS.labels("failed").inc()
            raise
        if built is None:
            return None
        DOCUMENT_BUILD_SECONDS.observe(time.perf_counter() - started)
        document, uid = built.document, str(built.environment.uid)
        if built.changed:
            patch = events.patch_event(uid, built.previous_version, document.version, document.etag, built.patch)
            cache.publish_patch(uid, patch)
        if built.changed:
            copies.store_change(
                built.environment, (built.previous_version, built.previous_etag), document, built.changes
            )
        elif cache.header(uid) != (document.version, document.etag):
            copies.store_whole(built.environment, force=True)
        if built.changed and built.oldest_change is not None:
            PUBLICATION_LAG.observe(max(0.0, (timezone.now() - built.oldest_change).total_seconds()))
        DOCUMENT_BUILDS.labels("published" if built.changed else "unchanged").inc()
    return document


def _build(environment_id: int) -> Built | None:
    with transaction.atomic():
        environment = Environment.objects.select_related("project").filter(pk=environment_id).first()
        if environment is None:
            return None
        started = time.perf_counter()
        document, _ = EnvironmentDocument.objects.select_for_update().get_or_create(
            environment=environment, defaults={"etag": "", "built_at": timezone.now(), "content_digest": "0" * 64}
        )
        pending = list(
            PendingChange.objects.filter(environment=environment).values_list("id", "kind", "key", "created_at")
        )
        everything = document.version == 0 or any(kind == PendingChange.Kind.ALL for _, kind, _, _ in pending)
        scope: dict[str, set[str] | None] = {
            Fragment.Kind.FLAG: None if everything else {key for _, kind, key, _ in pending if kind == "flag"},
            Fragment.Kind.SEGMENT: None if everything else {key for _, kind, key, _ in pending if kind == "segment"},
        }
        changes = _apply_fragments(environment, scope)
        previous_version, previous_etag = document.version, document.etag
        patch = None
        if changes or document.version == 0:
            document.content_digest = _combined_digest(document.content_digest, changes)
            document.version += 1
            document.etag = f'"{document.version}-{document.content_digest[:20]}"'
            document.built_at = timezone.now()
            document.build_ms = (time.perf_counter() - started) * 1000
            document.save()
            patch = _patch_payload(environment, previous_version, document.version, changes)
        if pending:
            PendingChange.objects.filter(id__in=[row[0] for row in pending]).delete()
    oldest_change = min((created_at for _, _, _, created_at in pending), default=None)
    changed: copies.Changes = {}
    for change in changes:
        changed.setdefault(change.kind, {})[change.key] = change.body is None
    return Built(document, environment, previous_version, previous_etag, changed, patch, oldest_change)


@dataclass(frozen=True)
class FragmentChange:
    kind: str
    key: str
    old_digest: str | None
    body: str | None
    """The new canonical JSON, or None when the entry left the document."""

    @property
    def new_digest(self) -> str | None:
        return None if self.body is None else digest(self.body)


def _apply_fragments(environment: Environment, scope: dict[str, set[str] | None]) -> list[FragmentChange]:
    """Bring the fragments in ``scope`` (kind -> keys, None meaning all) in line with the flags
    and segments as they are now; return what changed."""
    builders: dict[str, Callable[[Environment, Iterable[str] | None], Mapping[str, object]]] = {
        Fragment.Kind.FLAG: flag_entries,
        Fragment.Kind.SEGMENT: segment_entries,
    }
    changes: list[FragmentChange] = []
    for kind, keys in scope.items():
        if keys is not None and not keys:
            continue
        wanted = {key: canonical_json(entry) for key, entry in builders[kind](environment, keys).items()}
        stored = Fragment.objects.filter(environment=environment, kind=kind)
        if keys is not None:
            stored = stored.filter(key__in=list(keys))
        existing = {
            key: (pk, fragment_digest) for pk, key, fragment_digest in stored.values_list("pk", "key", "digest")
        }
        for key in sorted(set(wanted) | set(existing)):
            body = wanted.get(key)
            old_digest = existing[key][1] if key in existing else None
            change = FragmentChange(kind, key, old_digest, body)
            if change.new_digest != old_digest:
                changes.append(change)
        _write_fragments(environment, changes, existing, kind)
    return changes


def _write_fragments(
    environment: Environment, changes: list[FragmentChange], existing: dict[str, tuple[int, str]], kind: str
) -> None:
    mine = [change for change in changes if change.kind == kind]
    gone = [existing[change.key][0] for change in mine if change.body is None]
    if gone:
        Fragment.objects.filter(pk__in=gone).delete()
    updated = [
        Fragment(
            pk=existing[c.key][0], environment=environment, kind=kind, key=c.key, body=c.body, digest=digest(c.body)
        )
        for c in mine
        if c.body is not None and c.key in existing
    ]
    if updated:
        Fragment.objects.bulk_update(updated, ["body", "digest"])
    created = [
        Fragment(environment=environment, kind=kind, key=c.key, body=c.body, digest=digest(c.body))
        for c in mine
        if c.body is not None and c.key not in existing
    ]
    if created:
        Fragment.objects.bulk_create(created)


def _entry_hash(kind: str, key: str, fragment_digest: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{kind}\0{key}\0{fragment_digest}".encode()).digest(), "big")


def _combined_digest(current: str, changes: list[FragmentChange]) -> str:
    """The document's content digest: the XOR of its entries' hashes, so one changed entry
    updates it without reading the others."""
    value = int(current, 16)
    for change in changes:
        if change.old_digest is not None:
            value ^= _entry_hash(change.kind, change.key, change.old_digest)
        if change.new_digest is not None:
            value ^= _entry_hash(change.kind, change.key, change.new_digest)
    return f"{value:064x}"


def _patch_payload(
    environment: Environment, previous_version: int, version: int, changes: list[FragmentChange]
) -> bytes | None:
    """The SSE patch event's data: the changed entries, plus the flags and segments that use a
    changed segment (an SDK recompiles those), or None if that is more than PATCH_MAX_BYTES."""
    if previous_version == 0:
        return None
    entries: dict[Entry, str | None] = {(c.kind, c.key): c.body for c in changes}
    changed_segments = {c.key for c in changes if c.kind == Fragment.Kind.SEGMENT}
    if changed_segments:
        dependents = _segment_dependents(environment, changed_segments)
        using = Fragment.objects.filter(environment=environment).filter(
            Q(kind=Fragment.Kind.FLAG, key__in=dependents[Fragment.Kind.FLAG])
            | Q(kind=Fragment.Kind.SEGMENT, key__in=dependents[Fragment.Kind.SEGMENT])
        )
        for kind, key, body in using.values_list("kind", "key", "body"):
            entries.setdefault((kind, key), body)

    def members(kind: str) -> str:
        items = sorted((key, body) for (entry_kind, key), body in entries.items() if entry_kind == kind)
        return ",".join(f"{canonical_json(key)}:{'null' if body is None else body}" for key, body in items)

    payload = (
        f'{{"flags":{{{members(Fragment.Kind.FLAG)}}},"previous_version":{previous_version},'
        f'"segments":{{{members(Fragment.Kind.SEGMENT)}}},"version":{version}}}'
    ).encode()
    return payload if len(payload) <= PATCH_MAX_BYTES else None


def _segment_dependents(environment: Environment, changed: set[str]) -> dict[str, set[str]]:
    """Segments that use a changed segment (directly or through others), and flags that use any
    of them: their compiled form in an SDK refers to the changed segments."""
    rules_of = dict(Segment.objects.filter(project_id=environment.project_id).values_list("key", "rules"))
    affected = set(changed)
    grew = True
    while grew:
        more = {key for key, rules in rules_of.items() if key not in affected and segment_references(rules) & affected}
        affected |= more
        grew = bool(more)
    states = FlagState.objects.filter(
        environment=environment, flag__archived=False, rules__contains=[{"clauses": [{"op": "in_segment"}]}]
    ).values_list("flag__key", "rules")
    flags = {key for key, rules in states if segment_references(rules) & affected}
    return {Fragment.Kind.SEGMENT: affected - changed, Fragment.Kind.FLAG: flags}


def repair_copy(environment_id: int, wait: bool = True) -> bool:
    """Replace the Redis copy with PostgreSQL's published document if they differ. True if the
    copy was written."""
    with publication_lock(environment_id, wait) as acquired:
        if not acquired:
            return False
        environment = Environment.objects.filter(pk=environment_id).first()
        document = EnvironmentDocument.objects.filter(environment_id=environment_id, version__gt=0).first()
        if environment is None or document is None:
            return False
        copy = cache.get(environment.uid)
        if copy is not None and (copy.version, copy.etag) == (document.version, document.etag):
            return False
        logger.warning(
            "Repairing the Redis copy of %s: it had %s, PostgreSQL has v%s",
            environment,
            f"v{copy.version}" if copy else "no valid copy",
            document.version,
        )
        return copies.store_whole(environment, force=True)


# ---------------------------------------------------------------------------------------------
# Reading


def served_document(environment_id: int) -> assembly.Assembled | None:
    """The published document from PostgreSQL, for a web process that has no valid copy (Redis
    down, cold, or holding a bad copy). An environment never built is built now; a bad copy
    is repaired if nobody else is publishing right now."""
    assembled = assembly.assemble(environment_id)
    if assembled is None:
        rebuild(environment_id)
        return assembly.assemble(environment_id)
    try:
        repair_copy(environment_id, wait=False)
    except Exception:  # serving comes first
        logger.exception("Could not repair the Redis copy of environment %s", environment_id)
    return assembled


def published_version(environment_id: int) -> int | None:
    return (
        EnvironmentDocument.objects.filter(environment_id=environment_id, version__gt=0)
        .values_list("version", flat=True)
        .first()
    )


@dataclass(frozen=True)
class Publication:
    """Where an environment's published SDK document stands."""

    version: int
    published_at: datetime | None
    pending_changes: int
    behind_since: datetime | None
    """When the oldest change not published yet was committed; None when up to date."""
    queued: bool
    """False if the last build could not be handed to the broker (the reconciler will do it)."""

    @property
    def behind(self) -> bool:
        return self.pending_changes > 0


def publication_of(environment_ids: Iterable[int]) -> dict[int, Publication]:
    environment_ids = list(environment_ids)
    headers = {
        environment_id: (version, built_at)
        for environment_id, version, built_at in EnvironmentDocument.objects.filter(
            environment_id__in=environment_ids
        ).values_list("environment_id", "version", "built_at")
    }
    pending = {
        row["environment_id"]: (row["count"], row["oldest"])
        for row in PendingChange.objects.filter(environment_id__in=environment_ids)
        .values("environment_id")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    }
    result = {}
    for environment_id in environment_ids:
        version, built_at = headers.get(environment_id, (0, None))
        count, oldest = pending.get(environment_id, (0, None))
        result[environment_id] = Publication(
            version=version,
            published_at=built_at if version else None,
            pending_changes=count,
            behind_since=oldest,
            queued=not _last_enqueue_failed.get(environment_id, False),
        )
    return result


# ---------------------------------------------------------------------------------------------
# Reconciling


@dataclass(frozen=True)
class Reconciled:
    built: int
    repaired: int
    redis_available: bool


def reconcile() -> Reconciled:
    """Publish every environment that is behind, and repair Redis copies that are missing, older
    than PostgreSQL's published version, or different from it."""
    behind = sorted(set(PendingChange.objects.values_list("environment_id", flat=True)))
    built = sum(1 for environment_id in behind if rebuild(environment_id, wait=False) is not None)
    RECONCILER_REPAIRS.labels("published_behind").inc(built)
    published = list(
        EnvironmentDocument.objects.filter(version__gt=0).values_list(
            "environment_id", "environment__uid", "version", "etag"
        )
    )
    try:
        copies = cache.headers([str(uid) for _, uid, _, _ in published])
    except Exception as exc:
        logger.warning("Reconciler: Redis unavailable, copies not checked: %s", exc)
        return Reconciled(built, 0, redis_available=False)
    repaired = 0
    for environment_id, uid, version, etag in published:
        if copies.get(str(uid)) != (version, etag) and repair_copy(environment_id, wait=False):
            repaired += 1
    RECONCILER_REPAIRS.labels("redis_copy").inc(repaired)
    return Reconciled(built, repaired, redis_available=True)
