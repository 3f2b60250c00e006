"""Sans-IO request-body framing: strict chunked decoding (RFC 9112 sections 6 and 7.1).

``BodyFramer`` accepts a Transfer-Encoding only if it can decode it, then turns
buffered chunked bytes into ``Body`` events and ``EndOfBody``: chunk lines, extensions
and trailers read strictly and bounded, the body held to its limit (413). It is the
body half of ``parser.RequestParser``: same buffer, same states, these events.
"""

from __future__ import annotations

import re
from typing import Final

from .grammar import TOKEN, is_token

__all__ = [
    "MAX_CHUNK_LINE",
    "Body",
    "BodyFramer",
    "ConnectionClosed",
    "EndOfBody",
    "NeedData",
    "ProtocolError",
]


# --- events shared with RequestParser -------------------------------------------------


class Body:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EndOfBody: Final = _Marker("EndOfBody")
NeedData: Final = _Marker("NeedData")
ConnectionClosed: Final = _Marker("ConnectionClosed")


class ProtocolError:
    """The client broke the protocol: answer ``status`` and close the connection."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"ProtocolError({self.status}, {self.reason!r})"


# --- grammar --------------------------------------------------------------------------

# RFC 9112 section 7.1: chunk-size [ chunk-ext ] CRLF, with
# chunk-ext = *( ";" chunk-ext-name [ "=" chunk-ext-val ] ). The bad whitespace the
# grammar tolerates around ";" and "=" is refused: lenient chunk parsing is a classic
# lever of request smuggling between two parsers (CVE-2025-43859 in h11, for one).
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_chunk_line = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:;" + TOKEN + rb"(?:=(?:" + TOKEN + rb"|" + _QUOTED + rb"))?)*"
).fullmatch
_field_line = re.compile(TOKEN + rb":[\t\x20-\x7e\x80-\xff]*").fullmatch
# Longest chunk-size line (size plus extensions) accepted. Extensions and trailer
# fields of one message together are held to the head limit (limit_request_head).
MAX_CHUNK_LINE: Final = 4096

# The parser's states: one machine for head and body, so one numbering.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _DONE, _CLOSED = range(8)


class BodyFramer:
    """``RequestParser``'s Transfer-Encoding check, its chunked states, and the helpers
    both halves end with.

    No constructor: ``RequestParser.__init__`` sets these slots with its own, and the
    head parse zeroes ``_seen`` and ``_overhead`` when it enters ``_CHUNK_SIZE``, so a
    request costs no call here beyond the decoding itself.
    """

    __slots__ = (
        "_buf",
        "_chunk_left",
        "_eof",
        "_max_body",
        "_max_head",
        "_overhead",
        "_seen",
        "_state",
    )

    _buf: bytearray
    _chunk_left: int
    _eof: bool
    _max_body: int
    _max_head: int
    _overhead: int
    _seen: int
    _state: int

    def _check_transfer_coding(self, value: bytes) -> ProtocolError | None:
        """None if ``value`` (the one Transfer-Encoding, lowercased) is exactly chunked,
        the only coding decoded here; otherwise the error to answer."""
        if value == b"chunked":
            return None
        codings = [coding.strip(b" \t") for coding in value.split(b",")]
        if (
            codings[-1] != b"chunked"
            or codings.count(b"chunked") > 1
            or not all(is_token(coding) for coding in codings)
        ):
            # RFC 9112 section 6.3: chunked not final (or malformed, or applied twice)
            # leaves the body length undeterminable: 400.
            return self._fail(400, "invalid Transfer-Encoding")
        # RFC 9112 section 6.1: a coding we do not implement (gzip, chunked).
        return self._fail(501, "unsupported transfer coding")

    def _next_chunked(self) -> Body | _Marker | ProtocolError:
        buf = self._buf
        while True:
            state = self._state
            if state == _CHUNK_DATA:
                if not buf:
                    return self._starved()
                left = self._chunk_left
                if len(buf) <= left:
                    data = bytes(buf)
                    buf.clear()
                else:
                    data = bytes(buf[:left])
                    del buf[:left]
                left -= len(data)
                self._chunk_left = left
                if not left:
                    self._state = _CHUNK_END
                return Body(data)
            if state == _CHUNK_END:
                if len(buf) < 2:
                    if buf and buf[0] != 0x0D:
                        return self._fail(400, "chunk data not followed by CRLF")
                    return self._starved()
                if buf[:2] != b"\r\n":
                    # CVE-2025-43859: any two bytes were once taken for this CRLF.
                    return self._fail(400, "chunk data not followed by CRLF")
                del buf[:2]
                self._state = _CHUNK_SIZE
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n", 0, MAX_CHUNK_LINE + 2)
                if end < 0:
                    if len(buf) > MAX_CHUNK_LINE:
                        return self._fail(400, "chunk size line too long")
                    if b"\n" in buf:
                        return self._fail(400, "invalid chunk size line")
                    return self._starved()
                match = _chunk_line(buf, 0, end)
                if match is None:
                    return self._fail(400, "invalid chunk size line")
                size = int(match.group(1), 16)
                extensions = end - match.end(1)
                if extensions:
                    # Extensions are read but never delivered: they count against a
                    # per-message budget (the fix for Node.js's CVE-2024-22019).
                    self._overhead += extensions
                    if self._overhead > self._max_head:
                        return self._fail(400, "chunk extensions too large")
                del buf[: end + 2]
                if size:
                    seen = self._seen + size
                    if seen > self._max_body:
                        return self._fail(413, "request body too large")
                    self._seen = seen
                    self._chunk_left = size
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILER
            else:  # _TRAILER: RFC 9112 section 7.1.2, fields we parse and drop.
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) + self._overhead > self._max_head:
                        return self._fail(431, "trailer section too large")
                    if b"\n" in buf:
                        return self._fail(400, "bare LF in the trailer section")
                    return self._starved()
                if end == 0:
                    del buf[:2]
                    self._state = _DONE
                    return EndOfBody
                if _field_line(buf, 0, end) is None:
                    return self._fail(400, "invalid trailer field")
                self._overhead += end + 2
                if self._overhead > self._max_head:
                    return self._fail(431, "trailer section too large")
                del buf[: end + 2]

    # -- helpers ----------------------------------------------------------------------

    def _starved(self) -> _Marker:
        if self._eof:
            self._state = _CLOSED
            return ConnectionClosed
        return NeedData

    def _fail(self, status: int, reason: str) -> ProtocolError:
        self._state = _CLOSED
        self._buf.clear()
        return ProtocolError(status, reason)
