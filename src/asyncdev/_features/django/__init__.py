"""Django projects: load one by its settings, or recognise one its wsgi/asgi module set up.

``load_project(config)`` sets ``DJANGO_SETTINGS_MODULE``, runs ``django.setup()`` and
returns ``ASGI_APPLICATION`` when set, else ``WSGI_APPLICATION``; ``recognise(loaded,
config)`` gives an app whose import set Django up the same integration (checks, static
files, templates, banner). Django is imported only by this package, and only in a
process that serves a Django project.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..._errors import AppImportError

if TYPE_CHECKING:
    from ..._config import Config
    from ..._importer import LoadedApp

__all__ = ["load_project", "recognise"]


def load_project(config: Config) -> LoadedApp:
    """The application of the Django project whose settings are ``config.django_settings``."""
    from ..._importer import LoadedApp, _prepare_sys_path, detect_interface

    settings_module = config.django_settings
    assert settings_module is not None
    _prepare_sys_path(config.app_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    try:
        import django
    except ImportError as exc:
        raise AppImportError(
            f"The Django project with settings {settings_module!r} needs Django: "
            "pip install django"
        ) from exc
    from django.conf import settings

    try:
        # Idempotent: a process that already set Django up (a warm start) keeps it.
        django.setup(set_prefix=False)
    except ImportError as exc:
        if getattr(exc, "name", None) == settings_module:
            raise AppImportError(
                f"Could not import the settings module {settings_module!r} "
                f"(cwd: {os.getcwd()}). Run asyncdev from the directory holding manage.py, "
                "or give --app-dir."
            ) from exc
        raise
    asgi_path: str | None = getattr(settings, "ASGI_APPLICATION", None)
    if asgi_path:
        app = _import_setting("ASGI_APPLICATION", asgi_path)
        description = asgi_path
    else:
        from django.core.servers.basehttp import get_internal_wsgi_application

        app = get_internal_wsgi_application()
        description = getattr(settings, "WSGI_APPLICATION", None) or "get_wsgi_application()"
    interface = detect_interface(app, description=description)
    loaded = LoadedApp(app, interface, _colon(description), lifespan=interface != "wsgi")
    return recognise(loaded, config)


def recognise(loaded: LoadedApp, config: Config) -> LoadedApp:
    """``loaded`` with the Django integration when its import set Django up."""
    from dataclasses import replace

    from django.apps import apps
    from django.conf import settings

    if not (settings.configured and apps.ready) or _is_own(loaded.app):
        return loaded  # not Django's, or asyncdev's own page (the startup error page)
    from .integration import DjangoIntegration

    integration = DjangoIntegration(config)
    return replace(loaded, integration=integration, framework=integration.framework,
                   notes=integration.notes)


def _is_own(app: Any) -> bool:
    module = getattr(app, "__module__", None)
    if not isinstance(module, str) or not hasattr(app, "__code__"):
        module = type(app).__module__
    return module == "asyncdev" or module.startswith("asyncdev.")


def _import_setting(name: str, path: str) -> Any:
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{name} {path!r} could not be loaded; fix it in your settings. "
            f"Error importing module: {exc}"
        ) from exc


def _colon(dotted: str) -> str:
    """``mysite.asgi.application`` as asyncdev names apps: ``mysite.asgi:application``."""
    module, _, attr = dotted.rpartition(".")
    return f"{module}:{attr}" if module else dotted
