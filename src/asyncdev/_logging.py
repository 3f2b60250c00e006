"""Loggers, formatters, colours and the startup banner.

Two named loggers, ``asyncdev.error`` and ``asyncdev.access``, take %-style arguments.
``configure_logging`` gives them handlers once (idempotent), unless asyncdev is embedded
(``set_embedded``), where records just propagate to the host's ``logging`` setup.
Request-derived text is escaped in every line we format (CVE-2020-7694 precedent);
``print_banner`` is the only place that prints.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime

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
    "format_banner",
    "is_embedded",
    "lan_address",
    "print_banner",
    "set_embedded",
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

_embedded = False
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

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_CYAN = "\x1b[36m"
_BOLD_RED = "\x1b[1;31m"
_BOLD_MAGENTA = "\x1b[1;35m"


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


def _paint(text: str, colour: str, enabled: bool) -> str:
    return f"{colour}{text}{_RESET}" if enabled else text


def _status_colour(status: int) -> str:
    if status >= 500:
        return _BOLD_RED
    if status >= 400:
        return _YELLOW
    if status >= 300:
        return _CYAN
    if status >= 200:
        return _GREEN
    return _DIM


# --- formatters -------------------------------------------------------------------------


class DefaultFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL message`` for ``asyncdev.error``; string arguments are escaped.

    The message template and tracebacks are ours and keep their newlines; the
    arguments may come from a request (a path, a header) and are escaped.
    """

    _LEVEL_COLOURS = {
        TRACE: _DIM,
        logging.DEBUG: _DIM,
        logging.INFO: _GREEN,
        logging.WARNING: _YELLOW,
        logging.ERROR: _RED,
        logging.CRITICAL: _BOLD_RED,
    }

    def __init__(self, *, use_colour: bool = False) -> None:
        super().__init__("%(asctime)s %(levelprefix)s%(message)s", datefmt="%H:%M:%S")
        self.use_colour = use_colour

    def formatMessage(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname:<8} "
        colour = self._LEVEL_COLOURS.get(record.levelno)
        record.levelprefix = _paint(prefix, colour, self.use_colour) if colour else prefix
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)  # formatMessage adds an attribute; keep the original clean
        record.args = _escape_args(record.args)
        return super().format(record)

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
                _paint(str(status), _status_colour(status), True),
                *args[_STATUS_INDEX + 1 :],
            )
        record.args = args
        return super().format(record)


# --- configuration ----------------------------------------------------------------------


def set_embedded(embedded: bool = True) -> None:
    """Embedded (asyncdev.testing): ``configure_logging`` leaves logging alone, so
    records propagate to the host's handlers (pytest's caplog among them)."""
    global _embedded
    _embedded = embedded


def is_embedded() -> bool:
    return _embedded


def level_number(name: str) -> int:
    """The logging level for a ``--log-level`` name (``trace`` is 5, below DEBUG)."""
    try:
        return _LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}") from None


def configure_logging(config: Config, *, stream: IO[str] | None = None) -> None:
    """Give asyncdev's loggers one handler each on ``stream`` (stderr by default).

    Calling it again replaces the handlers it added before (idempotent). Does nothing
    when embedded. Our loggers stop propagating so a root handler does not print
    every line twice.
    """
    if _embedded:
        return
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


# --- banner -----------------------------------------------------------------------------

_INTERFACE_LABELS = {"asgi3": "ASGI 3", "asgi2": "ASGI 2", "wsgi": "WSGI"}


def lan_address() -> str | None:
    """This machine's LAN IPv4 address, or None. Sends no traffic.

    ``connect()`` on a UDP socket only picks the route and source address; no packet
    leaves. 10.255.255.255 is a private broadcast address that is never answered.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = str(probe.getsockname()[0])
        if not address.startswith(("127.", "0.")):
            return address
    except OSError:
        pass
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    return None if address.startswith(("127.", "0.")) else address


def _display_url(url: str) -> str:
    if url.startswith(("http://", "https://")) and url.count("/") == 2:
        return url + "/"
    return url


def format_banner(
    *,
    version: str,
    app_description: str,
    interface: str,
    loop_name: str,
    urls: Sequence[str],
    reload: bool,
    bound_all_interfaces: bool,
    lan_url: str | None,
    colour: bool,
    reload_dirs: Sequence[str] = (),
    now: datetime.datetime | None = None,
) -> str:
    """The startup text, in the spirit of Django's runserver. Ends with a newline."""
    stamp_format = "%B %d, %Y - %H:%M:%S"
    stamp = now.strftime(stamp_format) if now is not None else time.strftime(stamp_format)
    kind = _INTERFACE_LABELS.get(interface, interface)
    shown = [_paint(_display_url(u), _BOLD, colour) for u in urls] or ["(no address)"]
    if app_description == "welcome page":
        app_part = "the welcome page (no APP given)"
        production_app = "your module:app"
    else:
        app_part = f"app {app_description} ({kind})"
        production_app = (
            f"the same {app_description}" if ":" in app_description else "the same app"
        )
    lines = [
        _paint(stamp, _DIM, colour),
        f"asyncdev {version}, {app_part}, loop {loop_name}",
    ]
    if reload:
        where = ", ".join(reload_dirs) if reload_dirs else os.getcwd()
        lines.append(f"Watching for file changes in {where}")
    lines.append("Starting development server at " + " and ".join(shown))
    lines.append("Quit the server with CONTROL-C.")
    lines.append(_paint(
        "This is a development server. Do not use it in production: run "
        f"{production_app} with uvicorn, gunicorn or granian.",
        _YELLOW,
        colour,
    ))
    if bound_all_interfaces:
        reach = (
            f"at {_display_url(lan_url)}" if lan_url
            else "on this port (the LAN address could not be found)"
        )
        lines.append(_paint(
            f"!! Listening on all interfaces: anyone on your network can reach this server "
            f"{reach}.\n!! Bind to 127.0.0.1 (the default) unless you mean to share it.",
            _BOLD_MAGENTA,
            colour,
        ))
    return "\n".join(lines) + "\n"


def print_banner(
    *,
    version: str,
    app_description: str,
    interface: str,
    loop_name: str,
    urls: Sequence[str],
    reload: bool,
    bound_all_interfaces: bool,
    lan_url: str | None = None,
    port: int | None = None,
    scheme: str = "http",
    colour: bool | None = None,
    reload_dirs: Sequence[str] = (),
    stream: IO[str] | None = None,
) -> None:
    """Print the banner to stdout (or ``stream``), finding the LAN URL when needed."""
    out = stream if stream is not None else sys.stdout
    if bound_all_interfaces and lan_url is None and port is not None:
        address = lan_address()
        if address is not None:
            lan_url = f"{scheme}://{address}:{port}/"
    text = format_banner(
        version=version,
        app_description=app_description,
        interface=interface,
        loop_name=loop_name,
        urls=urls,
        reload=reload,
        bound_all_interfaces=bound_all_interfaces,
        lan_url=lan_url,
        colour=should_use_colour(colour, out),
        reload_dirs=reload_dirs,
    )
    out.write(text)
    out.flush()
