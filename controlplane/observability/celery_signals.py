"""Celery's side of logs and metrics: connected by ``controlplane.celery`` in every Celery process.

- Logging is ours (LOGGING, JSON by default), not Celery's own format.
- A task queued while a request (or another task) runs carries its request id in a message
  header; the worker binds it, with the task's name and id, for the task's log lines.
- A worker with WORKER_METRICS_BIND serves ``/metrics`` from its main process; pool processes
  record into PROMETHEUS_MULTIPROC_DIR and their files are marked dead when they exit.
- The worker freezes what its pool processes inherit (``gc.freeze``) before forking them, as the web does (``asgi.py``).
"""

from __future__ import annotations

import gc
import logging.config
import os
from typing import Any

from celery import signals
from django.conf import settings

from controlplane.observability import context

REQUEST_ID_HEADER = "flagplane_request_id"


@signals.setup_logging.connect
def configure_logging(**kwargs: Any) -> None:
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


@signals.before_task_publish.connect
def carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = context.request_id.get()
    if request_id and headers is not None:
        headers[REQUEST_ID_HEADER] = request_id


@signals.task_prerun.connect
def bind_task_context(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    context.request_id.set(getattr(task.request, REQUEST_ID_HEADER, None) or "")
    context.task_name.set(task.name)
    context.task_id.set(task_id)


@signals.task_postrun.connect
def clear_task_context(**kwargs: Any) -> None:
    for variable in (context.request_id, context.task_name, context.task_id):
        variable.set("")


@signals.worker_ready.connect
def start_metrics_exporter(**kwargs: Any) -> None:
    if settings.WORKER_METRICS_BIND:
        from controlplane.observability.exposition import serve_metrics

        serve_metrics(settings.WORKER_METRICS_BIND)


@signals.worker_process_shutdown.connect
def forget_pool_process(pid: int | None = None, **kwargs: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


@signals.worker_before_create_process.connect
def freeze_what_is_inherited(**kwargs: Any) -> None:
    """What a pool process starts with (Django, the apps, the tasks: some 110,000 objects) lives as
    long as it does: frozen out of the garbage collector's sight, so that a full collection walks
    only what its tasks built since. A batch of rollout ticks keeps its 50 plans' rows and counts
    alive to its end, and so set off a full collection every batch or two, each walking every object
    (bench/scale_engine.py's batch in process: the collector took 3.8 ms a plan, 0.8 ms frozen).

    Frozen in the worker's main process just before it forks each pool process (a collection in
    the child would write to every inherited object's header and copy its pages): the children
    share those pages as the web processes share theirs (``asgi.py``)."""
    gc.collect()
    gc.freeze()
