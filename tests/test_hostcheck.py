"""The Host check against DNS rebinding, over real sockets."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from asyncdev.testing import run_in_thread

# asyncdev.testing allows every Host by default (test clients make names up); these
# tests put the server's real default back.
CHECKED = {"allowed_hosts": ()}


async def hello_app(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hi"})
        await send({"type": "websocket.close", "code": 1000})
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(scope="module")
def checked_server():
    with run_in_thread(
        hello_app, allowed_hosts=("myapp.test", ".example.com", "*.wild.test")
    ) as server:
        yield server


def ask(client, host: str | None, version: str = "1.1"):
    head = f"GET / HTTP/{version}\r\n"
    if host is not None:
        head += f"Host: {host}\r\n"
    client.send((head + "\r\n").encode("latin-1"))
    return client.read_response()


ALLOWED = [
    "localhost", "localhost:8000", "LOCALHOST", "LocalHost:80", "localhost.",
    "localhost.:8000", "app.localhost", "A.B.LOCALHOST:1", "127.0.0.1", "127.0.0.1:9",
    "127.0.0.1.", "10.1.2.3:3000", "[::1]", "[::1]:8000", "[0:0:0:0:0:0:0:1]:80",
    "[::FFFF:127.0.0.1]", "myapp.test", "MYAPP.TEST.:443",
    "example.com", "a.b.Example.COM:8000", "x.wild.test",
]


@pytest.mark.parametrize("host", ALLOWED)
def test_allowed_hosts_are_answered(raw_client, checked_server, host):
    status, _, body = ask(raw_client(checked_server.port), host)
    assert (status, body) == (200, b"hello")


REFUSED = [
    ("evil.com", "evil.com"),
    ("evil.com:8000", "evil.com"),
    ("EVIL.COM.", "evil.com"),
    ("localhost.evil.com", "localhost.evil.com"),
    ("evillocalhost", "evillocalhost"),
    ("127.0.0.1.evil.com", "127.0.0.1.evil.com"),
    ("example.com.evil", "example.com.evil"),
    ("myapp.test.evil", "myapp.test.evil"),
    ("wild.test", "wild.test"),
    ("notexample.com", "notexample.com"),
]


@pytest.mark.parametrize(("host", "name"), REFUSED)
def test_other_hosts_get_400_naming_the_flag(raw_client, checked_server, host, name):
    client = raw_client(checked_server.port)
    status, headers, body = ask(client, host)
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert f"--allowed-host {name}".encode() in body
    # The connection stays usable for a correct request.
    assert ask(client, "localhost")[0] == 200


MALFORMED = [
    "[::1", "[::g]:80", "[127.0.0.1]", "local:host:1", "localhost:99x", "localhost:123456",
    "..", ".", "a..b", "user@localhost", "evil.com@localhost", "local\\host", "loc%00alhost",
]


@pytest.mark.parametrize("host", MALFORMED)
def test_malformed_host_gets_400(raw_client, checked_server, host):
    status, _, body = ask(raw_client(checked_server.port), host)
    assert status == 400
    assert body != b"hello"


def test_http10_request_without_host_is_answered(raw_client, checked_server):
    status, _, body = ask(raw_client(checked_server.port), None, version="1.0")
    assert (status, body) == (200, b"hello")


def test_refusal_is_logged_once_per_name(raw_client, checked_server, caplog):
    caplog.set_level("WARNING", logger="asyncdev.error")
    for _ in range(3):
        assert ask(raw_client(checked_server.port), "logged-once.test")[0] == 400
    lines = [r.getMessage() for r in caplog.records if "logged-once.test" in r.getMessage()]
    assert len(lines) == 1
    assert "--allowed-host logged-once.test" in lines[0]


def test_star_allows_every_host(raw_client):
    with run_in_thread(hello_app, allowed_hosts=("*",)) as server:
        assert ask(raw_client(server.port), "evil.com")[0] == 200


def test_no_check_when_bound_beyond_loopback(raw_client):
    with run_in_thread(hello_app, host="0.0.0.0", **CHECKED) as server:
        assert ask(raw_client(server.port), "evil.com")[0] == 200


def test_check_is_on_by_default_for_loopback(raw_client):
    with run_in_thread(hello_app, **CHECKED) as server:
        assert ask(raw_client(server.port), "evil.com")[0] == 400
        assert ask(raw_client(server.port), "localhost")[0] == 200


async def ws_attempt(url: str, **kwargs) -> str:
    try:
        async with websockets.connect(url, open_timeout=10, **kwargs) as ws:
            return await asyncio.wait_for(ws.recv(), 10)
    except websockets.InvalidStatus as exc:
        return f"status {exc.response.status_code}: {exc.response.body!r}"


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (None, True),
        ("http://localhost:3000", True),
        ("https://app.localhost", True),
        ("http://127.0.0.1:5173", True),
        ("http://[::1]:8000", True),
        ("https://sub.example.com", True),
        ("http://evil.com", False),
        ("http://localhost.evil.com", False),
        ("null", False),
        ("file://", False),
    ],
)
def test_websocket_origin_is_checked(checked_server, origin, accepted):
    url = f"ws://127.0.0.1:{checked_server.port}/"
    extra = {"origin": origin} if origin is not None else {}
    result = asyncio.run(ws_attempt(url, **extra))
    if accepted:
        assert result == "hi"
    else:
        assert result.startswith("status 403")
        assert "--allowed-host" in result or origin in ("null", "file://")


def test_websocket_host_is_checked(raw_client, checked_server):
    client = raw_client(checked_server.port)
    client.send(
        b"GET / HTTP/1.1\r\nHost: evil.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    status, _, body = client.read_response()
    assert status == 403
    assert b"--allowed-host evil.com" in body
