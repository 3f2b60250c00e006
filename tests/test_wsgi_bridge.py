"""The WSGI bridge driven directly as an ASGI callable, with scripted receive/send."""

from __future__ import annotations

import sys

import pytest

from asyncdev._config import Config
from asyncdev._errors import ClientDisconnected
from asyncdev._server.wsgi import wrap_wsgi
from wsgi_helpers import drive, http_scope, response_of


def never_called(environ, start_response):
    raise AssertionError("the WSGI app must not be called")


async def test_websocket_is_closed_before_accepting():
    app = wrap_wsgi(never_called, Config(threads=1))
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    await app({**http_scope(), "type": "websocket"}, receive, send)
    assert [m["type"] for m in sent] == ["websocket.close"]


async def test_small_response_is_one_start_and_one_final_body():
    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    sent = await drive(wrap_wsgi(hello, Config(threads=1)), http_scope())
    # start_response is held until the body is known, then both cross together.
    assert sent == [
        {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]},
        {"type": "http.response.body", "body": b"hello", "more_body": False},
    ]


async def test_request_without_body_is_not_received():
    calls = []

    def reader(environ, start_response):
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [data or b"empty"]

    app = wrap_wsgi(reader, Config(threads=1))

    async def receive():
        calls.append(1)
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    await app(http_scope(), receive, send)
    assert response_of(sent)[2] == b"empty"
    assert calls == []  # no trip to the loop to learn that a GET has no body


async def test_readline_with_a_limit_waits_for_data():
    def lines(environ, start_response):
        stream = environ["wsgi.input"]
        got = [stream.readline(10), stream.readline(2), stream.readline(),
               b"|".join(stream.readlines()), stream.read()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"/".join(got)]

    scope = http_scope("POST", headers=[(b"transfer-encoding", b"chunked")])
    sent = await drive(wrap_wsgi(lines, Config(threads=1)), scope,
                       [b"ab", b"c\nde", b"f\n", b"x\ny", b"z", b""])
    assert response_of(sent)[2] == b"abc\n/de/f\n/x\n|yz/"


async def test_disconnect_mid_body_raises_from_read():
    seen = []

    def reader(environ, start_response):
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            seen.append(exc)
            raise
        raise AssertionError("read() returned a truncated body")

    incoming = [{"type": "http.request", "body": b"x" * 10, "more_body": True},
                {"type": "http.disconnect"}]

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        raise AssertionError(f"nothing may be sent: {message}")

    app = wrap_wsgi(reader, Config(threads=1))
    with pytest.raises(ClientDisconnected):
        await app(http_scope("POST", headers=[(b"content-length", b"100")]), receive, send)
    assert isinstance(seen[0], ClientDisconnected)


async def test_start_response_with_exc_info_replaces_headers_until_body_starts():
    def handled(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")],
                           sys.exc_info())
        return [b"sorry"]

    status, headers, body = response_of(await drive(wrap_wsgi(handled, Config(threads=1)),
                                                    http_scope()))
    assert (status, body) == (503, b"sorry")


async def test_start_response_with_exc_info_after_body_reraises():
    def too_late(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"begun")
        try:
            raise ValueError("after the body began")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return []

    with pytest.raises(ValueError, match="after the body began"):
        await drive(wrap_wsgi(too_late, Config(threads=1)), http_scope())


async def test_legacy_write_and_iterable_are_both_sent():
    def both(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"then ", b"iterated"]

    sent = await drive(wrap_wsgi(both, Config(threads=1)), http_scope())
    assert response_of(sent)[2] == b"written then iterated"


async def test_app_that_never_calls_start_response_raises():
    def silent(environ, start_response):
        return []

    with pytest.raises(RuntimeError, match="start_response"):
        await drive(wrap_wsgi(silent, Config(threads=1)), http_scope())


async def test_path_info_falls_back_to_the_scope_path_without_raw_path():
    def show(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode("latin-1")]

    scope = http_scope(path="/mount/caf\u00e9", root_path="/mount")
    del scope["raw_path"]
    sent = await drive(wrap_wsgi(show, Config(threads=1)), scope)
    assert response_of(sent)[2] == "/mount|/caf\u00e9".encode()


async def test_transfer_encoding_overrides_content_length():
    def show(environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr((environ.get("CONTENT_LENGTH"), body)).encode()]

    scope = http_scope("POST", headers=[(b"content-length", b"3"),
                                        (b"transfer-encoding", b"chunked")])
    sent = await drive(wrap_wsgi(show, Config(threads=1)), scope, [b"chunked body", b""])
    # RFC 9112 section 6.3: the framing is chunked, so no CONTENT_LENGTH reaches the app.
    assert response_of(sent)[2] == repr((None, b"chunked body")).encode()
