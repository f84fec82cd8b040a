from celery import shared_task

from controlplane.metrics import services


@shared_task(name="metrics.prune")
def prune() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE["metrics-prune"]): drop what metrics retention no longer keeps."""
    return services.prune()
