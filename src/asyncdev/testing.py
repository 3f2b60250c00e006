"""Real servers on real sockets for test suites.

``run_in_thread(app)`` serves from a background thread with its own event loop;
``serving(app)`` serves in the caller's running loop. Both bind (port 0 on 127.0.0.1 by
default) before returning, run the lifespan, install no signal handlers, print nothing
(records go to the ``logging`` module), raise startup failures in the caller within
``startup_timeout``, and stop within a bounded time even when the app hangs.
``django_live_server`` and ``LiveServerTestCase`` do the same for a Django project. The
three share these guarantees here, which is why the module is past 450 lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, ClassVar

from ._config import AppLike, Config
from ._errors import AsyncdevError, ConfigError, StartupError
from ._server.server import Server

# ``LiveServerTestCase`` (a Django test case) is an attribute too, imported on first
# use; it stays out of ``__all__`` so that ``import *`` never needs Django.
__all__ = [
    "RunningServer",
    "django_live_server",
    "run_in_thread",
    "serving",
]

logger = logging.getLogger("asyncdev.error")

_TEST_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    # A test that leaves a request hanging should not cost the suite the CLI's 3 s.
    "timeout_graceful_shutdown": 1.0,
    # Test clients send made-up Host names (testserver, example.test); a server that
    # lives for one test on a random port is no DNS-rebinding target.
    "allowed_hosts": ("*",),
}
# Beyond the grace period, Server.shutdown may spend about 1 s cancelling request tasks
# and 1 s waiting for listeners to close; a lifespan shutdown that takes longer than
# this margin on top is cancelled, so a stuck app cannot hang the test suite.
_SHUTDOWN_MARGIN = 5.0
# How long stop() waits for the thread once the loop has been told to stop; only a
# synchronous call blocking the server's event loop can use it up.
_JOIN_MARGIN = 10.0
# Tasks that ignore cancellation, and WSGI threads still busy in app code, get this long.
_CLEANUP_TIMEOUT = 2.0


class RunningServer:
    """A listening server: ``url``, ``host``, ``port``; ``stop()`` or ``await aclose()``.

    ``server`` is the underlying ``asyncdev._server.Server`` and ``config`` its Config.
    """

    def __init__(
        self,
        server: Server,
        *,
        stop: Callable[[], None],
        aclose: Callable[[], Awaitable[None]],
    ) -> None:
        self.server = server
        self.config: Config = server.config
        self._stop = stop
        self._aclose = aclose

    @property
    def url(self) -> str:
        """``http://127.0.0.1:54321`` (``https`` with TLS), without a trailing slash."""
        return self.server.url

    @property
    def host(self) -> str:
        """The host a client on this machine connects to (as in ``url``, unbracketed)."""
        address = self.server.addresses[0]
        if isinstance(address, str):
            return address  # a Unix socket path
        host = str(address[0])
        if host in ("", "0.0.0.0"):
            return "127.0.0.1"
        return "::1" if host == "::" else host

    @property
    def port(self) -> int:
        """The port actually bound (never 0)."""
        port = self.server.port
        if port is None:
            raise RuntimeError("a server on a Unix socket has no port")
        return port

    def stop(self) -> None:
        """Stop the server; idempotent.

        From ``run_in_thread``: returns once the server has stopped and its thread has
        ended. From ``serving``: asks it to stop (the ``async with`` exit, or
        ``await aclose()``, waits for it).
        """
        self._stop()

    async def aclose(self) -> None:
        """Stop the server and wait until it has stopped; idempotent."""
        await self._aclose()

    def __repr__(self) -> str:
        try:
            return f"<RunningServer {self.url}>"
        except RuntimeError:
            return "<RunningServer (not listening)>"


def _config(app: AppLike, options: dict[str, Any]) -> Config:
    if options.get("reload"):
        raise ConfigError(
            "reload: not available in asyncdev.testing; a test server serves the app it "
            "was given."
        )
    merged = {**_TEST_DEFAULTS, **options, "reload": False, "install_signal_handlers": False}
    return Config(app=app, **merged)


def _startup_failure(exc: BaseException) -> BaseException:
    """What the caller sees: the exception itself, but never a SystemExit."""
    if not isinstance(exc, (Exception, KeyboardInterrupt, asyncio.CancelledError)):
        error = StartupError(
            f"The app raised {type(exc).__name__}({exc}) while the server was starting."
        )
        error.__cause__ = exc
        return error
    return exc


def _timeout_error(timeout: float) -> StartupError:
    return StartupError(
        f"The server did not start within {timeout:g} s (startup_timeout): the app's "
        "import or lifespan startup is still running."
    )


def _close_wsgi_pool(server: Server, timeout: float) -> bool:
    """Let the idle WSGI worker threads of a stopped server exit; True once they have."""
    state = server.state
    if state is None:
        return True
    # A list, not a generator: every cleanup runs even after one reports False.
    return all([close(timeout) for close in state.on_close])  # noqa: C419


# --- in a thread ------------------------------------------------------------------------


class _ThreadRunner:
    """Owns the thread, its loop and the Server; start() and stop() run in the caller."""

    def __init__(self, config: Config, startup_timeout: float) -> None:
        from ._loops import resolve_loop_name

        self.config = config
        self.startup_timeout = startup_timeout
        self.loop_name = resolve_loop_name(config.loop)  # a ConfigError belongs to the caller
        self.server = Server(config)
        self.thread = threading.Thread(
            target=self._main, name=f"asyncdev-server-{id(self):x}", daemon=True
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._start_task: asyncio.Task[None] | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._stop_requested = False  # loop side
        self._lock = threading.Lock()
        self._stopped = False
        self._finished = False

    # caller side

    def start(self) -> RunningServer:
        self.thread.start()
        if not self.ready.wait(self.startup_timeout):
            with self._lock:
                self._stopped = True
            self._call(self._abort)
            # A synchronous import that never returns cannot be interrupted: its thread
            # is a daemon and is left behind after this bounded wait.
            self.thread.join(_CLEANUP_TIMEOUT * 2)
            raise _timeout_error(self.startup_timeout)
        if self.failure is not None:
            self.thread.join(_CLEANUP_TIMEOUT * 2)
            failure, self.failure = self.failure, None  # no reference cycle via the runner
            raise _startup_failure(failure)
        running = RunningServer(self.server, stop=self.stop, aclose=self.aclose)
        with contextlib.suppress(RuntimeError):  # a Unix socket
            self.thread.name = f"asyncdev-server-{running.port}"  # names a leftover thread
        return running

    def _call(self, callback: Callable[[], None]) -> bool:
        loop = self.loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop has already closed
            return False
        return True

    def _begin_stop(self) -> None:
        """Ask the loop to stop (once)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._call(self._request_stop)

    def _deadline(self) -> float:
        return self.config.timeout_graceful_shutdown + _SHUTDOWN_MARGIN + _JOIN_MARGIN

    def stop(self) -> None:
        if threading.current_thread() is self.thread:
            # Called from the app itself: the thread cannot wait for its own end.
            self._begin_stop()
            return
        self._begin_stop()
        self.thread.join(self._deadline())
        self._finish()

    async def aclose(self) -> None:
        self._begin_stop()
        deadline = time.monotonic() + self._deadline()
        while self.thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._finish()

    def _finish(self) -> None:
        if self.thread.is_alive():
            raise AsyncdevError(
                f"The server thread {self.thread.name} did not stop within "
                f"{self._deadline():g} s: a synchronous call is blocking its event loop."
            )
        if not self._finished:
            self._finished = True
            _close_wsgi_pool(self.server, _CLEANUP_TIMEOUT)

    # loop side

    def _abort(self) -> None:
        start = self._start_task
        if start is not None and not start.done():
            start.cancel()
        else:
            self._request_stop()

    def _request_stop(self) -> None:
        serve = self._serve_task
        if serve is None or self._stop_requested:
            return
        self._stop_requested = True
        self.server.request_shutdown()
        loop = asyncio.get_running_loop()
        grace = self.config.timeout_graceful_shutdown
        handle = loop.call_later(grace + _SHUTDOWN_MARGIN, self._stop_overdue, serve)
        serve.add_done_callback(lambda _: handle.cancel())

    def _stop_overdue(self, serve: asyncio.Task[None]) -> None:
        if not serve.done():
            logger.warning(
                "The server was still shutting down after %.1f s (a hung lifespan shutdown?); "
                "cancelling it.",
                self.config.timeout_graceful_shutdown + _SHUTDOWN_MARGIN,
            )
            serve.cancel()

    def _main(self) -> None:
        from ._loops import new_event_loop

        try:
            loop, _ = new_event_loop(self.loop_name)
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
            return
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._lifecycle())
        except BaseException as exc:
            # SystemExit raised by the app escapes its task and stops the loop.
            if not self.ready.is_set():
                self.failure = exc
            else:
                logger.error("The app stopped the test server: %r", exc, exc_info=exc)
                self.server.request_shutdown(force=True)
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(
                        asyncio.wait_for(self.server.shutdown(), _CLEANUP_TIMEOUT)
                    )
        finally:
            self.ready.set()
            try:
                _close_loop(loop)
            finally:
                asyncio.set_event_loop(None)

    async def _lifecycle(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._stopped:  # given up on before the loop even ran
                return
        self._start_task = loop.create_task(self.server.start())
        try:
            await self._start_task
        except BaseException as exc:
            if self.failure is None:  # not the cancellation that follows an escaped SystemExit
                self.failure = exc
            self.ready.set()
            return
        self._serve_task = loop.create_task(self.server.serve())
        self.ready.set()
        with self._lock:
            stop_now = self._stopped
        if stop_now:  # stop() or the startup timeout raced with the end of startup
            self._request_stop()
        try:
            await self._serve_task
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("Error while stopping the test server")


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Like the end of asyncio.run(), but bounded: tasks that ignore cancellation stay."""
    try:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.wait(tasks, timeout=_CLEANUP_TIMEOUT))
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    logger.error("Unhandled error in a task of the test server",
                                 exc_info=task.exception())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(_shutdown_executor(loop))
    finally:
        loop.close()


async def _shutdown_executor(loop: asyncio.AbstractEventLoop) -> None:
    with contextlib.suppress(asyncio.TimeoutError, AttributeError, RuntimeError):
        await asyncio.wait_for(loop.shutdown_default_executor(), _CLEANUP_TIMEOUT)


@contextlib.contextmanager
def run_in_thread(
    app: AppLike, *, startup_timeout: float = 30.0, **options: Any
) -> Iterator[RunningServer]:
    """Serve ``app`` from a background thread for the duration of the ``with`` block.

    ``app`` is an ASGI or WSGI callable or an import string; ``options`` are any
    ``Config`` option (``root_path``, ``limit_concurrency``, ``ssl_certfile``, ...).
    Listening when the block starts; stopped, thread joined, socket closed after it.
    """
    runner = _ThreadRunner(_config(app, options), startup_timeout)
    running = runner.start()
    try:
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def django_live_server(
    *, interface: str = "auto", startup_timeout: float = 30.0, **options: Any
) -> Iterator[RunningServer]:
    """Serve the configured Django project from a background thread, for tests.

    As Django's StaticLiveServerTestCase: static files through the finders whatever
    ``DEBUG`` says, the server's host in ALLOWED_HOSTS, and in-memory SQLite test
    databases shared with the server's threads. ``interface`` is ``"wsgi"``, ``"asgi"``
    or ``"auto"`` (ASGI_APPLICATION when set, else WSGI_APPLICATION).
    """
    from ._features.django.live import live_app

    options = {"django_static": "on", "django_checks": False, **options}
    with live_app(interface) as app, run_in_thread(
        app, startup_timeout=startup_timeout, **options
    ) as server:
        yield server


def __getattr__(name: str) -> Any:
    # Needs Django to be defined: made only when asked for.
    if name == "LiveServerTestCase":
        value = globals()[name] = _live_server_test_case()
        return value
    raise AttributeError(f"module 'asyncdev.testing' has no attribute {name!r}")


def _live_server_test_case() -> type:
    """``asyncdev.testing.LiveServerTestCase``: Django's StaticLiveServerTestCase on
    asyncdev, a ``TransactionTestCase`` whose class starts ``django_live_server`` once
    and sets ``live_server_url``; ``interface`` (``"auto"``, ``"wsgi"``, ``"asgi"``)
    picks the app."""
    from django.test import TransactionTestCase

    class LiveServerTestCase(TransactionTestCase):  # type: ignore[misc]
        interface: ClassVar[str] = "auto"
        server: ClassVar[RunningServer]
        live_server_url: ClassVar[str]

        @classmethod
        def setUpClass(cls) -> None:
            super().setUpClass()
            stack = contextlib.ExitStack()
            cls.addClassCleanup(stack.close)
            cls.server = stack.enter_context(django_live_server(interface=cls.interface))
            cls.live_server_url = cls.server.url

    LiveServerTestCase.__module__ = __name__
    return LiveServerTestCase


# --- in the caller's loop -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(
    app: AppLike, *, startup_timeout: float = 30.0, **options: Any
) -> AsyncIterator[RunningServer]:
    """Serve ``app`` in the running event loop for the duration of the ``async with``.

    The same options and guarantees as ``run_in_thread``; the ``loop`` option does not
    apply (the caller's loop is used). The app shares the loop with the test, so a
    synchronous request from the test to the server would deadlock: use an async client.
    """
    config = _config(app, options)
    server = Server(config)
    try:
        await asyncio.wait_for(server.start(), startup_timeout)
    except asyncio.TimeoutError:
        raise _timeout_error(startup_timeout) from None
    except SystemExit as exc:
        raise _startup_failure(exc) from exc
    serve = asyncio.get_running_loop().create_task(server.serve())
    grace = config.timeout_graceful_shutdown
    requested = False

    def stop() -> None:
        nonlocal requested
        if not requested:
            requested = True
            server.request_shutdown()

    async def aclose() -> None:
        stop()
        if not serve.done():
            done, _ = await asyncio.wait({serve}, timeout=grace + _SHUTDOWN_MARGIN)
            if not done:
                logger.warning(
                    "The server was still shutting down after %.1f s (a hung lifespan "
                    "shutdown?); cancelling it.", grace + _SHUTDOWN_MARGIN,
                )
                serve.cancel()
                await asyncio.wait({serve}, timeout=_CLEANUP_TIMEOUT)
        if serve.done() and not serve.cancelled() and serve.exception() is not None:
            logger.error("Error while stopping the test server", exc_info=serve.exception())
        # Joining the WSGI workers here would block the loop they may still need.
        deadline = time.monotonic() + _CLEANUP_TIMEOUT
        while not _close_wsgi_pool(server, 0) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    try:
        yield RunningServer(server, stop=stop, aclose=aclose)
    finally:
        await aclose()
