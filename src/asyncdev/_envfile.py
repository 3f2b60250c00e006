"""``.env`` files: ``parse_env_file(path)`` reads ``KEY=VALUE`` lines, ``apply_env_file``
loads them into ``os.environ`` without overriding what is already set, and
``load_env_files(config)`` loads every file a server process should (each process
loads them afresh, so a reload sees an edited file).

The syntax is the common subset of python-dotenv's and docker compose's; a malformed
line raises ``ConfigError`` naming the file and the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._errors import ConfigError

if TYPE_CHECKING:
    from ._config import Config

__all__ = ["apply_env_file", "env_files", "load_env_files", "loaded_notes", "parse_env_file"]

# Loaded when present, as ``flask run`` does; .env wins over .flaskenv (Flask's order).
AUTOMATIC_FILES = (".flaskenv", ".env")
_loaded: list[tuple[str, int]] = []

_ENV_LINE = re.compile(
    r"""^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(?P<value>.*?)\s*$"""
)
_DOUBLE_QUOTE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def parse_env_file(path: str) -> dict[str, str]:
    """The ``KEY=VALUE`` pairs of a ``.env`` file, in order.

    Supported: blank lines, ``#`` comments (whole-line, or after an unquoted value
    following whitespace), an ``export`` prefix, ``'single'`` quotes (literal),
    ``"double"`` quotes (``\\n``, ``\\t``, ``\\"``, ``\\\\`` escapes, may span lines).
    No ``${VAR}`` interpolation. A malformed line raises ``ConfigError`` with its number.
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise ConfigError(f"env_file: {path!r} does not exist (cwd: {os.getcwd()}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"env_file: cannot read {path!r}: {exc}") from exc
    result: dict[str, str] = {}
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ConfigError(
                f"env_file: {path} line {number}: expected KEY=VALUE, got {stripped!r}"
            )
        key, raw = match.group("key"), match.group("value")
        if raw.startswith('"'):
            text = raw[1:]
            while not _closing_quote(text):
                if index >= len(lines):
                    raise ConfigError(
                        f"env_file: {path} line {number}: the double quote is never closed"
                    )
                text += "\n" + lines[index]
                index += 1
            end = _closing_quote(text)
            assert end is not None
            value = _unescape(text[: end - 1])
            rest = text[end:].strip()
        elif raw.startswith("'"):
            end = raw.find("'", 1)
            if end < 0:
                raise ConfigError(
                    f"env_file: {path} line {number}: the single quote is never closed"
                )
            value = raw[1:end]
            rest = raw[end + 1 :].strip()
        else:
            value = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
            rest = ""
        if rest and not rest.startswith("#"):
            raise ConfigError(
                f"env_file: {path} line {number}: unexpected text after the quoted value"
            )
        result[key] = value
    return result


def _closing_quote(text: str) -> int | None:
    """One past the index of the first unescaped double quote, or None."""
    escaped = False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return position + 1
    return None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _DOUBLE_QUOTE_ESCAPES.get(m.group(1), m.group(0)), text)


def apply_env_file(path: str, *, override: bool = False) -> dict[str, str]:
    """Load ``path`` into ``os.environ`` and return what was set.

    Variables already in the environment win unless ``override`` is true, so
    ``FOO=1 asyncdev`` beats ``FOO=2`` in the file (python-dotenv's default).
    """
    applied: dict[str, str] = {}
    for key, value in parse_env_file(path).items():
        if override or key not in os.environ:
            os.environ[key] = value
            applied[key] = value
    return applied


def env_files(config: Config, cwd: str | None = None) -> list[str]:
    """The files to load for ``config``, lowest precedence first: the automatic
    ``.flaskenv`` and ``.env`` when present, then every ``--env-file`` in order."""
    base = cwd or os.getcwd()
    found = [name for name in AUTOMATIC_FILES if config.dotenv
             and os.path.isfile(os.path.join(base, name))]
    return [*found, *config.env_file]


def merged_env_files(paths: Sequence[str]) -> dict[str, str]:
    """The variables of ``paths``, a later file winning over an earlier one."""
    merged: dict[str, str] = {}
    for path in paths:
        merged.update(parse_env_file(path))
    return merged


def load_env_files(config: Config, cwd: str | None = None) -> list[tuple[str, int]]:
    """Load ``config``'s env files into ``os.environ``; none overrides a variable that
    is already set. Returns ``(file, variables it set)`` pairs, also kept for the banner."""
    paths = env_files(config, cwd)
    winner: dict[str, tuple[str, str]] = {}
    for path in paths:
        for key, value in parse_env_file(path).items():
            winner[key] = (path, value)
    counts = dict.fromkeys(paths, 0)
    for key, (path, value) in winner.items():
        if key not in os.environ:
            os.environ[key] = value
            counts[path] += 1
    _loaded[:] = list(counts.items())
    return list(_loaded)


def loaded_notes() -> list[str]:
    """Banner lines for the env files this process loaded."""
    return [
        f"Loaded {count} variable{'s' if count != 1 else ''} from {path}"
        for path, count in _loaded
    ]
