"""Which file changes trigger a reload, decided inside watchfiles.

``ReloadFilter`` is the ``watch_filter`` given to ``watchfiles.watch``: ``*.py`` plus
``--reload-include`` globs trigger, ``--reload-exclude`` globs and the never-watched
places (VCS and tool caches, any directory holding ``pyvenv.cfg``, ``node_modules``,
logs, SQLite files) do not. Globs support ``**`` and are relative to the current
directory. It also lets through what the server's listeners asked for (``listen``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from .._types import WatchRequest

if TYPE_CHECKING:
    from .._config import Config
    from .entry import EntryPlan

__all__ = ["ReloadFilter", "default_reload_dirs", "glob_to_regex", "relative", "reload_dirs"]

# Directories whose content is never the app's source: version control, caches written
# by tools on every run (watching them reloads in a loop), JavaScript dependencies.
IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", "node_modules", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".hypothesis", ".pytype", ".pyre",
    ".idea", ".vscode", ".eggs",
})
# Files an app or an editor writes while running: logs and SQLite databases (with their
# -journal/-wal/-shm companions), bytecode, editor swap and backup files.
IGNORED_FILES = (
    "*.log", "*.log.*", "*.sqlite", "*.sqlite3*", "*.db-journal", "*.py[cod]", "*.swp",
    "*.swx", "*~", ".#*", "#*#", "4913", ".DS_Store",
)
# A directory holding one of these is a Python environment (venv or conda), whatever
# its name: its thousands of files are never the app's source.
ENV_MARKERS = ("pyvenv.cfg", "conda-meta")
DEFAULT_INCLUDES = ("*.py",)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob where ``*`` stays within one path segment and ``**`` spans many."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern.startswith("[!", i) else i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


class _Glob:
    """One ``--reload-include``/``--reload-exclude`` pattern.

    Like .gitignore: a pattern without ``/`` matches a name at any depth (``*.html``,
    ``migrations``); one with ``/`` matches the path from the current directory
    (``templates/**/*.html``) or, if absolute, the absolute path. A pattern that
    matches a directory matches everything below it.
    """

    def __init__(self, pattern: str, cwd: str) -> None:
        self.pattern = pattern
        text = pattern.replace(os.sep, "/")
        while text.startswith("./"):
            text = text[2:]
        text = text.rstrip("/") or "/"
        self.by_name = "/" not in text
        if not self.by_name and not os.path.isabs(text):
            text = os.path.normpath(os.path.join(cwd, text)).replace(os.sep, "/")
        elif not self.by_name:
            text = os.path.normpath(text).replace(os.sep, "/")
        self.regex = glob_to_regex(text)

    def matches(self, parts: Sequence[str]) -> bool:
        """``parts``: the absolute path split on "/"; any prefix may match."""
        if self.by_name:
            return any(self.regex.match(part) for part in parts)
        path = ""
        for part in parts:
            path = f"{path}/{part}" if path != "/" else f"/{part}"
            if part and self.regex.match(path):
                return True
        return False


class ReloadFilter:
    """``watch_filter`` for watchfiles: True when a change should trigger a reload."""

    def __init__(
        self,
        *,
        roots: Iterable[str],
        includes: Sequence[str] = (),
        excludes: Sequence[str] = (),
        cwd: str | None = None,
    ) -> None:
        self.cwd = os.path.realpath(cwd or os.getcwd())
        self.roots = sorted({os.path.realpath(r) for r in roots}, key=len, reverse=True)
        self.includes = [_Glob(p, self.cwd) for p in (*DEFAULT_INCLUDES, *includes)]
        self.excludes = [_Glob(p, self.cwd) for p in (*IGNORED_FILES, *excludes)]
        # Positive answers only: a directory that is an environment stays one, while a
        # "not an environment" answer could turn stale the moment a venv is created.
        self._env_dirs: set[str] = set()
        self.extra_files: set[str] = set()
        self._requests: list[tuple[str, list[_Glob]]] = []

    def __call__(self, change: Any, path: str) -> bool:
        path = os.path.abspath(path)
        if path in self.extra_files:
            return True
        parts = path.replace(os.sep, "/").split("/")
        if any(part in IGNORED_DIRS for part in parts[:-1]):
            return False
        name = parts[-1]
        if name in ENV_MARKERS:
            self._env_dirs.add(os.path.dirname(path))
            return False
        if not any(g.matches(parts) for g in self.includes) and not self._listened(path, parts):
            return False
        if any(g.matches(parts) for g in self.excludes):
            return False
        return not self.in_environment(path)

    def reloads(self, path: str) -> bool:
        """Whether a change this filter let through needs a new server process; if not,
        only the server's listeners asked for it (see ``listen``)."""
        path = os.path.abspath(path)
        parts = path.replace(os.sep, "/").split("/")
        return path in self.extra_files or any(g.matches(parts) for g in self.includes)

    def listen(self, requests: Iterable[WatchRequest]) -> None:
        """Let changes through that the serving process's listeners want (no restart)."""
        self._requests = [
            (os.path.join(os.path.realpath(directory), ""),
             [_Glob(pattern, os.path.realpath(directory)) for pattern in patterns])
            for directory, patterns in requests
        ]

    def _listened(self, path: str, parts: Sequence[str]) -> bool:
        real = None
        for directory, globs in self._requests:
            if not path.startswith(directory):
                real = real or os.path.realpath(path)
                if not real.startswith(directory):
                    continue
            if any(g.matches(parts) for g in globs):
                return True
        return False

    def in_environment(self, path: str) -> bool:
        """Whether ``path`` lies in a Python environment below its watched root."""
        root = next((r for r in self.roots if path.startswith(r + os.sep)), None)
        if root is None:
            return False
        directory = os.path.dirname(path)
        # A root that is itself an environment was chosen on purpose: only look below it.
        while len(directory) > len(root):
            if directory in self._env_dirs:
                return True
            if any(os.path.exists(os.path.join(directory, m)) for m in ENV_MARKERS):
                self._env_dirs.add(directory)
                return True
            directory = os.path.dirname(directory)
        return False

    def scan_environments(self, max_depth: int = 3) -> None:
        """Remember the environments a few levels below the roots, before any event.

        Deleting a venv may remove its ``pyvenv.cfg`` before the rest of its files.
        """
        for root in self.roots:
            pending = [(root, 0)]
            while pending:
                directory, depth = pending.pop()
                try:
                    entries = list(os.scandir(directory))
                except OSError:
                    continue
                names = {entry.name for entry in entries}
                if directory != root and any(m in names for m in ENV_MARKERS):
                    self._env_dirs.add(directory)
                    continue
                if depth < max_depth:
                    pending.extend(
                        (entry.path, depth + 1) for entry in entries
                        if entry.name not in IGNORED_DIRS
                        and entry.is_dir(follow_symlinks=False)
                    )


def reload_dirs(config: Config, plan: EntryPlan, cwd: str) -> list[str]:
    """The directories to watch: ``--reload-dir``, else the app's project (see below)."""
    if config.reload_dirs:
        dirs = []
        for directory in config.reload_dirs:
            full = os.path.realpath(os.path.join(cwd, directory))
            if not os.path.isdir(full):
                raise ConfigError(f"reload_dirs: {directory!r} is not a directory (cwd: {cwd})")
            dirs.append(full)
        return dirs
    app = config.app
    project: str | None = None
    if isinstance(app, str) or app is None:
        project = config.app_dir
        target = app or ""
        if not target.endswith(".py"):
            target = target.rpartition(":")[0]
        if project is None and target.endswith(".py"):
            project = os.path.dirname(os.path.abspath(target))
    elif plan.kind == "script":
        project = os.path.dirname(os.path.realpath(plan.target))
    return default_reload_dirs(project, cwd)


def default_reload_dirs(project_dir: str | None, cwd: str | None = None) -> list[str]:
    """The current directory, unless the app lives outside it: then the app's directory."""
    cwd = os.path.realpath(cwd or os.getcwd())
    if project_dir is None:
        return [cwd]
    project = os.path.realpath(project_dir)
    if project == cwd or project.startswith(cwd.rstrip(os.sep) + os.sep):
        return [cwd]
    return [project]


def relative(path: str, cwd: str | None = None) -> str:
    """``path`` relative to the current directory when below it, else absolute."""
    cwd = cwd or os.getcwd()
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path
    return path if rel.startswith(os.pardir) else rel
