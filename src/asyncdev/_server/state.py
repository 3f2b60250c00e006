"""What one server shares with its connections: config, app, live connections and tasks.

Optional features plug in by replacing the hooks here (``render_error``, ``upgrade``,
``hand_over``) or appending to ``on_close``; connections call the hooks without knowing
which features are on. Nothing here does I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .._protocol import response as _http

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from .._config import Config
    from .._protocol.parser import Request
    from .._types import ASGIApp, Scope, ServerListener
    from .connection import HTTPConnection

__all__ = ["Closable", "ServerState"]


class Closable(Protocol):
    """What graceful shutdown needs of a connection (HTTP, or a taken-over WebSocket)."""

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...


class ServerState:
    """What the server shares with its connections."""

    def __init__(self, config: Config, app: ASGIApp) -> None:
        self.config = config
        self.app = app
        self.connections: set[Closable] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        # Cleanups run when the server has stopped (the WSGI thread pool): each is
        # called with a timeout in seconds and returns True once fully closed.
        self.on_close: list[Callable[[float], bool]] = []
        self.lifespan_state: dict[str, Any] = {}
        self.scheme = config.scheme
        self.root_path = config.root_path
        self.access_log = config.access_log
        self.shutting_down = False
        self.server_header = b"server: asyncdev\r\n" if config.server_header else b""
        # (scope, exception) -> complete response bytes, for an app that failed before
        # sending anything. Replaced by the debug error page when that is enabled.
        self.render_error: Callable[[Scope, BaseException | None], bytes] = _plain_500
        # Hook for protocol upgrades (WebSocket): (connection, request, scope) -> bool
        # (True when it took the connection over).
        self.upgrade: Callable[[HTTPConnection, Request, Scope], bool] | None = None
        # Reload hook: passes an idle keep-alive connection to the next server process
        # before this one closes its copy (see _reload/handoff.py).
        self.hand_over: Callable[[HTTPConnection], None] | None = None
        # Features told about server events, innermost first (CONTRACTS 1).
        self.listeners: list[ServerListener] = []

    def default_headers(self) -> list[bytes]:
        headers = [b"date: ", _http.date_header_value(), b"\r\n"] if self.config.date_header else []
        if self.server_header:
            headers.append(self.server_header)
        return headers


def _plain_500(scope: Scope, exc: BaseException | None) -> bytes:
    return _http.error_response(500, "Internal Server Error")
