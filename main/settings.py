"""Settings read from the environment, with defaults that let a newcomer set nothing.

Every value comes through mitol-django-common's `envs` helpers, as in MITx Online, so the
same variable names configure this tool and the real site. The database defaults to the
private local cluster started by `scripts/localpg.py`.
"""

from pathlib import Path

import dj_database_url
from mitol.common.envs import get_bool, get_int, get_string

BASE_DIR = Path(__file__).resolve().parent.parent

# The private cluster of scripts/localpg.py, on its port (LOCALPG_PORT, as that script reads it).
LOCALPG_PORT = get_int(
    name="LOCALPG_PORT", default=54329, description="Port of the private local PostgreSQL cluster"
)
LOCAL_DATABASE_URL = f"postgres://postgres@127.0.0.1:{LOCALPG_PORT}/mitxonline"

SECRET_KEY = get_string(
    name="SECRET_KEY",
    default="local-development-only-not-a-secret",
    description="Django secret key; set a real one anywhere but a laptop",
)
DEBUG = get_bool(name="DEBUG", default=True, description="Django debug mode")
ALLOWED_HOSTS = get_string(
    name="ALLOWED_HOSTS", default="localhost,127.0.0.1,[::1]", description="Hosts served"
).split(",")

DATABASES = {
    "default": dj_database_url.parse(
        get_string(
            name="DATABASE_URL",
            default=LOCAL_DATABASE_URL,
            description="The MITx Online database the import writes to",
        ),
        conn_max_age=get_int(
            name="MITX_ONLINE_DB_CONN_MAX_AGE", default=0, description="Connection lifetime"
        ),
    )
}

MICROMASTERS_DATABASE_URL = get_string(
    name="MICROMASTERS_DATABASE_URL",
    default=None,
    description="The MicroMasters database mounted through postgres_fdw (password masked)",
)
MICROMASTERS_SCHEMA = get_string(
    name="MICROMASTERS_SCHEMA",
    default="micromasters",
    description="Schema where the MicroMasters tables are mounted",
)
# Where the import writes. "standins" (the default): this project's own copies of MITx
# Online's tables, which `migrate` creates, for development, tests and the demo.
# "mitxonline": a database that MITx Online migrated itself; `migrate` then leaves every MITx
# Online app alone (their migration history is MITx Online's, not ours) and creates only the
# import's own tables. `migrate` checks the choice against the database before it writes.
MITXONLINE_TARGET = get_string(
    name="MITXONLINE_TARGET",
    default="standins",
    description="standins (this project's copies of MITx Online's tables) or mitxonline",
)
# The apps that stand in for MITx Online's, under MITx Online's app labels.
STANDIN_APPS = ["users", "wagtailcore", "b2b", "courses", "flexiblepricing", "ecommerce"]
# Tells micromasters_import that MITx Online's apps are this project's stand-ins (inside MITx
# Online it is unset): its migrations follow the stand-ins' history, and the demo may write
# fake learners here.
MICROMASTERS_IMPORT_STANDINS = True
if MITXONLINE_TARGET == "mitxonline":
    MIGRATION_MODULES = dict.fromkeys(STANDIN_APPS)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mitol.common.apps.CommonApp",
    "reversion",
    "main",
    *STANDIN_APPS,
    "micromasters_import",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "main.urls"
WSGI_APPLICATION = "main.wsgi.application"

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

AUTH_USER_MODEL = "users.User"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
