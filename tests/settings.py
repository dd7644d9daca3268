"""Test settings: the real settings, plus what keeps one test run from touching another's
state on shared servers (a developer's platform may be using the same Redis).

A real Celery worker started by the integration tests imports this module too; the run id
travels to it through the environment, so both sides agree on the queue and key prefix.
"""

import os
import uuid

from kombu import Queue

from crm.settings import *  # noqa: F403
from crm.settings import CACHES, DATABASES, REST_FRAMEWORK

RUN_ID = os.environ.setdefault("CRM_TEST_RUN_ID", uuid.uuid4().hex[:12])

CACHES["default"]["KEY_PREFIX"] = f"crm-test-{RUN_ID}"
CELERY_TASK_DEFAULT_QUEUE = f"crm-test-{RUN_ID}"
# The same queues by kind as production, named for this run; test workers consume them all.
CELERY_WORKER_QUEUES, CELERY_TASK_ROUTES = celery_routing(  # noqa: F405
    default=CELERY_TASK_DEFAULT_QUEUE, prefix=f"crm-test-{RUN_ID}-"
)
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_WORKER_QUEUES]
# Tests roll their clubs back between them: a dashboard kept from one would answer the next.
DASHBOARD_CACHE_SECONDS = 0

# Many tests send bad keys from 127.0.0.1 on purpose (cross-tenant and auth cases): under the
# production limit on failed authentication they would lock out the tests after them. The
# tests of that limit lower it again (tests/test_rate_limits.py).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth_failures"] = "1000000/min"

# A worker subprocess must use the database pytest-django created, not the dev one.
if os.environ.get("CRM_TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["CRM_TEST_DATABASE_NAME"]
DATABASES["default"]["CONN_MAX_AGE"] = 0

ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1", ".crm.test"]
# Hashing with PBKDF2's full cost makes every login in the suite slow, and proves nothing here.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A fixed key for the social tokens (any valid Fernet key will do in tests); exported too, so
# subprocesses (a real worker, `check --deploy`) see the same one.
SOCIAL_TEST_TOKEN_KEY = "x5bT2xH8o0W3oYbQy2mXq5w0m3cJ1kz9N7G0d8HcQ2A="
os.environ.setdefault("CRM_SOCIAL_TOKEN_KEYS", SOCIAL_TEST_TOKEN_KEY)
CRM_SOCIAL_TOKEN_KEYS = [os.environ["CRM_SOCIAL_TOKEN_KEYS"].split(",")[0]]
SOCIAL_PUBLIC_BASE_URL = "https://crm.test"
SOCIAL_FACEBOOK_APP_ID = "fb-app-1"
SOCIAL_FACEBOOK_APP_SECRET = "fb-secret-1"
SOCIAL_X_CLIENT_ID = "x-client-1"
SOCIAL_X_CLIENT_SECRET = "x-secret-1"

# Outbox relays run by this run's workers write to this run's own BullMQ keys.
BULLMQ_PREFIX = os.environ.get("BULLMQ_PREFIX") or f"bull-test-{RUN_ID}"
