"""Sans-IO request-body framing (RFC 9112 section 6): one reader object per framing.

``check_transfer_coding`` accepts a Transfer-Encoding only if it can be decoded here;
``ContentLengthReader`` and ``ChunkedReader`` (strict: chunk lines, extensions and
trailers read strictly and bounded, the body held to its limit) each turn a buffer into
``events.Body``, ``NeedData`` and ``EndOfBody``, or a ``ProtocolError`` that ends the
connection. ``parser.RequestParser`` owns the buffer and calls the current reader.
"""

from __future__ import annotations

import re
from typing import Final

from .events import Body, EndOfBody, Marker, NeedData, ProtocolError
from .grammar import TOKEN, is_token

__all__ = ["MAX_CHUNK_LINE", "ChunkedReader", "ContentLengthReader", "check_transfer_coding"]


BodyEvent = Body | Marker | ProtocolError


def check_transfer_coding(value: bytes) -> ProtocolError | None:
    """None if ``value`` (the Transfer-Encoding field value, lowercased, its field lines
    combined with commas as RFC 9110 section 5.3 does) is exactly chunked, the only
    coding decoded here; otherwise the error to answer."""
    if value == b"chunked":
        return None
    codings = [coding.strip(b" \t") for coding in value.split(b",")]
    if (
        codings[-1] != b"chunked"
        or codings.count(b"chunked") > 1
        or not all(is_token(coding) for coding in codings)
    ):
        # RFC 9112 section 6.3: chunked not final (or malformed, or applied twice)
        # leaves the body length undeterminable: 400. "identity" is no transfer coding
        # (RFC 9112 section 7 registers none by that name): "identity" alone gets 400.
        return ProtocolError(400, "invalid Transfer-Encoding")
    # RFC 9112 section 6.1: a coding we do not implement (gzip, chunked; identity,
    # chunked), however its field lines are split: 501.
    return ProtocolError(501, "unsupported transfer coding")


class ContentLengthReader:
    """A body of known length (RFC 9112 section 6.2)."""

    __slots__ = ("left",)

    def __init__(self, length: int) -> None:
        self.left = length

    def __call__(self, buf: bytearray) -> BodyEvent:
        left = self.left
        if not left:
            return EndOfBody
        if not buf:
            return NeedData
        data = _take(buf, left)
        self.left = left - len(data)
        return Body(data)


def _take(buf: bytearray, most: int) -> bytes:
    """Up to ``most`` bytes off the front of ``buf`` (not empty)."""
    if len(buf) <= most:
        data = bytes(buf)
        buf.clear()
    else:
        data = bytes(memoryview(buf)[:most])  # one copy, not two
        del buf[:most]
    return data


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

_CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _DONE = range(5)


class ChunkedReader:
    """A chunked body (RFC 9112 section 7.1), decoded strictly and held to ``max_body``;
    chunk extensions and trailer fields are read, bounded by ``max_overhead``, dropped."""

    __slots__ = ("_chunk_left", "_max_body", "_max_overhead", "_overhead", "_seen", "_state")

    def __init__(self, *, max_body: int, max_overhead: int) -> None:
        self._max_body = max_body
        self._max_overhead = max_overhead
        self._state = _CHUNK_SIZE
        self._chunk_left = 0
        self._seen = 0
        self._overhead = 0

    def __call__(self, buf: bytearray) -> BodyEvent:
        while True:
            state = self._state
            if state == _CHUNK_DATA:
                if not buf:
                    return NeedData
                data = _take(buf, self._chunk_left)
                left = self._chunk_left - len(data)
                self._chunk_left = left
                if not left:
                    self._state = _CHUNK_END
                return Body(data)
            if state == _CHUNK_END:
                if len(buf) < 2:
                    if buf and buf[0] != 0x0D:
                        return ProtocolError(400, "chunk data not followed by CRLF")
                    return NeedData
                if buf[:2] != b"\r\n":
                    # CVE-2025-43859: any two bytes were once taken for this CRLF.
                    return ProtocolError(400, "chunk data not followed by CRLF")
                del buf[:2]
                self._state = _CHUNK_SIZE
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n", 0, MAX_CHUNK_LINE + 2)
                if end < 0:
                    if len(buf) > MAX_CHUNK_LINE:
                        return ProtocolError(400, "chunk size line too long")
                    if b"\n" in buf:
                        return ProtocolError(400, "invalid chunk size line")
                    return NeedData
                match = _chunk_line(buf, 0, end)
                if match is None:
                    return ProtocolError(400, "invalid chunk size line")
                size = int(match.group(1), 16)
                extensions = end - match.end(1)
                if extensions:
                    # Extensions are read but never delivered: they count against a
                    # per-message budget (the fix for Node.js's CVE-2024-22019).
                    self._overhead += extensions
                    if self._overhead > self._max_overhead:
                        return ProtocolError(400, "chunk extensions too large")
                del buf[: end + 2]
                if size:
                    seen = self._seen + size
                    if seen > self._max_body:
                        return ProtocolError(413, "request body too large")
                    self._seen = seen
                    self._chunk_left = size
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILER
            elif state == _TRAILER:  # RFC 9112 section 7.1.2, fields we parse and drop.
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) + self._overhead > self._max_overhead:
                        return ProtocolError(431, "trailer section too large")
                    if b"\n" in buf:
                        return ProtocolError(400, "bare LF in the trailer section")
                    return NeedData
                if end == 0:
                    del buf[:2]
                    self._state = _DONE
                    return EndOfBody
                if _field_line(buf, 0, end) is None:
                    return ProtocolError(400, "invalid trailer field")
                self._overhead += end + 2
                if self._overhead > self._max_overhead:
                    return ProtocolError(431, "trailer section too large")
                del buf[: end + 2]
            else:
                return EndOfBody
