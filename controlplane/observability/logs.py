"""JSON log lines (LOG_FORMAT=json): one object per line with time, level, logger, message, the
process id, the request id and task of the context, and whatever a call passes in ``extra``."""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from controlplane.observability import context


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``task`` and ``task_id`` of the current context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "{levelname}{name}{message}{process}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            timestamp="time",
        )


SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")


def logging_config(log_format: str, level: str, *, servers: bool = False) -> dict[str, Any]:
    """The LOGGING setting: every line through one handler, JSON or plain text.

    Plain data (dotted paths, no objects). ``servers``: the web servers' own loggers through the
    same handler too; ``deploy/logging.json`` is this for json/INFO, the web server's
    ``--log-config``, so that its lines are JSON from its first one. (LOGGING itself leaves them
    alone: a server's own log options, such as gunicorn's --access-logfile, keep working.)
    """
    loggers: dict[str, Any] = {"django.db.backends": {"level": "WARNING"}}
    if servers:
        loggers |= {name: {"handlers": ["console"], "propagate": False} for name in SERVER_LOGGERS}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "controlplane.observability.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "controlplane.observability.logs.JsonFormatter"},
            "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }
