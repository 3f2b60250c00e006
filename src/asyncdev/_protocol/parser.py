"""Sans-IO HTTP/1.1 request parsing: bytes in, events out, strictly (RFC 9112).

A strictness layer around h11: when a head's blank line arrives, one pass over its raw
bytes refuses what h11 would tolerate or quietly normalise (smuggling-prone framing,
bare LF, obs-fold, control bytes, limits with their own 414/431/413), then h11 parses
the head. ``RequestParser`` owns the buffer, the head and the state, and hands body
bytes to the current reader of ``body`` (one per framing, as h11's ``_readers``).
Every ``ProtocolError`` means: answer its status and close. No asyncio, no socket.
"""

from __future__ import annotations

import re
from typing import Final

import h11

from .body import ChunkedReader, ContentLengthReader, check_transfer_coding
from .events import Body, EndOfBody, Event, NeedData, Paused, ProtocolError, Request
from .grammar import TOKEN

# Request, Event and Paused are re-exported for the modules that name them from here.
__all__ = ["TLS_HANDSHAKE", "Event", "Paused", "Request", "RequestParser"]


# The ProtocolError reason for a TLS ClientHello sent to a plain HTTP port.
TLS_HANDSHAKE = "TLS handshake on a plain HTTP port"


# --- request side ---------------------------------------------------------------------

# RFC 9112 section 3: request-line = method SP request-target SP HTTP-version, single
# spaces, version case-sensitive. The target holds visible ASCII only: RFC 3986 allows
# less, but browsers send a few characters such as | and ^ unencoded. Never '#': a
# fragment is not sent (RFC 9110 section 7.1), and a server that accepted one would
# disagree with caches and proxies about what the target is.
_request_line = re.compile(
    rb"(" + TOKEN + rb") ([\x21\x22\x24-\x7e]+) HTTP/([0-9])\.([0-9])"
).fullmatch
_version_shape = re.compile(rb"HTTP/[0-9](?:\.[0-9])?").fullmatch
# Bytes allowed in a head besides CRLF: HTAB, SP, VCHAR and obs-text (RFC 9110 section
# 5.5). Deleting them leaves CR, LF and control characters, which is cheap to test.
_HEAD_BYTES: Final = bytes(b for b in range(256) if b == 9 or 0x20 <= b <= 0x7E or b >= 0x80)
# RFC 9110 section 7.2 / RFC 3986 section 3.2.2: uri-host [ ":" port ]; an empty
# value is allowed (a URI with an empty authority).
_valid_host = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?"
).fullmatch
_absolute_form = re.compile(rb"[Hh][Tt][Tt][Pp][Ss]?://([^/?]*)").match
_digits = re.compile(rb"[0-9]+").fullmatch

# The parser's states; while a body is read, the reader holds its own.
_HEAD, _BODY, _DONE, _CLOSED = range(4)


class RequestParser:
    """Strict HTTP/1.1 request parsing (RFC 9112), one request at a time.

    The head is checked and parsed when its blank line arrives (its growth bounded
    while it has not); the body is framed by Content-Length or strict chunked decoding.
    Wherever the RFC tolerates variants that two parsers could read differently (the
    root of request smuggling), this parser refuses them, as nginx and gunicorn do.
    Every error is final: the connection answers ``ProtocolError.status`` and closes.
    """

    __slots__ = (
        "_buf",
        "_end_scan",
        "_line_start",
        "_lines",
        "_max_body",
        "_max_field_line",
        "_max_fields",
        "_max_head",
        "_max_line",
        "_reader",
        "_state",
    )

    def __init__(
        self,
        *,
        max_head: int = 65536,
        max_line: int = 8190,
        max_field: int = 8190,
        max_fields: int = 100,
        max_body: int = 1 << 30,
    ) -> None:
        self._max_head = max_head
        self._max_line = max_line
        # A field line counts with its CRLF, as gunicorn counts limit_request_field_size;
        # this is the longest one without it.
        self._max_field_line = max_field - 2
        self._max_fields = max_fields
        self._max_body = max_body
        self._buf = bytearray()
        self._state = _HEAD
        self._reader: ContentLengthReader | ChunkedReader | None = None
        self._end_scan = 0
        self._lines = 0
        self._line_start = 0

    @property
    def in_head(self) -> bool:
        """True while waiting for (part of) a request head."""
        return self._state == _HEAD

    @property
    def buffered(self) -> int:
        """How many received bytes are held, not yet turned into events."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if self._state != _CLOSED:
            self._buf += data

    def start_next_request(self) -> None:
        """Begin the next request cycle; pipelined bytes already received are kept."""
        if self._state != _CLOSED:
            self._state = _HEAD
            self._reader = None
            self._end_scan = self._lines = self._line_start = 0

    def take_trailing_data(self) -> bytes:
        """Hand over the bytes received after the request head.

        For a protocol upgrade: the parser is done with this connection afterwards.
        """
        data = bytes(self._buf)
        self._close()
        return data

    def next_event(self) -> Event:
        """The next event: ``Request``, ``Body``, ``EndOfBody``, ``NeedData`` (feed more),
        ``Paused`` (this request is complete: ``start_next_request`` first) or a final
        ``ProtocolError``. After the error or ``take_trailing_data``, nothing more."""
        reader = self._reader
        if reader is not None:
            event = reader(self._buf)
            if type(event) is not Body:
                if event is EndOfBody:
                    self._reader = None
                    self._state = _DONE
                elif event is not NeedData:
                    self._close()
            return event
        state = self._state
        if state == _HEAD:
            return self._next_head()
        if state == _DONE:
            return Paused
        raise RuntimeError("the request parser is closed")

    # -- head -------------------------------------------------------------------------

    def _next_head(self) -> Event:
        buf = self._buf
        if buf[:2] == b"\r\n" and not self._end_scan:
            # RFC 9112 section 2.2: empty lines before a request line are ignored
            # (some clients send an extra CRLF after a POST body).
            while buf[:2] == b"\r\n":
                del buf[:2]
        end = buf.find(b"\r\n\r\n", self._end_scan)
        if end < 0:
            if not buf:
                return NeedData
            if buf[0] == 0x16 and not self._end_scan:
                # A TLS handshake record (RFC 8446 section 5.1): a client speaking
                # HTTPS to this plain HTTP port. No request line starts with 0x16.
                return self._fail(400, TLS_HANDSHAKE)
            error = self._check_partial_head()
            if error is not None:
                return error
            self._end_scan = max(len(buf) - 3, 0)
            return NeedData
        head = bytes(buf[:end])
        del buf[: end + 4]
        self._end_scan = self._lines = self._line_start = 0
        return self._parse_head(head)

    def _check_partial_head(self) -> ProtocolError | None:
        """Bound an incomplete head as it grows, without scanning a byte twice."""
        buf = self._buf
        lines = self._lines
        start = self._line_start
        pos = buf.find(b"\n", start)
        while pos >= 0:
            if pos == 0 or buf[pos - 1] != 0x0D:
                return self._fail(400, "bare LF in the request head")
            length = pos - 1 - start
            if lines == 0:
                if length > self._max_line:
                    return self._fail(414, "request line too long")
            elif length > self._max_field_line:
                return self._fail(431, "header field too long")
            lines += 1
            start = pos + 1
            pos = buf.find(b"\n", start)
        self._lines = lines
        self._line_start = start
        current = len(buf) - start
        if lines == 0:
            if current > self._max_line:
                return self._fail(414, "request line too long")
        elif current > self._max_field_line + 1:  # may end in the line's CR
            return self._fail(431, "header field too long")
        if lines > self._max_fields + 1:
            return self._fail(431, "too many header fields")
        if len(buf) > self._max_head:
            return self._fail(431, "request head too large")
        return None

    def _parse_head(self, head: bytes) -> Request | ProtocolError:
        # Cheap C-level passes over the raw head first: control characters and bare
        # CR/LF (RFC 9112 section 2.2), then the request line, limits, obs-fold and
        # framing; the fields are split last.
        crlf = head.count(b"\r\n")
        odd = head.translate(None, _HEAD_BYTES)
        if len(odd) != 2 * crlf:
            if odd.strip(b"\r\n"):
                return self._fail(400, "control character in the request head")
            return self._fail(400, "bare CR or LF in the request head")
        eol = head.find(b"\r\n")
        line = head if eol < 0 else head[:eol]
        # Precedents for the limits: gunicorn (limit_request_line, limit_request_fields,
        # limit_request_field_size), nginx large_client_header_buffers; 414 and 431
        # per RFC 9110 section 15.5.15 and RFC 6585 section 5.
        if len(line) > self._max_line:
            return self._fail(414, "request line too long")
        match = _request_line(line)
        if match is None:
            return self._bad_request_line(line)
        method, target, major, minor = match.groups()
        if method == b"CONNECT":
            # RFC 9110 section 9.3.6: CONNECT asks for a tunnel, which only a proxy
            # makes; 501 tells the client this server does not (section 15.6.2).
            return self._fail(501, "CONNECT is not supported: this server is no proxy")
        if major != b"1":
            # RFC 9110 section 15.6.6; this also stops the HTTP/2 preface "PRI *".
            return self._fail(505, "unsupported HTTP version")
        # RFC 9110 section 2.5: an unknown 1.x minor version is served as 1.1.
        version = b"1.0" if minor == b"0" else b"1.1"
        if crlf > self._max_fields:
            return self._fail(431, "too many header fields")
        if len(head) > self._max_head:
            return self._fail(431, "request head too large")
        max_field_line = self._max_field_line
        if len(head) - len(line) > max_field_line + 2 and any(
            len(field) > max_field_line for field in head.split(b"\r\n")[1:]
        ):
            return self._fail(431, "header field too long")
        if b"\n " in head or b"\n\t" in head:
            # RFC 9112 section 5.2: obs-fold in a request is rejected with 400.
            return self._fail(400, "obsolete line folding")
        lower = head.lower()
        n_length = lower.count(b"\ncontent-length:")
        n_coding = lower.count(b"\ntransfer-encoding:")
        n_host = lower.count(b"\nhost:")
        # RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
        if n_host > 1 or (n_host == 0 and version == b"1.1"):
            return self._fail(400, "missing or repeated Host header")
        length = 0
        chunked = False
        if n_coding:
            if n_length:
                # RFC 9112 section 6.1: a server MAY reject Transfer-Encoding with
                # Content-Length; doing so is the only defence against CL.TE/TE.CL.
                return self._fail(400, "both Content-Length and Transfer-Encoding")
            if version == b"1.0":
                # RFC 9112 section 6.1: framing of a 1.0 message with TE is faulty.
                return self._fail(400, "Transfer-Encoding in an HTTP/1.0 request")
            # RFC 9110 section 5.3: field lines of one name are one value, joined by
            # commas; the answer must not depend on how a client split it.
            error = check_transfer_coding(
                _field_value(lower, b"\ntransfer-encoding:") if n_coding == 1
                else b", ".join(_field_values(lower, b"\ntransfer-encoding:"))
            )
            if error is not None:
                return self._error(error)
            chunked = True
        elif n_length:
            if n_length > 1:
                # RFC 9110 section 8.6 lets a recipient merge equal values; refusing
                # them leaves no room for two parsers to disagree.
                return self._fail(400, "repeated Content-Length header")
            value = _field_value(lower, b"\ncontent-length:")
            if _digits(value) is None:
                return self._fail(400, "invalid Content-Length")
            if len(value) > 18:
                return self._fail(413, "request body too large")
            length = int(value)
            if length > self._max_body:
                return self._fail(413, "request body too large")
        if n_host and _valid_host(_field_value(lower, b"\nhost:")) is None:
            return self._fail(400, "invalid Host header")
        # The head passed every check above; h11 is the parser of record for it and
        # refuses field lines that are not "token: value" (whitespace before the colon,
        # RFC 9112 section 5.1; invalid names). Both must accept a head before it
        # reaches the app, so a gap in either is covered by the other.
        parsed = _h11_head(head, self._max_head)
        if parsed is None:
            return self._fail(400, "malformed request head")
        method, target, headers = parsed
        keep_alive = version == b"1.1"
        expect_continue = False
        if b"\nconnection:" in lower or b"\nexpect:" in lower:
            for name, value in headers:
                if name == b"connection":
                    # RFC 9112 section 9.3: the "close" option; an HTTP/1.0 client
                    # asks for persistence with "keep-alive" (appendix C.2.2).
                    options = [option.strip(b" \t") for option in value.lower().split(b",")]
                    if b"close" in options:
                        keep_alive = False
                    elif version == b"1.0" and b"keep-alive" in options:
                        keep_alive = True
                elif name == b"expect":
                    expect_continue = value.lower() == b"100-continue"
        if target[:1] != b"/":
            error = self._check_target(method, target, headers)
            if error is not None:
                return error
        if chunked:
            self._state = _BODY
            self._reader = ChunkedReader(max_body=self._max_body, max_overhead=self._max_head)
        elif length:
            self._state = _BODY
            self._reader = ContentLengthReader(length)
        else:
            self._state = _DONE
        return Request(
            method=method,
            target=target,
            http_version=version,
            headers=headers,
            keep_alive=keep_alive,
            expect_continue=expect_continue,
            has_body=chunked or length > 0,
        )

    def _bad_request_line(self, line: bytes) -> ProtocolError:
        parts = line.split(b" ")
        if len(parts) == 3:
            version = parts[2]
            if _version_shape(version) and not version.startswith(b"HTTP/1."):
                return self._fail(505, "unsupported HTTP version")
            if b"#" in parts[1]:
                return self._fail(400, "fragment in the request target")
            return self._fail(400, "invalid request line")
        if len(parts) == 2:
            # "GET /": an HTTP/0.9 request, which has no headers and no status line.
            return self._fail(400, "HTTP/0.9 request")
        return self._fail(400, "invalid request line")

    def _check_target(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> ProtocolError | None:
        """The forms other than origin-form (RFC 9112 section 3.2)."""
        if target == b"*":
            if method != b"OPTIONS":
                return self._fail(400, "asterisk-form target outside OPTIONS")
            return None
        absolute = _absolute_form(target)
        if absolute is None:
            # authority-form is for CONNECT only (refused above).
            return self._fail(400, "invalid request target")
        authority = absolute.group(1)
        if not authority or _valid_host(authority) is None:
            return self._fail(400, "invalid authority in the request target")
        # RFC 9112 section 3.2.2: the target's authority replaces any Host received.
        for index, (name, _) in enumerate(headers):
            if name == b"host":
                headers[index] = (b"host", authority)
                return None
        headers.append((b"host", authority))
        return None

    # -- errors -----------------------------------------------------------------------

    def _fail(self, status: int, reason: str) -> ProtocolError:
        return self._error(ProtocolError(status, reason))

    def _error(self, error: ProtocolError) -> ProtocolError:
        self._close()
        return error

    def _close(self) -> None:
        self._state = _CLOSED
        self._reader = None
        self._buf.clear()


def _field_values(lower_head: bytes, prefix: bytes) -> list[bytes]:
    """The values of every field line starting with ``prefix``, OWS stripped."""
    values = []
    start = lower_head.find(prefix)
    while start >= 0:
        start += len(prefix)
        end = lower_head.find(b"\r", start)
        values.append(lower_head[start : end if end >= 0 else len(lower_head)].strip(b" \t"))
        start = lower_head.find(prefix, start)
    return values


def _field_value(lower_head: bytes, prefix: bytes) -> bytes:
    """The value of the one field line starting with ``prefix``, OWS stripped."""
    start = lower_head.index(prefix) + len(prefix)
    end = lower_head.find(b"\r", start)
    return lower_head[start : end if end >= 0 else len(lower_head)].strip(b" \t")


def _h11_head(head: bytes, max_head: int) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]] | None:
    """Method, target and headers (names lowercased, values trimmed) as h11 reads them."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head + 4)
    try:
        conn.receive_data(head + b"\r\n\r\n")
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if type(event) is not h11.Request:
        return None
    return event.method, event.target, list(event.headers)
