"""Test settings: the same real PostgreSQL and Redis, with a database and a queue of their own.

The test database and the Celery queue carry the process id, so that two test runs on one
machine (two developers' shells, an editor's test runner) never drop each other's database or
consume each other's tasks.
"""

import os
import tempfile
from pathlib import Path

from controlplane.settings.base import *  # noqa: F403
from controlplane.settings.env import env, redis_url_with_db

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405
REDIS_URL = env("TEST_REDIS_URL", redis_url_with_db(REDIS_URL, 15))  # noqa: F405
CELERY_BROKER_URL = REDIS_URL
REDIS_PREFIX = f"flagplane-test-{os.getpid()}"
CELERY_TASK_DEFAULT_QUEUE = f"flagplane-test-{os.getpid()}"
RATELIMIT_KEY_PREFIX = f"{REDIS_PREFIX}:ratelimit:"
# The tests' webhook receivers and metric sources listen on 127.0.0.1; tests/test_outbound.py
# checks the default (nothing internal) with the setting emptied.
OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
STATIC_ROOT = None  # tests serve static files through the finders; nothing is collected
# Never the developer's own demo credentials (see seed_demo).
DEMO_CREDENTIALS_FILE = Path(tempfile.gettempdir()) / f"flagplane-test-demo-credentials-{os.getpid()}.json"
