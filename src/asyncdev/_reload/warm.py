"""Which modules a spare server process imports before it is needed, and what it holds.

A spare imports ``WARM_MODULES`` (the path every entry point takes), then what the last
server process reported it used (``modules_report``: asyncdev's modules, then library
modules, in import order), then the user's own start-up as that process had it when it
began to serve (``startup_report``, ``run_startup``: Django's setup, the project's
settings and models, helpers). ``imported_files`` is what the supervisor checks a
change against: a spare that imported a changed file would serve the old code.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Collection, Sequence
from typing import Any

from .._usercode import is_library_file, is_own_file, is_user_file
from . import control

__all__ = [
    "WARM_MODULES", "StartupRefused", "import_serving_path", "imported_files",
    "modules_report", "run_startup",
    "startup_report",
    "user_files", "warm_up",
]

# What every spare imports before it is needed: the path every entry point takes
# (``python -m asyncdev`` and ``serve()``), from the command line to the HTTP server.
# What else an app uses (the WSGI bridge, static files, WebSockets, its libraries) is
# in the list of modules its previous process imported (see modules_report).
WARM_MODULES = (
    "asyncdev._cli", "asyncdev._api", "asyncdev._logging", "asyncdev._importer",
    "asyncdev._loops", "asyncdev._server.run", "asyncdev._server.server",
    "asyncdev._features.hostcheck", "asyncdev._reload.handoff", "runpy",
)
# How long a spare spends importing the previous process's libraries at most.
_WARM_BUDGET = 5.0


def import_serving_path() -> None:
    """Import ``WARM_MODULES``: what every server process needs, whatever the app."""
    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            __import__(name)


def warm_up(names: Sequence[str], *, uvloop: bool) -> None:
    """Import asyncdev's serving path, then ``names`` in order, stopping at the first
    that fails (it may need the app's setup, like Django models)."""
    import_serving_path()
    if uvloop:
        with contextlib.suppress(ImportError):
            __import__("uvloop")
    deadline = time.monotonic() + _WARM_BUDGET
    for name in names:
        if name in sys.modules:
            continue
        if time.monotonic() > deadline:
            return
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):
            return


def imported_files() -> tuple[str, ...]:
    """The real path of every module file this process imported."""
    # Resolved a directory at a time: a few dozen directories hold hundreds of modules,
    # and realpath costs a system call per path component.
    real_dirs: dict[str, str] = {}
    result = []
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not isinstance(name, str):
            continue
        head, tail = os.path.split(os.path.abspath(name))
        real = real_dirs.get(head)
        if real is None:
            real = real_dirs[head] = os.path.realpath(head)
        path = os.path.join(real, tail)
        result.append(os.path.realpath(path) if os.path.islink(path) else path)
    return tuple(result)


def user_files(candidates: Sequence[str]) -> tuple[str, ...]:
    """Existing files outside the standard library, site-packages and asyncdev itself."""
    result: list[str] = []
    for name in candidates:
        path = os.path.abspath(name)
        if not is_user_file(path) or not os.path.isfile(path):
            continue
        path = os.path.realpath(path)
        if path not in result:
            result.append(path)
    return tuple(result)


def modules_report() -> control.Modules:
    """What this process imported, for the supervisor.

    The app's own modules outside the watched directories get watched too (as Django's
    autoreloader watches every imported module). asyncdev's modules, then the library
    modules, each in import order, are what the next spare imports ahead of time: the
    features this app uses (the WSGI bridge, static files, ...) and its libraries.
    asyncdev's come first, as they never depend on the app's setup.
    """
    files: list[str] = []
    own: list[str] = []
    warm: list[str] = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name == "__main__" or not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        if is_own_file(path):
            own.append(name)
        elif is_library_file(path):
            warm.append(name)
        else:
            files.append(path)
    return control.Modules(files=user_files(files)[:1000], warm=tuple(own + warm)[:5000])


def startup_report(*, exclude: Collection[str] = ()) -> control.Startup:
    """The user's modules imported so far (called as serving begins), but those in
    ``exclude`` (imported by the first requests: a view, say, is what gets edited)."""
    modules = [
        name for name, module in list(sys.modules.items())
        if name != "__main__" and name not in exclude
        and isinstance(path := getattr(module, "__file__", None), str)
        and is_user_file(path)
        # Still being imported: the module whose import started the server.
        and not getattr(getattr(module, "__spec__", None), "_initializing", False)
    ]
    django_settings = None
    apps = sys.modules.get("django.apps")
    if apps is not None and getattr(getattr(apps, "apps", None), "ready", False):
        django_settings = os.environ.get("DJANGO_SETTINGS_MODULE")
    return control.Startup(
        modules=tuple(modules)[:2000], path=tuple(sys.path), django_settings=django_settings,
    )


class StartupRefused(Exception):
    """The start-up imports a module the spare must avoid: the process is not used."""


def run_startup(startup: control.Startup, *, env_file: str | None) -> dict[str, str] | None:
    """Import the user's start-up as ``startup`` says; the environment variables it set,
    or None if it failed (the process is then not to be used). ``StartupRefused`` if
    it failed because a module imports one of ``startup.avoid``.

    The environment is the one the server will have: the env file is read first, as
    the entry point would before loading the app."""
    if env_file:
        from .._envfile import apply_env_file

        try:
            apply_env_file(env_file)
        except Exception:
            return None
    before = dict(os.environ)
    sys.path[:] = list(startup.path)
    guard = _Avoid(frozenset(startup.avoid))
    sys.meta_path.insert(0, guard)
    try:
        if startup.django_settings:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", startup.django_settings)
            importlib.import_module("django").setup()
        for name in startup.modules:
            if name not in sys.modules and not guard.avoids(name):
                importlib.import_module(name)
    except BaseException:
        # Anything: a module that failed half-way may have left state behind (a
        # registry, a table in shared metadata), so the process is not used at all.
        if guard.refused:
            raise StartupRefused(guard.refused) from None
        return None
    finally:
        sys.meta_path.remove(guard)
    return {key: value for key, value in os.environ.items() if before.get(key) != value}


class _Avoid:
    """Import hook refusing the files a spare must not import ahead."""

    def __init__(self, files: frozenset[str]) -> None:
        self.files = files
        self.refused = ""

    def avoids(self, name: str) -> bool:
        """Whether the top-level module ``name`` itself is to be avoided (it is then
        skipped, rather than refused to a module importing it)."""
        if not self.files:
            return False
        path = None
        if "." in name:  # found through its package, imported before it (the list's order)
            path = getattr(sys.modules.get(name.rpartition(".")[0]), "__path__", None)
            if path is None:
                return False
        return self._avoided(self._spec(name, path, None))

    def _spec(self, name: str, path: Any, target: Any) -> Any:
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    return spec
        return None

    def _avoided(self, spec: Any) -> bool:
        origin = getattr(spec, "origin", None)
        return isinstance(origin, str) and os.path.realpath(origin) in self.files

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if not self.files:
            return None
        spec = self._spec(name, path, target)
        if self._avoided(spec):
            self.refused = name
            raise ImportError(f"{name} is not imported ahead: it changed lately")
        return spec
