"""The server: bind or adopt listening sockets, accept connections, stop gracefully.

``bind_sockets(config)`` turns host/port, a Unix socket path or an inherited fd into
listening sockets, with errors that say what to do. ``Server`` loads the app, runs the
lifespan startup, serves until asked to stop, then drains in-flight requests within
the grace period before closing what is left and running the lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import StartupError
from .._sockets import bind_sockets, format_url
from .connection import HTTPConnection
from .lifespan import Lifespan
from .pipeline import build_app, load
from .state import ServerState, Upgradable, plain_500

if TYPE_CHECKING:
    from .._config import Config
    from .._importer import LoadedApp
    from .._protocol.parser import Request
    from .._types import (
        ErrorRenderer,
        ErrorResponse,
        Scope,
        WatchRequest,
    )

__all__ = ["Server", "ssl_context"]

logger = logging.getLogger("asyncdev.error")


def ssl_context(config: Config) -> ssl.SSLContext | None:
    if not config.is_ssl:
        return None
    certfile, keyfile = config.ssl_certfile, config.ssl_keyfile
    if config.https and certfile is None:
        from .tls import development_certificate

        certfile, keyfile = development_certificate()
    assert certfile is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    from .tls import add_plain_http_hint

    add_plain_http_hint(context)
    try:
        context.load_cert_chain(certfile, keyfile, password=config.ssl_keyfile_password)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"Cannot load the TLS certificate {certfile!r}: {exc}") from exc
    return context


# --- running out of file descriptors ----------------------------------------------------

# What accept() fails with when the process or system is out of descriptors or memory.
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def raise_fd_limit() -> None:
    """Lift the soft limit on open files to the hard limit, as Go's runtime does.

    Every connection holds a descriptor, and the common soft default of 1024 is within
    reach of a browser with its WebSockets plus a load test. Nothing is lost: code that
    still uses select() only meets high descriptors when this many files are open, and
    then it would have failed with EMFILE anyway.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (hard != resource.RLIM_INFINITY and soft >= hard):
        return
    # macOS refuses values above OPEN_MAX (10240) even with an unlimited hard limit.
    for wanted in (hard, 10240):
        if wanted != resource.RLIM_INFINITY and wanted <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            continue
        return


def _quiet_accept_exhaustion(loop: asyncio.AbstractEventLoop) -> None:
    """One warning, not a traceback a second, while accept() runs out of descriptors.

    Out of descriptors, asyncio's accept loop already stops accepting for a second and
    retries (connections wait in the listen queue), but reports each retry through the
    loop's exception handler with a traceback. uvloop (libuv) instead accepts and closes
    the waiting connections to keep the listen queue from filling. Either way the
    server keeps running; this only keeps the terminal readable.
    """
    previous = loop.get_exception_handler()
    if getattr(previous, "_asyncdev_accept_filter", False):
        return
    last_warning = [-3600.0]

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _EXHAUSTED and "accept" in str(
            context.get("message", "")
        ):
            if loop.time() - last_warning[0] >= 10.0:
                last_warning[0] = loop.time()
                logger.warning(
                    "Cannot accept connections: %s. New connections wait until "
                    "descriptors are freed (raise the limit with 'ulimit -n').",
                    exc.strerror or exc,
                )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler._asyncdev_accept_filter = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


# --- the server -------------------------------------------------------------------------


class Server:
    """Serves one Config. Create it, then ``await serve()`` (or ``start()``/``shutdown()``)."""

    def __init__(self, config: Config, *, sockets: list[socket.socket] | None = None) -> None:
        self.config = config
        self.started = asyncio.Event()
        self.addresses: list[Any] = []
        self.loaded: LoadedApp | None = None
        self.state: ServerState | None = None
        self._sockets = sockets
        self._servers: list[asyncio.Server] = []
        self._lifespan: Lifespan | None = None
        self._stop: asyncio.Event | None = None
        self._force = False
        self._stopped = False

    @property
    def url(self) -> str:
        if not self.addresses:
            raise RuntimeError("the server is not listening yet")
        return format_url(self.addresses[0], self.config.scheme)

    @property
    def port(self) -> int | None:
        address = self.addresses[0] if self.addresses else None
        return address[1] if isinstance(address, tuple) else None

    async def start(self, *, accept: bool = True) -> None:
        """Load the app, bind, run lifespan startup, start accepting; with
        ``accept=False``, ``serve()`` starts accepting (a banner goes out first, and no
        request is answered above it)."""
        config = self.config
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.loaded = loaded = load(config)
        if loaded.integration is not None:
            # Django's system checks and migration check may query the database, which
            # Django refuses on a thread running an event loop.
            await asyncio.to_thread(loaded.integration.start)
        pipeline = build_app(loaded, config)
        app = pipeline.app
        state = self.state = ServerState(config, app)
        state.on_close.extend(pipeline.on_close)
        state.listeners = tuple(pipeline.listeners)
        self._install_hooks(state, pipeline.websocket_prefixes)
        context = ssl_context(config)
        sockets = self._sockets if self._sockets is not None else bind_sockets(config)
        self._sockets = sockets
        try:
            mode = config.lifespan if loaded.lifespan else "off"
            self._lifespan = Lifespan(app, mode, state.lifespan_state)
            await self._lifespan.startup()

            def factory() -> HTTPConnection:
                return HTTPConnection(state, loop)

            raise_fd_limit()
            _quiet_accept_exhaustion(loop)
            for sock in sockets:
                server = await loop.create_server(
                    factory, sock=sock, ssl=context, backlog=config.backlog,
                    start_serving=accept,
                )
                self._servers.append(server)
        except BaseException:
            # A start that is cancelled (startup timeout) or fails after the lifespan
            # began must not leave the app's lifespan task running in the loop.
            lifespan_task = self._lifespan._task if self._lifespan is not None else None
            if lifespan_task is not None:
                lifespan_task.cancel()
            for server in self._servers:
                server.close()
            for sock in sockets:
                sock.close()
            raise
        self.addresses = [sock.getsockname() for sock in sockets]
        self.started.set()

    def _install_hooks(self, state: ServerState, websocket_prefixes: tuple[str, ...]) -> None:
        """Optional features plug into the connection through ServerState hooks.

        The WebSocket layer (with wsproto) and the debug error page load on first use:
        most server processes, one per reload, never see a WebSocket or an error. A WSGI
        app answers upgrade requests as plain HTTP, except those the features answer.
        """
        config = self.config
        if config.ws != "none" and self.loaded is not None:
            if self.loaded.interface != "wsgi":
                state.upgrade = _websocket_on_first_upgrade(state)
            elif websocket_prefixes:
                state.upgrade = _websocket_under(state, websocket_prefixes)
        if config.debug_errors is not False:
            state.render_error = _error_page_on_first_error(state)

    def watch_requests(self) -> list[WatchRequest]:
        """What the features ask to watch for changes they handle without a restart."""
        state = self.state
        return [request for listener in (state.listeners if state else ())
                for request in listener.watch_paths()]

    def files_changed(self, paths: Sequence[str]) -> None:
        """Tell the features that watched files changed (loop thread only)."""
        if self.state is not None:
            for listener in self.state.listeners:
                listener.files_changed(paths)

    def reloads_reported(self, reloads: Sequence[Mapping[str, Any]]) -> None:
        """Tell the features how the last reloads went (loop thread only)."""
        if self.state is not None:
            for listener in self.state.listeners:
                listener.reloads_reported(reloads)

    async def serve(self) -> None:
        if not self.started.is_set():
            await self.start()
        assert self._stop is not None
        if not self._stop.is_set() and not self._stopped:
            for server in self._servers:
                if not server.is_serving():
                    await server.start_serving()
        await self._stop.wait()
        await self.shutdown()

    def request_shutdown(self, *, force: bool = False) -> None:
        """Ask serve() to stop; with force, skip the grace period. Loop thread only."""
        if force:
            self._force = True
            if self.state is not None:
                for conn in list(self.state.connections):
                    conn.abort()
                for task in list(self.state.tasks):
                    task.cancel()
        if self._stop is not None:
            self._stop.set()

    async def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        state = self.state
        for server in self._servers:
            server.close()
        if state is None:
            return
        state.shutting_down = True
        # A connection the loop accepted just before the listeners closed is made on
        # the next iteration: let it join the others, so that its request is answered
        # within the grace period rather than found pending when the loop closes.
        await asyncio.sleep(0)
        for listener in state.listeners:
            listener.server_stopping()
        for conn in list(state.connections):
            conn.shutdown()
        grace = self.config.timeout_graceful_shutdown
        if not self._force:
            await _drain(state, grace)
        if state.tasks or state.connections:
            if state.tasks:
                logger.warning(
                    "Closing %d connection(s) still busy after %.1f s",
                    len(state.tasks),
                    grace,
                )
            for conn in list(state.connections):
                conn.abort()
            for task in list(state.tasks):
                task.cancel()
            if state.tasks:
                await asyncio.wait(set(state.tasks), timeout=1.0)
        # Let connection_lost callbacks run before the loop goes away.
        await asyncio.sleep(0)
        if self._lifespan is not None:
            if not self._force:
                try:
                    await asyncio.wait_for(self._lifespan.shutdown(), max(grace, 1.0))
                except asyncio.TimeoutError:
                    logger.warning("Lifespan shutdown did not finish within %.1f s",
                                   max(grace, 1.0))
            # A second Ctrl+C (or a shutdown that timed out) leaves the task running.
            await self._lifespan.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        for close in state.on_close:
            close(0.0)  # tells idle worker threads to exit; never blocks the loop


def _websocket_on_first_upgrade(
    state: ServerState,
) -> Callable[[Upgradable, Request, Scope], bool]:
    """The upgrade hook until an upgrade request comes: it installs the WebSocket layer
    and hands the request to it (or, without wsproto, to the app as plain HTTP)."""

    def upgrade(conn: Upgradable, request: Request, scope: Scope) -> bool:
        state.upgrade = None
        with contextlib.suppress(ImportError):
            from .websocket import install

            install(state)
        hook = state.upgrade
        return hook is not None and hook(conn, request, scope)

    return upgrade


def _websocket_under(
    state: ServerState, prefixes: tuple[str, ...],
) -> Callable[[Upgradable, Request, Scope], bool]:
    """The upgrade hook in front of a WSGI app: upgrades under ``prefixes`` go to the
    WebSocket layer (installed on first use), every other request to the app."""
    layer: list[Callable[[Upgradable, Request, Scope], bool]] = []

    def upgrade(conn: Upgradable, request: Request, scope: Scope) -> bool:
        if not scope["path"].startswith(prefixes):
            return False
        if not layer:
            with contextlib.suppress(ImportError):
                from .websocket import install

                install(state)
            hook = state.upgrade
            state.upgrade = upgrade
            if hook is None or hook is upgrade:
                return False
            layer.append(hook)
        return layer[0](conn, request, scope)

    return upgrade


def _error_page_on_first_error(state: ServerState) -> ErrorRenderer:
    """The error renderer until an error comes: it loads the debug error page and
    renders with it from then on."""

    def render_error(scope: Scope, exc: BaseException | None) -> ErrorResponse:
        state.render_error = plain_500
        # Whatever happens here, the client still gets the plain 500.
        with contextlib.suppress(Exception):
            from .._features.errorpage import error_renderer

            state.render_error = _guarded(error_renderer(state.config, plain_500))
        return state.render_error(scope, exc)

    return render_error


def _guarded(render: ErrorRenderer) -> ErrorRenderer:
    """The page must never make things worse than a bare 500."""

    def render_error(scope: Scope, exc: BaseException | None) -> ErrorResponse:
        try:
            return render(scope, exc)
        except Exception:
            return plain_500(scope, exc)

    return render_error


async def _drain(state: ServerState, grace: float) -> None:
    """Wait, within ``grace``, for running requests and for requests on their way.

    A connection accepted just before the stop usually carries a request that has not
    been read yet (during a reload the next process serves everything after it), so
    it gets a short while to arrive; an idle browser preconnect must not hold us long.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    fresh_until = loop.time() + min(grace, 0.5)
    while state.tasks or (state.connections and loop.time() < fresh_until):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        if state.tasks:
            await asyncio.wait(
                set(state.tasks), timeout=min(remaining, 0.05),
                return_when=asyncio.FIRST_COMPLETED,
            )
        else:
            await asyncio.sleep(0.01)
