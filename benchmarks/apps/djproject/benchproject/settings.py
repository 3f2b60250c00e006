"""Settings of the benchmark project: no database, no installed apps, the usual middleware.

Request logging of ``runserver`` is silenced so that it runs with its access log off,
like every other server in the benchmark.
"""

from __future__ import annotations

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchproject.urls"
WSGI_APPLICATION = "benchproject.wsgi.application"
ASGI_APPLICATION = "benchproject.asgi.application"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"django.server": {"level": "ERROR"}},
}
