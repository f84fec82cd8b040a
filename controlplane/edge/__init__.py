"""The web edge: a lean ASGI application in front of Django that serves the SDK paths.

``GET /api/v1/sdk/config`` and ``GET /api/v1/sdk/stream`` are answered here, from process memory
and Redis, with SDK keys checked from an in-process cache; every other path is handed to
Django (run as WSGI in a thread pool). See docs/delivery.md.
"""
