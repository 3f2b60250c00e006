"""One request's ASGI cycle: the ``receive``/``send`` pair and the task that runs the app.

``receive`` hands over the buffered body (100 Continue first, if the client waits for
it); ``send`` frames the response with ``_protocol.response.ResponseFramer`` and writes it to the
connection's transport; an app that fails before responding gets a 500. Reading, flow
control and reuse stay with ``connection.HTTPConnection``, which makes one per request.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import TYPE_CHECKING

from .._errors import ClientDisconnected
from .._protocol.response import ResponseFramer

if TYPE_CHECKING:
    from .._protocol.parser import Request
    from .._types import ASGIApp, Message, Scope
    from .connection import HTTPConnection

__all__ = ["RequestCycle"]

error_logger = logging.getLogger("asyncdev.error")
access_logger = logging.getLogger("asyncdev.access")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RequestCycle:
    """The ASGI receive/send pair for one request, and the task that runs the app."""

    __slots__ = (
        "_body",
        "_final_sent",
        "_waiter",
        "body_done",
        "conn",
        "disconnected",
        "expect_continue",
        "framer",
        "head_written",
        "keep_alive",
        "request",
        "response_done",
        "scope",
        "start_time",
    )

    def __init__(self, conn: HTTPConnection, request: Request, scope: Scope) -> None:
        self.conn = conn
        self.request = request
        self.scope = scope
        self.framer = ResponseFramer()
        self.keep_alive = request.keep_alive
        self.expect_continue = request.expect_continue
        self.body_done = not request.has_body
        self.disconnected = False
        self.head_written = False
        self.response_done = False
        self._body: list[bytes] = []
        self._final_sent = False
        self._waiter: asyncio.Future[None] | None = None
        self.start_time = perf_counter()

    @property
    def buffered(self) -> int:
        return sum(map(len, self._body))

    def feed_body(self, data: bytes) -> None:
        if data:
            self._body.append(data)
            self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def on_disconnect(self) -> None:
        self.disconnected = True
        self.wake()

    # -- ASGI ---------------------------------------------------------------------------

    async def receive(self) -> Message:
        if self.disconnected or self.response_done:
            return {"type": "http.disconnect"}
        if not self._final_sent:
            while not self._body and not self.body_done:
                conn = self.conn
                if self.expect_continue and not self.head_written:
                    # RFC 9110 section 10.1.1: ask for the body only once the app wants it.
                    self.expect_continue = False
                    conn.transport.write(_CONTINUE)
                conn.resume_reading_if_paused()
                waiter = self._waiter = conn.loop.create_future()
                await waiter
                if self.disconnected or self.response_done:
                    return {"type": "http.disconnect"}
            body = self._body
            data = body[0] if len(body) == 1 else b"".join(body)
            body.clear()
            more = not self.body_done
            if not more:
                self._final_sent = True
            self.conn.resume_reading_if_paused()
            return {"type": "http.request", "body": data, "more_body": more}
        # The whole body was delivered: the next message is the disconnect, once the
        # response is done or the client goes away.
        while not (self.disconnected or self.response_done):
            waiter = self._waiter = self.conn.loop.create_future()
            await waiter
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        framer = self.framer
        tp = message["type"]
        if self.disconnected:
            raise ClientDisconnected("the client closed the connection")
        if self.response_done:
            raise RuntimeError(f"Unexpected ASGI message {tp!r} after the response was completed")
        if not framer.started:
            if tp != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', got {tp!r}")
            request = self.request
            framer.start(
                message["status"],
                message.get("headers") or (),
                request_method=request.method,
                http_version=request.http_version,
                keep_alive=self.keep_alive,
                default_headers=self.conn.state.default_headers(),
            )
            return
        if tp != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', got {tp!r}")
        more = message.get("more_body", False)
        data = framer.body(message.get("body", b""), more)
        conn = self.conn
        if data:
            self.head_written = True
            conn.transport.write(data)
        if not more:
            self.response_done = True
            self.wake()
            conn.response_complete(self, framer.keep_alive and self.keep_alive)
        elif conn.write_paused:
            await conn.drain()
            if self.disconnected:
                raise ClientDisconnected("the client closed the connection")

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            # Cancelled by a forced shutdown: not the app's fault, nothing to report.
            self._finish_after_error(None)
            raise
        except BaseException as exc:
            # SystemExit or KeyboardInterrupt raised by app code is still just a failed
            # request: a dev server keeps serving rather than letting it stop the loop.
            # Frameworks re-raise the disconnect as their own exception (Starlette's
            # ClientDisconnect, chained to ours; anyio's exception groups): the client
            # leaving is one access line, as uvicorn logs it, not an error.
            gone = self.disconnected and isinstance(exc, OSError)
            if gone or _caused_by_disconnect(exc):
                self._log_disconnect()
                self._finish_after_error(None)
            else:
                error_logger.error(
                    "Exception in ASGI application (%s %s)",
                    self.scope["method"],
                    self.scope["path"],
                    exc_info=exc,
                )
                self._finish_after_error(exc)
        else:
            if self.disconnected and not self.response_done:
                self._log_disconnect()
            elif not self.response_done:
                if not self.framer.started:
                    reason = "ASGI callable returned without starting a response"
                else:
                    reason = "ASGI callable returned without completing the response"
                error_logger.error("%s (%s %s)", reason, self.scope["method"], self.scope["path"])
                self._finish_after_error(None)

    def _finish_after_error(self, exc: BaseException | None) -> None:
        conn = self.conn
        if self.response_done or conn.closed:
            return
        self.response_done = True
        if self.head_written or self.disconnected:
            # Part of the response is on the wire: the only honest signal left is to
            # close the connection (RFC 9112 section 9.6 incomplete message).
            conn.close()
            return
        state = conn.state
        status, headers, body = state.render_error(self.scope, exc)
        # Whatever the app had started is dropped: nothing of it was sent.
        framer = self.framer = ResponseFramer()
        request = self.request
        # Content-Length even for HEAD: the head is the one a GET would get (RFC 9110
        # section 9.3.2).
        headers = [*headers, (b"content-length", b"%d" % len(body))]
        framer.start(
            status, headers, request_method=request.method,
            http_version=request.http_version, keep_alive=False,
            default_headers=state.default_headers(),
        )
        conn.transport.write(framer.body(body, False))
        self.head_written = True
        if state.access_log:
            self.log_access()
        conn.close()

    def log_access(self, note: str = "") -> None:
        scope = self.scope
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d %.1fms%s',
            self.conn.client_label,
            scope["method"],
            self.request.target.decode("latin-1"),
            scope["http_version"],
            self.framer.status,
            (perf_counter() - self.start_time) * 1000.0,
            note,
        )

    def _log_disconnect(self) -> None:
        if self.conn.state.access_log and not self.response_done:
            self.log_access(" client disconnected")


def _caused_by_disconnect(exc: BaseException) -> bool:
    """Whether ``exc``, its causes or (for exception groups) its members include
    ``ClientDisconnected``."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ClientDisconnected):
            return True
        members = getattr(current, "exceptions", None)
        if isinstance(members, (tuple, list)):
            pending.extend(m for m in members if isinstance(m, BaseException))
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False
