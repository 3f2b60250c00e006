"""One HTTP/1.1 connection: an asyncio Protocol driving the sans-IO parser and the ASGI app.

It owns the transport: flow control both ways (``flow.FlowControl``: a slow reader
pauses the app's ``send``; a fast uploader is paused while the app is not reading), the
timers, keep-alive, pipelining (requests wait their turn) and closing. Each request's
``cycle.RequestCycle`` reaches it only through the ``cycle.ConnectionPort`` methods, and
an upgrade takes the transport away with ``detach()``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from .._errors import ClientDisconnected
from .._protocol import response as _http
from .._protocol.events import Body, EndOfBody, NeedData, ProtocolError, Request
from .._protocol.parser import TLS_HANDSHAKE, RequestParser
from .cycle import RequestCycle
from .flow import HIGH_WATER, FlowControl

if TYPE_CHECKING:
    from .._types import Scope
    from .state import ServerState

__all__ = ["HTTPConnection"]

error_logger = logging.getLogger("asyncdev.error")

# After an error answer, what the client still sends is read and dropped for up to
# this long before closing (Apache's lingering close waits 2 s per read).
LINGER_SECONDS = 2.0

_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}
_VERSIONS = {b"1.1": "1.1", b"1.0": "1.0"}
_ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}


class HTTPConnection(asyncio.Protocol):
    __slots__ = (
        "_timer",
        "_timer_kind",
        "client",
        "client_label",
        "closed",
        "config",
        "cycle",
        "flow",
        "loop",
        "parser",
        "server",
        "state",
        "transport",
    )

    def __init__(self, state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.config = state.config
        self.loop = loop
        config = self.config
        self.parser = RequestParser(
            max_head=config.limit_request_head,
            max_line=config.limit_request_line,
            max_field=config.limit_request_field_size,
            max_fields=config.limit_request_fields,
            max_body=config.limit_request_body,
        )
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.cycle: RequestCycle | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int | None] | None = None
        self.client_label = "-"
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_kind = ""
        self.flow: FlowControl = None  # type: ignore[assignment]

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.flow = FlowControl(self.loop, self.transport)
        self.state.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Head and a small body leave in one write; without TCP_NODELAY, Nagle plus
            # the client's delayed ACK stalls keep-alive responses by ~40 ms.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover
                pass
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.client = (str(peer[0]), int(peer[1]))
            self.client_label = f"{peer[0]}:{peer[1]}"
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple) and len(local) >= 2:
            self.server = (str(local[0]), int(local[1]))
        elif isinstance(local, str) and local:
            self.server = (local, None)
        self._set_timer("head", self.config.timeout_request_head)

    def data_received(self, data: bytes) -> None:
        if self.closed:  # lingering after an error answer: drop what still comes
            return
        self.parser.feed(data)
        if self._timer_kind == "keep-alive":
            self._set_timer("head", self.config.timeout_request_head)
        self._process()

    def eof_received(self) -> bool | None:
        # A client that shuts down its sending side is treated as gone (as browsers and
        # HTTP libraries never half-close): the app waiting in receive() learns of it
        # at once instead of at its next write. Returning None lets asyncio close.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.connections.discard(self)
        self._cancel_timer()
        cycle = self.cycle
        if cycle is not None:
            cycle.on_disconnect()
        self.flow.lost()

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    # -- parsing ------------------------------------------------------------------------

    def _process(self) -> None:
        parser = self.parser
        while not self.closed:
            cycle = self.cycle
            if cycle is not None and cycle.body_done:
                # The request is complete; anything further is a pipelined request that
                # waits for this response. Stop reading if the client floods us.
                if parser.buffered > HIGH_WATER:
                    self.flow.pause_reading()
                return
            event = parser.next_event()
            tp = type(event)
            if tp is Request:
                assert isinstance(event, Request)
                self._on_request(event)
            elif tp is Body:
                assert cycle is not None and isinstance(event, Body)
                cycle.feed_body(event.data)
                if cycle.buffered > HIGH_WATER:
                    self.flow.pause_reading()
                    return
            elif event is EndOfBody:
                assert cycle is not None
                cycle.end_of_body()
                if self._timer_kind == "body":
                    self._cancel_timer()
            elif event is NeedData:
                if cycle is not None:
                    # Inactivity, not a deadline: each read of the body restarts it.
                    self._set_timer("body", self.config.timeout_body)
                return
            elif tp is ProtocolError:
                assert isinstance(event, ProtocolError)
                self._protocol_error(event)
                return
            else:  # Paused: the next request waits for this one's response
                return

    def _on_request(self, request: Request) -> None:
        self._cancel_timer()
        state = self.state
        limit = self.config.limit_concurrency
        # A task that has just finished leaves the set one loop iteration later (its
        # done callback), after its response may already have reached the client.
        if (limit is not None and len(state.tasks) >= limit
                and sum(not task.done() for task in state.tasks) >= limit):
            self._reject(_http.error_response(503, "Too many concurrent requests"))
            return
        scope = self._scope(request)
        if scope is None:
            return
        upgrade = state.upgrade
        if upgrade is not None and request.method == b"GET":
            for name, _value in request.headers:
                if name == b"upgrade" and upgrade(self, request, scope):
                    return
        cycle = RequestCycle(self, state, request, scope)
        if state.shutting_down:
            cycle.close_after_response()
        self.cycle = cycle
        task = self.loop.create_task(cycle.run(state.app))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    def _scope(self, request: Request) -> Scope | None:
        target = request.target
        if target[:1] == b"/":
            raw_path, _, query = target.partition(b"?")
        elif target == b"*" and request.method == b"OPTIONS":
            raw_path, query = b"*", b""
        elif target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
            # absolute-form (RFC 9112 section 3.2.2): the path goes to the app, never the URL.
            rest = target.split(b"//", 1)[1]
            start = min(i for i in (rest.find(b"/"), rest.find(b"?"), len(rest)) if i >= 0)
            raw_path, _, query = rest[start:].partition(b"?")
            if not raw_path:  # "http://host" and "http://host?q" (RFC 9110 section 4.2.3)
                raw_path = b"/"
        else:
            self._protocol_error(ProtocolError(400, "invalid request target"))
            return None
        method = _METHODS.get(request.method) or request.method.decode("ascii")
        path = raw_path.decode("latin-1")
        if "%" in path:
            from urllib.parse import unquote  # imported by the first request that needs it

            path = unquote(path)
        state = self.state
        root_path = state.root_path
        return {
            "type": "http",
            "asgi": _ASGI_VERSION,
            "http_version": _VERSIONS.get(request.http_version, "1.1"),
            "server": self.server,
            "client": self.client,
            "scheme": state.scheme,
            "method": method,
            "root_path": root_path,
            "path": root_path + path if root_path else path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": request.headers,
            "state": state.lifespan_state.copy(),
        }

    def _protocol_error(self, error: ProtocolError) -> None:
        if error.reason == TLS_HANDSHAKE:
            from .tls import tls_on_plain_port

            tls_on_plain_port(self.client_label)  # an HTTP answer would be garbage to it
            self.close()
            return
        error_logger.debug("Invalid HTTP request from %s: %s", self.client_label, error.reason)
        cycle = self.cycle
        if cycle is not None and cycle.head_written:
            self.close()
        else:
            if cycle is not None:
                cycle.on_disconnect()
            self._reject(_http.error_response(error.status))

    # -- the port a RequestCycle uses (cycle.ConnectionPort) ------------------------------

    @property
    def write_paused(self) -> bool:
        return self.flow.write_paused

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def writelines(self, parts: list[bytes]) -> None:
        self.transport.writelines(parts)

    def response_complete(self, cycle: RequestCycle, keep_alive: bool) -> None:
        state = self.state
        if state.access_log:
            cycle.log_access()
        if state.on_first_response is not None:
            first, state.on_first_response = state.on_first_response, None
            first()
        if not keep_alive or not cycle.body_done or self.state.shutting_down or self.closed:
            if keep_alive and cycle.body_done and not self.closed:
                # Shutting down, but the client was told it may reuse the connection.
                self._hand_over()
            self.close()
            return
        self.cycle = None
        self.parser.start_next_request()
        self.flow.resume_reading()
        if self.parser.buffered:
            # Part of a pipelined request is here already: its head is due in time. It
            # is parsed on the next loop iteration, outside the app's send() call.
            self._set_timer("head", self.config.timeout_request_head)
            self.loop.call_soon(self._process)
        else:
            self._set_timer("keep-alive", self.config.timeout_keep_alive)

    async def drain(self) -> None:
        if not await self.flow.drain(self.config.timeout_body):
            # The client stopped reading: without a bound, the app's send() and the
            # connection would wait forever (nginx's send_timeout precedent).
            error_logger.debug("Response to %s stalled; closing", self.client_label)
            self.abort()
            raise ClientDisconnected("the client stopped reading the response")

    def want_body(self) -> None:
        """The app waits for body bytes: read again if reading was paused."""
        if self.flow.resume_reading():
            # Bytes already received but not yet parsed would otherwise wait for the
            # next data_received, which may never come.
            self._process()

    # -- lifecycle ----------------------------------------------------------------------

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        """Give up the transport for a protocol upgrade: it and the bytes received after
        the request head. The connection is done afterwards: it no longer parses, times
        out or takes part in shutdown. (No EOF can have come: ``eof_received`` closes.)"""
        data = self.parser.take_trailing_data()
        self.closed = True
        self.flow.stop()
        self._cancel_timer()
        self.state.connections.discard(self)
        return self.transport, data

    def write_and_close(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)
            self.close()

    def _reject(self, response: bytes) -> None:
        """Send an error answer, then close without destroying it.

        Closing a socket that holds unread request bytes makes the kernel reset the
        connection, which can discard the answer before the client reads it (RFC 9112
        section 9.6). So the sending side is shut first and whatever the client still
        sends is dropped for a moment (lingering close, as Apache and nginx do).
        """
        if self.closed:
            return
        transport = self.transport
        if not transport.can_write_eof():
            self.write_and_close(response)
            return
        self.closed = True
        self.flow.stop()
        transport.write(response)
        transport.write_eof()
        self._set_timer("linger", LINGER_SECONDS)
        self.flow.force_resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.flow.stop()
            self._cancel_timer()
            self.transport.close()

    def shutdown(self) -> None:
        """Graceful stop: idle connections close now, busy ones after their response.

        A connection still waiting for its first request is not idle: the listen queue
        handed it over with a request on its way, which gets answered (then the
        connection closes). Closing it instead would fail a request during a reload.
        """
        cycle = self.cycle
        if cycle is None:
            if self._timer_kind == "keep-alive" and not self.parser.buffered:
                self._hand_over()
                self.close()
        elif cycle.response_done:
            self.close()
        else:
            cycle.close_after_response()

    def _hand_over(self) -> None:
        # Closing an idle persistent connection races with the request the client may
        # be sending on it (RFC 9112 section 9.6); on reload it goes to the next process.
        hand_over = self.state.hand_over
        if hand_over is not None and not self.parser.buffered:
            hand_over(self.transport)

    def abort(self) -> None:
        if not self.closed or self._timer_kind == "linger":
            self.closed = True
            self.flow.stop()
            self._cancel_timer()
            self.transport.abort()

    def _set_timer(self, kind: str, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_kind = kind
        self._timer = self.loop.call_later(delay, self._on_timeout, kind)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_kind = ""

    def _on_timeout(self, kind: str) -> None:
        self._timer = None
        self._timer_kind = ""
        if kind == "linger":
            self.transport.close()
            return
        if self.closed:
            return
        cycle = self.cycle
        if kind == "head" and cycle is None:
            if self.parser.in_head and self.parser.buffered:
                # RFC 9110 section 15.5.9: the client was too slow sending its request.
                self._reject(_http.error_response(408, "Request Timeout"))
            else:
                self.close()
        elif kind == "keep-alive" and cycle is None:
            self.close()
        elif kind == "body" and cycle is not None and not cycle.body_done:
            if self.flow.read_paused:  # the app is not reading: the client is not late
                self._set_timer("body", self.config.timeout_body)
                return
            error_logger.debug("Request body timed out from %s", self.client_label)
            cycle.on_disconnect()
            if cycle.head_written:
                self.close()
            else:
                self._reject(_http.error_response(408, "Request Timeout"))
