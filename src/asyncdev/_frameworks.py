"""Which framework made the app, and its development mode: ``prepare(app, dev_mode=...)``.

Runs in the serving process right after the app is loaded. It names the framework and
its version for the banner, and sets what the framework's own development command sets
(``flask run --debug``: debug on, so errors reach asyncdev's error page and templates
reload), never what the user set already. It imports no framework itself.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["FRAMEWORKS", "prepare"]

logger = logging.getLogger("asyncdev.error")

# (top-level package, class name) in the app's MRO -> (display name, distribution).
FRAMEWORKS = {
    ("flask", "Flask"): ("Flask", "flask"),
    ("quart", "Quart"): ("Quart", "quart"),
    ("fastapi", "FastAPI"): ("FastAPI", "fastapi"),
    ("starlette", "Starlette"): ("Starlette", "starlette"),
    ("litestar", "Litestar"): ("Litestar", "litestar"),
    ("django", "WSGIHandler"): ("Django", "django"),
    ("django", "ASGIHandler"): ("Django", "django"),
    ("falcon", "App"): ("Falcon", "falcon"),
    ("bottle", "Bottle"): ("Bottle", "bottle"),
    ("sanic", "Sanic"): ("Sanic", "sanic"),
}
# Replaced by the server's URL in the banner.
URL_PLACEHOLDER = "{url}"


def identify(app: Any) -> str | None:
    """The framework's display name of ``app``, or None."""
    for cls in type(app).__mro__:
        key = (cls.__module__.partition(".")[0], cls.__name__)
        if key in FRAMEWORKS:
            return FRAMEWORKS[key][0]
    return None


def _version(name: str) -> str:
    from importlib import metadata

    distribution = next(dist for display, dist in FRAMEWORKS.values() if display == name)
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def prepare(app: Any, *, dev_mode: bool) -> tuple[str | None, tuple[str, ...]]:
    """``(framework and version, banner notes)`` for ``app``; in ``dev_mode``, switch the
    framework to its development mode first."""
    name = identify(app)
    if name is None:
        return None, ()
    notes: list[str] = []
    if name in ("Flask", "Quart"):
        notes += _flask_debug(app, dev_mode=dev_mode)
    elif name == "FastAPI":
        # fastapi dev sets nothing on the app (reload and 127.0.0.1 only): neither do we.
        docs = getattr(app, "docs_url", None)
        if isinstance(docs, str) and docs:
            notes.append(f"API docs at {URL_PLACEHOLDER}{docs}")
    version = _version(name)
    return (f"{name} {version}" if version else name), tuple(notes)


def _flask_debug(app: Any, *, dev_mode: bool) -> list[str]:
    """What ``flask run --debug`` does: FLASK_DEBUG=1, read by Flask when the app is
    created. Here the app exists already, so the same is set on it: ``debug`` (which
    also turns on template auto-reload unless TEMPLATES_AUTO_RELOAD is set) and
    exceptions propagate to the server, whose error page shows them."""
    if os.environ.get("FLASK_DEBUG"):
        state = "on" if app.debug else "off"
        return [f"debug {state} (FLASK_DEBUG is set)"]
    if not dev_mode:
        return []
    if not app.debug:
        app.debug = True
    os.environ["FLASK_DEBUG"] = "1"  # as flask run --debug sets it, for the app's code
    return ["debug on (turn it off with FLASK_DEBUG=0 or --no-dev-mode)"]
