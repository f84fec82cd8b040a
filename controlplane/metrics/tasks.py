from celery import shared_task

from controlplane.metrics import inbox, services


@shared_task(name="metrics.prune")
def prune() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE["metrics-prune"]): drop what metrics retention no longer keeps."""
    return services.prune()


@shared_task(name="metrics.compact")
def compact() -> int:
    """Every 30 s (CELERY_BEAT_SCHEDULE["metrics-compact"]): fold the unit-group rows of recent
    buckets that several batches wrote."""
    return services.compact()


@shared_task(name="metrics.drain_inbox")
def drain_inbox() -> dict[str, int]:
    """Every few seconds (CELERY_BEAT_SCHEDULE["metrics-drain-inbox"]): count the batches parked
    in Redis while PostgreSQL was unavailable."""
    return inbox.drain()
