"""Queueing a Celery task after a request's commit: one bounded try, and a memory, in this
process, that the broker just failed.

Every task queued from a request has a sweeper that finds what was not queued (the documents
reconciler, the rollout engine's tick), so a broker that does not answer must cost a request at
most one timeout. One try is bounded by BROKER_TIMEOUT_S (the transport's socket timeouts, and no
reconnection retries: ``CELERY_BROKER_TRANSPORT_OPTIONS``). After a failed try, ``send`` skips
the broker for BROKER_DOWN_SECONDS, so the further publishes of the same request, and of the
requests right after it, answer at once instead of waiting for the same timeout again.

A web process prepares its publishing path when it starts (``warm_up``): otherwise the first
write it serves pays for finalizing the Celery app, importing the transport, connecting and
declaring the queue, 100-200 ms on a loaded machine against 1-10 ms for the next writes, all
of it inside that change's propagation.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery, Task
from django.conf import settings

logger = logging.getLogger(__name__)

_down_until = 0.0


def is_down() -> bool:
    """Whether a publish failed less than BROKER_DOWN_SECONDS ago in this process."""
    return time.monotonic() < _down_until


def send(task: Task, *args: Any) -> bool:
    """Queue ``task(*args)``; False (logged, never raised) if the broker failed now or just before."""
    global _down_until
    if is_down():
        logger.warning("Not queueing %s: the broker failed less than %g s ago", task.name, settings.BROKER_DOWN_SECONDS)
        return False
    try:
        task.apply_async(args, retry=False)
    except Exception as exc:  # whatever the transport raises: the sweeper queues it later
        _down_until = time.monotonic() + settings.BROKER_DOWN_SECONDS
        logger.warning(
            "Could not queue %s (%s); skipping the broker for %g s", task.name, exc, settings.BROKER_DOWN_SECONDS
        )
        return False
    return True


def warm_up(app: Celery) -> bool:
    """Do now what the first ``send`` of this process would otherwise do: finalize ``app``,
    build its task sender, connect to the broker and declare the default queue. One bounded
    try; False (logged) if the broker does not answer, which does not count as a failed send."""
    try:
        app.finalize(auto=True)
        app.amqp.send_task_message  # noqa: B018 (a cached property: the sender and its imports)
        app.backend  # noqa: B018 (the result backend every send builds an AsyncResult with)
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=0)
            producer.maybe_declare(app.amqp.queues[app.conf.task_default_queue])
    except Exception as exc:  # whatever the transport raises: the first send tries again
        logger.warning("Could not prepare the broker connection (%s); the first task queued will connect", exc)
        return False
    return True
