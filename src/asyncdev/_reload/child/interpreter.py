"""Run the user's command line again, as the interpreter itself would have.

The spare starts as ``python -c``; told to go, it restores what ``python script.py`` or
``python -m module`` would have set up: ``sys.path[0]``, ``sys.argv``, the environment,
and ``__main__`` (the script's module for good, not runpy's temporary one).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..entry import interpreter_safe_path

__all__ = ["apply_env", "entry_argv", "run_entry", "set_path0"]


def set_path0(path0: str | None) -> None:
    # The spare runs as ``python -c``, which puts "" first on sys.path; the user's
    # command would have put the script's directory (or the cwd for -m) there instead.
    if interpreter_safe_path():
        return
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    if path0 is not None:
        sys.path.insert(0, path0)


def apply_env(env: dict[str, str]) -> None:
    """Make ``os.environ`` the supervisor's environment as it is now."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def entry_argv(kind: str, target: str, args: Sequence[str]) -> list[str]:
    """``sys.argv`` as the interpreter sets it before running the entry point (for
    ``-m``, runpy then puts the module's file first)."""
    return ["-m", *args] if kind == "module" else [target, *args]


def run_entry(kind: str, target: str, args: Sequence[str]) -> None:
    """Run the user's command line (``kind`` "module" or "script") in this process."""
    import runpy

    sys.argv = entry_argv(kind, target, args)
    if kind == "module":
        # What ``python -m`` itself calls: __main__ stays replaced, argv[0] is the file.
        run_as_main = getattr(runpy, "_run_module_as_main", None)
        if run_as_main is not None:
            run_as_main(target, True)
        else:  # pragma: no cover - a runpy without the private helper
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        return
    path = os.path.abspath(target)
    if os.path.isdir(path) or (not path.endswith(".py") and _is_archive(path)):
        runpy.run_path(target, run_name="__main__")
        return
    import builtins
    import importlib.machinery
    import types

    # Like ``python script.py``: __main__ is the script for good (not runpy's
    # temporary module), __file__ is absolute, __spec__ is None.
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    with open(path, "rb") as handle:
        source = handle.read()
    code = module.__loader__.source_to_code(source, path)
    exec(code, module.__dict__)


def _is_archive(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)
