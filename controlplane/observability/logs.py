"""JSON log lines (LOG_FORMAT=json): one object per line with time, level, logger, message, the
request id and task of the context, and whatever a call passes in ``extra``."""

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
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: every line through one handler, JSON or plain text.

    Plain data (dotted paths, no objects): ``deploy/logging.json`` is this for json/INFO, given
    to the web server (``uvicorn --log-config``) so that its own lines are JSON too.
    """
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
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
        },
    }
