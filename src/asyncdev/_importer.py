"""Turn ``Config.app`` into a callable and its interface: ``load_app(config) -> LoadedApp``.

Accepts a callable, ``pkg.module:attr`` (``attr`` may be dotted), ``pkg.module`` (the
attribute defaults to ``app``, then ``application`` as Django's wsgi.py/asgi.py name
it) or ``path/to/file.py[:attr]``. Every failure is an ``AppImportError`` that says
what to do, chained to the original error.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ._errors import AppImportError
from ._usercode import is_user_file

if TYPE_CHECKING:
    from ._config import Config
    from ._types import Integration

__all__ = [
    "LoadedApp",
    "detect_interface",
    "load_app",
]

logger = logging.getLogger("asyncdev.error")

ResolvedInterface = Literal["asgi3", "asgi2", "wsgi"]

# Names tried, in order, when the import string gives no attribute. Django's
# startproject writes ``application`` into wsgi.py and asgi.py, so
# ``asyncdev myproject.wsgi`` works as it is typed in Django's own docs.
DEFAULT_ATTRIBUTES = ("app", "application")
# Names that usually hold an app, listed first among the suggestions.
_LIKELY_NAMES = ("app", "application", "api", "asgi", "wsgi", "asgi_app", "wsgi_app", "main")


@dataclass(frozen=True)
class LoadedApp:
    """The loaded application: the raw callable, its interface, and how to name it."""

    app: Callable[..., Any]
    interface: ResolvedInterface
    description: str
    # Whether the server runs the ASGI lifespan protocol with it: a WSGI app has no
    # startup or shutdown hooks, and asyncdev's own pages need none.
    lifespan: bool = True
    # For the banner: "Flask 3.1.0", and lines such as "API docs at {url}/docs".
    framework: str | None = None
    notes: tuple[str, ...] = ()
    # The framework's per-process part (Django: checks, static files, templates).
    integration: Integration | None = None


def load_app(config: Config) -> LoadedApp:
    """Import (or take) ``config.app``, call the factory if asked, detect the interface."""
    target = config.app
    if target is None:
        raise AppImportError("No app was given. Give one like main:app.")
    _prepare_sys_path(config.app_dir)
    from ._frameworks import development_environment, prepare

    # The framework reads its development switches while the app is created.
    with development_environment(enabled=config.dev_mode) as dev_env:
        if isinstance(target, str):
            obj, description = _import_from_string(target)
        else:
            obj, description = target, _describe_callable(target)
        if config.factory:
            obj = _call_factory(obj, description)
    if not callable(obj):
        raise AppImportError(
            f'"{description}" is not callable (it is {_a_type(obj)}). Give the ASGI or WSGI '
            "application object itself" + (", or add --factory if it makes one."
                                             if not config.factory else ".")
        )
    if config.interface == "auto":
        interface = detect_interface(obj, description=description)
    else:
        interface = config.interface
    framework, notes = prepare(obj, dev_env)
    return LoadedApp(obj, interface, description, lifespan=interface != "wsgi",
                     framework=framework, notes=notes)


# --- interface detection --------------------------------------------------------------


def detect_interface(app: Callable[..., Any], *, description: str = "the app") -> ResolvedInterface:
    """Tell ASGI 3, ASGI 2 and WSGI apart. The rule, first match wins:

    1. a coroutine function, or an object whose ``__call__`` is one: ASGI 3;
    2. a class (not an instance) without ``__await__``: ASGI 2 (``cls(scope)`` is the
       per-connection instance); a class with ``__await__`` is ASGI 3;
    3. otherwise the signature's required positional parameters: 3 is ASGI 3,
       2 (``environ, start_response``) is WSGI, 1 (``scope``) is ASGI 2.

    Flask and Django's ``WSGIHandler`` come out as WSGI (rule 3), Django's
    ``ASGIHandler``, Starlette and FastAPI as ASGI 3 (rule 1). When nothing decides,
    ASGI 3 is assumed with a warning; ``--interface`` overrides the guess.
    """
    if inspect.iscoroutinefunction(app):
        return "asgi3"
    if inspect.isclass(app):
        return "asgi3" if hasattr(app, "__await__") else "asgi2"
    call = getattr(app, "__call__", None)  # noqa: B004 - the attribute itself is inspected
    if (
        not inspect.isfunction(app)
        and not inspect.ismethod(app)
        and call is not None
        and inspect.iscoroutinefunction(call)
    ):
        return "asgi3"
    required = _required_positional(app)
    if required == 3:
        return "asgi3"
    if required == 2:
        return "wsgi"
    if required == 1:
        return "asgi2"
    if required == 0 and inspect.isfunction(app):
        raise AppImportError(
            f'"{description}" takes no arguments, so it is not an ASGI or WSGI app. If it '
            "creates the app, add --factory (factory=True)."
        )
    logger.warning(
        'Could not tell the interface of "%s" from its signature; assuming ASGI 3. '
        "Use --interface wsgi (or asgi2) if that is wrong.",
        description,
    )
    return "asgi3"


def _required_positional(app: Callable[..., Any]) -> int | None:
    """Required positional parameters, or None when *args makes it unknowable."""
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if (
            parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
            and parameter.default is parameter.empty
        ):
            count += 1
    return count


# --- import strings -------------------------------------------------------------------


def _prepare_sys_path(app_dir: str | None) -> None:
    # ``python -m`` puts the cwd first on sys.path, a console script does not; both
    # must find ``main.py`` in the current directory, as uvicorn and flask do.
    directory = os.path.abspath(app_dir) if app_dir is not None else os.getcwd()
    if app_dir is not None:
        if not os.path.isdir(directory):
            raise AppImportError(f"--app-dir {app_dir!r} is not a directory (cwd: {os.getcwd()}).")
        if sys.path[:1] != [directory]:
            sys.path.insert(0, directory)
    elif directory not in sys.path and "" not in sys.path:
        sys.path.insert(0, directory)


def _import_from_string(target: str) -> tuple[Any, str]:
    text = target.strip()
    if not text:
        raise AppImportError("The app import string is empty. Give one like main:app.")
    path, attr = _split_file_target(text)
    if path is not None:
        module_name = _module_for_file(path)
        where = path
    else:
        module_name, _, attr = text.partition(":")
        if "/" in module_name or "\\" in module_name:
            raise AppImportError(
                f'"{text}" is neither a module nor a .py file. Write a module with dots '
                "(pkg.main:app) or a path to a .py file (pkg/main.py:app)."
            )
        if not module_name or (":" in text and not attr):
            raise AppImportError(f'"{text}" is not an import string. Write it like main:app.')
        where = None
    module = _import_module(module_name, where=where)
    label = path if path is not None else module_name
    if attr:
        return _resolve_attribute(module, label, attr), f"{label}:{attr}"
    for name in DEFAULT_ATTRIBUTES:
        if hasattr(module, name):
            return getattr(module, name), f"{label}:{name}"
    raise AppImportError(
        f'Module "{label}" has no attribute "app" or "application". '
        + _found_hint(module)
        + f" Name it, as in {label}:NAME."
    )


def _split_file_target(text: str) -> tuple[str | None, str]:
    """``("dir/main.py", "app")`` for a file target, ``(None, "")`` for a module."""
    if text.endswith(".py"):
        return text, ""
    head, sep, tail = text.rpartition(":")
    if sep and head.endswith(".py"):
        return head, tail
    return None, ""


def _module_for_file(path: str) -> str:
    """Put the file's top package directory on sys.path; return its dotted module name."""
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise AppImportError(f'File "{path}" does not exist (cwd: {os.getcwd()}).')
    directory, filename = os.path.split(full)
    parts = [filename[: -len(".py")]]
    if parts[0] == "__init__":
        parts = []
    # Walk up through packages so that relative imports inside the file keep working.
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    if not parts or not all(part.isidentifier() for part in parts):
        raise AppImportError(
            f'File "{path}" cannot be imported: {".".join(parts) or "?"!r} is not a valid '
            "module name. Rename it with letters, digits and underscores only."
        )
    if sys.path[:1] != [directory]:
        sys.path.insert(0, directory)
    return ".".join(parts)


def _import_module(name: str, *, where: str | None) -> ModuleType:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise AppImportError(_not_found_message(name, where)) from exc
        raise AppImportError(
            f'Module "{name}" could not be imported: {exc}{_where(exc.__traceback__)}. '
            f"Is it installed for this Python ({sys.executable})?"
        ) from exc
    except SyntaxError as exc:
        location = f"{exc.filename}, line {exc.lineno}" if exc.filename else f'module "{name}"'
        raise AppImportError(f"Syntax error in {location}: {exc.msg}.") from exc
    except Exception as exc:
        raise AppImportError(
            f'Exception while importing module "{name}"{_where(exc.__traceback__)}: '
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if where is not None:
        loaded_from = getattr(module, "__file__", None)
        if loaded_from is None or not _same_file(loaded_from, where):
            raise AppImportError(
                f'File "{where}" cannot be imported as module "{name}": that name is already '
                f"taken by {loaded_from or 'a built-in module'}. Rename the file."
            )
    return module


def _not_found_message(name: str, where: str | None) -> str:
    cwd = os.getcwd()
    if where is not None:
        return f'Could not import "{where}" (cwd: {cwd}).'
    hint = " Did you mean --app-dir?"
    first = name.split(".", maxsplit=1)[0]
    for candidate in ("src", "app", "backend"):
        base = os.path.join(cwd, candidate)
        if os.path.isfile(os.path.join(base, first + ".py")) or os.path.isdir(
            os.path.join(base, first)
        ):
            hint = f" Did you mean --app-dir {candidate}?"
            break
    return f'Could not import module "{name}" (cwd: {cwd}).{hint}'


def _where(tb: TracebackType | None) -> str:
    """`` (main.py, line 3)`` for the frame most likely to be the user's."""
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith("<frozen")]
    if not frames:
        return ""
    # Prefer the deepest frame of the user's own code: that is the line to look at.
    ours = [f for f in frames if is_user_file(f.filename)]
    frame = (ours or frames)[-1]
    return f" ({frame.filename}, line {frame.lineno})"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _resolve_attribute(module: ModuleType, label: str, attr: str) -> Any:
    obj: Any = module
    walked: list[str] = []
    for part in attr.split("."):
        if not part.isidentifier():
            raise AppImportError(
                f'"{label}:{attr}" is not an import string. Write it like main:app.'
            )
        try:
            obj = getattr(obj, part)
        except AttributeError:
            if not walked:
                raise AppImportError(
                    f'Module "{label}" has no attribute "{part}". {_found_hint(module)}'
                ) from None
            raise AppImportError(
                f'"{label}:{".".join(walked)}" has no attribute "{part}".'
            ) from None
        except Exception as exc:
            # A lazy module attribute (PEP 562 __getattr__) can fail for real.
            raise AppImportError(
                f'Getting "{label}:{".".join([*walked, part])}" raised {type(exc).__name__}: {exc}'
            ) from exc
        walked.append(part)
    return obj


def _found_hint(module: ModuleType) -> str:
    names = _candidates(module)
    if not names:
        return "It defines no callables that could be an app."
    return "Found: " + ", ".join(names[:8])


def _candidates(module: ModuleType) -> list[str]:
    """Public callables that could be the app: instances, and functions defined there."""
    found = []
    for name, value in vars(module).items():
        if name.startswith("_") or not callable(value):
            continue
        if inspect.isclass(value) or inspect.ismodule(value) or inspect.isbuiltin(value):
            continue
        if inspect.isfunction(value) and value.__module__ != module.__name__:
            continue  # imported helpers such as ``from os import getenv``
        found.append(name)
    return sorted(found, key=lambda n: (n not in _LIKELY_NAMES, _rank(n), n))


def _rank(name: str) -> int:
    return _LIKELY_NAMES.index(name) if name in _LIKELY_NAMES else 0


def _call_factory(factory: Any, description: str) -> Any:
    if not callable(factory):
        raise AppImportError(f'"{description}" is not callable, so it cannot be a --factory.')
    try:
        return factory()
    except TypeError as exc:
        if _required_positional(factory) not in (0, None):
            raise AppImportError(
                f'"{description}" needs arguments, so it is not an app factory. Remove '
                "--factory if it is the app itself."
            ) from exc
        raise AppImportError(
            f'App factory "{description}" raised TypeError{_where(exc.__traceback__)}: {exc}'
        ) from exc
    except Exception as exc:
        raise AppImportError(
            f'App factory "{description}" raised {type(exc).__name__}'
            f"{_where(exc.__traceback__)}: {exc}"
        ) from exc


def _describe_callable(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if (inspect.isfunction(obj) or inspect.isclass(obj)) and module and qualname:
        return f"{module}:{qualname}"
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__} object"


def _a_type(obj: object) -> str:
    if obj is None:
        return "None"
    if inspect.ismodule(obj):
        return "a module"
    return f"a {type(obj).__name__}"
