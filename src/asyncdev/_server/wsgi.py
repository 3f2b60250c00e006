"""Serve a WSGI application as an ASGI 3 application, through a2wsgi.

``wrap_wsgi(app, config)`` runs ``app`` on a pool of ``config.threads`` threads. a2wsgi
builds the environ and provides ``wsgi.input``; this module closes the gaps a trusted
WSGI server closes (underscore headers, truncated bodies, ``close()``, errors to the log)
and moves a typical request across threads once each way instead of once per message.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast
from urllib.parse import unquote_to_bytes

from a2wsgi.wsgi import Body, build_environ

from .._config import Config
from .._errors import ClientDisconnected
from .._types import Message, Receive, Scope, Send, WSGIApp
from .threads import ThreadPool

__all__ = ["WSGIBridge", "wrap_wsgi"]

logger = logging.getLogger("asyncdev.error")

# Response bytes handed to the loop but not yet accepted by the transport. Past this
# the app's thread waits, so a fast generator behind a slow client holds at most about
# this much memory (the same order as asyncio's default transport high-water mark).
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


def wrap_wsgi(app: WSGIApp, config: Config) -> WSGIBridge:
    """The ASGI 3 app that serves ``app`` with ``config.threads`` worker threads."""
    return WSGIBridge(app, threads=config.threads, root_path=config.root_path)


class WSGIBridge:
    """An ASGI 3 callable serving one WSGI app; holds the thread pool."""

    def __init__(self, app: WSGIApp, *, threads: int, root_path: str = "") -> None:
        self.app = app
        self.root_path = root_path
        self.pool = ThreadPool(threads, name="asyncdev-wsgi")

    def close(self, timeout: float | None = 0.0) -> bool:
        """Let the worker threads exit once idle (after the server stopped); see ThreadPool."""
        return self.pool.close(timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            # Closing before accepting makes the server answer 403.
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise RuntimeError(f"unsupported ASGI scope type {kind!r}")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        exchange = _Exchange(loop, receive, send)
        environ = self._environ(scope, exchange)
        context = contextvars.copy_context()
        self.pool.submit(context.run, exchange.run_app, self.app, environ)
        await exchange.pump()

    def _environ(self, scope: Scope, exchange: _Exchange) -> dict[str, Any]:
        headers = scope["headers"]
        has_body = chunked = underscore = False
        for name, value in headers:
            if b"_" in name:
                underscore = True
            elif name == b"content-length":
                has_body = has_body or value.strip() not in (b"", b"0")
            elif name == b"transfer-encoding":
                has_body = chunked = True
        if underscore:
            # "X-Auth_User" and "X-Auth-User" both become HTTP_X_AUTH_USER; a proxy that
            # sets one and passes the other through would be spoofed. gunicorn and
            # werkzeug drop such names (nginx: underscores_in_headers off).
            scope = dict(scope)
            scope["headers"] = [(n, v) for n, v in headers if b"_" not in n]
        body = _Input(exchange.loop, cast(Any, exchange.receive_body))
        if not has_body:
            # RFC 9112 section 6.3: without Content-Length or Transfer-Encoding a request
            # has no body, so reading it needs no trip to the loop.
            body._has_more = False
        environ = cast(dict[str, Any], build_environ(cast(Any, scope), body))
        if chunked:
            # RFC 9112 section 6.3: Transfer-Encoding overrides Content-Length.
            environ.pop("CONTENT_LENGTH", None)
        root_path = scope.get("root_path") or self.root_path
        raw_path = scope.get("raw_path")
        if raw_path is not None:
            # PEP 3333: PATH_INFO carries the request's own bytes as latin-1; raw_path
            # keeps those that percent-decoding to UTF-8 text would have lost. It does
            # not include root_path (the proxy stripped it), the scope's path does.
            raw_path = raw_path.partition(b"?")[0]
            if b"%" in raw_path:
                raw_path = unquote_to_bytes(raw_path)
            path = raw_path.decode("latin-1")
        else:
            path = scope["path"].encode("utf-8").decode("latin-1")
            if root_path and (path == root_path or path.startswith(root_path + "/")):
                path = path[len(root_path):]
        environ["SCRIPT_NAME"] = root_path.encode("utf-8").decode("latin-1")
        environ["PATH_INFO"] = path
        environ["wsgi.errors"] = _ERRORS
        environ["wsgi.multiprocess"] = False
        # werkzeug and Flask read a body without Content-Length (chunked) only when
        # the server promises to signal its end.
        environ["wsgi.input_terminated"] = True
        return environ


class _Input(Body):  # type: ignore[misc]
    """a2wsgi's request stream with PEP 3333's optional size arguments made safe."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(-1 if size is None or size < 0 else size)

    def readline(self, limit: int | None = -1) -> bytes:
        if limit is None or limit < 0:
            return super().readline()
        # a2wsgi answers readline(n) from what is already buffered, which can be
        # nothing: fill up to a newline, n bytes or the end first.
        buffer = self.buffer
        while self._has_more and len(buffer) < limit and buffer.find(b"\n", 0, limit) < 0:
            buffer.extend(self._receive_more_data())
        return super().readline(limit)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines


class _ErrorStream:
    """``wsgi.errors``: lines written by the app go to the ``asyncdev.error`` log."""

    def __init__(self) -> None:
        self._local = threading.local()

    def write(self, text: str) -> int:
        pending: str = getattr(self._local, "pending", "") + text
        *lines, pending = pending.split("\n")
        self._local.pending = pending
        for line in lines:
            logger.error("%s", _escape(line.rstrip("\r")))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pending = getattr(self._local, "pending", "")
        if pending:
            self._local.pending = ""
            logger.error("%s", _escape(pending))


_ERRORS = _ErrorStream()
# Terminal control sequences in app output must not reach the operator's terminal.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0A, 0x20), 0x7F)}


def _escape(text: str) -> str:
    return text.translate(_CONTROL)


class _Exchange:
    """One request/response between the loop (``pump``) and a pool thread (``run_app``).

    The response start waits for the first body bytes (PEP 3333 lets the app call
    ``start_response`` again until then) and a body whose end is known travels with the
    thread's result, so a small response crosses threads once each way. Longer bodies
    are handed over in batches; the thread waits while more than ``_HIGH_WATER`` bytes
    are queued for the transport (backpressure).
    """

    __slots__ = (
        "_error", "_final", "_finished", "_headers_sent", "_held", "_lock", "_outbox",
        "_queued_bytes", "_remaining", "_scheduled", "_start", "_start_sent",
        "_thread_waiting", "_waiter", "closed", "loop", "receive", "send",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive, send: Send) -> None:
        self.loop = loop
        self.receive = receive
        self.send = send
        self.closed = False  # the client is gone or the request was abandoned
        # Shared by both threads. The lock is made by the first _post(): a response
        # that fits in the thread's result never needs one.
        self._lock: threading.Condition | None = None
        self._outbox: list[Message] = []
        self._queued_bytes = 0
        self._thread_waiting = False
        self._scheduled = False
        # Loop side only.
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._error: BaseException | None = None
        # Thread side until _finish() hands them over.
        self._start: Message | None = None
        self._start_sent = False
        self._headers_sent = False
        self._remaining: int | None = None  # body bytes still announced by Content-Length
        self._held: Message | None = None  # the body's last chunk, kept for the result
        self._final: list[Message] = []  # what the loop sends once the thread is done

    # -- loop side --------------------------------------------------------------------

    async def receive_body(self) -> Message:
        """``receive`` for ``wsgi.input``: a disconnect becomes an exception, not EOF."""
        if self.closed:
            raise ClientDisconnected("the client disconnected")
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self._abort()
            raise ClientDisconnected("the client disconnected before sending the whole body")
        return message

    async def pump(self) -> None:
        send = self.send
        try:
            while True:
                if self._outbox:  # only _post() fills it, after making the lock
                    lock = self._lock
                    assert lock is not None
                    with lock:
                        batch, self._outbox = self._outbox, []
                        self._scheduled = False
                    for message in batch:
                        await send(message)
                        if message.get("more_body"):
                            self._sent(len(message["body"]))
                elif self._finished:
                    break
                else:
                    waiter = self._waiter = self.loop.create_future()
                    await waiter
            for message in self._final:
                await send(message)
        except BaseException:
            # send() raised (the client left: ASGI spec 2.4) or the request was
            # cancelled: the thread stops at its next write instead of producing for
            # nobody.
            self._abort()
            raise
        error = self._error
        if error is not None:
            # The server logs it and answers 500, or closes the connection when the
            # response has begun; a ClientDisconnected passes quietly.
            self._error = None  # no reference cycle through the traceback
            raise error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self, error: BaseException | None) -> None:
        self._error = error
        self._finished = True
        self._wake()

    def _sent(self, size: int) -> None:
        lock = self._lock
        assert lock is not None
        with lock:
            self._queued_bytes -= size
            if self._thread_waiting and self._queued_bytes <= _LOW_WATER:
                lock.notify()

    def _abort(self) -> None:
        self.closed = True
        lock = self._lock  # None: the thread has not written yet and will see `closed`
        if lock is not None:
            with lock:
                lock.notify()

    # -- thread side ------------------------------------------------------------------

    def run_app(self, app: WSGIApp, environ: dict[str, Any]) -> None:
        error: BaseException | None = None
        try:
            iterable = app(environ, self.start_response)
            try:
                # A list's last item ends the body; so does the byte that completes
                # Content-Length. Either can travel with the result instead of alone.
                last = len(iterable) - 1 if isinstance(iterable, (list, tuple)) else -1
                for index, chunk in enumerate(iterable):
                    if chunk:
                        self._write(chunk, index == last)
                self._final = self._last_messages()
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:
            error = exc
        try:
            self.loop.call_soon_threadsafe(self._finish, error)
        except RuntimeError:
            pass  # the loop is closed: the server is gone

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info:
            try:
                if self._headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: avoid a cycle through the traceback
        elif self._start is not None:
            raise RuntimeError("start_response() called twice without exc_info")
        if not isinstance(status, str) or len(status) < 4 or status[3] != " ":
            raise ValueError(f"WSGI status must look like '200 OK', got {status!r}")
        encoded = []
        remaining = None
        for name, value in headers:
            key = name.lower().encode("latin-1")
            if key == b"content-length":
                remaining = int(value)
            encoded.append((key, value.encode("latin-1")))
        self._remaining = remaining
        self._start = {"type": "http.response.start", "status": int(status[:3]),
                       "headers": encoded}
        return self._legacy_write

    def _legacy_write(self, data: bytes) -> None:
        if data:
            self._write(data, False)

    def _write(self, chunk: bytes, last: bool) -> None:
        if self._start is None:
            raise RuntimeError("the WSGI app sent body data before calling start_response()")
        if self.closed:
            raise ClientDisconnected("the client disconnected")
        self._headers_sent = True
        held = self._held
        if held is not None:
            # More data than Content-Length announced: pass it on; the response framer
            # refuses it (a 500 if nothing was sent yet, else the connection closes).
            self._held = None
            self._post([held], len(held["body"]))
        if self._remaining is not None:
            self._remaining -= len(chunk)
            last = last or self._remaining <= 0
        message = {"type": "http.response.body", "body": chunk, "more_body": True}
        if last:
            self._held = message
        else:
            self._post([message], len(chunk))

    def _last_messages(self) -> list[Message]:
        messages: list[Message] = []
        if not self._start_sent:
            if self._start is None:
                raise RuntimeError("the WSGI app returned without calling start_response()")
            messages.append(self._start)
        final = self._held
        if final is not None:
            final["more_body"] = False
        else:
            final = {"type": "http.response.body", "body": b"", "more_body": False}
        messages.append(final)
        return messages

    def _post(self, messages: list[Message], size: int) -> None:
        if not self._start_sent:
            assert self._start is not None
            messages.insert(0, self._start)
            self._start_sent = True
        lock = self._lock
        if lock is None:
            lock = self._lock = threading.Condition(threading.Lock())
        with lock:
            self._outbox.extend(messages)
            self._queued_bytes += size
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self.loop.call_soon_threadsafe(self._wake)
        if self._queued_bytes > _HIGH_WATER:
            with lock:
                self._thread_waiting = True
                while self._queued_bytes > _LOW_WATER and not self.closed:
                    lock.wait()
                self._thread_waiting = False
        if self.closed:
            raise ClientDisconnected("the client disconnected")
