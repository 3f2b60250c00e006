"""Serve until a signal: one server on a fresh event loop, stopped by Ctrl+C or SIGTERM.

``run_server(config)`` starts a ``Server``, reports it through ``announce`` and serves;
``serve_until_signal(loop, server)`` is the part every serving process shares (the
reload child too): the first Ctrl+C or SIGTERM stops gracefully, a second at once.
Signal handlers are installed only on the main thread, and only when the config asks.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._loops import current_loop
from .server import Server

if TYPE_CHECKING:
    import asyncio

    from .._config import Config

__all__ = ["SignalHandlers", "run_server", "serve_until_signal"]


def run_server(
    config: Config, *, announce: Callable[[Server, str], None] | None = None
) -> int:
    """One server on a new event loop, until a signal stops it; the exit code."""
    with current_loop(config.loop) as (loop, loop_name):
        server = Server(config)
        # With a banner, accepting waits for it: a request already waiting is answered
        # (and logged) below the banner, not above it.
        loop.run_until_complete(server.start(accept=announce is None))
        if announce is not None:
            announce(server, loop_name)
        serve_until_signal(loop, server)
    return 0


def serve_until_signal(loop: asyncio.AbstractEventLoop, server: Server) -> None:
    """Serve a started ``server`` on ``loop`` until a signal (or a request) stops it."""
    with SignalHandlers(loop, server, server.config):
        loop.run_until_complete(server.serve())


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
