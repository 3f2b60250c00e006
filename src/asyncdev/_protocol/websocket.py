"""The ASGI ``websocket`` phase machine and an open WebSocket's frames, sans-IO.

A WebSocket goes handshake -> open (accepted) or response (a denial with a body, the
"websocket.http.response" extension) -> closing -> closed. ``WebSocketPhases.check``
turns an app message into one ``Action`` for the current phase or raises what the app
must hear; the adapter moves the phase with ``advance``, checked against ``TRANSITIONS``.
``FrameChannel`` turns received bytes into ASGI messages (wsproto underneath, with the
size limit) and messages, pings and Close frames into bytes. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Final, NamedTuple, cast

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.events import Message as WSMessage
from wsproto.utilities import LocalProtocolError as WSLocalProtocolError

from .._errors import ClientDisconnected

if TYPE_CHECKING:
    from wsproto.extensions import Extension

    from .._types import Message

__all__ = [
    "TRANSITIONS",
    "Accept",
    "Close",
    "Deny",
    "FrameChannel",
    "Ignore",
    "PeerClosed",
    "Phase",
    "PongReceived",
    "Received",
    "ResponseBody",
    "ResponseStart",
    "SendMessage",
    "Violation",
    "WebSocketPhases",
]


class Phase(enum.IntEnum):
    HANDSHAKE = 0  # the upgrade request is waiting for the app's answer
    RESPONSE = 1  # the app denies it with its own HTTP response, being sent
    OPEN = 2  # accepted: messages flow both ways
    CLOSING = 3  # a Close frame (or the denial) went out, or the peer left
    CLOSED = 4  # the transport is gone


# Every phase change the adapter may make; anything else is a bug in the adapter.
TRANSITIONS: Final[dict[Phase, frozenset[Phase]]] = {
    Phase.HANDSHAKE: frozenset({Phase.RESPONSE, Phase.OPEN, Phase.CLOSING, Phase.CLOSED}),
    Phase.RESPONSE: frozenset({Phase.CLOSING, Phase.CLOSED}),
    Phase.OPEN: frozenset({Phase.CLOSING, Phase.CLOSED}),
    Phase.CLOSING: frozenset({Phase.CLOSING, Phase.CLOSED}),
    Phase.CLOSED: frozenset({Phase.CLOSED}),
}


# --- what the adapter is to do with an app message ------------------------------------


class Accept(NamedTuple):
    """Answer the handshake with 101 (the message holds subprotocol and headers)."""

    message: Message


class Deny(NamedTuple):
    """Refuse the handshake with a plain 403 (ASGI: close before accept)."""


class SendMessage(NamedTuple):
    """Send one data message: text when ``data`` is a str, binary when bytes."""

    data: str | bytes


class Close(NamedTuple):
    """Start the closing handshake with this code and reason (RFC 6455 section 7)."""

    code: int
    reason: str


class Ignore(NamedTuple):
    """Nothing to do: a close while already closing."""


class ResponseStart(NamedTuple):
    """Begin a denial response with the app's status and headers."""

    message: Message


class ResponseBody(NamedTuple):
    body: bytes
    more: bool


Action = Accept | Deny | SendMessage | Close | Ignore | ResponseStart | ResponseBody


class WebSocketPhases:
    """The phase of one ASGI WebSocket and the rules for the app's messages in it."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase = Phase.HANDSHAKE

    def advance(self, phase: Phase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise AssertionError(f"WebSocket phase {self.phase.name} -> {phase.name}")
        self.phase = phase

    def check(self, message: Message) -> Action:
        """The action for the app's ``message`` now; raises RuntimeError for a message
        that is never legal here and ClientDisconnected once the WebSocket is closed."""
        tp = message["type"]
        phase = self.phase
        if tp == "websocket.send":
            if phase is not Phase.OPEN:
                if phase is Phase.HANDSHAKE:
                    raise RuntimeError(
                        "Expected ASGI message 'websocket.accept' or 'websocket.close' "
                        "before 'websocket.send'"
                    )
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            data = message.get("bytes")
            if text is not None and data is None:
                return SendMessage(text)
            if data is not None and text is None:
                return SendMessage(data)
            raise RuntimeError("websocket.send needs exactly one of 'bytes' and 'text'")
        if tp == "websocket.accept":
            if phase is not Phase.HANDSHAKE:
                self._raise_if_gone()
                raise RuntimeError("Unexpected ASGI message 'websocket.accept' after the handshake")
            return Accept(message)
        if tp == "websocket.close":
            if phase is Phase.HANDSHAKE:
                return Deny()
            if phase is Phase.OPEN:
                code = message.get("code") or 1000
                # RFC 6455 section 7.4: 1000-2999 are the protocol's, 3000-4999 are for
                # libraries and applications; wsproto refuses the reserved ones.
                if type(code) is not int or not 1000 <= code <= 4999:
                    raise RuntimeError(f"websocket.close: invalid close code {code!r}")
                return Close(code, message.get("reason") or "")
            if phase is Phase.RESPONSE:
                raise RuntimeError("websocket.close during a websocket.http.response")
            return Ignore()
        if tp == "websocket.http.response.start":
            if phase is not Phase.HANDSHAKE:
                self._raise_if_gone()
                raise RuntimeError(f"Unexpected ASGI message {tp!r} after the handshake")
            return ResponseStart(message)
        if tp == "websocket.http.response.body":
            if phase is not Phase.RESPONSE:
                self._raise_if_gone()
                raise RuntimeError(
                    f"Unexpected ASGI message {tp!r} without 'websocket.http.response.start'"
                )
            return ResponseBody(message.get("body", b""), bool(message.get("more_body", False)))
        raise RuntimeError(f"Unexpected ASGI message {tp!r} on a WebSocket")

    def _raise_if_gone(self) -> None:
        if self.phase >= Phase.CLOSING:
            raise ClientDisconnected("the WebSocket is closed")


# --- an open WebSocket's frames ---------------------------------------------------------

# Compressed input is fed in slices so that a small deflate bomb (up to ~1032:1) cannot
# inflate far past the size limit before the size check sees it.
DEFLATE_SLICE = 4096


class Received(NamedTuple):
    """A complete data message for the app, and its size in bytes."""

    message: Message
    size: int


class PongReceived(NamedTuple):
    pass


class PeerClosed(NamedTuple):
    """The peer's Close frame (RFC 6455 section 5.5.1); its echo is in the output."""

    code: int
    reason: str


class Violation(NamedTuple):
    """The peer broke the protocol (1002, 1007) or sent a message over the size limit
    (1009). Nothing after it is read; the Close with this code is the caller's to send
    with ``close()``, once the app has had the messages before it (RFC 6455 section 7.1.7
    fails the connection at the violation, not before it)."""

    code: int
    reason: str


ChannelEvent = Received | PongReceived | PeerClosed | Violation


class FrameChannel:
    """An accepted WebSocket's frames: bytes in, ``ChannelEvent``s and bytes out."""

    __slots__ = ("_deflate", "_discard", "_done", "_max_size", "_parts", "_parts_size", "_ws")

    def __init__(self, extensions: list[Extension], *, max_size: int) -> None:
        self._ws = Connection(ConnectionType.SERVER, extensions)
        self._deflate = bool(extensions)
        self._max_size = max_size
        # Fragments of the message being received, and their size in bytes.
        self._parts: list[Any] = []
        self._parts_size = 0
        # A Close was received or the protocol broken: what follows is never read.
        self._done = False
        # A message went over the size limit: data messages after it are dropped.
        self._discard = False

    @property
    def open(self) -> bool:
        """Neither side has sent a Close frame."""
        return self._ws.state is ConnectionState.OPEN

    @property
    def closed(self) -> bool:
        """Both Close frames have been exchanged."""
        return self._ws.state is ConnectionState.CLOSED

    def receive(self, data: bytes) -> tuple[list[ChannelEvent], bytes]:
        """The events in ``data``, in order, and the bytes to send in reply (Pongs, the
        echo of a Close). Data messages after our own Close are dropped (RFC 6455
        section 5.5.1 allows it)."""
        events: list[ChannelEvent] = []
        out: list[bytes] = []
        if self._deflate and len(data) > DEFLATE_SLICE:
            view = memoryview(data)
            for i in range(0, len(data), DEFLATE_SLICE):
                if self._done:
                    break
                self._receive(bytes(view[i : i + DEFLATE_SLICE]), events, out)
        else:
            self._receive(data, events, out)
        return events, b"".join(out)

    def _receive(self, data: bytes, events: list[ChannelEvent], out: list[bytes]) -> None:
        if self._done:
            return
        ws = self._ws
        try:
            ws.receive_data(data)
        except WSLocalProtocolError:  # the closing handshake is already complete
            self._done = True
            return
        for event in ws.events():
            tp = type(event)
            if tp is TextMessage or tp is BytesMessage:
                if ws.state is not ConnectionState.OPEN or self._discard:
                    continue
                frame = cast("WSMessage[Any]", event)
                chunk = frame.data
                text = tp is TextMessage
                size = len(chunk) if not text or chunk.isascii() else len(chunk.encode())
                parts = self._parts
                if not parts and frame.message_finished:
                    if size > self._max_size:
                        events.append(self._too_big())
                    else:
                        events.append(Received(_message(chunk, text), size))
                    continue
                parts.append(chunk)
                self._parts_size += size
                if self._parts_size > self._max_size:
                    events.append(self._too_big())
                elif frame.message_finished:
                    total = self._parts_size
                    joined = "".join(parts) if text else b"".join(parts)
                    parts.clear()
                    self._parts_size = 0
                    events.append(Received(_message(joined, text), total))
            elif tp is Ping:
                if ws.state is ConnectionState.OPEN:
                    out.append(ws.send(cast("Ping", event).response()))
            elif tp is Pong:
                events.append(PongReceived())
            elif tp is CloseConnection:
                close = cast("CloseConnection", event)
                self._done = True
                self._parts.clear()
                code, reason = int(close.code), close.reason or ""
                if ws.state in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        out.append(ws.send(close.response()))
                    events.append(PeerClosed(code, reason))
                else:
                    # wsproto reports a protocol error as a Close event with our code.
                    events.append(Violation(code, reason))
                return

    def _too_big(self) -> Violation:
        self._parts.clear()
        self._parts_size = 0
        self._discard = True
        # RFC 6455 section 7.4.1: 1009, message too big to process.
        return Violation(1009, "Message too big")

    def send(self, data: str | bytes) -> bytes:
        if isinstance(data, str):
            return self._ws.send(TextMessage(data=data))
        return self._ws.send(BytesMessage(data=data))

    def ping(self, payload: bytes) -> bytes:
        return self._ws.send(Ping(payload=payload)) if self.open else b""

    def close(self, code: int, reason: str) -> bytes:
        """Our Close frame, or nothing if we sent one already."""
        self._parts.clear()
        self._parts_size = 0
        if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            return self._ws.send(CloseConnection(code=code, reason=reason))
        return b""


def _message(data: str | bytes, text: bool) -> Message:
    if text:
        return {"type": "websocket.receive", "text": data}
    return {"type": "websocket.receive", "bytes": data}
