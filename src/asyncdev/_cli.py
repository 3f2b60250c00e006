"""The command line: ``asyncdev [APP] [ADDRPORT] [options]`` -> ``Config`` -> ``_api.run``.

Every option maps 1:1 to a ``Config`` field and can also come from an ``ASYNCDEV_<NAME>``
environment variable or ``[tool.asyncdev]`` in pyproject.toml (the command line wins);
with no APP, ``_discovery`` finds one. ADDRPORT follows Django's runserver
syntax. Errors a user can meet print ``Error: ...`` on stderr and exit 1; argparse's
usage errors exit 2. ``main(argv)`` returns the exit code.

Longer than most modules: the option table (one entry per option, keeping its flag,
Config field, environment variable and help together) is a third of it, and where
options come from (command line, environment, env files, PORT, ``[tool.asyncdev]``) is
one job best read in one place.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._config import LOG_LEVELS, Config
from ._errors import AppImportError, AsyncdevError, ConfigError

if TYPE_CHECKING:
    from ._discovery import Discovery

__all__ = ["OPTIONS", "CLIError", "build_config", "main", "parse_addrport", "version_text"]

ENV_PREFIX = "ASYNCDEV_"


class CLIError(AsyncdevError):
    """A command-line mistake that is not argparse's: bad ADDRPORT, conflicting forms."""


# --- ADDRPORT ---------------------------------------------------------------------------

_PORT = r"(?P<port>\d{1,5})"
_ADDRPORT = re.compile(rf"^(?:\[(?P<ipv6>[^\]]*)\]|(?P<host>[^:\[\]]+)):{_PORT}$")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_ADDRPORT_EXAMPLES = "8080, 0.0.0.0:9000, 0:8000, localhost:8000 or [::1]:8000"


def parse_addrport(text: str) -> tuple[str | None, int]:
    """``"8080"`` -> ``(None, 8080)``; ``"0:8000"`` -> ``("0.0.0.0", 8000)``;
    ``"[::1]:8000"`` -> ``("::1", 8000)``. Raises ``CLIError`` saying what is accepted."""
    if text.isdigit():
        return None, _port(text, text)
    match = _ADDRPORT.match(text)
    if match is None:
        if text.count(":") > 1 and not text.startswith("["):
            raise CLIError(
                f'"{text}" is not a valid address:port: write IPv6 addresses in brackets, '
                "as in [::1]:8000."
            )
        raise CLIError(f'"{text}" is not a valid port or address:port. Use {_ADDRPORT_EXAMPLES}.')
    port = _port(match.group("port"), text)
    if match.group("ipv6") is not None:
        host = match.group("ipv6")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise CLIError(f'"{text}": {host!r} is not an IPv6 address.') from None
        return host, port
    host = match.group("host")
    if host == "0":
        # Django's shorthand for all IPv4 interfaces.
        return "0.0.0.0", port
    if re.fullmatch(r"[\d.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise CLIError(f'"{text}": {host!r} is not an IPv4 address.') from None
        return host, port
    labels = host.rstrip(".").split(".")
    if not all(_HOSTNAME_LABEL.match(label) for label in labels):
        raise CLIError(f'"{text}": {host!r} is not a valid host name.')
    return host, port


def _port(digits: str, text: str) -> int:
    port = int(digits)
    if port > 65535:
        raise CLIError(
            f'"{text}": port {port} is out of range; use 0 to 65535 (0 picks a free one).'
        )
    return port


def _looks_like_addrport(text: str) -> bool:
    # An import string never ends in ":digits" (attributes are identifiers) and a module
    # name is never all digits, so these cannot be mistaken for an APP.
    return text.isdigit() or re.search(r":\d+$", text) is not None


def _looks_like_bare_host(text: str) -> bool:
    if text in ("localhost", "0"):
        return True
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


# --- the option table -------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One command-line option: its flags, Config field, kind and help."""

    flag: str  # the positive long flag, e.g. "--access-log"
    field: str  # the Config field
    kind: str  # str, int, float, optfloat, bool, flag, choice, list, commalist
    help: str
    group: str
    negative: tuple[str, ...] = ()  # flags that set False (bool kinds)
    positive: bool = True  # False: only the negative flags exist on the command line
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.lstrip("-").replace("-", "_").upper()


def _o(flag: str, field: str, kind: str, help: str, group: str, **extra: Any) -> Option:
    return Option(flag, field, kind, help, group, **extra)


OPTIONS: tuple[Option, ...] = (
    # Address
    _o("--host", "host", "str", "Interface to bind (default 127.0.0.1; 0.0.0.0 for the LAN).",
       "address", metavar="HOST"),
    _o("--port", "port", "int",
       "Port to bind (default: PORT, else 8000 or the next free one; 0 picks a free one).",
       "address", metavar="PORT"),
    _o("--uds", "uds", "str", "Listen on this Unix domain socket instead.", "address",
       metavar="PATH"),
    _o("--fd", "fd", "int", "Serve on this already-listening socket file descriptor.",
       "address", metavar="N"),
    _o("--backlog", "backlog", "int", "Listen backlog (default 2048).", "address", metavar="N"),
    # Application
    _o("--interface", "interface", "choice",
       "Application interface (default auto: detected from the callable).",
       "application", choices=("auto", "asgi3", "asgi2", "wsgi")),
    _o("--factory", "factory", "flag", "APP is a factory: call it to get the app.",
       "application"),
    _o("--app-dir", "app_dir", "str",
       "Directory put first on sys.path to import APP from (default: current directory).",
       "application", metavar="DIR"),
    _o("--env-file", "env_file", "list",
       "Load KEY=VALUE lines from this file (repeatable, a later file wins; the real "
       "environment always wins).", "application", metavar="PATH"),
    _o("--dotenv", "dotenv", "bool",
       "Load .env (and .flaskenv) from the current directory when present (default on; "
       "--no-env-file loads no file at all).", "application", negative=("--no-env-file",),
       positive=False),
    _o("--dev-mode", "dev_mode", "bool",
       "Put the framework in its development mode, as its own dev command does (Flask "
       "debug) unless you set it (default on).", "application",
       negative=("--no-dev-mode",), positive=False),
    _o("--root-path", "root_path", "str",
       "Mount point when behind a proxy prefix, e.g. /api (ASGI root_path, WSGI SCRIPT_NAME).",
       "application", metavar="PATH"),
    _o("--lifespan", "lifespan", "choice",
       "ASGI lifespan events: auto (if the app supports them), on, off.",
       "application", choices=("auto", "on", "off")),
    _o("--threads", "threads", "int", "Threads for WSGI apps (default 4 per CPU, 16 to 64).",
       "application", metavar="N"),
    # Reload
    _o("--reload", "reload", "bool",
       "Restart in a fresh process when files change (default on; --no-reload to disable).",
       "reload", negative=("--no-reload", "--noreload")),
    _o("--reload-dir", "reload_dirs", "list",
       "Directory to watch (repeatable; default: the current directory).",
       "reload", metavar="DIR"),
    _o("--reload-include", "reload_includes", "list",
       "Glob of extra files that trigger a reload, e.g. '*.html' (repeatable).",
       "reload", metavar="GLOB"),
    _o("--reload-exclude", "reload_excludes", "list",
       "Glob of files never watched (repeatable).", "reload", metavar="GLOB"),
    _o("--reload-delay", "reload_delay", "float",
       "Seconds to gather changes before reloading (default 0.02).", "reload", metavar="S"),
    _o("--reload-grace", "reload_grace", "float",
       "On reload, let the old process finish its requests for this long (default 1).",
       "reload", metavar="S"),
    # Logging and output
    _o("--log-level", "log_level", "choice", "Log level (default info).", "logging",
       choices=LOG_LEVELS),
    _o("--access-log", "access_log", "bool", "Log one line per request (default on).",
       "logging", negative=("--no-access-log",), positive=False),
    _o("--color", "use_colors", "bool",
       "Colour the output (default: on a terminal, unless NO_COLOR is set).",
       "logging", negative=("--no-color",)),
    _o("--loop", "loop", "choice", "Event loop (default auto: uvloop when installed).",
       "logging", choices=("auto", "asyncio", "uvloop")),
    # TLS
    _o("--ssl-certfile", "ssl_certfile", "str", "TLS certificate file (PEM).", "tls",
       metavar="PATH"),
    _o("--ssl-keyfile", "ssl_keyfile", "str", "TLS private key file (PEM).", "tls",
       metavar="PATH"),
    _o("--ssl-keyfile-password", "ssl_keyfile_password", "str",
       "Password of the TLS private key.", "tls", metavar="PASSWORD"),
    _o("--https", "https", "flag",
       "Serve HTTPS with a generated development certificate for localhost.", "tls"),
    # Timeouts
    _o("--timeout-keep-alive", "timeout_keep_alive", "float",
       "Close idle keep-alive connections after this many seconds (default 5).",
       "timeouts", metavar="S"),
    _o("--timeout-graceful-shutdown", "timeout_graceful_shutdown", "float",
       "On stop, let running requests finish for this long (default 3).",
       "timeouts", metavar="S"),
    _o("--timeout-request-head", "timeout_request_head", "float",
       "A request head must arrive within this long (default 20).", "timeouts", metavar="S"),
    _o("--timeout-body", "timeout_body", "float",
       "Close a connection whose request or response body stalls this long (default 60).",
       "timeouts",
       metavar="S"),
    # Limits
    _o("--limit-concurrency", "limit_concurrency", "int",
       "Answer 503 beyond this many requests in progress (default: no limit).",
       "limits", metavar="N"),
    _o("--limit-request-line", "limit_request_line", "int",
       "Longest request line in bytes (default 8190).", "limits", metavar="BYTES"),
    _o("--limit-request-field-size", "limit_request_field_size", "int",
       "Longest header line in bytes, its CRLF included (default 8190).", "limits",
       metavar="BYTES"),
    _o("--limit-request-head", "limit_request_head", "int",
       "Largest request head in bytes (default 65536).", "limits", metavar="BYTES"),
    _o("--limit-request-fields", "limit_request_fields", "int",
       "Most header fields per request (default 100).", "limits", metavar="N"),
    _o("--limit-request-body", "limit_request_body", "int",
       "Largest request body in bytes (default 1 GiB).", "limits", metavar="BYTES"),
    # WebSockets
    _o("--ws", "ws", "choice", "WebSocket support (default auto).", "websockets",
       choices=("auto", "wsproto", "none")),
    _o("--ws-max-size", "ws_max_size", "int",
       "Largest WebSocket message in bytes (default 16 MiB).", "websockets", metavar="BYTES"),
    _o("--ws-ping-interval", "ws_ping_interval", "optfloat",
       "Seconds between pings (default 20; 0 or none disables).", "websockets", metavar="S"),
    _o("--ws-ping-timeout", "ws_ping_timeout", "optfloat",
       "Close when a pong is this late (default 20; 0 or none disables).", "websockets",
       metavar="S"),
    _o("--ws-per-message-deflate", "ws_per_message_deflate", "bool",
       "Offer permessage-deflate compression (default on).", "websockets",
       negative=("--no-ws-per-message-deflate",), positive=False),
    # Developer experience
    _o("--debug-errors", "debug_errors", "bool",
       "Error pages with tracebacks (default: for loopback clients only).", "dx",
       negative=("--no-debug-errors",)),
    _o("--open", "open_browser", "flag", "Open the browser once the server is up.", "dx"),
    _o("--browser-reload", "browser_reload", "bool",
       "Refresh open pages after a reload (default: on with reload).", "dx",
       negative=("--no-browser-reload",)),
    _o("--browser-errors", "browser_errors", "bool",
       "Log the pages' uncaught errors and console.error (default on).", "dx",
       negative=("--no-browser-errors",), positive=False),
    _o("--allowed-host", "allowed_hosts", "list",
       "Extra Host header value to answer (repeatable; '*' allows all).", "dx",
       metavar="HOST"),
    _o("--static", "static", "list", "Serve a directory: /static=./static (repeatable).",
       "dx", metavar="PREFIX=DIR"),
    _o("--proxy-headers", "proxy_headers", "bool",
       "Trust X-Forwarded-*/Forwarded from --forwarded-allow-ips.", "dx",
       negative=("--no-proxy-headers",)),
    _o("--forwarded-allow-ips", "forwarded_allow_ips", "commalist",
       "Comma-separated proxy IPs or networks to trust ('*' for all).", "dx", metavar="IPS"),
    _o("--server-header", "server_header", "bool", "Send a Server header (default on).",
       "dx", negative=("--no-server-header",), positive=False),
    _o("--date-header", "date_header", "bool", "Send a Date header (default on).", "dx",
       negative=("--no-date-header",), positive=False),
    # Django
    _o("--settings", "django_settings", "str",
       "Serve the Django project with these settings, e.g. mysite.settings (default with "
       "no APP: the one manage.py sets).", "django", metavar="MODULE"),
    _o("--django-static", "django_static", "choice",
       "Django's static files at STATIC_URL: auto (when DEBUG is on, as runserver), on "
       "(as --insecure), off (as --nostatic).", "django", choices=("auto", "on", "off")),
    _o("--checks", "django_checks", "bool",
       "Run Django's system checks in each server process (default on).", "django",
       negative=("--skip-checks",), positive=False),
)

_GROUPS = {
    "address": "address (or give ADDRPORT)",
    "application": "application",
    "reload": "reload",
    "logging": "logging and output",
    "tls": "TLS",
    "timeouts": "timeouts (seconds)",
    "limits": "limits",
    "websockets": "WebSockets",
    "dx": "developer experience",
    "django": "Django projects",
}

# The CLI's own defaults where they differ from Config's (runserver reloads by default).
CLI_DEFAULTS: dict[str, Any] = {"reload": True, "dotenv": True, "dev_mode": True}

_FLAG_OF_FIELD = {option.field: option.flag for option in OPTIONS}
_FLAG_OF_FIELD.update({"app": "APP"})


# --- conversions ------------------------------------------------------------------------


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def _to_optfloat(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", "0", "0.0"):
        return None
    return float(text)


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _convert(option: Option, text: str) -> Any:
    """An environment variable's text as the option's value."""
    kind = option.kind
    if kind in ("bool", "flag"):
        return _to_bool(text)
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "optfloat":
        return _to_optfloat(text)
    if kind in ("list", "commalist"):
        return _comma_list(text)
    if kind == "choice" and text not in option.choices:
        raise ValueError(f"{text!r} is not one of {', '.join(option.choices)}")
    return text


def _argparse_type(option: Option) -> Callable[[str], Any]:
    if option.kind == "int":
        return int
    if option.kind == "float":
        return float
    if option.kind == "optfloat":
        return _to_optfloat
    if option.kind == "commalist":
        return _comma_list
    return str


# --- parser -----------------------------------------------------------------------------


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs["default"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        sys.stdout.write(version_text() + "\n")
        parser.exit(0)


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, as wide as ``shutil.get_terminal_size()`` says, without
    importing shutil (and the compression modules it loads) into every server process:
    the parser builds one formatter per option even when no help is shown."""

    def __init__(self, prog: str, **options: Any) -> None:
        if options.get("width") is None:
            options["width"] = _terminal_columns() - 2
        super().__init__(prog, **options)


def _terminal_columns() -> int:
    with contextlib.suppress(KeyError, ValueError):
        if (columns := int(os.environ["COLUMNS"])) > 0:
            return columns
    stdout = sys.__stdout__
    if stdout is not None:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            return os.get_terminal_size(stdout.fileno()).columns or 80
    return 80


def version_text() -> str:
    """``asyncdev 0.1.0 (Python 3.11.7, h11 0.16.0, uvloop 0.21.0)``."""
    from importlib import metadata

    from ._version import __version__

    def version_of(name: str) -> str:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return f"{name} not installed"

    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"asyncdev {__version__} (Python {python}, {version_of('h11')}, {version_of('uvloop')})"


def _prog() -> str:
    argv0 = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "asyncdev"
    return "python -m asyncdev" if argv0 == "__main__.py" else "asyncdev"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or _prog(),
        usage="%(prog)s [APP] [ADDRPORT] [options]",
        description=(
            "The development server for Python web apps (ASGI and WSGI). "
            "Every option can also be set as ASYNCDEV_<OPTION> in the environment, "
            "e.g. ASYNCDEV_PORT=9000 or ASYNCDEV_RELOAD=false, or under [tool.asyncdev] "
            "in pyproject.toml."
        ),
        epilog=(
            "examples: asyncdev main:app | asyncdev myproject.wsgi 0:8000 | "
            "asyncdev app.py:api 9000 --no-reload"
        ),
        argument_default=argparse.SUPPRESS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "app", nargs="?", metavar="APP",
        help="pkg.module:attr, pkg.module (attr app or application) or path/to/file.py[:attr]; "
             "none: found in [tool.asyncdev], manage.py, FLASK_APP, main.py, app.py..., "
             "else a welcome page",
    )
    parser.add_argument(
        "addrport", nargs="?", metavar="ADDRPORT",
        help=f"port or address:port, as in {_ADDRPORT_EXAMPLES}",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="show the versions of asyncdev, Python, h11 and uvloop and exit")
    groups = {key: parser.add_argument_group(title) for key, title in _GROUPS.items()}
    for option in OPTIONS:
        add_option(groups[option.group], option)
    return parser


def add_option(group: Any, option: Option) -> None:
    """Add ``option`` to an argparse parser or group whose parsed values are only those
    given (``SUPPRESS`` defaults); Django's ``runserver`` shares this with the CLI."""
    default = argparse.SUPPRESS
    if option.kind == "bool":
        if option.positive:
            group.add_argument(option.flag, dest=option.field, action="store_const",
                               const=True, help=option.help, default=default)
            negative_help = argparse.SUPPRESS
        else:
            negative_help = option.help
        group.add_argument(*option.negative, dest=option.field, action="store_const",
                           const=False, help=negative_help, default=default)
    elif option.kind == "flag":
        group.add_argument(option.flag, dest=option.field, action="store_true",
                           help=option.help, default=default)
    elif option.kind in ("list", "commalist"):
        group.add_argument(option.flag, dest=option.field, action="append",
                           type=_argparse_type(option), metavar=option.metavar,
                           help=option.help, default=default)
    elif option.kind == "choice":
        group.add_argument(option.flag, dest=option.field, choices=option.choices,
                           help=option.help, default=default)
    else:
        group.add_argument(option.flag, dest=option.field, type=_argparse_type(option),
                           metavar=option.metavar, help=option.help, default=default)


# --- building the Config ----------------------------------------------------------------


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for option in OPTIONS:
        text = environ.get(option.env)
        if text is None:
            continue
        try:
            values[option.field] = _convert(option, text)
        except ValueError as exc:
            raise CLIError(f"{option.env}: {exc}.") from None
    return values


def build_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
                 *, prog: str | None = None, cwd: str | None = None) -> Config:
    """Parse ``argv`` (default ``sys.argv[1:]``) and ``environ`` into a Config.

    Raises ``CLIError`` or ``ConfigError`` for user mistakes; argparse itself exits 2.
    """
    return build(argv, environ, prog=prog, cwd=cwd)[0]


def build(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
          *, prog: str | None = None, cwd: str | None = None
          ) -> tuple[Config, Discovery | None]:
    """The Config, and how the app was found when no APP was given (else None).

    Precedence, highest first: the command line, ASYNCDEV_* variables (the real
    environment, then those in env files), PORT, ``[tool.asyncdev]`` in pyproject.toml.
    """
    env = os.environ if environ is None else environ
    cwd = cwd or os.getcwd()
    parser = build_parser(prog)
    namespace = parser.parse_intermixed_args(list(sys.argv[1:] if argv is None else argv))
    cli = vars(namespace)
    app: str | None = cli.pop("app", None)
    addrport: str | None = cli.pop("addrport", None)

    if addrport is None and app is not None and _looks_like_addrport(app):
        app, addrport = None, app
    elif addrport is not None and app is not None and _looks_like_addrport(app):
        raise CLIError(f"Give APP first, then ADDRPORT: asyncdev {addrport} {app}")
    if app is not None and os.path.basename(app.partition(":")[0]) == "manage.py":
        raise CLIError(
            "manage.py is Django's command line, not an app: run asyncdev with no APP "
            "in the directory holding manage.py (or give --settings mysite.settings)."
        )
    if app is not None and _looks_like_bare_host(app):
        raise CLIError(
            f'"{app}" looks like an address without a port. Write it as ADDRPORT with a '
            f"port, as in {app}:8000."
        )
    for field_name in ("reload_dirs", "reload_includes", "reload_excludes", "allowed_hosts",
                       "static", "env_file"):
        if field_name in cli:
            cli[field_name] = list(cli[field_name])
    if "forwarded_allow_ips" in cli:
        cli["forwarded_allow_ips"] = [ip for group in cli["forwarded_allow_ips"] for ip in group]
    if cli.get("dotenv") is False and cli.get("env_file"):
        raise CLIError("Give either --env-file or --no-env-file, not both.")

    if addrport is not None:
        given = [flag for flag, key in (("--host", "host"), ("--port", "port")) if key in cli]
        if given:
            raise CLIError(
                f"Give the address either as ADDRPORT ({addrport}) or with "
                f"{' and '.join(given)}, not both."
            )
        host, port = parse_addrport(addrport)
        if host is not None:
            cli["host"] = host
        cli["port"] = port

    try:
        from ._discovery import read_tool_options

        pyproject, tool = read_tool_options(cwd)
        from_file = _from_tool_table(tool, pyproject)
        values: dict[str, Any] = dict(CLI_DEFAULTS)
        values.update(from_file)
        # Env files may themselves hold ASYNCDEV_* options (the real environment wins).
        # Only those are read here: os.environ is left alone, because each server
        # process loads the files itself so that a reload sees their new contents.
        env = {**_options_in_env_files(cli, env, values, cwd), **env}
        from_env = _from_environment(env)
        if "port" not in from_env and env.get("PORT"):
            # Hosting platforms (and fastapi dev) give the port this way.
            try:
                from_env["port"] = int(env["PORT"])
            except ValueError:
                raise CLIError(f"PORT: {env['PORT']!r} is not a port number.") from None
        values.update(from_env)
        if addrport is not None or "host" in cli or "port" in cli:
            # An address on the command line replaces the environment's as a whole.
            values.pop("host", None)
            values.pop("port", None)
        values.update(cli)
        if cli.get("dotenv") is False:
            values["env_file"] = []
        values.setdefault("port_fallback", "port" not in values and values.get("fd") is None)
        found: Discovery | None = None
        if app is None and values.get("django_settings") is None:
            from ._discovery import discover

            found = discover(cwd, env)
            if found.found:
                app = found.app
                if found.factory:
                    values["factory"] = True
                if found.how.startswith("[tool.asyncdev]") and pyproject is not None:
                    # Named relative to the project, wherever in it the command runs.
                    values.setdefault("app_dir", os.path.dirname(pyproject))
                if found.django_settings is not None:
                    values["django_settings"] = found.django_settings
            else:
                found = None
        values["app"] = app
        return Config(**values), found
    except ConfigError as exc:
        raise ConfigError(_with_flag_names(str(exc))) from None


def _options_in_env_files(cli: Mapping[str, Any], env: Mapping[str, str],
                          values: Mapping[str, Any], cwd: str) -> dict[str, str]:
    """The ASYNCDEV_* variables of the env files this command would load."""
    files: list[str] = list(cli.get("env_file", ()))
    if not files and env.get(ENV_PREFIX + "ENV_FILE"):
        files = _comma_list(env[ENV_PREFIX + "ENV_FILE"])
    if not files:
        files = list(values.get("env_file", ()))
    dotenv = cli.get("dotenv", values.get("dotenv", True))
    if dotenv:
        files = [name for name in (".flaskenv", ".env")
                 if os.path.isfile(os.path.join(cwd, name))] + files
    else:
        files = []
    if not files:
        return {}
    from ._envfile import merged_env_files

    return {key: value for key, value in merged_env_files(files).items()
            if key.startswith(ENV_PREFIX)}


_OPTION_OF_KEY = {option.flag.lstrip("-"): option for option in OPTIONS}
_OPTION_OF_KEY.update({option.field.replace("_", "-"): option for option in OPTIONS})
_OPTION_OF_KEY.update({negative.lstrip("-"): option for option in OPTIONS
                       for negative in option.negative})


def _from_tool_table(table: Mapping[str, Any], path: str | None) -> dict[str, Any]:
    """``[tool.asyncdev]`` as Config values: keys are the long flags without dashes
    (``port``, ``reload-dir``, ``env-file``) or the field names; ``app`` is read by
    discovery."""
    values: dict[str, Any] = {}
    for key, given in table.items():
        value = given
        if key == "app" or (key == "factory" and "app" in table):
            continue  # discovery reads them together: an APP given here has its own
        option = _OPTION_OF_KEY.get(key.replace("_", "-"))
        where = f"{path} [tool.asyncdev] {key}"
        if option is None:
            raise CLIError(f"{where}: unknown option. Use the long flags' names, as in "
                           "port = 9000 or reload-dir = [\"src\"].")
        if key.replace("_", "-") in (n.lstrip("-") for n in option.negative):
            value = not value if isinstance(value, bool) else value
        if option.kind in ("list", "commalist") and isinstance(value, str):
            value = [value]
        elif not isinstance(value, (str, int, float, bool, list)):
            raise CLIError(f"{where}: {value!r} is not a valid value.")
        elif isinstance(value, str) and option.kind not in ("str", "choice"):
            try:
                value = _convert(option, value)
            except ValueError as exc:
                raise CLIError(f"{where}: {exc}.") from None
        values[option.field] = value
    return values


def _with_flag_names(message: str) -> str:
    name, sep, rest = message.partition(":")
    if sep and name in _FLAG_OF_FIELD:
        return f"{_FLAG_OF_FIELD[name]}:{rest}"
    return message


# --- entry point ------------------------------------------------------------------------


def _report(exc: BaseException) -> None:
    cause = exc.__cause__
    if (
        isinstance(exc, AppImportError)
        and cause is not None
        and not isinstance(cause, (ImportError, SyntaxError))
    ):
        # The app's own code raised while being imported: the traceback is what the user
        # needs to fix it. Missing modules and syntax errors are told in one line.
        traceback.print_exception(cause, file=sys.stderr)
    message = _with_flag_names(str(exc)) if isinstance(exc, ConfigError) else str(exc)
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    try:
        config, found = build(argv)
        from ._api import run

        return run(config, found=found)
    except AsyncdevError as exc:
        _report(exc)
        return 1
    except KeyboardInterrupt:
        # Ctrl+C before the server installed its own handlers (e.g. during the import).
        sys.stderr.write("\n")
        return 130
