"""Which app to serve when none was named: ``discover(cwd, environ) -> Discovery``.

The order: ``ASYNCDEV_APP``, ``[tool.asyncdev] app`` in the nearest pyproject.toml, a
Django project (``manage.py``), ``FLASK_APP`` (or in ``.flaskenv``), then the usual
files (main.py, app.py, ... also under app/ and src/<pkg>/). Files are read with
``ast``, never imported: the reload supervisor runs this and must stay free of user code.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import ConfigError

__all__ = ["SEARCH_ORDER", "Discovery", "discover", "read_tool_options"]

CANDIDATE_FILES = ("main.py", "app.py", "api.py", "application.py", "wsgi.py", "asgi.py")
CANDIDATE_NAMES = ("app", "application", "api")
FACTORY_NAMES = ("create_app", "make_app")
# Calls that make an ASGI or WSGI app, by the name they are called with: the classes of
# the common frameworks and Django's two handler factories.
FRAMEWORK_CALLS = frozenset({
    "Flask", "FastAPI", "Starlette", "Litestar", "Quart", "Sanic", "Bottle", "Falcon",
    "Django", "get_wsgi_application", "get_asgi_application", "App", "Application",
})

# What the welcome page lists when nothing was found.
SEARCH_ORDER = (
    "an APP argument (asyncdev main:app)",
    "ASYNCDEV_APP in the environment",
    'app = "pkg.module:attr" under [tool.asyncdev] in pyproject.toml',
    "a Django project: manage.py",
    "FLASK_APP in the environment or in .flaskenv",
    ("main.py, app.py, api.py, application.py, wsgi.py or asgi.py, here, under app/ or "
     "src/PACKAGE/, holding app, application or api, one framework app, or a "
     "create_app/make_app factory"),
)


@dataclass(frozen=True)
class Discovery:
    """What was found: an app (import string or file target) or a Django settings module."""

    app: str | None = None
    factory: bool = False
    django_settings: str | None = None
    how: str = ""  # where it was found, for the banner: "main.py", "FLASK_APP in .flaskenv"
    options: Mapping[str, Any] = field(default_factory=dict)  # the rest of [tool.asyncdev]

    @property
    def found(self) -> bool:
        return self.app is not None or self.django_settings is not None

    @property
    def pinned(self) -> bool:
        """Named by a setting (ASYNCDEV_APP, [tool.asyncdev], FLASK_APP), not searched."""
        return self.how.startswith(("ASYNCDEV_APP", "[tool.asyncdev]", "FLASK_APP"))

    def banner_line(self) -> str:
        """What the banner says about the choice."""
        what = self.app or f"the Django project of {self.django_settings}"
        if self.pinned:
            return f"Serving {what} as set in {self.how}"
        return f"Found {what} in {self.how}; {self.pin_hint()}"

    def pin_hint(self) -> str:
        """How to name the choice so that it no longer depends on the search."""
        if self.django_settings is not None:
            return f"pin it with --settings {self.django_settings}"
        if self.app is None:
            return ""
        factory = " --factory" if self.factory else ""
        toml = f'app = "{self.app}"' + (" and factory = true" if self.factory else "")
        return (f"pin it with: asyncdev {self.app}{factory}, or {toml} "
                "under [tool.asyncdev] in pyproject.toml")


# --- pyproject.toml ---------------------------------------------------------------------


def find_pyproject(start: str) -> str | None:
    """The nearest pyproject.toml at or above ``start``."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def read_tool_options(start: str) -> tuple[str | None, dict[str, Any]]:
    """``(path, options)`` of ``[tool.asyncdev]`` in the nearest pyproject.toml."""
    path = find_pyproject(start)
    if path is None:
        return None, {}
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return path, {}
    try:
        if sys.version_info >= (3, 11):
            import tomllib

            table = tomllib.loads(data.decode("utf-8")).get("tool", {}).get("asyncdev", {})
        else:  # pragma: no cover - Python 3.10 has no TOML reader
            table = _tool_table_310(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.asyncdev]: {exc}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.asyncdev] should be a table of options")
    return path, table


_TOML_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*=\s*(.+?)\s*(?:#[^\"']*)?$")


def _tool_table_310(text: str) -> dict[str, Any]:  # pragma: no cover - Python 3.10
    """Python 3.10 has no tomllib: read one-line ``key = value`` entries of
    ``[tool.asyncdev]`` (strings, numbers, booleans, one-line arrays). Anything richer
    needs Python 3.11."""
    table: dict[str, Any] = {}
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            inside = line.replace(" ", "") == "[tool.asyncdev]"
            continue
        if not inside or not line or line.startswith("#"):
            continue
        match = _TOML_LINE.match(line)
        if match is None:
            raise ValueError(f"cannot read {line!r} on Python 3.10 (use Python 3.11+)")
        key, value = match.groups()
        table[key] = ast.literal_eval(
            value.replace("true", "True").replace("false", "False")
        )
    return table


# --- reading sources --------------------------------------------------------------------


def _parse(path: str) -> ast.Module | None:
    try:
        with open(path, "rb") as handle:
            return ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        # A file that does not parse is still the likeliest app: the import then shows
        # the error page with the real SyntaxError.
        return None


def _called_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def scan_source(path: str) -> tuple[str, bool] | None:
    """``(attribute, is_factory)`` of the app in the file at ``path``, read with ast.

    ``app``, ``application`` or ``api`` (assigned or imported at the top level), else
    the one framework app created at the top level, else a ``create_app``/``make_app``
    function. A file that does not parse is taken with ``app`` (the import will tell).
    """
    tree = _parse(path)
    if tree is None:
        return ("app", False) if os.path.isfile(path) else None
    names: dict[str, ast.expr | None] = {}
    functions: set[str] = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names.setdefault(alias.asname or alias.name, None)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # ``async def app(scope, receive, send)`` is an app too.
            names.setdefault(node.name, None)
            if isinstance(node, ast.FunctionDef):
                functions.add(node.name)
        for target in targets:
            if isinstance(target, ast.Name):
                names[target.id] = value
    for name in CANDIDATE_NAMES:
        if name in names:
            return name, False
    instances = [
        name for name, value in names.items()
        if value is not None and _called_name(value) in FRAMEWORK_CALLS
    ]
    if len(instances) == 1:
        return instances[0], False
    for name in FACTORY_NAMES:
        if name in functions:
            return name, True
    return None


def django_settings_of(manage_py: str) -> str | None:
    """The ``DJANGO_SETTINGS_MODULE`` default that manage.py sets (startproject writes
    ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")``)."""
    tree = _parse(manage_py)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and len(node.args) == 2
            and all(isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    for arg in node.args)
            and node.args[0].value == "DJANGO_SETTINGS_MODULE"  # type: ignore[attr-defined]
        ):
            return str(node.args[1].value)  # type: ignore[attr-defined]
    return None


# --- the search -------------------------------------------------------------------------


def _candidate_dirs(cwd: str) -> list[str]:
    """The directories searched for the usual files, relative to ``cwd``."""
    dirs = ["", "app"]
    src = os.path.join(cwd, "src")
    if os.path.isdir(src):
        try:
            entries = sorted(os.listdir(src))
        except OSError:
            entries = []
        dirs += [
            os.path.join("src", entry) for entry in entries
            if entry.isidentifier() and os.path.isfile(os.path.join(src, entry, "__init__.py"))
        ]
    return dirs


def _target(relative_dir: str, filename: str, attr: str) -> str:
    """``main:app`` for a file in ``cwd``; ``app/main.py:app`` elsewhere (the importer
    puts the top package's parent on sys.path, so relative imports keep working)."""
    if not relative_dir:
        return f"{filename[:-3]}:{attr}"
    return f"{relative_dir}/{filename}:{attr}".replace(os.sep, "/")


def _flask_app_target(value: str, cwd: str) -> tuple[str, bool]:
    """FLASK_APP (``module``, ``module:name``, ``module:create_app()``, ``file.py``) as an
    import string and whether it names a factory."""
    value = value.strip()
    module, _, attr = value.partition(":")
    factory = False
    if attr.endswith("()"):
        attr, factory = attr[:-2], True
    if attr:
        return f"{module}:{attr}", factory
    if module.endswith(".py"):
        path = os.path.join(cwd, module)
        label = module[:-3].replace("/", ".")
    else:
        base = os.path.join(cwd, *module.split("."))
        path = base + ".py" if os.path.isfile(base + ".py") else os.path.join(base, "__init__.py")
        label = module
    found = scan_source(path)
    if found is None:
        return module, False
    return f"{label}:{found[0]}", found[1]


def discover(cwd: str, environ: Mapping[str, str]) -> Discovery:
    """What to serve in ``cwd`` when no APP was given (``Discovery.found`` is False when
    nothing was)."""
    if environ.get("ASYNCDEV_APP"):
        return Discovery(app=environ["ASYNCDEV_APP"], how="ASYNCDEV_APP")
    path, options = read_tool_options(cwd)
    if options.get("app"):
        return Discovery(app=str(options["app"]), factory=bool(options.get("factory", False)),
                         how=f"[tool.asyncdev] in {os.path.relpath(path or '', cwd)}",
                         options=options)
    manage = os.path.join(cwd, "manage.py")
    if os.path.isfile(manage):
        settings = environ.get("DJANGO_SETTINGS_MODULE") or django_settings_of(manage)
        if settings:
            return Discovery(django_settings=settings, how="manage.py", options=options)
    flask_app = environ.get("FLASK_APP")
    how = "FLASK_APP"
    flaskenv = os.path.join(cwd, ".flaskenv")
    if not flask_app and os.path.isfile(flaskenv):
        from ._envfile import parse_env_file

        flask_app = parse_env_file(flaskenv).get("FLASK_APP")
        how = "FLASK_APP in .flaskenv"
    if flask_app:
        target, factory = _flask_app_target(flask_app, cwd)
        return Discovery(app=target, factory=factory, how=how, options=options)
    for relative_dir in _candidate_dirs(cwd):
        for filename in CANDIDATE_FILES:
            file_path = os.path.join(cwd, relative_dir, filename)
            if not os.path.isfile(file_path):
                continue
            found = scan_source(file_path)
            if found is None:
                continue
            attr, factory = found
            return Discovery(
                app=_target(relative_dir, filename, attr), factory=factory,
                how=os.path.join(relative_dir, filename), options=options,
            )
    return Discovery(options=options)
