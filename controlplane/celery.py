"""The Celery app: settings come from Django settings prefixed CELERY_."""

import os

from celery import Celery

import controlplane.observability.celery_signals  # noqa: F401  (our logging, request ids, worker metrics)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")

app = Celery("controlplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
