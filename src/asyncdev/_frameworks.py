"""Frameworks' development modes, and which framework made the app.

``development_environment(enabled=...)`` sets, while the app is imported and created,
what the framework's own development command sets (``flask run --debug``: FLASK_DEBUG=1)
unless the user set it already, so the app's own configuration still wins over it.
``prepare(app, dev_env)`` then names the framework and its version for the banner, keeps
the variables for the framework that reads them and takes them back for the others.
It imports no framework itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["DEVELOPMENT_VARIABLES", "FRAMEWORKS", "development_environment", "identify",
           "prepare"]

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
# What each framework's development command sets, by the framework that reads it.
# flask run --debug sets FLASK_DEBUG=1: debug on, so exceptions propagate to the
# server's error page and Jinja reloads edited templates. Quart's ``quart run`` reads
# the same variable. fastapi dev sets nothing on the app (it reloads and listens on
# 127.0.0.1 only), Starlette and Litestar have no development command of their own.
DEVELOPMENT_VARIABLES = {"FLASK_DEBUG": ("1", ("Flask", "Quart"))}
# Replaced by the server's URL in the banner.
URL_PLACEHOLDER = "{url}"


@contextlib.contextmanager
def development_environment(*, enabled: bool) -> Iterator[dict[str, str]]:
    """Set the development variables the user has not set; yields those it set."""
    added: dict[str, str] = {}
    if enabled:
        for key, (value, _) in DEVELOPMENT_VARIABLES.items():
            if key not in os.environ:
                os.environ[key] = added[key] = value
    try:
        yield added
    except BaseException:
        _take_back(added, keep_for=None)
        raise


def _take_back(added: dict[str, str], keep_for: str | None) -> None:
    for key, value in added.items():
        if keep_for not in DEVELOPMENT_VARIABLES[key][1] and os.environ.get(key) == value:
            del os.environ[key]


def identify(app: Any) -> str | None:
    """The framework's display name of ``app``, or None."""
    for cls in type(app).__mro__:
        key = (cls.__module__.partition(".")[0], cls.__name__)
        if key in FRAMEWORKS:
            return FRAMEWORKS[key][0]
    return None


def _version(name: str) -> str:
    """The framework's version, cheaply: importlib.metadata costs a server process
    several milliseconds of its start where the framework has not loaded it."""
    distribution = next(dist for display, dist in FRAMEWORKS.values() if display == name)
    package = sys.modules.get(distribution)
    # The module's own string, never through a module __getattr__ (Flask's warns).
    own = vars(package).get("__version__") if package is not None else None
    if isinstance(own, str) and own:
        return own
    found = _installed_version(package, distribution)
    if found:
        return found
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def _installed_version(package: Any, distribution: str) -> str:
    """The version in the name of the ``*.dist-info`` directory beside the package."""
    path = getattr(package, "__file__", None)
    if not isinstance(path, str):
        return ""
    where = os.path.dirname(os.path.dirname(path))
    prefix = distribution.replace("-", "_").lower() + "-"
    try:
        names = os.listdir(where)
    except OSError:
        return ""
    for entry in names:
        if entry.lower().startswith(prefix) and entry.endswith(".dist-info"):
            version = entry[len(prefix):-len(".dist-info")]
            if version and "-" not in version:
                return version
    return ""


def prepare(app: Any, dev_env: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """``(framework and version, banner notes)`` for ``app``, created under ``dev_env``
    (the development variables this process set): they stay for the framework that
    reads them (as its dev command leaves them) and are taken back for any other."""
    name = identify(app)
    _take_back(dev_env, keep_for=name)
    if name is None:
        return None, ()
    notes: list[str] = []
    if name in ("Flask", "Quart"):
        notes.append(_debug_note(app, set_here="FLASK_DEBUG" in dev_env))
    elif name == "FastAPI":
        docs = getattr(app, "docs_url", None)
        if isinstance(docs, str) and docs:
            notes.append(f"API docs at {URL_PLACEHOLDER}{docs}")
    version = _version(name)
    return (f"{name} {version}" if version else name), tuple(notes)


def _debug_note(app: Any, *, set_here: bool) -> str:
    state = "on" if getattr(app, "debug", False) else "off"
    if not set_here:
        return f"debug {state} (FLASK_DEBUG is set)" if "FLASK_DEBUG" in os.environ else (
            f"debug {state}")
    if state == "off":
        return "debug off (the app's configuration turns it off)"
    return "debug on (turn it off with FLASK_DEBUG=0 or --no-dev-mode)"
