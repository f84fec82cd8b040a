"""Building, storing and serving SDK documents.

A write schedules a rebuild of the environments it touches; the rebuild runs in a Celery task
after the write's transaction commits, so the request that made the change never builds the
document and a rolled-back change never publishes one. The built document is stored in
PostgreSQL (the source of truth) and copied to Redis (the fast path for SDK polls).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from controlplane.documents import cache
from controlplane.documents.builder import build_content, canonical_json, digest
from controlplane.documents.models import EnvironmentDocument
from controlplane.projects.models import Environment

logger = logging.getLogger(__name__)


def schedule_rebuild(environment_ids: Iterable[int]) -> None:
    """After the current transaction commits, rebuild these environments' documents."""
    for environment_id in set(environment_ids):
        transaction.on_commit(lambda environment_id=environment_id: _enqueue(environment_id))


def _enqueue(environment_id: int) -> None:
    from controlplane.documents.tasks import build_environment_document

    try:
        build_environment_document.delay(environment_id)
    except Exception:  # the broker is down: publishing late is worse than building here
        logger.exception("Could not queue the document build for environment %s; building inline", environment_id)
        rebuild(environment_id)


def rebuild(environment_id: int) -> EnvironmentDocument | None:
    """Build the document; store it (new version) only if its content changed.

    The document row is locked before the flags are read, and Redis is written before the lock
    is released: two builds racing for one environment then publish in lock order, and the one
    that publishes last has read the latest flags. (Reading first would let a slow build that
    read older flags overwrite a newer document, until the next write.)
    """
    with transaction.atomic():
        environment = Environment.objects.select_related("project").filter(pk=environment_id).first()
        if environment is None:
            return None
        started = time.perf_counter()
        document, _ = EnvironmentDocument.objects.select_for_update().get_or_create(
            environment=environment,
            defaults={"etag": "", "body": "", "built_at": timezone.now(), "content_digest": ""},
        )
        content = build_content(environment)
        content_digest = digest(canonical_json(content))
        if document.content_digest != content_digest:
            document.version += 1
            body = canonical_json({**content, "version": document.version})
            document.body = body
            document.etag = f'"{digest(body)}"'
            document.content_digest = content_digest
            document.built_at = timezone.now()
            document.build_ms = (time.perf_counter() - started) * 1000
            document.save()
        cache.put(environment.uid, document.etag, document.body)
    return document


def served_document(environment: Environment) -> tuple[str, str]:
    """(etag, body) for an SDK poll: Redis first, PostgreSQL if Redis is down or cold."""
    cached = cache.get(environment.uid)
    if cached is not None:
        return cached
    document = EnvironmentDocument.objects.filter(environment=environment).only("etag", "body").first()
    if document is None:
        # Never built (e.g. the worker has not run yet): build once so the SDK is not left empty.
        document = rebuild(environment.id)
        return document.etag, document.body
    # Only if absent: a build that finished since the read above has put a newer document there.
    cache.put_if_absent(environment.uid, document.etag, document.body)
    return document.etag, document.body
