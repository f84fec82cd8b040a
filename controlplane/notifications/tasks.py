"""Celery tasks: deliver one webhook delivery (retrying with backoff), and requeue lost ones."""

from celery import shared_task

from controlplane.notifications import services


@shared_task(bind=True, name="notifications.deliver", max_retries=None)
def deliver(self, delivery_id: int) -> None:
    # The attempt count lives in the delivery row (it survives requeues by retry_pending), so
    # Celery's own retry limit is off and the row decides when to stop.
    retry_in = services.attempt_delivery(delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="notifications.retry_pending")
def retry_pending() -> int:
    return services.retry_pending()
