"""Sans-IO HTTP/1.1 responses: response parts in, bytes out.

Responses are framed here, not by h11: Content-Length versus chunked versus
close-delimited (RFC 9112 section 6), unsafe header bytes from the app refused, head
and a small body built into one buffer; ``error_response`` is asyncdev's own 4xx/5xx.
Nothing here touches a socket or asyncio.
"""

from __future__ import annotations

import time
from http import HTTPStatus

from .grammar import has_forbidden_value_byte, is_token

__all__ = [
    "LocalProtocolError",
    "ResponseFramer",
    "date_header_value",
    "error_response",
    "http_date",
]


class LocalProtocolError(Exception):
    """The application sent something that cannot be put on the wire."""


# --- response side --------------------------------------------------------------------


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {code} {phrase}\r\n".encode("ascii")


_STATUS_LINES: dict[int, bytes] = {s.value: _status_line(s.value) for s in HTTPStatus}

_date_cache: list[object] = [0, b""]
# IMF-fixdate names are English whatever the locale (so not time.strftime's %a and %b).
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(seconds: float) -> str:
    """``seconds`` since the epoch as an IMF-fixdate (RFC 9110 section 5.6.7), such as
    ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    t = time.gmtime(seconds)
    return (
        f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {_MONTH_NAMES[t.tm_mon - 1]} "
        f"{t.tm_year:04d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def date_header_value() -> bytes:
    """The IMF-fixdate for now, recomputed at most once a second (RFC 9110 section 6.6.1)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = http_date(now).encode("ascii")
    return _date_cache[1]  # type: ignore[return-value]


class ResponseFramer:
    """Frames one response: head, body chunks, end. Raises LocalProtocolError on misuse.

    The head is held back until the first body part so that head and a small body go
    out in one write (one TCP segment with TCP_NODELAY set).
    """

    __slots__ = (
        "_chunked",
        "_close_delimited",
        "_expected",
        "_head",
        "_http10",
        "_keep_alive_asked",
        "_no_body",
        "_sent",
        "keep_alive",
        "status",
    )

    def __init__(self) -> None:
        self.status = 0
        self.keep_alive = True
        self._head: list[bytes] | None = None
        self._expected: int | None = None
        self._sent = 0
        self._chunked = False
        self._close_delimited = False
        self._no_body = False
        self._http10 = False
        self._keep_alive_asked = True

    @property
    def started(self) -> bool:
        return self.status != 0

    def start(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...],
        *,
        request_method: bytes,
        http_version: bytes,
        keep_alive: bool,
        default_headers: list[bytes],
    ) -> None:
        """Validate the app's status and headers; nothing is written yet."""
        if type(status) is not int or not 100 <= status <= 999:
            raise LocalProtocolError(f"invalid status code {status!r}")
        if 100 <= status < 200:
            raise LocalProtocolError("informational (1xx) responses cannot be sent this way")
        lines = [_STATUS_LINES.get(status) or _status_line(status)]
        lines.extend(default_headers)
        expected: int | None = None
        for item in headers:
            name, value = item
            if type(name) is not bytes or type(value) is not bytes:
                raise LocalProtocolError(f"header {item!r}: names and values must be bytes")
            if is_token(name) is None:
                raise LocalProtocolError(f"invalid header name {name!r}")
            if has_forbidden_value_byte(value) is not None:
                raise LocalProtocolError(f"header {name!r} has CR, LF or NUL in its value")
            lname = name.lower()
            if lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise LocalProtocolError(f"invalid Content-Length {value!r}") from None
                if length < 0 or (expected is not None and expected != length):
                    raise LocalProtocolError(f"invalid Content-Length {value!r}")
                expected = length
                continue  # written below, once
            if lname == b"transfer-encoding":
                # Framing is ours to choose (RFC 9112 section 6.1); the app's value would
                # clash with it.
                continue
            if lname == b"connection":
                if b"close" in value.lower():
                    keep_alive = False
                continue
            lines += (name, b": ", value, b"\r\n")
        self.status = status
        no_body = request_method == b"HEAD" or status in (204, 304)
        self._no_body = no_body
        if status in (204, 304):
            expected = None
        self._expected = expected
        self.keep_alive = self._keep_alive_asked = keep_alive
        self._http10 = http_version != b"1.1"
        self._head = lines
        if expected is not None:
            lines += (b"content-length: ", str(expected).encode(), b"\r\n")
        elif no_body:
            pass
        elif not self._http10:
            self._chunked = True
        else:
            # HTTP/1.0 has no chunked coding: the end of the body is the end of the
            # connection (RFC 9112 section 6.3, rule 8), unless body() learns the length.
            self._close_delimited = True
            self.keep_alive = False

    def body(self, data: bytes, more: bool) -> bytes:
        """The bytes to write for this body part (the head too, on the first call), in
        one buffer: for small parts, where one write beats a copy."""
        out = self._head_bytes(len(data), more)
        if self._no_body:
            return out
        self._count(len(data), more)
        if self._chunked:
            if data:
                out += b"%x\r\n%b\r\n" % (len(data), data)
            if not more:
                out += b"0\r\n\r\n"
        else:
            out += data
        return out

    def body_parts(self, data: bytes, more: bool) -> list[bytes]:
        """``body`` as separate parts for ``writelines``: ``data`` itself is one of them,
        never copied into a new buffer (for large parts)."""
        head = self._head_bytes(len(data), more)
        parts = [head] if head else []
        if self._no_body:
            return parts
        self._count(len(data), more)
        if self._chunked:
            if data:
                parts += (b"%x\r\n" % len(data), data, b"\r\n")
            if not more:
                parts.append(b"0\r\n\r\n")
        elif data:
            parts.append(data)
        return parts

    def _head_bytes(self, size: int, more: bool) -> bytes:
        """The head, on the first body part (then empty); ``size`` is that part's."""
        head = self._head
        if head is None:
            return b""
        self._head = None
        if not more and (self._chunked or self._close_delimited):
            # The whole body is known: a Content-Length beats chunked framing and
            # lets an HTTP/1.0 connection stay open.
            self._chunked = False
            if self._close_delimited:
                self._close_delimited = False
                self.keep_alive = self._keep_alive_asked
            self._expected = size
            head += (b"content-length: ", str(size).encode(), b"\r\n")
        elif self._chunked:
            head.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        elif self._http10:
            # An HTTP/1.0 client that asked for keep-alive is told it got it
            # (RFC 9112 appendix C.2.2).
            head.append(b"connection: keep-alive\r\n")
        head.append(b"\r\n")
        return b"".join(head)

    def _count(self, size: int, more: bool) -> None:
        sent = self._sent = self._sent + size
        expected = self._expected
        if expected is not None:
            if sent > expected:
                raise LocalProtocolError(
                    f"response body longer than its Content-Length ({sent} > {expected})"
                )
            if not more and sent != expected:
                raise LocalProtocolError(
                    f"response body shorter than its Content-Length ({sent} < {expected})"
                )


def error_response(status: int, message: str = "", *, close: bool = True) -> bytes:
    """A complete plain-text response that asyncdev itself sends (4xx/5xx)."""
    body = (message or HTTPStatus(status).phrase).encode("utf-8", "replace") + b"\n"
    head = [
        _STATUS_LINES.get(status) or _status_line(status),
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(body),
        b"date: ", date_header_value(), b"\r\n",
    ]
    if close:
        head.append(b"connection: close\r\n")
    head.append(b"\r\n")
    return b"".join(head) + body
