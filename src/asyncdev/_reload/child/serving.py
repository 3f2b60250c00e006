"""Serving in a reload server process: the app on the inherited sockets, or the error page.

``run_child(config)`` is where the user's ``serve()`` or CLI call lands in a server
process. An app that fails to import or start is replaced by the error page
(``_features.errorpage.startup_error_app``) until the next reload: the terminal gets
the traceback once, the supervisor the files involved (``Failed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import control, handoff, warm
from . import session as _session
from .session import session

if TYPE_CHECKING:
    from ..._config import Config
    from ..._server.server import Server

__all__ = ["run_child", "serve_failure"]

logger = logging.getLogger("asyncdev.error")

# How long after it starts serving a process reports what it imported (its start-up,
# then everything): long enough for what loads just after the start, short enough to
# warm the next spare with it.
_MODULES_DELAY = 0.2
# How long the first server process waits for the supervisor's banner at most.
_BANNER_WAIT = 2.0


def run_child(config: Config) -> int:
    """Serve ``config`` on the inherited socket(s); an app that fails gets the error page."""
    if session.warming:
        # A module of the app's start-up serves when imported: the spare cannot run it
        # ahead (and is replaced by one that does not try).
        raise RuntimeError("the app's start-up starts the server: not run ahead")
    session.adopted = True
    # Stopping (Ctrl+C) drains for timeout_graceful_shutdown; a reload for reload_grace
    # (see _stop_serving).
    config = config.replace(reload=False, fd=None)
    return _serve(config, None)


def serve_failure(exc: BaseException) -> int:
    """Serve the error page for ``exc`` with the options the supervisor was given."""
    if session.stopping:
        return 0
    from ..._config import Config

    session.adopted = True
    options = dict(session.base_config)
    options["timeout_graceful_shutdown"] = min(
        options.get("timeout_graceful_shutdown", control.RELOAD_GRACE), control.RELOAD_GRACE
    )
    return _serve(Config(**options), exc)


def _sockets() -> list[socket.socket]:
    # Each server gets duplicates: a server that fails half-way closes its sockets,
    # and the error page still needs them.
    return [socket.socket(fileno=os.dup(fd)) for fd in session.listen_fds]


def _serve(config: Config, failure: BaseException | None) -> int:
    from ..._loops import current_loop

    with current_loop(config.loop) as (loop, loop_name):
        try:
            return _serve_on(loop, loop_name, config, failure)
        finally:
            with session.lock:
                session.stop_serving = session.files_changed = None
                session.reloads_reported = None


def _serve_on(
    loop: asyncio.AbstractEventLoop, loop_name: str, config: Config,
    failure: BaseException | None,
) -> int:
    from ..._server.run import serve_until_signal
    from ..._server.server import Server

    with session.lock:
        if session.stopping:
            return 0
        # From here on connections may be accepted: a Stop must let them finish.
        session.listening = True
    server: Server | None = None
    requests = _RequestImports(loop)
    if failure is None:
        server = Server(config, sockets=_sockets())
        # Accepting starts in serve_until_signal: after Serving is said (and, for the
        # first process, the banner printed).
        start = loop.create_task(server.start(accept=False))
        requests.start_task = start
        sys.meta_path.insert(0, requests)
        try:
            loop.run_until_complete(start)
        except BaseException as exc:
            # Serving, the hook stays until the start-up is reported (_report_start).
            sys.meta_path.remove(requests)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if session.stopping:
                return 0
            failure, server = exc, None
    if server is None:
        assert failure is not None
        _report_failure(failure, loop_name)
        from ..._features.errorpage import startup_error_app

        error_config = config.replace(
            app=startup_error_app(failure, debug=config.debug_errors),
            interface="asgi3", factory=False, lifespan="off", app_dir=None,
        )
        server = Server(error_config, sockets=_sockets())
        loop.run_until_complete(server.start())
    else:
        from ..._envfile import loaded_notes

        loaded = server.loaded
        _session.send(control.Serving(
            description=loaded.description if loaded else None,
            interface=loaded.interface if loaded else None,
            loop=loop_name,
            framework=loaded.framework if loaded else None,
            notes=(*(loaded.notes if loaded else ()), *loaded_notes()),
        ))
        _session.send(control.Watch(requests=tuple(server.watch_requests())))
        if server.state is not None:
            server.state.on_first_response = lambda: _session.send(control.Answered())
        # Reported once serving: the first requests need not wait for it.
        loop.call_later(_MODULES_DELAY, _report_start, requests)
        if session.banner:
            # The banner first, then the first access line (the supervisor prints it
            # as soon as it reads Serving: a millisecond, not a phase of the start).
            session.announced.wait(_BANNER_WAIT)
    for fd in session.listen_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    handoff.adopt(server, loop)
    with session.lock:
        session.served = True
        session.stop_serving = _stopper(server, loop)
        session.files_changed = _change_notifier(server, loop) if failure is None else None
        session.reloads_reported = _on_loop(server.reloads_reported, loop)
        stopping, reloading = session.stopping, session.stop_handoff
    if stopping:
        _stop_serving(server, loop, reloading)
    serve_until_signal(loop, server)
    return 0


class _RequestImports:
    """Import hook that only watches: the modules first imported by requests from the
    server's start until the start-up is reported (connections waiting in the backlog
    are served as soon as it listens). They are not the app's start-up: the next spare
    must not import them ahead (the URLconf and the view a reload was for, say)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.start_task: asyncio.Task[None] | None = None
        self.names: set[str] = set()

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if threading.current_thread() is not threading.main_thread():
            self.names.add(name)  # a WSGI request, on the thread pool
        else:
            task = asyncio.current_task(self.loop) if self.loop.is_running() else None
            if task is not None and task is not self.start_task:
                self.names.add(name)  # a request or the lifespan: not the app's import


def _send_modules() -> None:
    _session.send(warm.modules_report())


def _report_start(requests: _RequestImports) -> None:
    """What the app's start-up imported (not the requests since), then every module."""
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(requests)
    _session.send(warm.startup_report(exclude=requests.names))
    _send_modules()


def _stopper(server: Server, loop: asyncio.AbstractEventLoop) -> Callable[[bool], None]:
    def stop(reloading: bool) -> None:
        if reloading:
            # What loaded on first use since the start (the WebSocket layer, the error
            # page) is worth having in the spares to come. Said first: once stopped,
            # the process may be gone at once.
            _send_modules()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to stop
            loop.call_soon_threadsafe(_stop_serving, server, loop, reloading)

    return stop


def _stop_serving(server: Server, loop: asyncio.AbstractEventLoop, reloading: bool) -> None:
    handoff.stop_adopting(loop)
    if reloading:
        handoff.hand_over_when_idle(server)
        # A reload: the next process serves everything new, this one only finishes
        # what it has, for --reload-grace.
        server.config = server.config.replace(
            timeout_graceful_shutdown=server.config.reload_grace
        )
    server.request_shutdown()


def _on_loop(
    call: Callable[[Sequence[Any]], None], loop: asyncio.AbstractEventLoop,
) -> Callable[[Sequence[Any]], None]:
    def on_loop(values: Sequence[Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
            loop.call_soon_threadsafe(call, list(values))

    return on_loop


def _change_notifier(
    server: Server, loop: asyncio.AbstractEventLoop,
) -> Callable[[Sequence[str]], None]:
    def changed(paths: Sequence[str]) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(server.files_changed, list(paths))

    return changed


def _report_failure(exc: BaseException, loop_name: str) -> None:
    """The traceback once on the terminal; the files involved to the supervisor."""
    logger.error(
        "The application could not start; fix the error and save, it reloads by itself.",
        exc_info=exc,
    )
    files: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SyntaxError) and current.filename:
            files.append(current.filename)
        files.extend(frame.filename for frame in traceback.extract_tb(current.__traceback__))
        current = current.__cause__ or current.__context__
    _session.send(control.Failed(files=warm.user_files(files), loop=loop_name))
