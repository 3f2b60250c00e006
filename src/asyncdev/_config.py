"""The frozen, validated server configuration.

``Config`` is built once (by the CLI, ``serve()`` or ``asyncdev.testing``) and read
everywhere else. Every option is keyword-only and named like its CLI flag in
snake_case. A bad value raises ``ConfigError`` (a ``ValueError``) naming the option.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Union

from ._errors import ConfigError

__all__ = ["Config"]

Interface = Literal["auto", "asgi3", "asgi2", "wsgi"]
LoopName = Literal["auto", "asyncio", "uvloop"]
LifespanMode = Literal["auto", "on", "off"]
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

AppLike = Union[str, Callable[..., Any], None]  # noqa: UP007 (a runtime alias)


def _default_threads() -> int:
    # A browser opens up to six connections per host and a page under development
    # often long-polls one of them; a2wsgi's 10 is tight once two tabs are open, while
    # hundreds of threads only hide a leak. Scale gently with the machine.
    return max(16, min(64, (os.cpu_count() or 1) * 4))


@dataclass(frozen=True, kw_only=True)
class Config:
    """Every option of the server. See README.rst for the CLI flag of each."""

    app: AppLike = None
    # A Django project served without APP: its settings module (the Django integration
    # loads the project's ASGI_APPLICATION or WSGI_APPLICATION).
    django_settings: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # When the port was not chosen by the user: a busy one moves on to the next free.
    port_fallback: bool = False
    uds: str | None = None
    fd: int | None = None
    backlog: int = 2048

    # Application loading
    interface: Interface = "auto"
    factory: bool = False
    app_dir: str | None = None
    # KEY=VALUE files loaded in order (a later one wins), never over the real environment.
    env_file: tuple[str, ...] = ()
    # Also load .env (and .flaskenv) from the current directory when present.
    dotenv: bool = False
    root_path: str = ""
    lifespan: LifespanMode = "auto"
    threads: int = field(default_factory=_default_threads)

    # Reload (the supervisor reads these; the server ignores them)
    reload: bool = False
    reload_dirs: tuple[str, ...] = ()
    reload_includes: tuple[str, ...] = ()
    reload_excludes: tuple[str, ...] = ()
    # An editor's save (truncate and write, or a new file renamed over the old) is one
    # change within microseconds; a quiet window of 10 ms groups it without keeping
    # the reload waiting (watchfiles' step is half of this).
    reload_delay: float = 0.02
    # How long a reload lets the old process finish what it is serving (the new one
    # serves everything else at once). Stopping uses timeout_graceful_shutdown.
    reload_grace: float = 1.0

    # Logging and output
    log_level: str = "info"
    access_log: bool = True
    use_colors: bool | None = None
    loop: LoopName = "auto"

    # TLS
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_keyfile_password: str | None = None
    https: bool = False

    # Timeouts (seconds)
    timeout_keep_alive: float = 5.0
    timeout_graceful_shutdown: float = 3.0
    # A complete request head must arrive within this long of the connection opening
    # or of the previous response (slowloris); nginx's client_header_timeout is 60 s,
    # a dev server on loopback can afford to be stricter.
    timeout_request_head: float = 20.0
    # No byte of the request body for this long, or no progress writing the response
    # to a client that stopped reading, closes the connection (nginx's
    # client_body_timeout and send_timeout are both 60 s).
    timeout_body: float = 60.0

    # Limits. Precedents: gunicorn limit_request_line 4094 and field size 8190,
    # nginx large_client_header_buffers 4x8k, Apache LimitRequestFields 100.
    limit_concurrency: int | None = None
    limit_request_line: int = 8190
    limit_request_field_size: int = 8190
    limit_request_head: int = 65536
    limit_request_fields: int = 100
    limit_request_body: int = 1 << 30

    # WebSockets
    ws: Literal["auto", "wsproto", "none"] = "auto"
    ws_max_size: int = 16 * 1024 * 1024
    ws_ping_interval: float | None = 20.0
    ws_ping_timeout: float | None = 20.0
    ws_per_message_deflate: bool = True

    # Developer experience
    debug_errors: bool | None = None  # None: error pages for loopback clients only
    # None: on whenever reload is (the CLI, serve(reload=True)); never in asyncdev.testing,
    # which never reloads. Resolved once, so a reload child keeps it.
    browser_reload: bool | None = None
    browser_errors: bool = True
    allowed_hosts: tuple[str, ...] = ()
    static: tuple[tuple[str, str], ...] = ()
    proxy_headers: bool = False
    forwarded_allow_ips: tuple[str, ...] = ()
    server_header: bool = True
    date_header: bool = True
    # Put the framework in its development mode (Flask's debug) unless the user set it.
    dev_mode: bool = False
    open_browser: bool = False

    # Django projects (see _features/django): static files through the staticfiles
    # finders ("auto": when DEBUG is on, "on": always, as --insecure, "off":
    # --nostatic); system checks in each server process.
    django_static: Literal["auto", "on", "off"] = "auto"
    django_checks: bool = True

    # Embedding
    install_signal_handlers: bool = True

    def __post_init__(self) -> None:
        for name in ("reload_dirs", "reload_includes", "reload_excludes", "allowed_hosts",
                     "forwarded_allow_ips", "env_file"):
            value = getattr(self, name)
            if value is None:
                value = ()
            elif isinstance(value, (str, os.PathLike)):
                value = (value,)
            object.__setattr__(self, name, tuple(os.fspath(item) for item in value))
        object.__setattr__(self, "static", tuple(_static_pair(s) for s in self.static))
        if self.browser_reload is None:
            object.__setattr__(self, "browser_reload", bool(self.reload))
        self._validate()

    # -- validation -----------------------------------------------------------------

    def _validate(self) -> None:
        if self.app is not None and not isinstance(self.app, str) and not callable(self.app):
            _bad("app", self.app, "an ASGI/WSGI callable or an import string like 'main:app'")
        if not isinstance(self.host, str) or not self.host:
            _bad("host", self.host, "a host name or IP address such as 127.0.0.1")
        _int_range("port", self.port, 0, 65535)
        if self.fd is not None:
            _int_range("fd", self.fd, 0, None)
        _int_range("backlog", self.backlog, 1, None)
        _choice("interface", self.interface, ("auto", "asgi3", "asgi2", "wsgi"))
        _choice("lifespan", self.lifespan, ("auto", "on", "off"))
        _choice("loop", self.loop, ("auto", "asyncio", "uvloop"))
        _choice("ws", self.ws, ("auto", "wsproto", "none"))
        _choice("django_static", self.django_static, ("auto", "on", "off"))
        if self.django_settings is not None and (
            not isinstance(self.django_settings, str) or not self.django_settings
        ):
            _bad("django_settings", self.django_settings, "a module name like mysite.settings")
        if not isinstance(self.log_level, str) or self.log_level.lower() not in LOG_LEVELS:
            _bad("log_level", self.log_level, "one of " + ", ".join(LOG_LEVELS))
        object.__setattr__(self, "log_level", self.log_level.lower())
        _int_range("threads", self.threads, 1, 4096)
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            _bad("root_path", self.root_path, "a path like /api (leading slash, none at the end)")
        for name in ("timeout_keep_alive", "timeout_graceful_shutdown", "timeout_request_head",
                     "timeout_body", "reload_delay", "reload_grace"):
            _positive(name, getattr(self, name), allow_zero=name == "reload_delay")
        for name in ("ws_ping_interval", "ws_ping_timeout"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if self.limit_concurrency is not None:
            _int_range("limit_concurrency", self.limit_concurrency, 1, None)
        for name in ("limit_request_line", "limit_request_field_size", "limit_request_head",
                     "limit_request_fields", "limit_request_body", "ws_max_size"):
            _int_range(name, getattr(self, name), 1, None)
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            _bad("ssl_keyfile", self.ssl_keyfile, "given together with ssl_certfile")
        if self.https and self.ssl_certfile:
            raise ConfigError("https: give either https=True (a generated certificate) or "
                              "ssl_certfile/ssl_keyfile, not both")
        if self.uds is not None and self.fd is not None:
            raise ConfigError("uds: give either uds or fd, not both")
        for prefix, _directory in self.static:
            if not prefix.startswith("/"):
                _bad("static", prefix, "a URL prefix starting with '/', as in /static=./static")
        for ip in self.forwarded_allow_ips:
            if ip != "*":
                try:
                    ipaddress.ip_network(ip, strict=False)
                except ValueError:
                    _bad("forwarded_allow_ips", ip, "IP addresses or networks, or '*'")

    # -- derived values ---------------------------------------------------------------

    @property
    def is_ssl(self) -> bool:
        return bool(self.ssl_certfile or self.https)

    @property
    def scheme(self) -> str:
        return "https" if self.is_ssl else "http"

    def replace(self, **changes: Any) -> Config:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _static_pair(item: Any) -> tuple[str, str]:
    if isinstance(item, str):
        prefix, sep, directory = item.partition("=")
        if not sep or not directory:
            raise ConfigError(f"static: {item!r} should look like /static=./static")
        return prefix.rstrip("/") or "/", directory
    prefix, directory = item
    return str(prefix).rstrip("/") or "/", os.fspath(directory)


def _bad(name: str, value: object, expected: str) -> None:
    raise ConfigError(f"{name}: {value!r} is not valid; expected {expected}")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _bad(name, value, "one of " + ", ".join(choices))


def _int_range(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _bad(name, value, "a whole number")
    assert isinstance(value, int)
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"{low} or more"
        _bad(name, value, f"a whole number {span}")


def _positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _bad(name, value, "a number of seconds")
    assert isinstance(value, (int, float))
    if value < 0 or (value == 0 and not allow_zero):
        _bad(name, value, "a positive number of seconds")
