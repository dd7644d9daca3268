"""Settings for the golf-club CRM, all read from the environment.

Development defaults are safe to run on a laptop (`python3 dev.py run` sets DEBUG=1 and points
DATABASE_URL / REDIS_URL at the embedded servers). Production sets DEBUG=0 (the default),
SECRET_KEY, ALLOWED_HOSTS and the database/Redis URLs; with those, the secure defaults below make
`python manage.py check --deploy` pass without warnings (a test holds us to that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# Without SECRET_KEY we fall back to a key Django itself flags as insecure (check --deploy W009
# and our crm.E001), so a production deploy that forgot it fails its checks instead of running
# with a published key.
DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Applications ---------------------------------------------------------------------------
# django-tenants: SHARED_APPS live in the public schema (the tenant registry, the platform
# admin, beat's schedule); TENANT_APPS in every club's schema. auth/admin/sessions/contenttypes
# are in both so each club has its own staff, sessions and admin log (django-tenants #212).
# `crm.tenants` comes before `django_tenants` so our `create_tenant` command wins over theirs.
SHARED_APPS = [
    "crm.tenants",
    "django_tenants",
    # The admin's theme: its templates must come before django.contrib.admin's.
    "unfold",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crm.accounts",
    "crm.transport",  # BullMQ transport: its dead-letter mirror lives in the public schema
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "graphene_django",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "crm.accounts",
    "crm.outbox",  # the CRM's own events, every app's; relayed by crm.transport
    "profiles",
    "segments",
    "campaigns",
    "journeys",
    "social",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
TENANT_SUBFOLDER_PREFIX = "t"
# A migrated schema that new clubs' schemas are copied from (crm/tenants/template.py): a new club
# in well under a second instead of running every migration. Never a club; holds no data.
TENANT_TEMPLATE_SCHEMA = os.environ.get("TENANT_TEMPLATE_SCHEMA", "club_template")
# `migrate_schemas` visits only the clubs that lack a migration (crm/tenants/migrating.py).
GET_EXECUTOR_FUNCTION = "crm.tenants.migrating.get_executor"
TENANT_MULTIPROCESSING_MAX_PROCESSES = env_int("TENANT_MULTIPROCESSING_MAX_PROCESSES", 2)
PUBLIC_SCHEMA_NAME = "public"
ROOT_URLCONF = "crm.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "crm.urls_public"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    "crm.observability.RequestIdMiddleware",
    "crm.tenants.middleware.TenantMiddleware",
    "crm.tenants.middleware.ClubAdminTimezoneMiddleware",
    "crm.api.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "crm.tenants.session_cookies.TenantSessionCookieMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "crm" / "templates"],
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

WSGI_APPLICATION = "crm.wsgi.application"

# --- Database and Redis -----------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/crm")
# psycopg's client-side parameter binding (Django's default; do not set server_side_binding):
# the apply path sends several statements in one round trip (profiles/apply.py _TAKE,
# profiles/projection.py _PLAN_SETTINGS), which server-side binding refuses.
# Connections are per process and thread, never per club: django-tenants switches a club by
# `SET search_path` on the same connection, so 1,000 clubs need no more connections than one.
# DATABASE_POOL_MAX_SIZE > 0 turns on Django 5.2's psycopg pool in each process (connections
# shared by its threads, capped, and handed back after every request or task); the pool
# replaces persistent connections (Django refuses both), so CONN_MAX_AGE is 0 then.
# django-tenants re-sets search_path on every new cursor (TENANT_LIMIT_SET_CALLS stays off),
# so a pooled connection never carries one club's path into another club's work
# (tests/test_connection_pool.py). docs/scale-out.md, "Connections", has the measurements.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 0)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        engine="django_tenants.postgresql_backend",
        conn_max_age=0 if DATABASE_POOL_MAX_SIZE else env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=not DATABASE_POOL_MAX_SIZE,
    )
}
# Named connections show in pg_stat_activity, so an operator sees which process kind holds them
# (libpq's own PGAPPNAME still wins when set: the benchmarks find their backends by it).
DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = (
    os.environ.get("PGAPPNAME") or os.environ.get("DATABASE_APPLICATION_NAME") or "crm"
)
if DATABASE_POOL_MAX_SIZE:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": min(env_int("DATABASE_POOL_MIN_SIZE", 1), DATABASE_POOL_MAX_SIZE),
        "max_size": DATABASE_POOL_MAX_SIZE,
        # Seconds a request waits for a free connection before failing (then a 503, not a hang).
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
    }
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key carries the schema name, so one club's cached data (and rate-limit
        # counters) can never answer for another (django-tenants #1052).
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "crm"),
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles"
# The platform's own files (favicon, vendored GraphiQL, the home dashboard's script and
# styles): `crm` itself is not an app.
STATICFILES_DIRS = [BASE_DIR / "crm" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Serve admin assets without collectstatic in development and tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "admin:login"

# --- Admin theme (django-unfold) --------------------------------------------------------------
# A club's admin: a sidebar by task (crm.admin_nav), the club's name as the header, the
# platform's own favicon. Everything it loads (fonts, icons, scripts) is in unfold's static files.
_FAVICON = [{"rel": "icon", "type": "image/svg+xml", "href": "crm.admin_nav.favicon_url"}]
_GREEN = {
    "50": "oklch(98.2% .018 155.826)",
    "100": "oklch(96.2% .044 156.743)",
    "200": "oklch(92.5% .084 155.995)",
    "300": "oklch(87.1% .15 154.449)",
    "400": "oklch(79.2% .209 151.711)",
    "500": "oklch(72.3% .219 149.579)",
    "600": "oklch(62.7% .194 149.214)",
    "700": "oklch(52.7% .154 150.069)",
    "800": "oklch(44.8% .119 151.328)",
    "900": "oklch(39.3% .095 152.535)",
    "950": "oklch(26.6% .065 152.934)",
}
UNFOLD = {
    "SITE_TITLE": "Golf CRM",
    "SITE_HEADER": "crm.admin_nav.site_header",
    "SITE_SUBHEADER": "Golf CRM",
    "SITE_SYMBOL": "golf_course",
    "SITE_URL": None,
    "SITE_FAVICONS": _FAVICON,
    "SHOW_VIEW_ON_SITE": False,
    "COLORS": {"primary": _GREEN},
    "STYLES": ["crm.admin_nav.theme_css_url"],
    "DASHBOARD_CALLBACK": "crm.admin_dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "crm.admin_nav.navigation",
    },
}
UNFOLD_PLATFORM = {
    "SITE_TITLE": "Golf CRM platform",
    "SITE_HEADER": "Golf CRM platform",
    "SITE_SUBHEADER": "Clubs and platform settings",
    "SITE_SYMBOL": "golf_course",
    "SITE_URL": None,
    "SITE_FAVICONS": _FAVICON,
    "COLORS": {"primary": _GREEN},
    "STYLES": ["crm.admin_nav.theme_css_url"],
}

# --- Request limits --------------------------------------------------------------------------
# One limit for every body, JSON or form: an event batch of 1,000 envelopes fits well inside.
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# JSON bodies (REST and GraphQL) nested deeper than this are refused with a 400 naming the field.
MAX_JSON_DEPTH = env_int("MAX_JSON_DEPTH", 32)

# --- Security (production defaults; DEBUG relaxes the ones that need HTTPS) ------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.api.authentication.ApiKeyAuthentication",
        "crm.api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "read": os.environ.get("RATE_LIMIT_READ", "1000/min"),
        "write": os.environ.get("RATE_LIMIT_WRITE", "100/min"),
        "campaign_send": os.environ.get("RATE_LIMIT_CAMPAIGN_SEND", "10/min"),
        "social_publish": os.environ.get("RATE_LIMIT_SOCIAL_PUBLISH", "30/min"),
        # 600 batches of up to 1,000 events a minute: bulk loads are not throttled to a crawl.
        "ingest": os.environ.get("RATE_LIMIT_INGEST", "600/min"),
        # Failed authentications (bad API keys or signatures on the API and GraphQL, wrong
        # passwords on the admin's login) per client address and club; over it, the address
        # gets 429 before its credentials are checked.
        "auth_failures": os.environ.get("RATE_LIMIT_AUTH_FAILURES", "20/min"),
    },
    # How many proxies in front of the platform append to X-Forwarded-For. 0 (the default):
    # the connection's own address is the client's, and a client cannot pick another one by
    # sending the header. Behind one load balancer, 1.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["crm.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.SkipTakePagination",
    "DEFAULT_SCHEMA_CLASS": "crm.api.openapi.EnvelopeAutoSchema",
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Golf Club CRM API",
    "DESCRIPTION": (
        "Unified customer profiles, segments, campaigns, journeys and social publishing for one "
        "club. Every path here sits under `/t/<tenant>/` (the club's slug or UUID). Lists answer "
        '`{"data": [...], "meta": {"total", "skip", "take", "hasMore"}}`; errors answer '
        '`{"error": {"code", "message", "requestId", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"(/t/[^/]+)?/api/v1",
    # Swagger UI's assets are served by us (drf-spectacular-sidecar), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several resources have a `type`; each choice set gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "SegmentTypeEnum": "segments.models.SegmentType",
        "CampaignTypeEnum": "campaigns.models.CampaignType",
    },
}

# Campaigns' choice sets by name, so they do not collide with other apps' `type`/`channel`.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "CampaignTypeEnum": "campaigns.models.CampaignType",
        "CampaignChannelEnum": "campaigns.models.Channel",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
    }
)
# Competition auto-promotion's choice sets (social), by name for the same reason.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "PromotionStatusEnum": "social.models.PromotionStatus",
        "PromotionItemStatusEnum": "social.models.ItemStatus",
        "PromotionItemKindEnum": "social.models.ItemKind",
        "PromotionItemChannelEnum": "social.models.ItemChannel",
        "SocialNetworkEnum": "social.models.Network",
    }
)
# Journeys' choice sets (journeys/api), by name for the same reason.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "JourneyStatusEnum": "journeys.models.JourneyStatus",
        "EnrolmentStatusEnum": "journeys.models.EnrolmentStatus",
        "EnrolmentSourceEnum": "journeys.models.EnrolmentSource",
        "StaffTaskStatusEnum": "journeys.models.StaffTaskStatus",
        "StaffTaskStatusFilterEnum": "journeys.api.serializers.STAFF_TASK_STATUS_FILTER",
    }
)

GRAPHENE = {
    "SCHEMA": "crm.graphql.schema.schema",
    "ATOMIC_MUTATIONS": True,
}
GRAPHQL_MAX_DEPTH = env_int("GRAPHQL_MAX_DEPTH", 10)
GRAPHQL_MAX_QUERY_CHARS = env_int("GRAPHQL_MAX_QUERY_CHARS", 20_000)
# Introspection nests deeper than data (GraphiQL's standard query reaches 13 with its
# nine-level `ofType` chain); it is limited on its own, not left unlimited.
GRAPHQL_MAX_INTROSPECTION_DEPTH = env_int("GRAPHQL_MAX_INTROSPECTION_DEPTH", 15)
# Values a query may ask for (crm/graphql/limits.py): a page of 100 customers with 50 fields
# each is 5,000; 200 aliases of it are refused.
GRAPHQL_MAX_COST = env_int("GRAPHQL_MAX_COST", 20_000)

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Reliability choices (see crm/celery.py for the reasoning).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest task and the longest countdown/ETA we ever set, or Redis hands
    # the message to a second worker while the first still runs it (celery #4766).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 60 * 60),
}
CELERY_RESULT_EXPIRES = 24 * 60 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TENANT_CACHE_SECONDS = 30
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")


def celery_routing(*, default: str, prefix: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Queues by kind of work, and which tasks go to each.

    A worker started without `-Q` consumes every queue (dev.py, docker-compose); a deployment
    that wants, say, sends never held up by a burst of events gives each queue its own workers
    (`celery -A crm worker -Q ingest`, `-Q sends`, ...). Everything not named here (the fan-out,
    segments, sessions) stays on the default queue. `prefix` keeps a test run's queues its own.
    """
    kinds = {
        "ingest": ["profiles.apply_pending_events", "profiles.refresh_counters", "transport.*"],
        "sends": ["campaigns.*"],
        "journeys": ["journeys.*"],
        "social": ["social.*"],
        "scoring": [
            "profiles.recompute_scores",
            "profiles.rescore_touched",
            "profiles.train_churn_model",
        ],
    }
    routes = {
        pattern: {"queue": f"{prefix}{kind}"}
        for kind, patterns in kinds.items()
        for pattern in patterns
    }
    return [default, *(f"{prefix}{kind}" for kind in kinds)], routes


CELERY_WORKER_QUEUES, CELERY_TASK_ROUTES = celery_routing(
    default=CELERY_TASK_DEFAULT_QUEUE, prefix=os.environ.get("CELERY_QUEUE_PREFIX", "")
)
# What a worker started without -Q consumes: all of them.
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_WORKER_QUEUES]
# Nightly and weekly work starts in each club at a stable offset within this spread (a hash of
# the club and the task: crm.tasks.stable_offset), so 1,000 clubs do not start the same second.
# Capped at half the broker's visibility timeout (a countdown is held unacknowledged).
TENANT_NIGHTLY_SPREAD_SECONDS = env_int("TENANT_NIGHTLY_SPREAD_SECONDS", 60 * 60)
_NIGHTLY = {"spread_seconds": TENANT_NIGHTLY_SPREAD_SECONDS}
# Periodic work that every club needs. Every-minute tasks, and the every-few-minutes ones
# (segments due, social engagement), go through crm.tasks.dispatch_due (queued only in the clubs
# whose probe says something is due: crm/periodic.py); the rest are fanned out per ACTIVE
# tenant by crm.tasks.fan_out_to_tenants.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Events whose on-commit trigger was lost (a worker died) are applied within a minute.
    "apply-pending-events": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("profiles.apply_pending_events",),
    },
    "refresh-customer-counters": {
        "task": "crm.tasks.fan_out_to_tenants",
        "schedule": 24 * 60 * 60,
        "args": ("profiles.refresh_counters",),
        "kwargs": _NIGHTLY,
    },
    # The tee-sheet gap filler: gaps, conversions and the next waves (also after slot events).
    "tee-sheet-fill": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("campaigns.tee_sheet_fill",),
    },
    "golfer-habits": {
        "task": "crm.tasks.fan_out_to_tenants",
        "schedule": 24 * 60 * 60,
        "args": ("campaigns.golfer_habits_refresh",),
        "kwargs": _NIGHTLY,
    },
    # Segments follow new events within a minute, and their own HOURLY/DAILY schedules.
    "refresh-segments-touched": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("segments.refresh_touched",),
    },
    "refresh-segments-due": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 5 * 60,
        "args": ("segments.refresh_due",),
    },
    # Scores: everyone nightly, the customers behind new bookings, payments and membership
    # changes within a minute, and a new churn model every week.
    "recompute-scores": {
        "task": "crm.tasks.fan_out_to_tenants",
        "schedule": 24 * 60 * 60,
        "args": ("profiles.recompute_scores",),
        "kwargs": _NIGHTLY,
    },
    "rescore-touched-customers": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("profiles.rescore_touched",),
    },
    "train-churn-models": {
        "task": "crm.tasks.fan_out_to_tenants",
        "schedule": 7 * 24 * 60 * 60,
        "args": ("profiles.train_churn_model",),
        "kwargs": _NIGHTLY,
    },
    "clear-expired-sessions": {
        "task": "crm.tasks.fan_out_to_tenants",
        "schedule": 24 * 60 * 60,
        "args": ("crm.tasks.clear_expired_sessions",),
        "kwargs": _NIGHTLY,
    },
    # BullMQ transport: the outbox of every club reaches crm-outbound within a minute even if
    # its on-commit trigger was lost; dead letters are mirrored for the admin and expire.
    "relay-outbound-events": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("transport.relay_outbound_events",),
    },
    "sweep-dead-letters": {
        "task": "transport.sweep_dead_letters",
        "schedule": 60,
    },
    # Social Publisher: due posts (and retries, and in-doubt attempts) every minute, engagement
    # as it falls due (hourly for a day, 6-hourly for a week, then daily), tokens daily.
    "social-publish-due": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("social.publish_due",),
    },
    "social-engagement-due": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 15 * 60,
        "args": ("social.fetch_engagement_due",),
    },
    "social-check-accounts": {
        "task": "crm.tasks.fan_out_to_tenants",
        "schedule": 24 * 60 * 60,
        "args": ("social.check_accounts",),
        "kwargs": _NIGHTLY,
    },
    # Competition auto-promotion follows TeeTime's competition events within a minute.
    "social-promote-competitions": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("social.promote_competitions",),
    },
    # Campaigns: due one-time sends, triggers, stalled deliveries, A/B winners, finished runs.
    "campaigns-tick": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("campaigns.tick",),
    },
    # Journeys: triggers (timeline, broadcast events, segment changes, dates) and due steps.
    "journeys-run-triggers": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("journeys.run_triggers",),
    },
    "journeys-run-due": {
        "task": "crm.tasks.dispatch_due",
        "schedule": 60,
        "args": ("journeys.run_due",),
    },
}
# Every-minute tasks fanned out to every club on purpose (no probe): none today. A new
# every-minute task either registers a probe (crm/periodic.py) or is named here
# (tests/test_periodic_dispatch.py holds the schedule to it).
TENANT_FANNED_OUT_EVERY_MINUTE: tuple[str, ...] = ()
# The safety net: every dispatched task still reaches every club once a period, so a probe that
# wrongly says "nothing due" delays that club's work by at most a period, never loses it. The
# period is this, or three of the task's own runs if longer (engagement, every 15 minutes: 45),
# so a slow task's probe still saves something.
TENANT_FAN_OUT_SAFETY_NET_SECONDS = env_int("TENANT_FAN_OUT_SAFETY_NET_SECONDS", 15 * 60)
# Clubs asked per probe statement, each its own transaction. A statement locks every table and
# index its probe reads in every club it asks (up to ~25 a club), and the server's lock table
# holds max_locks_per_transaction (64) x max_connections (100) by default: 1,000 clubs in one
# statement ran out of it. Raise both together.
TENANT_WORK_PROBE_CHUNK = env_int("TENANT_WORK_PROBE_CHUNK", 100)
# Not all clubs at once (12 tasks x 1,000 clubs in one burst): crm.tasks.safety_net runs every
# minute and queues the task in the clubs whose bucket (crc32 of club and task, one of a
# period's minutes) is due, ~1/15 of them a minute, each club once a period.
CELERY_BEAT_SCHEDULE.update(
    {
        f"{name}-safety-net": {
            "task": "crm.tasks.safety_net",
            "schedule": 60,
            "args": (
                entry["args"][0],
                max(TENANT_FAN_OUT_SAFETY_NET_SECONDS, 3 * entry["schedule"]),
            ),
        }
        for name, entry in list(CELERY_BEAT_SCHEDULE.items())
        if entry["task"] == "crm.tasks.dispatch_due"
    }
)
TENANT_FAN_OUT_STAGGER_SECONDS = env_int("TENANT_FAN_OUT_STAGGER_SECONDS", 2)

# --- Social Publisher (social/) ---------------------------------------------------------------
# Fernet keys (comma-separated, newest first) that encrypt the networks' tokens at rest; an old
# key stays listed until `manage.py rotate_social_tokens` has re-encrypted with the new one.
# No default: dev.py generates one into .crm-data/, tests set a fixed one, and a production
# deploy without it fails `check --deploy` (crm.E002) and refuses to touch tokens.
CRM_SOCIAL_TOKEN_KEYS = env_list("CRM_SOCIAL_TOKEN_KEYS", [])
# Where the networks reach us: OAuth redirect URIs and the image URLs Instagram/Facebook fetch.
SOCIAL_PUBLIC_BASE_URL = os.environ.get("SOCIAL_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Auto-promotion reads an event only once it is this old, so an insert that commits late can
# never fall behind its cursor (social.promotion_services).
SOCIAL_PROMOTION_SETTLE_SECONDS = env_int("SOCIAL_PROMOTION_SETTLE_SECONDS", 10)
SOCIAL_FACEBOOK_APP_ID = os.environ.get("SOCIAL_FACEBOOK_APP_ID", "")
SOCIAL_FACEBOOK_APP_SECRET = os.environ.get("SOCIAL_FACEBOOK_APP_SECRET", "")
SOCIAL_X_CLIENT_ID = os.environ.get("SOCIAL_X_CLIENT_ID", "")
SOCIAL_X_CLIENT_SECRET = os.environ.get("SOCIAL_X_CLIENT_SECRET", "")
# Pinned so requests (and the tests' fakes) stay stable; move it on purpose, with the tests.
SOCIAL_GRAPH_API_VERSION = "v23.0"
# Posts per account in any 24 hours: Facebook 200 per Page, Instagram's content publishing
# limit 25; X's per-user limit depends on the app's tier (Basic: 100).
SOCIAL_DAILY_LIMITS = {
    "facebook": env_int("SOCIAL_FACEBOOK_DAILY_LIMIT", 200),
    "instagram": env_int("SOCIAL_INSTAGRAM_DAILY_LIMIT", 25),
    "x": env_int("SOCIAL_X_DAILY_LIMIT", 100),
}

# --- Integrations ------------------------------------------------------------------------------
MESSAGING_URL = os.environ.get("MESSAGING_URL", "")
MESSAGING_TOKEN = os.environ.get("MESSAGING_TOKEN", "")
# BullMQ (crm/transport): the Redis the services' queues are on, and BullMQ's key prefix.
BULLMQ_REDIS_URL = os.environ.get("BULLMQ_REDIS_URL") or REDIS_URL
BULLMQ_PREFIX = os.environ.get("BULLMQ_PREFIX") or "bull"
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "crm@localhost")
# The file backend's folder (messaging.md: "the console or a file in development"), for
# EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend.
if os.environ.get("EMAIL_FILE_PATH"):
    EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]
# Campaigns: the transport (`http`, `bullmq`, `email`; empty: HTTP when MESSAGING_URL is set,
# else the built-in email fallback) and the base of the unsubscribe links put in emails.
CAMPAIGN_TRANSPORT = os.environ.get("CAMPAIGN_TRANSPORT", "")
# The review's estimated finish: recipients handed over per second (measured 3,798/s on two
# shared CPUs, README "Campaign Manager").
CAMPAIGNS_SEND_RATE_PER_SECOND = float(os.environ.get("CAMPAIGNS_SEND_RATE_PER_SECOND", "3000"))
CAMPAIGNS_PUBLIC_BASE_URL = os.environ.get("CAMPAIGNS_PUBLIC_BASE_URL") or os.environ.get(
    "SOCIAL_PUBLIC_BASE_URL", "http://127.0.0.1:8000"
)
# Journeys' webhook steps call public https addresses; these hosts (the operator's own
# receivers, a local one in development) also over http and whatever they resolve to.
JOURNEY_WEBHOOK_HTTP_HOSTS = env_list("JOURNEY_WEBHOOK_HTTP_HOSTS", [])

# --- Logging -------------------------------------------------------------------------------------
# Every line carries the request id and the tenant's schema, in web and worker alike.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "crm.observability.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [tenant=%(tenant)s "
            "request=%(request_id)s] %(message)s"
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
