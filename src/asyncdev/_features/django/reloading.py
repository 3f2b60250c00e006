"""Template and translation changes without a new process, as Django's autoreloader does.

``watch_paths()`` names the project's template directories (any file but ``*.py``) and
locale directories (``*.mo``); ``files_changed(paths)`` resets the template loaders'
caches or the translation catalogs through Django's own receivers
(``django.template.autoreload``, ``django.utils.translation.reloader``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..._types import WatchRequest

__all__ = ["files_changed", "watch_paths"]

# Django treats every file in a template directory but Python source as a template.
TEMPLATE_PATTERNS = ("*",)
LOCALE_PATTERNS = ("*.mo",)


def watch_paths() -> list[WatchRequest]:
    requests = [
        WatchRequest(str(directory), TEMPLATE_PATTERNS) for directory in _template_dirs()
    ]
    requests += [
        WatchRequest(str(directory), LOCALE_PATTERNS) for directory in _locale_dirs()
    ]
    return requests


def files_changed(paths: Sequence[str]) -> None:
    """Reset what Django caches from the changed files (Django's receivers decide)."""
    from django.template.autoreload import template_changed
    from django.utils.translation.reloader import translation_file_changed

    templates_reset = translations_reset = False
    for name in paths:
        path = Path(os.path.abspath(name))
        if not templates_reset and path.suffix != ".py":
            templates_reset = bool(template_changed(None, path))
        if not translations_reset and path.suffix == ".mo":
            translations_reset = bool(translation_file_changed(None, path))


def _template_dirs() -> list[Path]:
    from django.template.autoreload import get_template_directories

    return sorted({d for d in get_template_directories() if d.is_dir()})


def _locale_dirs() -> list[Path]:
    """The directories django.utils.translation.reloader watches for ``.mo`` files."""
    from django.apps import apps
    from django.conf import settings
    from django.utils.autoreload import is_django_module

    directories = [
        Path(config.path) / "locale"
        for config in apps.get_app_configs()
        if not is_django_module(config.module)
    ]
    directories += [Path(p) for p in settings.LOCALE_PATHS]
    directories.append(Path.cwd() / "locale")
    return sorted({d.resolve() for d in directories if d.is_dir()})
