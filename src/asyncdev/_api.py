"""Entry points that run a server to completion: ``serve()`` and ``run(config)``.

``run`` is what the CLI calls: it configures logging, then either becomes the reload
supervisor, serves as a reload child, or runs one server on a fresh event loop with
signal handlers (when on the main thread). Ctrl+C or SIGTERM stops gracefully; a
second Ctrl+C stops at once.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from ._config import AppLike, Config

if TYPE_CHECKING:
    import asyncio

    from ._server import Server

__all__ = ["SignalHandlers", "run", "run_server", "serve"]


def serve(
    app: AppLike, host: str = "127.0.0.1", port: int = 8000, *, reload: bool = False,
    **options: Any,
) -> None:
    """Serve ``app`` (an ASGI/WSGI callable or an import string) until Ctrl+C or SIGTERM.

    Options are the CLI flags in snake_case, for example ``root_path="/api"`` or
    ``reload_dirs=["src"]``. With ``reload=True`` the calling script is run again in a
    fresh process on every change, so the app may be a plain object.
    """
    config = Config(app=app, host=host, port=port, reload=reload, **options)
    code = run(config)
    if code:
        raise SystemExit(code)


def run(config: Config) -> int:
    """Run ``config`` to completion and return the process exit code."""
    from ._importer import apply_env_file
    from ._logging import configure_logging

    configure_logging(config)
    if config.reload:
        # A reload child runs from _child.main(); anywhere else this process becomes
        # the supervisor, which stays clear of asyncio and the HTTP layers.
        child = sys.modules.get("asyncdev._child")
        if child is None or not child.in_reload_child():
            from ._supervisor import reload_unavailable, supervise

            reason = reload_unavailable()
            if reason is None:
                # The env file is left to each server process, so that every reload
                # reads it afresh (values inherited from here would win over it).
                return supervise(config)
            logging.getLogger("asyncdev.error").warning(
                "Reload is off: %s. Run the program as a script or with python -m.", reason
            )
            config = config.replace(reload=False)
    if config.env_file:
        apply_env_file(config.env_file)
    if config.reload:
        from . import _child

        return _child.run_child(config)
    return run_server(config)


def run_server(config: Config, *, banner: bool = True) -> int:
    """One server on a new event loop, until a signal stops it."""
    from ._loops import current_loop
    from ._server import Server

    with current_loop(config.loop) as (loop, loop_name):
        server = Server(config)
        loop.run_until_complete(server.start())
        if banner:
            _print_banner(server, loop_name)
        with SignalHandlers(loop, server, config):
            loop.run_until_complete(server.serve())
    return 0


def _print_banner(server: Server, loop_name: str) -> None:
    from . import __version__
    from ._logging import print_banner
    from ._sockets import format_url

    config = server.config
    loaded = server.loaded
    assert loaded is not None
    print_banner(
        version=__version__,
        app_description=loaded.description,
        interface=loaded.interface,
        loop_name=loop_name,
        urls=[format_url(a, config.scheme) for a in server.addresses],
        reload=False,
        bound_all_interfaces=config.uds is None and config.host in ("0.0.0.0", "::", ""),
        port=server.port,
        scheme=config.scheme,
        colour=config.use_colors,
    )


class SignalHandlers:
    """Ctrl+C / SIGTERM: first a graceful stop, then (second Ctrl+C) an immediate one."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Server, config: Config) -> None:
        self.loop = loop
        self.server = server
        self.enabled = (
            config.install_signal_handlers
            and threading.current_thread() is threading.main_thread()
        )
        self.count = 0
        self.signals: list[int] = []

    def __enter__(self) -> SignalHandlers:
        if not self.enabled:
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.loop.add_signal_handler(sig, self._handle, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                signal.signal(sig, lambda s, f: self.loop.call_soon_threadsafe(self._handle, s))
            self.signals.append(sig)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig in self.signals:
            try:
                self.loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                signal.signal(sig, signal.SIG_DFL)

    def _handle(self, sig: int) -> None:
        self.count += 1
        if self.count == 1:
            if sig == signal.SIGINT:
                # Keep "^C" on its own line.
                sys.stderr.write("\n")
            self.server.request_shutdown()
        else:
            self.server.request_shutdown(force=True)
