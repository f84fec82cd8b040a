"""What the current request or task is, for every log line it writes and every task it queues.

The web process sets the request id (``RequestIdMiddleware``, or the ASGI edge for the paths it
serves); a queued Celery task carries it in a message header and the worker binds it again, with
the task's name and id, before the task runs (``controlplane.observability.celery_signals``).
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("flagplane_request_id", default="")
task_name: ContextVar[str] = ContextVar("flagplane_task_name", default="")
task_id: ContextVar[str] = ContextVar("flagplane_task_id", default="")

# What a caller may send as X-Request-ID and we keep: no spaces, quotes or control characters.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def new_request_id(offered: str | None = None) -> str:
    """The caller's id if it is a sensible token (a proxy's or a client's), otherwise a fresh one."""
    if offered and ACCEPTED_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def fields() -> dict[str, str]:
    """The context of the current request or task, for a log line (empty values left out)."""
    values = {"request_id": request_id.get(), "task": task_name.get(), "task_id": task_id.get()}
    return {key: value for key, value in values.items() if value}
