"""Loggers, formatters and colours.

Two named loggers, ``asyncdev.error`` and ``asyncdev.access``, take %-style arguments.
``configure_logging`` gives them handlers once (idempotent); embedded servers
(``asyncdev.testing``) never call it, so their records propagate to the host's
``logging`` setup. Request-derived text is escaped in every line we format
(CVE-2020-7694 precedent).
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import Config

__all__ = [
    "ACCESS_FORMAT",
    "TRACE",
    "AccessFormatter",
    "DefaultFormatter",
    "access_logger",
    "configure_logging",
    "error_logger",
    "escape_control",
    "paint",
    "should_use_colour",
]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

error_logger = logging.getLogger("asyncdev.error")
access_logger = logging.getLogger("asyncdev.access")

# The one access line the connection emits: client, method, target, HTTP version,
# status, duration. Kept here so the formatter can recognise it and colour the status.
ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d %.1fms'
_STATUS_INDEX = 4

_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}

_HANDLER_MARK = "_asyncdev_handler"


# --- escaping ---------------------------------------------------------------------------

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_control(text: str) -> str:
    """``text`` with control and other non-printable characters, and backslashes, escaped.

    A request line or header can carry ESC sequences that rewrite a terminal or CR/LF
    that forges log lines (CVE-2020-7694 in uvicorn's access log); the escaped form is
    unambiguous because the backslash itself is escaped too.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
    return "".join(out)


def escape_multiline(text: str) -> str:
    """Like ``escape_control`` line by line, keeping newlines, tabs and backslashes.

    For tracebacks: an exception message may quote a request (a decoded path can hold
    ESC), but the traceback's own layout must stay readable.
    """
    if text.isprintable() or all(line.isprintable() for line in text.split("\n")):
        return text
    return "\n".join(
        line if line.isprintable() else "".join(
            char if char.isprintable() or char == "\t" else escape_control(char)
            for char in line
        )
        for line in text.split("\n")
    )


def _escape_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(escape_control(a) if isinstance(a, str) else a for a in args)
    if isinstance(args, Mapping):
        return {k: escape_control(v) if isinstance(v, str) else v for k, v in args.items()}
    return args


# --- colours ----------------------------------------------------------------------------

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
CYAN = "\x1b[36m"
BOLD_RED = "\x1b[1;31m"
BOLD_MAGENTA = "\x1b[1;35m"


def should_use_colour(use_colors: bool | None, stream: IO[str] | None) -> bool:
    """Colour on a TTY unless NO_COLOR is set (https://no-color.org); True/False force it."""
    if use_colors is not None:
        return use_colors
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{colour}{text}{RESET}" if enabled else text


def _status_colour(status: int) -> str:
    if status >= 500:
        return BOLD_RED
    if status >= 400:
        return YELLOW
    if status >= 300:
        return CYAN
    if status >= 200:
        return GREEN
    return DIM


# --- formatters -------------------------------------------------------------------------


class DefaultFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL message`` for ``asyncdev.error``; string arguments are escaped.

    The message template and tracebacks are ours and keep their newlines; the
    arguments may come from a request (a path, a header) and are escaped.
    """

    _LEVEL_COLOURS = {
        TRACE: DIM,
        logging.DEBUG: DIM,
        logging.INFO: GREEN,
        logging.WARNING: YELLOW,
        logging.ERROR: RED,
        logging.CRITICAL: BOLD_RED,
    }

    def formatMessage(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname:<8} "
        colour = self._LEVEL_COLOURS.get(record.levelno)
        record.levelprefix = paint(prefix, colour, self.use_colour) if colour else prefix
        return super().formatMessage(record)

    def __init__(self, *, use_colour: bool = False) -> None:
        super().__init__("%(asctime)s %(levelprefix)s%(message)s", datefmt="%H:%M:%S")
        self.use_colour = use_colour
        # Failures already printed in this process (one process per reload): a
        # repeat gets one line with its count, not its traceback again.
        self._seen: dict[tuple[object, ...], int] = {}

    def format(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)  # formatMessage adds an attribute; keep the original clean
        record.args = _escape_args(record.args)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not record.exc_text:
            self._format_failure(record, exc)
        return super().format(record)

    def _format_failure(self, record: logging.LogRecord, exc: BaseException) -> None:
        """The user's failure as the user reads it (their frame marked, library frames
        folded), once; asyncdev's own errors keep Python's whole traceback."""
        # Loaded with the first failure only: most processes never log one.
        from ._traceback import capture
        from ._tracetext import format_terminal

        try:
            report = capture(exc)
        except Exception:  # pragma: no cover - never let a log line fail
            return
        if not report.is_users():
            return
        key = report.signature()
        count = self._seen.get(key, 0) + 1
        if len(self._seen) < 500 or key in self._seen:
            self._seen[key] = count
        if count > 1:
            message = record.getMessage()
            record.msg = "%s: %s (the same failure as above, %d times now)"
            record.args = (message, escape_control(report.primary.headline), count)
            record.exc_info = None
            return
        record.exc_text = format_terminal(report, colour=self.use_colour,
                                          clean=escape_multiline)

    def formatException(self, ei: Any) -> str:
        return escape_multiline(super().formatException(ei))


class AccessFormatter(logging.Formatter):
    """``HH:MM:SS client - "GET /path HTTP/1.1" 200 1.2ms``, escaped, status coloured on a TTY."""

    def __init__(self, *, use_colour: bool = False) -> None:
        super().__init__("%(asctime)s %(message)s", datefmt="%H:%M:%S")
        self.use_colour = use_colour

    def format(self, record: logging.LogRecord) -> str:
        # Never mutate the caller's record: other handlers (pytest's caplog, a host
        # application's) format it again.
        record = copy.copy(record)
        args = _escape_args(record.args)
        if (
            self.use_colour
            and record.msg == ACCESS_FORMAT
            and isinstance(args, tuple)
            and len(args) == 6
            and isinstance(args[_STATUS_INDEX], int)
        ):
            status = args[_STATUS_INDEX]
            record.msg = ACCESS_FORMAT.replace("%d", "%s", 1)
            args = (
                *args[:_STATUS_INDEX],
                paint(str(status), _status_colour(status), True),
                *args[_STATUS_INDEX + 1 :],
            )
        record.args = args
        return super().format(record)


# --- configuration ----------------------------------------------------------------------


def level_number(name: str) -> int:
    """The logging level for a ``--log-level`` name (``trace`` is 5, below DEBUG)."""
    try:
        return _LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}") from None


def configure_logging(config: Config, *, stream: IO[str] | None = None) -> None:
    """Give asyncdev's loggers one handler each on ``stream`` (stderr by default).

    Calling it again replaces the handlers it added before (idempotent). Our loggers
    stop propagating so a root handler does not print every line twice.
    """
    target = stream if stream is not None else sys.stderr
    colour = should_use_colour(config.use_colors, target)
    level = level_number(config.log_level)
    package = logging.getLogger("asyncdev")
    package.setLevel(level)
    for logger, formatter in (
        (error_logger, DefaultFormatter(use_colour=colour)),
        (access_logger, AccessFormatter(use_colour=colour)),
    ):
        for handler in list(logger.handlers):
            if getattr(handler, _HANDLER_MARK, False):
                logger.removeHandler(handler)
        handler = logging.StreamHandler(target)
        setattr(handler, _HANDLER_MARK, True)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    if not config.access_log:
        access_logger.setLevel(logging.WARNING)
