"""Settings for Weft. The only module that reads the environment.

Every value has a safe default for a laptop: SQLite in the data dir, Redis on localhost
(or an embedded broker when none answers), a generated dev secret.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from domains.loading import DEFAULT_DOMAIN, DomainConfigError, domain_apps
from project.broker import BrokerConfigError, announce_fallback, choose_broker

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("WEFT_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _dev_secret_key(path: Path) -> str:
    # Kept on disk so sessions survive a restart of the demo server.
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = _env_flag("DEBUG", default=False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development)."
        )
    SECRET_KEY = _dev_secret_key(DATA_DIR / "dev-secret-key")

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "project",
    "widgets",
    "serving",
    "domains",
    "chat",
    "finetune",
]

# The product Weft runs inside (domains/protocol.py): its records, actions and widgets. Its
# own Django apps (models, migrations, commands) are installed only while it is selected.
WEFT_DOMAIN = os.environ.get("WEFT_DOMAIN", DEFAULT_DOMAIN)
try:
    INSTALLED_APPS += domain_apps(WEFT_DOMAIN)
except DomainConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
# A turn's records are stored with its reply; a larger context is refused with a message.
WEFT_DOMAIN_MAX_CONTEXT_BYTES = int(os.environ.get("WEFT_DOMAIN_MAX_CONTEXT_BYTES", "262144"))
# Dataset imports (finetune/datasets.py): a larger file is refused before it is read.
WEFT_DATASET_MAX_BYTES = int(os.environ.get("WEFT_DATASET_MAX_BYTES", str(20 * 1024 * 1024)))
WEFT_DATASET_MAX_LINES = int(os.environ.get("WEFT_DATASET_MAX_LINES", "50000"))
# The built-in HTTP domain (WEFT_DOMAIN=domains.http:domain; docs/http-domain.md).
WEFT_HTTP_DOMAIN_NAME = os.environ.get("WEFT_HTTP_DOMAIN_NAME", "host")
WEFT_HTTP_DOMAIN_CONTEXT_URL = os.environ.get("WEFT_HTTP_DOMAIN_CONTEXT_URL", "")
WEFT_HTTP_DOMAIN_ACTION_URL = os.environ.get("WEFT_HTTP_DOMAIN_ACTION_URL", "")
WEFT_HTTP_DOMAIN_SECRET = os.environ.get("WEFT_HTTP_DOMAIN_SECRET", "")
WEFT_HTTP_DOMAIN_WIDGETS_DIR = os.environ.get("WEFT_HTTP_DOMAIN_WIDGETS_DIR", "")
WEFT_HTTP_DOMAIN_TIMEOUT_S = float(os.environ.get("WEFT_HTTP_DOMAIN_TIMEOUT_S", "5"))
WEFT_HTTP_DOMAIN_MAX_CONTEXT_BYTES = int(
    os.environ.get("WEFT_HTTP_DOMAIN_MAX_CONTEXT_BYTES", "262144")
)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it answers locked-out logins
]

ROOT_URLCONF = "project.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'weft.sqlite3'}",
        conn_max_age=0,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
# Login throttling (django-axes): after this many failed logins for one username from one
# address, that pair is refused, even with the right password, until the lockout ends.
# DRF's session and token authentication never call authenticate(), so they are not counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses before a password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("WEFT_LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("WEFT_LOGIN_LOCKOUT_MINUTES", "15")))
# The pair: failures from elsewhere never lock a user out here, nor one user a shared address.
# The address is the client's as the ASGI server reports it (uvicorn --proxy-headers).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request until collectstatic runs
WHITENOISE_USE_FINDERS = DEBUG

if not DEBUG:
    SESSION_COOKIE_SECURE = _env_flag("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # HSTS: sent on responses to HTTPS requests only (SecurityMiddleware), so never on a
    # laptop's http://localhost; behind a TLS proxy, set SECURE_PROXY_SSL_HEADER below.
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))  # one year
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)


def _proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto: https` -> ("HTTP_X_FORWARDED_PROTO", "https"); "" -> None."""
    if not value.strip():
        return None
    name, sep, expected = (part.strip() for part in value.partition(":"))
    if not (sep and name and expected):
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https', not {value!r}."
        )
    return "HTTP_" + name.upper().replace("-", "_"), expected


# Only behind a proxy that terminates TLS and sets this header itself, overwriting what a
# client sent: Django then treats requests carrying it as HTTPS (secure cookies, HSTS).
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER", ""))

# Content-Security-Policy (django-csp): scripts, styles and connections only from Weft itself,
# no inline script or style, no eval; images also from any https: host (listing photos on
# cards) and data: URLs. Nothing may frame Weft. (The Swagger page allows its inline style:
# project/urls.py.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "https:", "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [  # strict JSON: finite numbers, bounded nesting
        "widgets.json_input.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Weft API",
    "DESCRIPTION": "Widget registry, conversations and fine-tuning for chat assistants. "
    "Request bodies are JSON (a dataset import is a multipart upload); no string in them may "
    "hold a NUL character (U+0000), which PostgreSQL cannot store.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Jobs and evaluations share one set of states: one named enum, not a hashed name.
    "ENUM_NAME_OVERRIDES": {"RunStatusEnum": "finetune.models.RunStatus"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The reply stream is a plain async view (SSE), so it is described here by hand.
    "APPEND_PATHS": {
        "/api/messages/{id}/stream/": {
            "get": {
                "operationId": "messages_stream",
                "summary": "Stream an assistant reply as Server-Sent Events",
                "description": "Events: `ops` (replace or append rendered segments), `done` "
                "(final HTML, block outcomes, and `status`: `done`, or `partial` with `message` "
                "when the reply broke off after some text), `error` (nothing could be "
                "generated; the user's message is kept). The first request generates the "
                "reply; later ones replay it.",
                "tags": ["messages"],
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": {"description": "text/event-stream"},
                    "404": {"description": "No such reply for this user"},
                },
            }
        }
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# The web process and the worker must use the same broker (project/broker.py): "redis", or
# "embedded" (a SQLite file in the data dir, one machine). Unset: redis when DEBUG is off;
# with DEBUG on, Redis if it answers at start-up, else embedded (a laptop without Redis).
WEFT_BROKER = os.environ.get("WEFT_BROKER", "").strip().lower() or ("auto" if DEBUG else "redis")
try:
    _broker = choose_broker(redis_url=REDIS_URL, data_dir=DATA_DIR, mode=WEFT_BROKER)
except BrokerConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
announce_fallback(_broker, redis_url=REDIS_URL, mode=WEFT_BROKER)
CELERY_BROKER_URL = _broker.broker_url
CELERY_RESULT_BACKEND = _broker.result_backend
CELERY_BROKER_USES_EMBEDDED_FALLBACK = _broker.embedded
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing a task happens inside a web request, so a broker that is down or hung must fail
# it within seconds (the row is then marked not_queued, finetune/tasks.py), not hold the
# request for the defaults' retries (a refused Redis took ~19 s; a hung one never returned).
# Worst case, a Redis that accepts and never answers: two tries of about 2 s each (socket
# timeouts: project.broker.REDIS_TRANSPORT_OPTIONS). The worker reconnects on its own
# schedule (broker_connection_retry).
CELERY_BROKER_CONNECTION_TIMEOUT = 2  # seconds to (re)connect before a publish gives up
CELERY_BROKER_TRANSPORT_OPTIONS = _broker.transport_options
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,  # one more try covers a pooled connection that went stale
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Queues: training jobs and evaluations each have their own, so a training host runs
# `celery -A project worker -Q train`, an evaluation host `-Q eval`, and a web host no worker
# (docs/deploy.md). A worker started without -Q consumes every queue listed here: the
# single-machine demo's one worker does. weft.ping, a health check, stays on the default.
WEFT_TRAIN_QUEUE = os.environ.get("WEFT_TRAIN_QUEUE", "").strip() or "train"
WEFT_EVAL_QUEUE = os.environ.get("WEFT_EVAL_QUEUE", "").strip() or "eval"
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [  # as Celery declares a queue it creates: an exchange of the same name
    Queue(name, Exchange(name), routing_key=name)
    for name in dict.fromkeys((CELERY_TASK_DEFAULT_QUEUE, WEFT_TRAIN_QUEUE, WEFT_EVAL_QUEUE))
]
CELERY_TASK_ROUTES = {  # task names: finetune/tasks.py
    "weft.finetune": {"queue": WEFT_TRAIN_QUEUE},
    "weft.evaluate": {"queue": WEFT_EVAL_QUEUE},
}

# Serving: which backend answers chat turns, and where model weights are cached.
WEFT_BACKEND = os.environ.get("WEFT_BACKEND", "local")  # "local" (in-process) or "vllm"
WEFT_VLLM_URL = os.environ.get("WEFT_VLLM_URL", "http://127.0.0.1:8001/v1")
WEFT_VLLM_PYTHON = os.environ.get("WEFT_VLLM_PYTHON", "")  # default: .venv-vllm/bin/python
WEFT_MODEL_DIR = Path(os.environ.get("WEFT_MODEL_DIR", DATA_DIR / "models")).resolve()
# Chat replies: constrained decoding keeps every widget the model opens valid (serving/).
WEFT_CHAT_CONSTRAINED = _env_flag("WEFT_CHAT_CONSTRAINED", default=True)
# A search answer shows up to six listing cards: about 700 tokens.
WEFT_CHAT_MAX_TOKENS = int(os.environ.get("WEFT_CHAT_MAX_TOKENS", "800"))
WEFT_MAX_CONCURRENT_REPLIES = int(os.environ.get("WEFT_MAX_CONCURRENT_REPLIES", "64"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
