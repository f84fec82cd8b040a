"""ASGI entry point, the production web server: ``uvicorn controlplane.asgi:application``.

The edge (``controlplane.edge``) answers the SDK paths from process memory and Redis; every
other request (admin, REST API, static files) goes to Django's WSGI application, run in a
pool of ``WEB_THREADS`` threads whose database connections persist. Each process connects to the
broker as it starts (``broker.warm_up``), so that its first write is published as fast as the
next ones. What it has built by then (Django, the apps, about 117,000 objects) lives as long as
the process: it is frozen out of the garbage collector's sight (``gc.freeze``), so that a full
collection walks only what came later, chiefly the open streams (with 500 streams: 160,000
objects walked, 45,000 when frozen; in bench/propagation.py no collection of a web process then
took over 25 ms, where full ones had paused every stream 300-780 ms, docs/delivery.md).
"""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")
django.setup()

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from controlplane import broker  # noqa: E402
from controlplane.celery import app as celery_app  # noqa: E402
from controlplane.edge.app import EdgeApplication  # noqa: E402

application = EdgeApplication(WSGIMiddleware(get_wsgi_application(), workers=settings.WEB_THREADS))
broker.warm_up(celery_app)
gc.collect()
gc.freeze()
