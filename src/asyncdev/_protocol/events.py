"""The events of the request parser (``parser.RequestParser``) and its body readers.

``Request`` (a complete head), ``Body`` (some body bytes), the markers ``EndOfBody``,
``NeedData`` (feed more bytes) and ``Paused`` (the request is complete; the next one
waits its turn), and ``ProtocolError`` (final: answer its status and close).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "Body",
    "EndOfBody",
    "Event",
    "Marker",
    "NeedData",
    "Paused",
    "ProtocolError",
    "Request",
]


class Request:
    """A complete request head."""

    __slots__ = (
        "expect_continue",
        "has_body",
        "headers",
        "http_version",
        "keep_alive",
        "method",
        "target",
    )

    def __init__(
        self,
        *,
        method: bytes,
        target: bytes,
        http_version: bytes,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        expect_continue: bool,
        has_body: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.has_body = has_body


class Body:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class Marker:
    """An event that carries nothing but its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EndOfBody: Final = Marker("EndOfBody")
NeedData: Final = Marker("NeedData")
# The request (head and body) is complete; bytes that follow belong to the next request
# and wait until the response has been sent (pipelining, RFC 9112 section 9.3.2).
Paused: Final = Marker("Paused")


class ProtocolError:
    """The client broke the protocol: answer ``status`` and close the connection."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"ProtocolError({self.status}, {self.reason!r})"


Event = Request | Body | Marker | ProtocolError
