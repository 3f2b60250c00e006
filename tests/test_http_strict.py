"""Strict HTTP/1.1 parsing against hostile bytes, over real sockets.

Each case sends exact bytes and checks the status, what the app served (a request
hidden in a body must never be served: no smuggling), whether the connection closed
(after any protocol error it must), then that the same connection serves a second
request when it stayed open and that a canary on a new connection is served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from asyncdev.testing import RunningServer, run_in_thread
from hostile_helpers import (
    Recorder,
    Served,
    closed_by_peer,
    connect,
    get,
    read_response,
    send_all,
)

LIMITS = {
    "limit_request_line": 1024,
    "limit_request_field_size": 1024,
    "limit_request_head": 8192,
    "limit_request_fields": 50,
    "limit_request_body": 10_000,
}

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@dataclass
class Case:
    id: str
    raw: bytes
    status: int
    # Paths the app must have served, in order (only complete, well-formed requests).
    served: list[str] = field(default_factory=list)
    check: Callable[[list[Served]], None] | None = None
    close: bool = False  # a success that still ends the connection (HTTP/1.0)

    @property
    def closes(self) -> bool:
        return self.status >= 400 or self.close


def post(headers: bytes, body: bytes, *, path: bytes = b"/post", version: bytes = b"1.1") -> bytes:
    return b"POST " + path + b" HTTP/" + version + b"\r\nHost: x\r\n" + headers + b"\r\n" + body


def get_raw(target: bytes = b"/", extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET " + target + b" " + version + b"\r\nHost: x\r\n" + extra + b"\r\n"


def chunked(body: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked\r\n", body)


def body_is(expected: bytes) -> Callable[[list[Served]], None]:
    def check(served: list[Served]) -> None:
        assert served[0].body == expected

    return check


def header_is(name: bytes, value: bytes) -> Callable[[list[Served]], None]:
    def check(served: list[Served]) -> None:
        assert (name, value) in served[0].headers, served[0].headers

    return check


def scope_is(
    path: str, query: bytes = b"", host: bytes | None = None
) -> Callable[[list[Served]], None]:
    def check(served: list[Served]) -> None:
        assert (served[0].path, served[0].query) == (path, query)
        if host is not None:
            hosts = [v for n, v in served[0].headers if n == b"host"]
            assert hosts == [host]

    return check


CASES = [
    # --- request smuggling: Content-Length vs Transfer-Encoding (RFC 9112 6.1, 6.3)
    Case("cl-te", post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nG"), 400),
    Case("te-cl", post(b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                       b"5c\r\n" + SMUGGLED + b"\r\n0\r\n\r\n"), 400),
    Case("cl-te-smuggled-get", post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                                    b"0\r\n\r\n" + SMUGGLED), 400),
    Case("cl-then-zero-te", post(b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                                 b"0\r\n\r\n"), 400),
    Case("cl-conflicting", post(b"Content-Length: 3\r\nContent-Length: 40\r\n",
                                b"abc" + SMUGGLED), 400),
    Case("cl-duplicate-equal", post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"), 400),
    Case("cl-list-equal", post(b"Content-Length: 3, 3\r\n", b"abc"), 400),
    Case("cl-list-conflicting", post(b"Content-Length: 3, 40\r\n", b"abc" + SMUGGLED), 400),
    Case("cl-plus-sign", post(b"Content-Length: +3\r\n", b"abc"), 400),
    Case("cl-negative", post(b"Content-Length: -1\r\n", b""), 400),
    Case("cl-hex", post(b"Content-Length: 0x3\r\n", b"abc"), 400),
    Case("cl-empty", post(b"Content-Length: \r\n", b""), 400),
    Case("cl-underscore-digits", post(b"Content-Length: 1_0\r\n", b"abc"), 400),
    Case("cl-ows-is-fine", post(b"Content-Length: \t 3 \t\r\n", b"abc"), 200, ["/post"],
         body_is(b"abc")),
    Case("cl-mixed-case-name", post(b"cOnTeNt-LeNgTh: 3\r\n", b"abc"), 200, ["/post"],
         body_is(b"abc")),
    Case("cl-exact-body-then-pipelined", post(b"Content-Length: 3\r\n", b"abc") + get_raw(b"/next"),
         200, ["/post", "/next"], body_is(b"abc")),
    # --- obfuscated Transfer-Encoding
    Case("te-xchunked", post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 400),
    Case("te-chunked-suffix", post(b"Transfer-Encoding: chunkedx\r\n", b"0\r\n\r\n"), 400),
    Case("te-space-before-colon", post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400),
    Case("te-twice-in-list", post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400),
    Case("te-two-lines", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                              b"0\r\n\r\n"), 400),
    # RFC 9110 5.3: two field lines are the one value joined by a comma, same answer.
    Case("te-gzip-chunked-two-lines",
         post(b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 501),
    Case("te-identity-chunked-two-lines",
         post(b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
         501),
    Case("te-identity-chunked", post(b"Transfer-Encoding: identity, chunked\r\n", b"0\r\n\r\n"),
         501),
    Case("te-chunked-two-lines-twice",
         post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
         400),
    Case("te-chunked-not-last", post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400),
    Case("te-identity", post(b"Transfer-Encoding: identity\r\n", b""), 400),
    Case("te-gzip-then-chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501),
    Case("te-vertical-tab", post(b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n"), 400),
    Case("te-nul", post(b"Transfer-Encoding: chunked\x00\r\n", b"0\r\n\r\n"), 400),
    Case("te-obs-fold", post(b"X-Pad: y\r\n Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400),
    Case("te-value-folded", post(b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), 400),
    Case("te-http10", post(b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", version=b"1.0"), 400),
    Case("te-http10-with-cl", post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                                   b"0\r\n\r\n", version=b"1.0"), 400),
    Case("te-tab-ows-is-fine", post(b"Transfer-Encoding:\tchunked\t\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
         200, ["/post"], body_is(b"abc")),
    Case("te-case-insensitive", post(b"Transfer-Encoding: Chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
         200, ["/post"], body_is(b"abc")),
    # --- chunked framing (RFC 9112 7.1)
    Case("chunked-valid", chunked(b"3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n"), 200, ["/post"],
         body_is(b"abc0123456789")),
    Case("chunked-size-then-space", chunked(b"3 \r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-space-then-size", chunked(b" 3\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-size-hex-prefix", chunked(b"0x3\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-size-negative", chunked(b"-3\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-size-empty", chunked(b"\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-size-17-digits", chunked(b"00000000000000003\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-size-overflow", chunked(b"ffffffffffffffff\r\nabc\r\n0\r\n\r\n"), 413),
    Case("chunked-ext-valid",
         chunked(b"3;name=value;flag\r\nabc\r\n0;last=\"a \\\"b\\\"\"\r\n\r\n"),
         200, ["/post"], body_is(b"abc")),
    Case("chunked-ext-empty", chunked(b"3;\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-ext-space", chunked(b"3 ;a=b\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-ext-control", chunked(b"3;a\x01=b\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-ext-bare-lf", chunked(b"3;a=b\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-ext-line-too-long",
         chunked(b"3;a=" + b"b" * 5000 + b"\r\nabc\r\n0\r\n\r\n"), 400),
    # Extensions are never delivered, so their total is bounded (Node.js CVE-2024-22019).
    Case("chunked-ext-budget", chunked(b"".join(b"1;e=" + b"x" * 1000 + b"\r\nz\r\n"
                                                for _ in range(10)) + b"0\r\n\r\n"), 400),
    Case("chunked-ext-unterminated-quote", chunked(b"3;a=\"b\r\nabc\r\n0\r\n\r\n"), 400),
    # CVE-2025-43859: chunk data must be followed by CRLF, not by any two bytes.
    Case("chunked-data-no-crlf", chunked(b"3\r\nabcXX0\r\n\r\n" + SMUGGLED), 400),
    Case("chunked-data-bare-lf", chunked(b"3\r\nabc\n0\r\n\r\n"), 400),
    Case("chunked-data-longer-than-size", chunked(b"3\r\nabcdef\r\n0\r\n\r\n"), 400),
    Case("chunked-size-bare-lf", chunked(b"3\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked-trailer-valid", chunked(b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n"), 200,
         ["/post"], body_is(b"abc")),
    Case("chunked-trailer-invalid", chunked(b"3\r\nabc\r\n0\r\nnot a field\r\n\r\n"), 400),
    Case("chunked-trailer-obs-fold", chunked(b"0\r\nX-A: b\r\n folded\r\n\r\n"), 400),
    Case("chunked-smuggled-in-trailer", chunked(b"0\r\n" + SMUGGLED), 400),
    Case("chunked-then-pipelined", chunked(b"3\r\nabc\r\n0\r\n\r\n") + get_raw(b"/next"), 200,
         ["/post", "/next"]),
    # --- head syntax (RFC 9112 2.2, 5; RFC 9110 5.5)
    Case("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    Case("bare-lf-one-line", b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400),
    Case("bare-cr", b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400),
    Case("bare-lf-hides-a-header", post(b"X-A: b\nContent-Length: 5\r\n", b"abcde"), 400),
    Case("bare-cr-hides-a-header", post(b"X-A: b\rTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
         400),
    Case("nul-in-value", get_raw(extra=b"X-A: a\x00b\r\n"), 400),
    Case("soh-in-value", get_raw(extra=b"X-A: a\x01b\r\n"), 400),
    Case("esc-in-value", get_raw(extra=b"X-A: \x1b[31mred\r\n"), 400),
    Case("del-in-value", get_raw(extra=b"X-A: a\x7fb\r\n"), 400),
    Case("control-in-name", get_raw(extra=b"X-\x01A: b\r\n"), 400),
    Case("obs-text-in-value-is-fine", get_raw(b"/latin", b"X-A: caf\xe9\r\n"), 200, ["/latin"],
         header_is(b"x-a", b"caf\xe9")),
    Case("value-ows-trimmed", get_raw(b"/ows", b"X-A: \t padded \t\r\n"), 200, ["/ows"],
         header_is(b"x-a", b"padded")),
    Case("space-before-colon", get_raw(extra=b"X-A : b\r\n"), 400),
    Case("tab-before-colon", get_raw(extra=b"X-A\t: b\r\n"), 400),
    Case("empty-name", get_raw(extra=b": b\r\n"), 400),
    Case("invalid-name-char", get_raw(extra=b"X(A): b\r\n"), 400),
    Case("no-colon", get_raw(extra=b"X-A b\r\n"), 400),
    Case("obs-fold", get_raw(extra=b"X-A: b\r\n c\r\n"), 400),
    Case("obs-fold-first-line", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
    Case("missing-host", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    Case("two-hosts", get_raw(extra=b"Host: y\r\n"), 400),
    Case("invalid-host", b"GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n", 400),
    Case("http10-without-host", b"GET /old HTTP/1.0\r\n\r\n", 200, ["/old"], close=True),
    Case("leading-empty-line", b"\r\n" + get_raw(b"/lead"), 200, ["/lead"]),
    Case("lowercase-names-for-the-app", get_raw(b"/names", b"X-MiXeD: v\r\n"), 200, ["/names"],
         header_is(b"x-mixed", b"v")),
    # --- request targets (RFC 9112 3.2, RFC 9110 7.1)
    Case("fragment-in-target", get_raw(b"/a#b"), 400),
    Case("non-ascii-in-target", get_raw(b"/caf\xc3\xa9"), 400),
    Case("nul-in-target", get_raw(b"/a\x00b"), 400),
    Case("space-in-target", get_raw(b"/a b"), 400),
    Case("tab-separator", b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("double-space", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("trailing-space", b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400),
    Case("asterisk-outside-options", get_raw(b"*"), 400),
    Case("options-asterisk", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 200, ["*"]),
    Case("absolute-form", get_raw(b"http://example.com:8080/abs?q=1"), 200, ["/abs"],
         scope_is("/abs", b"q=1", b"example.com:8080")),
    Case("absolute-form-no-path", get_raw(b"http://example.com"), 200, ["/"],
         scope_is("/", b"", b"example.com")),
    Case("absolute-form-query-no-path", get_raw(b"HTTPS://example.com?q=1"), 200, ["/"],
         scope_is("/", b"q=1", b"example.com")),
    Case("absolute-form-other-scheme", get_raw(b"ftp://example.com/"), 400),
    Case("absolute-form-no-authority", get_raw(b"http:///path"), 400),
    Case("absolute-form-userinfo", get_raw(b"http://user@example.com/"), 400),
    # RFC 9110 9.3.6, 15.6.2: no tunnels from a server that is no proxy.
    Case("connect-authority-form",
         b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
    Case("connect-origin-form", b"CONNECT / HTTP/1.1\r\nHost: example.com\r\n\r\n", 501),
    Case("authority-form-without-connect", get_raw(b"example.com:443"), 400),
    Case("relative-target", get_raw(b"path"), 400),
    Case("percent-encoded-path", get_raw(b"/a%20b?x=%41"), 200, ["/a b"],
         scope_is("/a b", b"x=%41")),
    # --- versions (RFC 9110 2.5, 15.6.6)
    Case("http2-version", get_raw(version=b"HTTP/2.0"), 505),
    Case("http2-preface",
         b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00", 505),
    Case("http3-version", get_raw(version=b"HTTP/3"), 505),
    Case("http09-version", get_raw(version=b"HTTP/0.9"), 505),
    Case("http09-request-line", b"GET /\r\n\r\n", 400),
    Case("lowercase-version", get_raw(version=b"http/1.1"), 400),
    Case("two-digit-minor", get_raw(version=b"HTTP/1.10"), 400),
    Case("no-dot-version", get_raw(version=b"HTTP/11"), 400),
    Case("three-part-version", get_raw(version=b"HTTP/1.1.1"), 400),
    Case("http12-served-as-11", get_raw(b"/v12", version=b"HTTP/1.2"), 200, ["/v12"]),
    Case("garbage-line", b"\x16\x03\x01\x00\xa5garbage\r\n\r\n", 400),
    # --- limits (RFC 9110 15.5.14/15.5.15, RFC 6585 5), configured in LIMITS
    Case("line-at-limit", get_raw(b"/" + b"a" * (1024 - len(b"GET / HTTP/1.1"))), 200,
         ["/" + "a" * (1024 - len("GET / HTTP/1.1"))]),
    Case("line-over-limit", get_raw(b"/" + b"a" * 1024), 414),
    Case("line-over-limit-unfinished", b"GET /" + b"a" * 2000, 414),
    # A field line counts with its CRLF, as gunicorn counts it.
    Case("field-at-limit", get_raw(b"/f", b"X-Big: " + b"b" * (1022 - 7) + b"\r\n"), 200, ["/f"]),
    Case("field-one-over-limit", get_raw(extra=b"X-Big: " + b"b" * (1023 - 7) + b"\r\n"), 431),
    Case("field-over-limit", get_raw(extra=b"X-Big: " + b"b" * 1100 + b"\r\n"), 431),
    Case("field-over-limit-unfinished", b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 2000, 431),
    Case("head-over-limit",
         get_raw(extra=b"".join(b"X-%d: %s\r\n" % (i, b"v" * 900) for i in range(10))), 431),
    Case("too-many-fields", get_raw(extra=b"".join(b"X-%d: v\r\n" % i for i in range(60))), 431),
    Case("fields-at-limit", get_raw(b"/many", b"".join(b"X-%d: v\r\n" % i for i in range(49))), 200,
         ["/many"]),
    Case("body-over-limit-by-length", post(b"Content-Length: 10001\r\n", b""), 413),
    Case("body-at-limit", post(b"Content-Length: 10000\r\n", b"z" * 10_000), 200, ["/post"]),
    Case("body-over-limit-chunked", chunked(b"1388\r\n" + b"z" * 5000 + b"\r\n1389\r\n"
                                            + b"z" * 5001 + b"\r\n0\r\n\r\n"), 413),
    Case("body-over-limit-one-chunk", chunked(b"2711\r\n"), 413),
]


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def server(recorder: Recorder) -> Iterator[RunningServer]:
    with run_in_thread(recorder, access_log=False, timeout_request_head=10.0, **LIMITS) as running:
        yield running


def test_the_table_is_large_and_unique() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case, server: RunningServer, recorder: Recorder) -> None:
    recorder.take()
    with connect(server.port) as sock:
        send_all(sock, case.raw)
        buffer = bytearray()
        response = read_response(sock, buffer)
        assert response is not None, "closed without an answer"
        assert response.status == case.status, response.raw
        statuses = [response.status]
        # Pipelined requests in the case are answered in order.
        for _ in case.served[1:]:
            extra = read_response(sock, buffer)
            assert extra is not None
            statuses.append(extra.status)
        if case.closes:
            assert response.headers.get("connection") == "close"
            assert closed_by_peer(sock), "the connection stayed open after a protocol error"
        if not case.closes:
            assert statuses == [200] * len(statuses)
            sock.sendall(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
            second = read_response(sock, buffer)
            assert second is not None and second.status == 200
    served = recorder.take()
    assert [s.path for s in served] == case.served + ([] if case.closes else ["/second"])
    if case.check is not None:
        case.check(served)
    canary = get(server.port, "/canary")
    assert canary is not None and canary.status == 200
    assert recorder.paths() == ["/canary"]


def test_issue_sizes_against_the_default_limits() -> None:
    """What uvicorn-h11 answers 200 to: a 20 KiB header, a 20 KiB line, 10,000 headers."""
    recorder = Recorder()
    with run_in_thread(recorder, access_log=False) as server:
        for raw, status in [
            (get_raw(extra=b"X-Big: " + b"b" * 20 * 1024 + b"\r\n"), 431),
            (get_raw(b"/" + b"a" * 20 * 1024), 414),
            (get_raw(extra=b"".join(b"X-%d: v\r\n" % i for i in range(10_000))), 431),
            (post(b"Content-Length: %d\r\n" % (2 << 30), b""), 413),
        ]:
            with connect(server.port) as sock:
                send_all(sock, raw)
                response = read_response(sock, bytearray())
                assert response is not None and response.status == status
                assert closed_by_peer(sock)
        assert recorder.paths() == []
        canary = get(server.port, "/canary")
        assert canary is not None and canary.status == 200


def test_error_answer_then_lingering_close(server: RunningServer) -> None:
    """After a 413 the client may keep uploading for a moment without being reset.

    A server that closes with unread request bytes makes the kernel answer with RST,
    which fails the client's upload and can destroy the answer before the client reads
    it (notably on Windows and macOS); the answer is sent, then the rest is drained.
    """
    with connect(server.port) as sock:
        sock.sendall(post(b"Content-Length: 50000000\r\n", b"z" * 65536))
        buffer = bytearray()
        response = read_response(sock, buffer)
        assert response is not None and response.status == 413
        for _ in range(4):
            sock.sendall(b"z" * 65536)  # no BrokenPipeError / ConnectionResetError
        sock.settimeout(10.0)
        assert sock.recv(1) == b""  # an orderly end of the answer, not a reset


# --- the response side and the logs ---------------------------------------------------------

BAD_HEADERS = {
    "/crlf-value": [(b"x-a", b"ok\r\nx-injected: 1")],
    "/lf-value": [(b"x-a", b"ok\nx-injected: 1")],
    "/cr-value": [(b"x-a", b"ok\rx-injected: 1")],
    "/nul-value": [(b"x-a", b"ok\x00x-injected: 1")],
    "/crlf-name": [(b"x-a\r\nx-injected", b"1")],
    "/nul-name": [(b"x-a\x00", b"1")],
    "/space-name": [(b"x a", b"1")],
}


async def bad_header_app(scope: dict[str, object], receive: object, send: object) -> None:
    if scope["type"] != "http":
        return
    headers = BAD_HEADERS.get(str(scope["path"]), [(b"x-a", b"fine")])
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"body"})  # type: ignore[operator]


@pytest.mark.parametrize("path", sorted(BAD_HEADERS))
def test_response_header_with_cr_lf_or_nul_gives_500_and_nothing_raw(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with run_in_thread(bad_header_app, access_log=False) as server:
        with connect(server.port) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            response = read_response(sock, bytearray())
            assert response is not None and response.status == 500
            assert closed_by_peer(sock)
            assert b"x-injected" not in response.raw.lower()  # the head
            assert "x-a" not in response.headers
            # The error page may quote the header, escaped, never raw.
            for raw in (b"\r\nx-injected", b"\nx-injected", b"\rx-injected", b"\x00"):
                assert raw not in response.body
        fine = get(server.port, "/fine")
        assert fine is not None and fine.status == 200 and fine.headers["x-a"] == "fine"


def test_log_lines_escape_request_derived_text() -> None:
    """Formatted by asyncdev's own formatters, request text never reaches a terminal raw.

    Control bytes cannot get into a request line any more (the parser refuses them),
    but a percent-decoded path can hold any character, and the app's error log names
    the path.
    """
    import io
    import logging

    from asyncdev._logging import AccessFormatter, DefaultFormatter

    async def failing_app(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] == "http":
            raise RuntimeError("boom")

    stream = io.StringIO()
    saved = []
    for name, formatter in (("asyncdev.error", DefaultFormatter()),
                            ("asyncdev.access", AccessFormatter())):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger = logging.getLogger(name)
        saved.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        with run_in_thread(failing_app, access_log=True) as server:
            for raw in (
                b"GET /%1b[2J%0d%0aFORGED%00 HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /a\x1b[2J HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \x1b[31m\r\n\r\n",
            ):
                with connect(server.port) as sock:
                    sock.sendall(raw)
                    response = read_response(sock, bytearray())
                    assert response is not None and response.status in (400, 500)
    finally:
        for logger, handler, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
    text = stream.getvalue()
    assert "FORGED" in text  # the decoded path was logged, escaped
    lines = [line for line in text.splitlines() if not line.startswith(("Traceback", "  "))]
    for line in lines:
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in line), repr(line)
