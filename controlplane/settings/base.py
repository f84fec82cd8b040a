"""Settings for Flagplane's control plane, read from the environment.

Every variable has a default that works on a developer machine with PostgreSQL and Redis
running locally; see README.md ("Configuration") for the list.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

from controlplane.observability.logs import logging_config
from controlplane.ratelimit import Limit
from controlplane.settings.env import (
    database_from_url,
    env,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    secret_key_from_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", False)
# Without SECRET_KEY, a random key is made once and kept in SECRET_KEY_FILE (never a key known to all).
SECRET_KEY = env("SECRET_KEY", "") or secret_key_from_file(Path(env("SECRET_KEY_FILE", str(BASE_DIR / ".secret_key"))))
# `manage.py seed_demo` keeps the demo's credentials here, so that every run prints the same ones.
DEMO_CREDENTIALS_FILE = Path(env("DEMO_CREDENTIALS_FILE", str(BASE_DIR / ".demo-credentials.json")))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# Behind HTTPS (README, "Running behind HTTPS"). SECURE_PROXY_SSL_HEADER names the header a TLS-ending
# proxy sets to "https" (e.g. X-Forwarded-Proto); only set it when that proxy always sets or strips it.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
_proxy_ssl_header = env("SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp), on every page: scripts, styles, images and requests from this
# site only, and no framing. Inline style attributes are allowed (the admin's templates use them);
# inline scripts are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

INSTALLED_APPS = [
    "controlplane.admin_site.FlagplaneAdminConfig",  # django.contrib.admin with Flagplane's index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "controlplane.accounts",
    "controlplane.projects",
    "controlplane.flags",
    "controlplane.audit",
    "controlplane.documents",
    "controlplane.metrics",
    "controlplane.rollouts",
    "controlplane.notifications",
    "controlplane.health",
    "controlplane.observability",
    "controlplane.ofrep",
    "controlplane.access",
    "controlplane.api",
    "axes",
    "csp",
]

MIDDLEWARE = [
    # /healthz, /readyz and /metrics come first: probes address pods by IP, not by an allowed host.
    "controlplane.observability.middleware.OperationalEndpointsMiddleware",
    "controlplane.observability.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses sign-ins while a username and address are locked out
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "controlplane" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flagplane")
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
# Seconds to wait for Redis before falling back to PostgreSQL when serving SDK documents.
REDIS_TIMEOUT_S = env_float("REDIS_TIMEOUT_S", 0.25)
# The web edge (controlplane/edge, docs/delivery.md): threads running Django's views per web
# process; threads for the edge's own database reads; how often a served document or SDK key is
# checked again against Redis when no event came; load-shedding limits per process; the SSE
# heartbeat.
WEB_THREADS = env_int("WEB_THREADS", 8)
EDGE_DB_THREADS = env_int("EDGE_DB_THREADS", 4)
EDGE_DB_TIMEOUT_S = env_float("EDGE_DB_TIMEOUT_S", 2.0)
EDGE_VERIFY_SECONDS = env_float("EDGE_VERIFY_SECONDS", 2.0)
EDGE_MAX_INFLIGHT = env_int("EDGE_MAX_INFLIGHT", 256)
EDGE_MAX_STREAMS = env_int("EDGE_MAX_STREAMS", 20_000)
EDGE_MAX_QUEUE_MS = env_float("EDGE_MAX_QUEUE_MS", 50.0)
SDK_STREAM_HEARTBEAT_S = env_float("SDK_STREAM_HEARTBEAT_S", 15.0)
# Every Redis key and channel Flagplane uses starts with this (several installations can share a Redis).
REDIS_PREFIX = env("REDIS_PREFIX", "flagplane")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "controlplane" / "static"]  # what every admin page shares (flagplane/admin.css)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (tests, runserver) whitenoise serves straight from the apps' folders.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"

# How many proxies in front of the control plane append to X-Forwarded-For; 0: the peer's address is
# the client's. Lockouts and rate limits count per client address (controlplane/ratelimit.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Sign-in lockout (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# address, that pair is refused (429 with Retry-After) for LOGIN_LOCKOUT_MINUTES, even with the right
# password. A superuser unlocks it early by deleting the access attempt in the admin.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_CLIENT_IP_CALLABLE = "controlplane.accounts.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "controlplane.accounts.lockout.locked_out"

# Rate limits (token buckets in Redis, "N/s", "N/min" or "N/hour"): wrong API tokens and SDK keys per
# client address (then 429 until the bucket refills, even for a right one), API requests per token or
# person, unauthenticated API requests per address, and SDK metric reports per SDK key.
THROTTLE_AUTH_FAILURES = Limit.parse(env("THROTTLE_AUTH_FAILURES", "20/min"))
THROTTLE_API = Limit.parse(env("THROTTLE_API", "1200/min"))
THROTTLE_ANONYMOUS = Limit.parse(env("THROTTLE_ANONYMOUS", "120/min"))
THROTTLE_SDK_METRICS = Limit.parse(env("THROTTLE_SDK_METRICS", "1200/min"))
# SDK document polls (GET /api/v1/sdk/config) per SDK key, counted in each web process's memory.
THROTTLE_SDK_POLLS = Limit.parse(env("THROTTLE_SDK_POLLS", "3000/min"))
# OFREP evaluations (/ofrep/v1/) per SDK or client-side key; wrong keys count in THROTTLE_AUTH_FAILURES.
THROTTLE_OFREP = Limit.parse(env("THROTTLE_OFREP", "3000/min"))
RATELIMIT_KEY_PREFIX = f"{REDIS_PREFIX}:ratelimit:"
# The largest JSON body the REST API reads (a larger one is a 413), e.g. a full SDK metrics batch.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 10 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "controlplane.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["controlplane.api.permissions.HasRole"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "controlplane.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["controlplane.api.throttling.RequestRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["controlplane.api.parsers.BoundedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Percentages (0.001 steps) are JSON numbers like the thresholds beside them, not "5.000".
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Flagplane API",
    "DESCRIPTION": "Feature flags, environments, segments, SDK keys, audit log and rollouts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs describe the API, never data: public on purpose, like any API reference.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from our own static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "controlplane.api.schema.add_error_responses",
        "controlplane.api.schema.add_tags",
    ],
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "flagplane")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request that queues a task (a document build after a write) waits at most one BROKER_TIMEOUT_S
# for the broker (no reconnection retries; a worker's and beat's own connections still retry), and
# after a failure skips it for BROKER_DOWN_SECONDS (controlplane/broker.py); what it could not
# queue is published by the reconciler.
BROKER_TIMEOUT_S = env_float("BROKER_TIMEOUT_S", 1.0)
BROKER_DOWN_SECONDS = env_float("BROKER_DOWN_SECONDS", 5.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": BROKER_TIMEOUT_S,
    "socket_connect_timeout": BROKER_TIMEOUT_S,
    "max_retries": 0,
}
# How often the reconciler publishes environments whose document is behind and repairs Redis copies.
DOCUMENTS_RECONCILE_SECONDS = env_float("DOCUMENTS_RECONCILE_SECONDS", 5.0)
# How often the rollout engine evaluates every active plan.
ROLLOUTS_TICK_SECONDS = env_float("ROLLOUTS_TICK_SECONDS", 15.0)
# The Prometheus that health rules with source "prometheus" query when they name no URL of their own.
ROLLOUTS_PROMETHEUS_URL = env("ROLLOUTS_PROMETHEUS_URL", "")
# How long a stage's external check (confirm-promotion URL) may take to answer.
ROLLOUTS_EXTERNAL_CHECK_TIMEOUT_S = env_float("ROLLOUTS_EXTERNAL_CHECK_TIMEOUT_S", 3.0)
# Traffic of a stage's first seconds is left out of the sample-ratio check: SDKs serve the old
# split until their next poll or stream event picks up the new one. Also when a metric bucket has
# settled (SDKs have reported it): a batch counted into it after that is late (metrics.LateBucket).
ROLLOUTS_SAMPLE_RATIO_SETTLE_S = env_float("ROLLOUTS_SAMPLE_RATIO_SETTLE_S", 60.0)
CELERY_BEAT_SCHEDULE: dict = {
    "documents-reconcile": {
        "task": "documents.reconcile",
        "schedule": DOCUMENTS_RECONCILE_SECONDS,
        "options": {"expires": DOCUMENTS_RECONCILE_SECONDS},  # a stale one is replaced by the next
    },
    "rollouts-tick": {"task": "rollouts.tick", "schedule": ROLLOUTS_TICK_SECONDS},
    "rollouts-prune-counts": {"task": "rollouts.prune_counts", "schedule": 3600.0},
    "metrics-prune": {"task": "metrics.prune", "schedule": 3600.0},
}

# Hosts (names, addresses or networks) that webhooks, external checks and HTTP metric sources may
# reach although they are not public addresses (controlplane/outbound.py refuses those by default).
OUTBOUND_ALLOWED_HOSTS = env_list("OUTBOUND_ALLOWED_HOSTS", "")

# Outbound webhooks (docs/webhooks.md): request timeout, attempts before a delivery fails, and the
# backoff base (the wait after the n-th failed attempt is base * 2**n seconds).
NOTIFICATIONS_TIMEOUT_S = env_float("NOTIFICATIONS_TIMEOUT_S", 5.0)
NOTIFICATIONS_MAX_ATTEMPTS = env_int("NOTIFICATIONS_MAX_ATTEMPTS", 8)
NOTIFICATIONS_RETRY_BASE_S = env_float("NOTIFICATIONS_RETRY_BASE_S", 10.0)
CELERY_BEAT_SCHEDULE["notifications-retry-pending"] = {"task": "notifications.retry_pending", "schedule": 60.0}

# SDK health metrics (docs/metrics.md): bucket width, how long buckets and batch ids are kept,
# how many entries one batch may carry, how far ahead of the server an SDK's clock may run.
METRICS_BUCKET_SECONDS = env_int("METRICS_BUCKET_SECONDS", 10)
METRICS_RETENTION_DAYS = env_int("METRICS_RETENTION_DAYS", 14)
METRICS_BATCH_RETENTION_HOURS = env_int("METRICS_BATCH_RETENTION_HOURS", 48)
METRICS_MAX_ENTRIES = env_int("METRICS_MAX_ENTRIES", 10_000)
METRICS_MAX_CLOCK_SKEW_SECONDS = env_int("METRICS_MAX_CLOCK_SKEW_SECONDS", 300)
# Batches parked in Redis while PostgreSQL is unavailable (controlplane/metrics/inbox.py), and how
# often they are drained into it.
METRICS_INBOX_MAX = env_int("METRICS_INBOX_MAX", 100_000)
# A batch whose counting would write more rows than this (a bucket row per series, and one unit row
# per series with unit groups) is parked too and counted by a worker right away. 2,000 rows: a
# request counting 1,000 series of 16 unit groups took 177-204 ms, plain series 49-67 µs each (so
# 2,000 of them ~100-135 ms), at load 4.6 on 2 cores (bench/scale.py --only ingest).
METRICS_PARK_ROWS = env_int("METRICS_PARK_ROWS", 2_000)
# The unit-group rows of a series' bucket that several batches (SDK instances) wrote are folded
# into one (metrics.services.compact) once the bucket ended METRICS_COMPACT_AFTER_S ago, until it
# began METRICS_COMPACT_SPAN_S ago.
METRICS_COMPACT_AFTER_S = env_int("METRICS_COMPACT_AFTER_S", 20)
METRICS_COMPACT_SPAN_S = env_int("METRICS_COMPACT_SPAN_S", 120)
CELERY_BEAT_SCHEDULE["metrics-compact"] = {
    "task": "metrics.compact",
    "schedule": 30.0,
    "options": {"expires": 30.0},
}
METRICS_INBOX_DRAIN_SECONDS = env_float("METRICS_INBOX_DRAIN_SECONDS", 5.0)
CELERY_BEAT_SCHEDULE["metrics-drain-inbox"] = {
    "task": "metrics.drain_inbox",
    "schedule": METRICS_INBOX_DRAIN_SECONDS,
    "options": {"expires": METRICS_INBOX_DRAIN_SECONDS},
}

# Readiness (/readyz): how long each check waits for PostgreSQL, Redis or the broker to answer.
HEALTH_CHECK_TIMEOUT_S = env_float("HEALTH_CHECK_TIMEOUT_S", 1.0)

# Prometheus metrics (/metrics; docs/operations.md): readable with this bearer token, or from a
# peer address in these networks. A Celery worker serves them on WORKER_METRICS_BIND (host:port).
METRICS_ENDPOINT_TOKEN = env("METRICS_ENDPOINT_TOKEN", "")
METRICS_ENDPOINT_NETWORKS = [
    ipaddress.ip_network(network) for network in env_list("METRICS_ENDPOINT_NETWORKS", "127.0.0.0/8,::1/128")
]
WORKER_METRICS_BIND = env("WORKER_METRICS_BIND", "")

# Logs: one JSON object per line (json) or plain text for a terminal (text).
LOG_FORMAT = env_choice("LOG_FORMAT", "json", ("json", "text"))
LOGGING = logging_config(LOG_FORMAT, env("LOG_LEVEL", "INFO"))
