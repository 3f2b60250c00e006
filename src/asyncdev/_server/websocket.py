"""WebSockets: the ASGI ``websocket`` cycle over wsproto, after an HTTP/1.1 upgrade.

``install(state)`` hooks upgrade requests; once ``_protocol.wshandshake`` accepts one, a
``WebSocketConnection`` becomes the transport's protocol and runs the app. It writes the
handshake's answer, moves messages with flow control both ways, pings idle peers, runs
the closing handshake (RFC 6455 section 7), and closes with 1012 on shutdown. The rules
(phases, frames) are sans-IO in ``_protocol.websocket``; this module is past ~450 lines
because its timers, queue and closing steps all act on one transport's shared state.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, cast

from .._errors import ClientDisconnected
from .._protocol import response as _http
from .._protocol.websocket import (
    Accept,
    Close,
    Deny,
    FrameChannel,
    PeerClosed,
    Phase,
    PongReceived,
    Received,
    ResponseBody,
    ResponseStart,
    SendMessage,
    Violation,
    WebSocketPhases,
)
from .._protocol.wshandshake import accept_response, denial_response, read_upgrade, websocket_scope
from .flow import HIGH_WATER, FlowControl

if TYPE_CHECKING:
    from .._protocol.events import Request
    from .._types import Message, Scope
    from .state import ServerState, Upgradable

__all__ = ["WebSocketConnection", "install"]

error_logger = logging.getLogger("asyncdev.error")
access_logger = logging.getLogger("asyncdev.access")

# Reading resumes once the app has taken the queue below this (hysteresis, so a steady
# stream does not toggle the socket on every message).
LOW_WATER = HIGH_WATER // 4
# After our Close frame the peer has this long to answer before the TCP connection is
# dropped (RFC 6455 section 7.1.1 lets the server close first; the websockets library
# waits 10 s, a development server on loopback can be quicker).
CLOSE_TIMEOUT = 5.0
# After a protocol violation, the app has this long to take the messages that came
# before it (and answer them) before the Close goes out anyway.
VIOLATION_GRACE = 1.0

_HANDSHAKE, _RESPONSE, _OPEN, _CLOSING, _CLOSED = (
    Phase.HANDSHAKE, Phase.RESPONSE, Phase.OPEN, Phase.CLOSING, Phase.CLOSED
)


def install(state: ServerState) -> None:
    """Take over WebSocket upgrade requests on every connection of ``state``."""

    def upgrade(conn: Upgradable, request: Request, scope: Scope) -> bool:
        return _upgrade(state, conn, request, scope)

    state.upgrade = upgrade


def _upgrade(state: ServerState, conn: Upgradable, request: Request, scope: Scope) -> bool:
    handshake = read_upgrade(request)
    if handshake is None:
        return False
    if isinstance(handshake, bytes):
        conn.write_and_close(handshake)
        return True

    transport, data = conn.detach()
    ws = WebSocketConnection(
        state,
        conn.loop,
        transport,
        websocket_scope(scope, handshake.subprotocols),
        key=handshake.key,
        offers=handshake.offers,
        target=request.target,
        client_label=conn.client_label,
    )
    transport.set_protocol(ws)
    ws.start(data)
    return True


class WebSocketConnection(asyncio.Protocol):
    """One WebSocket: the transport's protocol after the upgrade, and the app's task."""

    def __init__(
        self,
        state: ServerState,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        scope: Scope,
        *,
        key: bytes,
        offers: list[str],
        target: bytes,
        client_label: str,
    ) -> None:
        self.state = state
        self.config = config = state.config
        self.loop = loop
        self.transport = transport
        self.scope = scope
        self.client_label = client_label
        self._key = key
        self._offers = offers
        self._target = target
        self._max_size = config.ws_max_size
        self._phases = WebSocketPhases()
        self._ws: FrameChannel | None = None
        self._connect_sent = False
        # Bytes that arrived before the app accepted (a client may pipeline frames).
        self._early = bytearray()
        # Complete messages the app has not received yet, and their total size.
        self._queue: deque[tuple[Message, int]] = deque()
        self._queued = 0
        self._receiver: asyncio.Future[None] | None = None
        # (code, reason) for websocket.disconnect, once the app is to be told.
        self._disconnect: tuple[int, str] | None = None
        # A violation seen after messages the app has not taken yet: its Close waits.
        self._violation: Violation | None = None
        self._violation_timer: asyncio.TimerHandle | None = None
        self._flow = FlowControl(loop, transport)
        self._lost = False
        self._lost_future: asyncio.Future[None] = loop.create_future()
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        # websocket.http.response in progress.
        self._framer: _http.ResponseFramer | None = None

    @property
    def _phase(self) -> Phase:
        return self._phases.phase

    # -- start ---------------------------------------------------------------------------

    def start(self, data: bytes) -> None:
        state = self.state
        state.connections.add(self)
        if not self.transport.is_reading():
            self.transport.resume_reading()
        task = self.loop.create_task(self.run())
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        if data:
            self.data_received(data)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        phase = self._phase
        if phase is _OPEN or phase is _CLOSING:
            ws = self._ws
            if ws is None:  # closing after a denial: nothing more is read
                return
            events, out = ws.receive(data)
            if out:
                self._write(out)
            for event in events:
                tp = type(event)
                if tp is Received:
                    received = cast("Received", event)
                    self._deliver(received.message, received.size)
                elif tp is PongReceived:
                    if self._pong_timer is not None:
                        self._pong_timer.cancel()
                        self._pong_timer = None
                elif tp is PeerClosed:
                    closed = cast("PeerClosed", event)
                    self._closed_by_frame(closed.code, closed.reason)
                else:
                    self._on_violation(cast("Violation", event))
        elif phase is _HANDSHAKE:
            early = self._early
            early += data
            if len(early) > HIGH_WATER:
                self._flow.pause_reading()

    def eof_received(self) -> bool | None:
        # The peer half-closed without a Close frame: it is gone (RFC 6455 section 7.1.5).
        self._peer_gone()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._phases.advance(_CLOSED)
        self.state.connections.discard(self)
        self._cancel_timers()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._disconnect is None:
            self._disconnect = (1006, "")
        self._wake_receiver()
        self._flow.lost()
        if not self._lost_future.done():
            self._lost_future.set_result(None)

    def pause_writing(self) -> None:
        self._flow.pause_writing()

    def resume_writing(self) -> None:
        self._flow.resume_writing()

    # -- called by the server --------------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful stop: close with 1012 (service restart).

        A handshake in progress is answered first, as the HTTP side answers a request
        already received: a WebSocket accepted during shutdown is closed with 1012 at once.
        """
        if self._phase == _OPEN:
            self._send_close(1012, "")

    def abort(self) -> None:
        if not self._lost:
            self._phases.advance(_CLOSED)
            self.transport.abort()

    # -- incoming frames -------------------------------------------------------------------

    def _deliver(self, message: Message, size: int) -> None:
        if self._phase is not _OPEN:
            return
        self._queue.append((message, size))
        self._queued += size
        if self._queued > HIGH_WATER:
            # The app is not keeping up: stop reading so the client is paused by TCP.
            self._flow.pause_reading()
        self._wake_receiver()

    def _on_violation(self, violation: Violation) -> None:
        if violation.code == 1009:
            error_logger.debug(
                "WebSocket message from %s over ws_max_size (%d bytes)",
                self.client_label,
                self._max_size,
            )
        self._violation = violation
        if self._queue and self._phase is _OPEN:
            # RFC 6455 processes frames in order: the messages before the violation reach
            # the app, and its answers to them go out before the Close, which is sent
            # when the app asks for more (receive) or after a grace period.
            self._violation_timer = self.loop.call_later(VIOLATION_GRACE, self._fail)
        else:
            self._fail()

    def _fail(self) -> None:
        violation = self._violation
        if violation is None or self._lost:
            return
        self._violation = None
        if self._violation_timer is not None:
            self._violation_timer.cancel()
            self._violation_timer = None
        if violation.code == 1009:
            # Too big, but the frames are sound: wait for the peer's Close.
            self._send_close(violation.code, violation.reason)
        else:
            ws = self._ws
            assert ws is not None
            self._write(ws.close(violation.code, violation.reason))
            self._closed_by_frame(violation.code, violation.reason)

    def _closed_by_frame(self, code: int, reason: str) -> None:
        if self._disconnect is None:
            self._disconnect = (code, reason)
        if self._phase is not _CLOSED:
            self._phases.advance(_CLOSING)
        self._cancel_timers()
        # RFC 6455 section 7.1.1: the server closes the TCP connection first.
        self._close_transport()
        self._wake_receiver()

    def _peer_gone(self) -> None:
        if self._disconnect is None:
            self._disconnect = (1006, "")
        if self._phase != _CLOSED:
            self._phases.advance(_CLOSING)
        self._cancel_timers()
        self._wake_receiver()
        self._flow.wake_writers()

    # -- ASGI --------------------------------------------------------------------------------

    async def receive(self) -> Message:
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        while True:
            queue = self._queue
            if queue:
                message, size = queue.popleft()
                self._queued -= size
                if self._queued <= LOW_WATER and self._phase == _OPEN:
                    self._flow.resume_reading()
                return message
            if self._violation is not None:
                self._fail()
            disconnect = self._disconnect
            if disconnect is not None:
                return {
                    "type": "websocket.disconnect",
                    "code": disconnect[0],
                    "reason": disconnect[1],
                }
            waiter = self._receiver = self.loop.create_future()
            await waiter

    async def send(self, message: Message) -> None:
        action = self._phases.check(message)
        tp = type(action)
        if tp is SendMessage:
            data = cast("SendMessage", action).data
            ws = self._ws
            assert ws is not None
            self.transport.write(ws.send(data))
            if self._flow.write_paused:
                await self._drain()
        elif tp is Accept:
            self._accept(cast("Accept", action).message)
        elif tp is Deny:
            # ASGI: closing before accepting refuses the handshake with 403.
            self._deny_plain(403, "Forbidden")
        elif tp is Close:
            close = cast("Close", action)
            self._send_close(close.code, close.reason)
        elif tp is ResponseStart:
            start = cast("ResponseStart", action)
            self._framer = denial_response(start.message, self.state.default_headers())
            self._phases.advance(_RESPONSE)
        elif tp is ResponseBody:
            body = cast("ResponseBody", action)
            framer = self._framer
            assert framer is not None
            out = framer.body(body.body, body.more)
            if out:
                self.transport.write(out)
            if not body.more:
                self._log(framer.status)
                self._finish_response()
            elif self._flow.write_paused:
                await self._drain()
        # Ignore: a close while already closing, nothing left to do.

    def _accept(self, message: Message) -> None:
        head, extensions = accept_response(
            message,
            key=self._key,
            subprotocols=self.scope["subprotocols"],
            offers=self._offers,
            default_headers=self.state.default_headers(),
            per_message_deflate=self.config.ws_per_message_deflate,
        )
        self._ws = FrameChannel(extensions, max_size=self._max_size)
        self._phases.advance(_OPEN)
        self.transport.write(head)
        self._log(101)
        self._schedule_ping()
        early = self._early
        if early:
            self._early = bytearray()
            self.data_received(bytes(early))
        if self._queued <= LOW_WATER and self._phase == _OPEN:
            self._flow.resume_reading()
        if self.state.shutting_down and self._phase == _OPEN:
            self._send_close(1012, "")

    def _deny_plain(self, status: int, message: str) -> None:
        self._phases.advance(_CLOSING)
        if self._disconnect is None:
            self._disconnect = (1006, "")
        if not self._lost:
            self._log(status)
            self.transport.write(_http.error_response(status, message))
        self._close_transport()
        self._wake_receiver()

    def _finish_response(self) -> None:
        self._phases.advance(_CLOSING)
        if self._disconnect is None:
            self._disconnect = (1006, "")
        self._close_transport()
        self._wake_receiver()

    # -- the app's task ----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.state.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self.abort()
                raise
            self._after_error(exc)
        else:
            self._after_return()
        if not self._lost:
            if self._close_timer is None:
                self._close_timer = self.loop.call_later(CLOSE_TIMEOUT, self.abort)
            # The task lasts until the closing handshake is done, so a graceful shutdown
            # waits for it (within its grace period).
            await self._lost_future

    def _after_error(self, exc: Exception) -> None:
        phase = self._phase
        quiet = isinstance(exc, ClientDisconnected) or (
            isinstance(exc, OSError) and (self._lost or self._disconnect is not None)
        )
        if not quiet:
            error_logger.error(
                "Exception in ASGI application (WebSocket %s)", self.scope["path"], exc_info=exc
            )
        if phase == _HANDSHAKE:
            self._deny_plain(500, "Internal Server Error")
        elif phase == _RESPONSE:
            self._finish_response()
        elif phase == _OPEN:
            # RFC 6455 section 7.4.1: 1011, the server hit an unexpected condition.
            self._send_close(1011, "")

    def _after_return(self) -> None:
        phase = self._phase
        if phase == _HANDSHAKE:
            error_logger.error(
                "ASGI callable returned without accepting or closing the WebSocket (%s)",
                self.scope["path"],
            )
            self._deny_plain(500, "Internal Server Error")
        elif phase == _RESPONSE:
            error_logger.error(
                "ASGI callable returned without completing the response (WebSocket %s)",
                self.scope["path"],
            )
            self._finish_response()
        elif phase == _OPEN:
            self._send_close(1000, "")

    # -- closing -----------------------------------------------------------------------------

    def _send_close(self, code: int, reason: str) -> None:
        ws = self._ws
        assert ws is not None
        self._write(ws.close(code, reason))
        if self._disconnect is None:
            self._disconnect = (code, reason)
        self._phases.advance(_CLOSING)
        self._cancel_timers()
        if ws.closed:
            self._close_transport()
        else:
            # Wait for the peer's Close, but not forever; keep reading to see it.
            self._arm_close_timer()
            self._flow.resume_reading()
        self._wake_receiver()
        self._flow.wake_writers()

    def _close_transport(self) -> None:
        if not self._lost:
            self.transport.close()
            self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._lost:
            self._close_timer = self.loop.call_later(CLOSE_TIMEOUT, self.abort)

    # -- keepalive ---------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        interval = self.config.ws_ping_interval
        if interval is not None:
            self._ping_timer = self.loop.call_later(interval, self._send_ping)

    def _send_ping(self) -> None:
        self._ping_timer = None
        ws = self._ws
        if self._phase != _OPEN or ws is None:
            return
        self._write(ws.ping(b"asyncdev"))
        timeout = self.config.ws_ping_timeout
        if timeout is not None and self._pong_timer is None:
            self._pong_timer = self.loop.call_later(timeout, self._on_pong_timeout)
        self._schedule_ping()

    def _on_pong_timeout(self) -> None:
        self._pong_timer = None
        if self._phase != _OPEN:
            return
        timeout = self.config.ws_ping_timeout
        if self._flow.read_paused and timeout is not None:
            # We stopped reading ourselves (the app is slow): the Pong may be waiting
            # unread, so the peer is not at fault.
            self._pong_timer = self.loop.call_later(timeout, self._on_pong_timeout)
            return
        error_logger.info("WebSocket ping timeout, closing (%s)", self.client_label)
        # No Close frame came from the peer: report 1006 (RFC 6455 section 7.1.5) and tell
        # the peer 1011 in case it is still there.
        self._disconnect = (1006, "")
        self._send_close(1011, "keepalive ping timeout")
        self._close_transport()

    def _cancel_timers(self) -> None:
        if self._violation_timer is not None:
            self._violation_timer.cancel()
            self._violation_timer = None
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None

    # -- plumbing ----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self._lost:
            self.transport.write(data)

    def _wake_receiver(self) -> None:
        waiter = self._receiver
        if waiter is not None:
            self._receiver = None
            if not waiter.done():
                waiter.set_result(None)

    async def _drain(self) -> None:
        await self._flow.drain()
        if self._lost or self._phase not in (_OPEN, _RESPONSE):
            raise ClientDisconnected("the WebSocket is closed")

    def _log(self, status: int) -> None:
        if self.state.access_log:
            access_logger.info(
                '%s - "WebSocket %s" %d',
                self.client_label,
                self._target.decode("latin-1"),
                status,
            )
