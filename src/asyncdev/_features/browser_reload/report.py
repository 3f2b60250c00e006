"""What the pages and tools are told about an error, and what pages tell the terminal.

``summarize(report)`` is the JSON-ready gist of a captured failure (``_traceback``):
its headline and the user's failing line with its source (the frame a developer opens
first). ``log_browser_message(data)`` prints one line for a browser error or
``console.error`` sent by a page; the log formatter escapes it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..._traceback import Report

__all__ = ["failure_of", "log_browser_message", "summarize"]

logger = logging.getLogger("asyncdev.error")

_MAX_TEXT = 2000


def failure_of(exc: BaseException) -> dict[str, Any]:
    """``summarize`` for an exception raised now."""
    from ..._traceback import capture

    return summarize(capture(exc))


def summarize(report: Report | None, *, title: str | None = None) -> dict[str, Any]:
    """The headline of ``report`` and its failing line: the syntax error's, else the
    user's deepest frame, else the deepest frame."""
    frame: dict[str, Any] | None = None
    if report is not None:
        primary = report.primary
        if title is None:
            title = primary.headline
        syntax = primary.syntax
        if syntax is not None:
            frame = {"file": syntax.filename, "line": syntax.lineno, "function": "",
                     "source": _shorten(syntax.text.strip())}
        else:
            chosen = primary.failing_frame() or (primary.frames[-1] if primary.frames else None)
            if chosen is not None:
                frame = {"file": chosen.filename, "line": chosen.lineno,
                         "function": chosen.name, "source": _shorten(chosen.line)}
    return {"title": _shorten(title or "Error"), "frame": frame, "at": time.time()}


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
