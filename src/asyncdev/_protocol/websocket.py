"""The ASGI ``websocket`` phase machine, sans-IO: which app message is legal when.

A WebSocket goes handshake -> open (accepted) or response (a denial with a body, the
"websocket.http.response" extension) -> closing -> closed. ``WebSocketPhases.check``
turns an app message into one ``Action`` for the current phase or raises what the app
must hear; the adapter moves the phase with ``advance``, checked against ``TRANSITIONS``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final, NamedTuple

from .._errors import ClientDisconnected

if TYPE_CHECKING:
    from .._types import Message

__all__ = [
    "TRANSITIONS",
    "Accept",
    "Close",
    "Deny",
    "Ignore",
    "Phase",
    "ResponseBody",
    "ResponseStart",
    "SendMessage",
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
