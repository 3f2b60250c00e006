"""What the pages and tools are told about an error, and what pages tell the terminal.

``summarize(exc)`` is the JSON-ready gist of an exception: its title and the user's
innermost frame with its source line (the frame a developer opens first).
``log_browser_message(data)`` prints one line for a browser error or ``console.error``
sent by a page, escaped and shortened.
"""

from __future__ import annotations

import linecache
import logging
import time
import traceback
from typing import Any

from ..._errors import AsyncdevError
from ..._usercode import is_user_file

__all__ = ["log_browser_message", "summarize"]

logger = logging.getLogger("asyncdev.error")

_MAX_TEXT = 2000


def summarize(exc: BaseException | None, *, title: str | None = None) -> dict[str, Any]:
    """The title of ``exc`` and the user's frame it went through last. asyncdev's own
    wrappers (an AppImportError for a SyntaxError) give way to what they wrap."""
    while isinstance(exc, AsyncdevError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if title is None:
        assert exc is not None
        message = str(exc)
        title = type(exc).__qualname__ + (f": {message}" if message else "")
    frame: dict[str, Any] | None = None
    if isinstance(exc, SyntaxError) and exc.filename:
        frame = _frame(exc.filename, exc.lineno or 0, "", exc.text)
    elif exc is not None:
        frames = traceback.extract_tb(exc.__traceback__)
        chosen = next((f for f in reversed(frames) if is_user_file(f.filename)), None)
        if chosen is None and frames:
            chosen = frames[-1]
        if chosen is not None:
            frame = _frame(chosen.filename, chosen.lineno or 0, chosen.name, chosen.line)
    return {"title": _shorten(title), "frame": frame, "at": time.time()}


def _frame(filename: str, lineno: int, function: str, line: str | None) -> dict[str, Any]:
    source = line if line else linecache.getline(filename, lineno)
    return {"file": filename, "line": lineno, "function": function,
            "source": _shorten(source.rstrip("\n").strip())}


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "\u2026"


def _text(value: object) -> str:
    # Escaped by asyncdev's log formatter, as everything that comes from a request.
    return _shorten(value if isinstance(value, str) else str(value))


def log_browser_message(data: dict[str, Any]) -> None:
    """One log line for what a page reported: ``kind`` (uncaught, unhandled rejection,
    console.error), ``message``, and where: ``source``:``line``:``column``."""
    kind = data.get("kind")
    if kind not in ("uncaught", "unhandled rejection", "console.error"):
        return
    where = _text(data.get("source") or data.get("page") or "?")
    line, column = data.get("line"), data.get("column")
    if isinstance(line, int) and line > 0:
        where += f":{line}"
        if isinstance(column, int) and column > 0:
            where += f":{column}"
    logger.error("Browser %s: %s (%s)", kind, _text(data.get("message", "")), where)
