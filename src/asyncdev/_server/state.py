"""What one server shares with its connections: config, app, live connections and tasks.

Optional layers plug in through the hooks here (``render_error``, ``upgrade``,
``hand_over``, ``on_close``); connections call them without knowing which are on. The
features in the app pipeline hear about the server through ``listeners``
(``_types.ServerListener``). Nothing here does I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .._protocol import response as _http
from .._types import ErrorResponse

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Sequence

    from .._config import Config
    from .._protocol.parser import Request
    from .._types import ASGIApp, ErrorRenderer, Scope, ServerListener

__all__ = ["Closable", "ServerState", "Upgradable", "plain_500"]


class Upgradable(Protocol):
    """What a protocol upgrade needs of the HTTP connection that received it."""

    loop: asyncio.AbstractEventLoop
    client_label: str

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        """Give up the transport, and the bytes received after the request head."""
        ...

    def write_and_close(self, data: bytes) -> None:
        """Answer (a refused upgrade) and close."""
        ...


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
        # The features of the app pipeline that hear about server events.
        self.listeners: Sequence[ServerListener] = ()
        # The answer for an app that failed before sending anything, framed by the
        # request cycle. The server puts the debug error page here when that is enabled.
        self.render_error: ErrorRenderer = plain_500
        # Hook for protocol upgrades (WebSocket): (connection, request, scope) -> bool
        # (True when it took the connection over).
        self.upgrade: Callable[[Upgradable, Request, Scope], bool] | None = None
        # Reload hook: passes the transport of an idle keep-alive connection to the next
        # server process before this one closes its copy (see _reload/handoff.py).
        self.hand_over: Callable[[asyncio.BaseTransport], None] | None = None
        # Called once, when the first response has been sent (a reload's last phase).
        self.on_first_response: Callable[[], None] | None = None

    def default_headers(self) -> list[bytes]:
        headers = [b"date: ", _http.date_header_value(), b"\r\n"] if self.config.date_header else []
        if self.server_header:
            headers.append(self.server_header)
        return headers


_PLAIN_500 = ErrorResponse(
    500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error\n"
)


def plain_500(scope: Scope, exc: BaseException | None) -> ErrorResponse:
    """The bare 500 everyone gets when the debug error page is off or not for them."""
    return _PLAIN_500
