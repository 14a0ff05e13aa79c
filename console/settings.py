"""Streamdesk settings. Everything that differs between machines comes from the environment."""

from __future__ import annotations

from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from kombu import Queue

from console.env import (
    CONFIG_ERRORS,
    envbool,
    envfloat,
    envint,
    envlist,
    envstr,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("STREAMDESK_VAR_DIR") or BASE_DIR / "var")

DEBUG = envbool("DEBUG", False)
SECRET_KEY = secret_key(VAR_DIR)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # Swagger UI's files for /docs/api, served as static files.
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "streams",
    "streams.oidc.apps.OidcConfig",
    "console.apps.ConsoleConfig",
]
# make run's stack and demo commands; the production image does not ship them.
if find_spec("dev") is not None:
    INSTALLED_APPS.append("dev.apps.DevConfig")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
ASGI_APPLICATION = "console.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.streamdesk",
            ],
        },
    },
]

DATABASE_URL = envstr("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'streamdesk.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
except Exception as exc:  # noqa: BLE001 - dj-database-url raises bare ValueErrors and friends
    CONFIG_ERRORS.append(("DATABASE_URL", f"cannot be parsed: {exc}"))
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "invalid.sqlite3")}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while Celery writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20
    # A file, not memory: the test suite's Celery worker and runconsumers processes share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that stops answering fails a request instead of holding a web thread forever.
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", envint("STREAMDESK_DB_CONNECT_TIMEOUT", 5, minimum=1))
    _statement_ms = int(envfloat("STREAMDESK_DB_STATEMENT_TIMEOUT", 60.0, minimum=0.1) * 1000)
    _db_options["options"] = f"{_db_options.get('options', '')} -c statement_timeout={_statement_ms}".strip()
    # The server drops a connection whose client vanished; the client notices a silent server.
    _db_options.setdefault("keepalives", 1)
    _db_options.setdefault("keepalives_idle", 10)
    _db_options.setdefault("keepalives_interval", 5)
    _db_options.setdefault("keepalives_count", 3)
    _db_options.setdefault("tcp_user_timeout", 20_000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# Single sign-on (OpenID Connect, authorization code flow with PKCE), offered on the login page
# when the issuer and the client's id and secret are set; the provider is found by discovery.
OIDC_ISSUER = envstr("OIDC_ISSUER")
OIDC_CLIENT_ID = envstr("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = envstr("OIDC_CLIENT_SECRET")
OIDC_SCOPES = envstr("OIDC_SCOPES") or "openid profile email"
OIDC_GROUPS_CLAIM = envstr("OIDC_GROUPS_CLAIM") or "groups"
OIDC_PROVIDER_NAME = envstr("OIDC_PROVIDER_NAME")
OIDC_TIMEOUT_SECONDS = envfloat("OIDC_TIMEOUT_SECONDS", 5.0, minimum=0.5)
_oidc_set = [bool(OIDC_ISSUER), bool(OIDC_CLIENT_ID), bool(OIDC_CLIENT_SECRET)]
if any(_oidc_set) and not all(_oidc_set):
    CONFIG_ERRORS.append(("OIDC_ISSUER", "OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set together"))
_issuer = urlparse(OIDC_ISSUER)
if OIDC_ISSUER and (_issuer.scheme not in {"http", "https"} or not _issuer.hostname or _issuer.query):
    CONFIG_ERRORS.append(("OIDC_ISSUER", "must be the provider's http:// or https:// issuer URL"))
if OIDC_ISSUER and "openid" not in OIDC_SCOPES.split():
    CONFIG_ERRORS.append(("OIDC_SCOPES", "must include openid"))
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins are throttled (django-axes, kept in the database so every process counts them):
# after LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is refused
# (429) without the password being checked, until LOGIN_LOCKOUT_MINUTES pass without a try.
# Bearer tokens are not logins and are never throttled here.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("STREAMDESK_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("STREAMDESK_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Successful logins are not logged to the database (the table would only grow); failures are.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
CSRF_FAILURE_VIEW = "console.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Behind TLS (all off by default, so plain HTTP on localhost works; see docs/DEPLOYMENT.md and
# .env.example). The proxy must set X-Forwarded-Proto and strip it from clients.
if envbool("STREAMDESK_TLS_PROXY_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("STREAMDESK_SECURE_COOKIES", False)
SECURE_SSL_REDIRECT = envbool("STREAMDESK_SSL_REDIRECT", False)
# Load balancers probe /healthz over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = envint("STREAMDESK_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("STREAMDESK_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("STREAMDESK_HSTS_PRELOAD", False)

# Everything the pages load is served by this origin; broker data never becomes markup or code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if OIDC_ISSUER and _issuer.hostname:
    # Logging out is a form post that the provider's end-session page may answer (a redirect).
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_issuer.scheme}://{_issuer.netloc}")

# Redis: channel layer, Celery broker and the shared cache. Without it everything
# stays in-process, which is only correct for a single process.
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL and urlparse(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    CONFIG_ERRORS.append(("REDIS_URL", "must start with redis://, rediss:// or unix://"))
    REDIS_URL = ""

# Every socket's reader blocks in BZPOPMIN for up to channels_redis' brpop_timeout (5 s); redis-py's
# default read timeout is also 5 s, which would fail those reads and close idle sockets. Reads may
# take REDIS_BLOCKING_READ_SECONDS; keepalive and health checks still notice a dead connection.
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_BLOCKING_READ_SECONDS = 30.0
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                        "socket_timeout": REDIS_BLOCKING_READ_SECONDS,
                        "socket_keepalive": True,
                        "health_check_interval": 15,
                    }
                ],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "streams.sharedcache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "streamdesk",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
# Kombu's Redis transport and the result backend: connect fast, never time out a blocking read.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
    "socket_timeout": REDIS_BLOCKING_READ_SECONDS,
    "socket_keepalive": True,
    "health_check_interval": 15,
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_CONNECT_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_TIMEOUT = REDIS_BLOCKING_READ_SECONDS
CELERY_REDIS_SOCKET_KEEPALIVE = True
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_IGNORE_RESULT = False
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Bulk publishing has a queue of its own, so that hours of paced sending never keep health checks
# and lag sampling waiting: production runs ``-Q celery`` and ``-Q bulk`` workers. Both queues are
# declared, so a Celery worker started without ``-Q`` consumes both.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("bulk"))
CELERY_TASK_ROUTES = {"streams.publish.run_job": {"queue": "bulk"}, "streams.search.run": {"queue": "bulk"}}
# How long one bulk job may run: it stops itself at this, and Celery's soft and hard time
# limits (a minute and two minutes later) end a job stuck in a broker call.
BULK_TIME_LIMIT_SECONDS = envfloat("STREAMDESK_BULK_TIME_LIMIT_SECONDS", 3600.0, minimum=10.0)
# How long one search may run; Celery's soft limit stops it (a runaway jq expression included).
SEARCH_TIME_LIMIT_SECONDS = envfloat("STREAMDESK_SEARCH_TIME_LIMIT_SECONDS", 1800.0, minimum=10.0)
# A search stops, failed, when its Celery worker process grows past this.
SEARCH_MEMORY_LIMIT_MB = envint("STREAMDESK_SEARCH_MEMORY_LIMIT_MB", 1024, minimum=64)
HEALTH_REFRESH_SECONDS = envfloat("STREAMDESK_HEALTH_REFRESH_SECONDS", 15.0, minimum=1.0)
# Lag history (streams/lag): sampled by beat, kept raw for a while, then in buckets, then dropped.
LAG_SAMPLE_SECONDS = envfloat("STREAMDESK_LAG_SAMPLE_SECONDS", 30.0, minimum=1.0)
LAG_RAW_HOURS = envfloat("STREAMDESK_LAG_RAW_HOURS", 24.0, minimum=0.1)
LAG_ROLLUP_SECONDS = envint("STREAMDESK_LAG_ROLLUP_SECONDS", 300, minimum=10)
LAG_ROLLUP_DAYS = envfloat("STREAMDESK_LAG_ROLLUP_DAYS", 30.0, minimum=0.0)
LAG_WINDOW = envint("STREAMDESK_LAG_WINDOW", 10, minimum=2)
LAG_ALLOWED_LAG = envint("STREAMDESK_LAG_ALLOWED_LAG", 0, minimum=0)
LAG_WEBHOOK_URL = envstr("STREAMDESK_LAG_WEBHOOK_URL")
_webhook = urlparse(LAG_WEBHOOK_URL)
if LAG_WEBHOOK_URL and (_webhook.scheme not in {"http", "https"} or not _webhook.hostname):
    CONFIG_ERRORS.append(("STREAMDESK_LAG_WEBHOOK_URL", "must be an http:// or https:// URL"))
    LAG_WEBHOOK_URL = ""
LAG_ALERT_RESEND_SECONDS = envfloat("STREAMDESK_LAG_ALERT_RESEND_SECONDS", 3600.0, minimum=0.0)
LAG_WEBHOOK_TIMEOUT_SECONDS = 5.0
METRICS_PUBLIC = envbool("STREAMDESK_METRICS_PUBLIC", False)
# Managed consumers (runconsumers): heartbeats, when an instance counts as lost, how often
# a runner re-reads the definitions when no notification woke it, and its shutdown grace.
WORKER_HEARTBEAT_SECONDS = envfloat("STREAMDESK_WORKER_HEARTBEAT_SECONDS", 1.0, minimum=0.1)
WORKER_LOST_AFTER_SECONDS = envfloat("STREAMDESK_WORKER_LOST_AFTER_SECONDS", 15.0, minimum=1.0)
WORKER_POLL_SECONDS = envfloat("STREAMDESK_WORKER_POLL_SECONDS", 2.0, minimum=0.1)
WORKER_GRACE_SECONDS = envfloat("STREAMDESK_WORKER_GRACE_SECONDS", 10.0, minimum=0.5)
WORKER_SESSION_TIMEOUT_MS = envint("STREAMDESK_WORKER_SESSION_TIMEOUT_MS", 10_000, minimum=1000)
# Extra modules holding @handler functions, besides every installed app's ``handlers`` module.
HANDLER_MODULES = envlist("STREAMDESK_HANDLER_MODULES", [])

CELERY_BEAT_SCHEDULE = {
    "refresh-cluster-health": {
        "task": "streams.tasks.refresh_cluster_health",
        "schedule": HEALTH_REFRESH_SECONDS,
    },
    "sample-lag": {
        "task": "streams.lag.tasks.sample_lag",
        "schedule": LAG_SAMPLE_SECONDS,
        # A sample that waited a whole interval in the queue is stale: the next one is due.
        "options": {"expires": LAG_SAMPLE_SECONDS},
    },
    "downsample-lag": {
        "task": "streams.lag.tasks.downsample_lag",
        "schedule": float(LAG_ROLLUP_SECONDS),
        "options": {"expires": float(LAG_ROLLUP_SECONDS)},
    },
    "mark-lost-consumer-instances": {
        "task": "streams.workers.mark_lost_instances",
        "schedule": max(WORKER_LOST_AFTER_SECONDS / 3, 1.0),
    },
}

# Default clusters (slugs "kafka" and "nats"); more come from STREAMDESK_CLUSTERS or the admin.
KAFKA_BOOTSTRAP_SERVERS = envstr("KAFKA_BOOTSTRAP_SERVERS")
KAFKA_SCHEMA_REGISTRY_URL = envstr("KAFKA_SCHEMA_REGISTRY_URL")
KAFKA_SCHEMA_REGISTRY_USERNAME = envstr("KAFKA_SCHEMA_REGISTRY_USERNAME")
KAFKA_SCHEMA_REGISTRY_PASSWORD = envstr("KAFKA_SCHEMA_REGISTRY_PASSWORD")
# Local schema files for the default clusters: a TOML/JSON file of ``[[decoders]]`` (see streams.schemas.local).
KAFKA_DECODERS = envstr("KAFKA_DECODERS")
NATS_URL = envstr("NATS_URL")
NATS_MONITOR_URL = envstr("NATS_MONITOR_URL")
NATS_DECODERS = envstr("NATS_DECODERS")
STREAMDESK_CLUSTERS = envstr("STREAMDESK_CLUSTERS")
BROKER_TIMEOUT_SECONDS = envfloat("STREAMDESK_BROKER_TIMEOUT", 3.0, minimum=0.1)
BROKER_CACHE_SECONDS = envfloat("STREAMDESK_BROKER_CACHE_SECONDS", 5.0, minimum=0.0)
BROKER_EXECUTOR_THREADS = envint("STREAMDESK_BROKER_THREADS", 8, minimum=1)
READ_ONLY = envbool("STREAMDESK_READ_ONLY", False)
# Policies by group, cluster and resource pattern (TOML or JSON); more are kept in the admin.
POLICIES_FILE = envstr("STREAMDESK_POLICIES")
# The largest message a publish may send (key, value and headers), whatever the broker allows.
PUBLISH_MAX_BYTES = envint("STREAMDESK_PUBLISH_MAX_BYTES", 1024 * 1024, minimum=1)

# Live tail (streams/tail): per-socket queue, flow control, and the broker side.
TAIL_BUFFER_MESSAGES = envint("STREAMDESK_TAIL_BUFFER", 10_000, minimum=100)
TAIL_BUFFER_BYTES = envint("STREAMDESK_TAIL_BUFFER_MB", 8, minimum=1) * 1024 * 1024
TAIL_ACK_WINDOW = envint("STREAMDESK_TAIL_ACK_WINDOW", 4, minimum=2)
TAIL_FRAME_INTERVAL = envint("STREAMDESK_TAIL_FRAME_MS", 50, minimum=5) / 1000
TAIL_STALL_SECONDS = envfloat("STREAMDESK_TAIL_STALL_SECONDS", 60.0, minimum=1.0)
TAIL_JS_INACTIVE_SECONDS = envfloat("STREAMDESK_TAIL_JS_INACTIVE_SECONDS", 10.0, minimum=1.0)
TAIL_MAX_UPSTREAMS = envint("STREAMDESK_TAIL_MAX_UPSTREAMS", 100, minimum=1)
# Per user and per web process (counted in the process's tail hub, not across processes).
TAIL_MAX_SOCKETS_PER_USER = envint("STREAMDESK_TAIL_MAX_SOCKETS_PER_USER", 20, minimum=1)
TAIL_MAX_REPLAYS_PER_USER = envint("STREAMDESK_TAIL_MAX_REPLAYS_PER_USER", 5, minimum=0)
# How often an open WebSocket asks again whether its session or token still grants access.
SOCKET_RECHECK_SECONDS = envfloat("STREAMDESK_SOCKET_RECHECK_SECONDS", 30.0, minimum=1.0)

# Masking rules (streams/masking.py), from their own file and the policies file's [[mask]] tables:
# read and checked here, so a bad rule stops every process at start.
MASKING: object = None
_masking_files = [(n, envstr(n)) for n in ("STREAMDESK_MASKING", "STREAMDESK_POLICIES")]
if any(path for _, path in _masking_files):
    from streams import masking as _masking

    _rules: list[_masking.Rule] = []
    for _name, _path in _masking_files:
        if not _path:
            continue
        try:
            _rules.extend(_masking.load(_path).rules)
        except _masking.MaskingError as exc:
            CONFIG_ERRORS.append((_name, str(exc)))
    MASKING = _masking.Rules(_rules)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # URL credentials (nats://user:pass@host) never reach a log line.
        "plain": {"()": "streams.redact.RedactingFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own handlers (a console one under DEBUG, mail to admins) would write past the
        # formatter above, and no mail is configured: its records go to the root handler instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # librdkafka logs every refused connection; the health page already says so.
        "streams.kafka.librdkafka": {"level": envstr("BROKER_LOG_LEVEL", "WARNING")},
        "nats": {"level": envstr("BROKER_LOG_LEVEL", "WARNING")},
        "django.channels.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # One line per successful login and reset otherwise; lockouts are still logged.
        "axes": {"level": "WARNING"},
    },
}
