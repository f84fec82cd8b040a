"""Test settings: the same real PostgreSQL and Redis, a separate Redis database and queue."""

from controlplane.settings.base import *  # noqa: F403
from controlplane.settings.env import env, redis_url_with_db

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REDIS_URL = env("TEST_REDIS_URL", redis_url_with_db(REDIS_URL, 15))  # noqa: F405
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = "flagplane-test"
STATIC_ROOT = None  # tests serve static files through the finders; nothing is collected
