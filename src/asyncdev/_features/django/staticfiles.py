"""Static files as ``runserver`` serves them: ``STATIC_URL`` through the staticfiles finders.

``static_prefix(config)`` is the URL path to serve (None when off: ``--nostatic``,
staticfiles not installed, ``DEBUG`` off without ``--insecure``, or a ``STATIC_URL`` on
another host). ``serve_static`` finds the file as Django's ``static.serve`` view does
(app ``static/`` folders, ``STATICFILES_DIRS``; no collectstatic) and sends it with the
shared file sender: type, ETag/Last-Modified, 304, ``Cache-Control: no-cache``.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..static import plain_response, send_file

if TYPE_CHECKING:
    from ..._config import Config
    from ..._types import Scope, Send

__all__ = ["serve_static", "static_prefix"]


def static_prefix(config: Config) -> str | None:
    """The path prefix (ending in "/") under which static files are served, or None."""
    if config.django_static == "off":
        return None
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("django.contrib.staticfiles"):
        return None
    # As runserver: only with DEBUG, unless --insecure (or a test's live server) says so.
    if config.django_static == "auto" and not settings.DEBUG:
        return None
    static_url: str | None = settings.STATIC_URL
    if not static_url:
        return None
    parts = urlsplit(static_url)
    if parts.netloc:
        return None  # served elsewhere (a CDN): nothing for the dev server to do
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    root_path = config.root_path
    if root_path and path.startswith(root_path + "/"):
        # Django prefixes a relative STATIC_URL with SCRIPT_NAME itself.
        path = path[len(root_path):]
    return path


async def serve_static(scope: Scope, send: Send, rel: str) -> None:
    """Answer a GET or HEAD for ``rel`` (the path under STATIC_URL) from the finders."""
    found = await asyncio.to_thread(_find, rel)
    if found is None:
        await plain_response(send, 404, "Not Found")
        return
    await send_file(found[0], found[1], scope, send)


def _find(rel: str) -> tuple[str, os.stat_result] | None:
    from django.contrib.staticfiles import finders
    from django.core.exceptions import SuspiciousFileOperation

    if "\x00" in rel or "\\" in rel:
        return None
    parts = [part for part in rel.split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        return None
    try:
        filename = finders.find("/".join(parts))
    except (SuspiciousFileOperation, ValueError, OSError):
        return None  # the finders refuse paths that leave their directories
    if not isinstance(filename, str):
        return None
    try:
        info = os.stat(filename)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None  # a directory (runserver refuses indexes too), a FIFO, a device
    return filename, info
