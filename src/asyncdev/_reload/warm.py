"""Which modules a spare server process imports before it is needed, and what it holds.

A spare imports ``WARM_MODULES`` (the path every entry point takes), then what the last
server process reported it used (``modules_report``: asyncdev's modules, then library
modules, in import order). ``imported_files`` is what the supervisor checks a change
against: a spare that imported a changed file would serve the old code.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
from collections.abc import Sequence

from .._usercode import is_library_file, is_own_file, is_user_file
from . import control

__all__ = ["WARM_MODULES", "imported_files", "modules_report", "user_files", "warm_up"]

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


def warm_up(names: Sequence[str], *, uvloop: bool) -> None:
    """Import asyncdev's serving path, then ``names`` in order, stopping at the first
    that fails (it may need the app's setup, like Django models)."""
    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            __import__(name)
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
    return tuple(
        os.path.realpath(name) for module in list(sys.modules.values())
        if isinstance(name := getattr(module, "__file__", None), str)
    )


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
