"""WebSockets end to end: the websockets client (or raw sockets) against asyncdev.testing.

The sans-IO opening handshake (``asyncdev._protocol.wshandshake``) is also checked on its own,
headers in and bytes out, at the end.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from asyncdev._protocol.wshandshake import (
    Handshake,
    accept_response,
    denial_response,
    read_upgrade,
    websocket_scope,
)
from asyncdev.testing import run_in_thread, serving

Handler = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
TIMEOUT = 10.0


def make_app(handler: Handler, *, state: dict[str, Any] | None = None) -> Any:
    """ASGI app: lifespan (fills ``state``), a short HTTP answer, ``handler`` for WebSockets."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"].update(state or {})
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"4")]})
            await send({"type": "http.response.body", "body": b"http"})
        else:
            await handler(scope, receive, send)

    return app


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text"),
                        "bytes": message.get("bytes")})
        else:
            return


async def recv(ws: Any) -> Any:
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


def ws_connect(port: int, path: str = "/", **options: Any) -> Any:
    options.setdefault("proxy", None)
    options.setdefault("open_timeout", TIMEOUT)
    return connect(f"ws://127.0.0.1:{port}{path}", **options)


# --- raw client helpers ----------------------------------------------------------------


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame; the all-zero mask keeps the payload as is (RFC 6455 5.3)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


def upgrade_request(path: str = "/", *, version: bytes = b"13", key: bytes | None = None,
                    connection: bytes = b"Upgrade") -> bytes:
    key = key if key is not None else base64.b64encode(os.urandom(16))
    return (
        b"GET %s HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: %s\r\n"
        b"sec-websocket-key: %s\r\nsec-websocket-version: %s\r\n\r\n"
        % (path.encode(), connection, key, version)
    )


async def raw_open(port: int, extra: bytes = b"", request: bytes | None = None) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((request or upgrade_request()) + extra)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    return reader, writer, head


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await asyncio.wait_for(reader.readexactly(n), TIMEOUT)


def close_code(payload: bytes) -> int:
    return int.from_bytes(payload[:2], "big")


# --- tests --------------------------------------------------------------------------------


async def test_echo_scope_subprotocol_and_large_messages() -> None:
    scopes: list[dict[str, Any]] = []

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", "subprotocol": "v2",
                    "headers": [(b"x-chosen", b"yes")]})
        await echo(scope, receive, send)

    app = make_app(handler, state={"db": "ready"})
    async with serving(app, root_path="/api") as server:
        async with ws_connect(server.port, "/chat%20room?x=1&y=2", subprotocols=["v1", "v2"],
                              max_size=None) as ws:
            assert ws.subprotocol == "v2"
            assert ws.response.headers["x-chosen"] == "yes"
            await ws.send("héllo")
            assert await recv(ws) == "héllo"
            await ws.send(b"\x00\xff")
            assert await recv(ws) == b"\x00\xff"
            big_binary = os.urandom(3 * 1024 * 1024)
            await ws.send(big_binary)
            assert await recv(ws) == big_binary
            big_text = "ünïcode " * 100_000
            await ws.send(big_text)
            assert await recv(ws) == big_text
            await ws.send(["frag", "men", "ted"])  # one message in three frames
            assert await recv(ws) == "fragmented"
            await ws.send([b"a" * 70_000, b"b" * 70_000])
            assert await recv(ws) == b"a" * 70_000 + b"b" * 70_000
            await ws.ping()
    scope = scopes[0]
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["http_version"] == "1.1"
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/chat room"
    assert scope["raw_path"] == b"/chat%20room"
    assert scope["query_string"] == b"x=1&y=2"
    assert scope["subprotocols"] == ["v1", "v2"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ("127.0.0.1", server.port)
    assert scope["state"] == {"db": "ready"}
    assert "websocket.http.response" in scope["extensions"]
    assert "method" not in scope
    headers = dict(scope["headers"])
    assert headers[b"upgrade"].lower() == b"websocket"
    assert b"sec-websocket-key" in headers


async def test_close_codes_both_ways() -> None:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        if message["type"] == "websocket.receive" and message["text"] == "close me":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
            message = await receive()
        await seen.put(message)

    async with serving(make_app(handler)) as server:
        async with ws_connect(server.port) as ws:
            await ws.send("close me")
            with pytest.raises(ConnectionClosed):
                await recv(ws)
        assert ws.close_code == 4001
        assert ws.close_reason == "bye"
        assert (await asyncio.wait_for(seen.get(), TIMEOUT))["type"] == "websocket.disconnect"

        async with ws_connect(server.port) as ws:
            await ws.close(4002, "later")
        message = await asyncio.wait_for(seen.get(), TIMEOUT)
        assert message == {"type": "websocket.disconnect", "code": 4002, "reason": "later"}


async def test_client_vanishing_gives_1006_and_send_raises() -> None:
    seen: asyncio.Queue[Any] = asyncio.Queue()

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await seen.put("accepted")
        await seen.put(await receive())
        try:
            await send({"type": "websocket.send", "text": "anyone?"})
        except OSError as exc:
            await seen.put(exc)

    async with serving(make_app(handler)) as server:
        reader, writer, head = await raw_open(server.port)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert await asyncio.wait_for(seen.get(), TIMEOUT) == "accepted"
        writer.transport.abort()  # no Close frame, no FIN handshake
        message = await asyncio.wait_for(seen.get(), TIMEOUT)
        assert message == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
        assert isinstance(await asyncio.wait_for(seen.get(), TIMEOUT), OSError)


async def test_frames_sent_with_the_handshake_are_kept() -> None:
    async with serving(make_app(echo)) as server:
        early = client_frame(0x1, b"early bird")
        reader, writer, head = await raw_open(server.port, extra=early)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert await read_frame(reader) == (0x1, b"early bird")
        writer.write(client_frame(0x8, (1000).to_bytes(2, "big")))
        opcode, payload = await read_frame(reader)
        assert opcode == 0x8 and close_code(payload) == 1000
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # server closes TCP
        writer.close()


async def test_denial_response_and_403_on_close_before_accept() -> None:
    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] == "/deny":
            await send({"type": "websocket.http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain"),
                                    (b"www-authenticate", b"Bearer")]})
            await send({"type": "websocket.http.response.body", "body": b"no ",
                        "more_body": True})
            await send({"type": "websocket.http.response.body", "body": b"entry"})
        else:
            await send({"type": "websocket.close"})

    async with serving(make_app(handler)) as server:
        with pytest.raises(InvalidStatus) as denied:
            async with ws_connect(server.port, "/deny"):
                pass
        response = denied.value.response
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.body == b"no entry"

        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(server.port, "/close"):
                pass
        assert refused.value.response.status_code == 403


async def test_app_errors_before_and_after_accept() -> None:
    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] == "/after":
            await send({"type": "websocket.accept"})
            await receive()
        raise RuntimeError("boom")

    async with serving(make_app(handler)) as server:
        with pytest.raises(InvalidStatus) as failed:
            async with ws_connect(server.port, "/before"):
                pass
        assert failed.value.response.status_code == 500
        async with ws_connect(server.port, "/after") as ws:
            await ws.send("go")
            with pytest.raises(ConnectionClosed):
                await recv(ws)
        assert ws.close_code == 1011


async def test_message_size_limit_closes_with_1009() -> None:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            await seen.put(message)
            if message["type"] == "websocket.disconnect":
                return

    async with serving(make_app(handler), ws_max_size=1000) as server:
        async with ws_connect(server.port) as ws:
            await ws.send(b"x" * 1000)
            assert (await asyncio.wait_for(seen.get(), TIMEOUT))["bytes"] == b"x" * 1000
            await ws.send(b"y" * 1001)
            with pytest.raises(ConnectionClosed):
                await recv(ws)
        assert ws.close_code == 1009
        assert (await asyncio.wait_for(seen.get(), TIMEOUT))["code"] == 1009

        # Fragments add up: two frames of 600 bytes are one message of 1200.
        async with ws_connect(server.port) as ws:
            await ws.send(["a" * 600, "b" * 600])
            with pytest.raises(ConnectionClosed):
                await recv(ws)
        assert ws.close_code == 1009
        assert (await asyncio.wait_for(seen.get(), TIMEOUT))["code"] == 1009


async def test_ping_timeout_closes_a_silent_peer() -> None:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            pass
        await seen.put(message)

    async with serving(make_app(handler), ws_ping_interval=0.1, ws_ping_timeout=1.0) as server:
        # A peer that reads but never answers pings.
        reader, writer, head = await raw_open(server.port)
        assert head.startswith(b"HTTP/1.1 101 ")
        opcodes = []
        while True:
            try:
                opcode, payload = await read_frame(reader)
            except asyncio.IncompleteReadError:
                break
            opcodes.append(opcode)
            if opcode == 0x8:
                assert close_code(payload) == 1011
            assert len(opcodes) < 1000
        assert opcodes[0] == 0x9 and opcodes[-1] == 0x8
        message = await asyncio.wait_for(seen.get(), TIMEOUT)
        assert message["type"] == "websocket.disconnect" and message["code"] == 1006
        writer.close()

        # A peer that answers (the websockets client does) stays connected.
        async with ws_connect(server.port, ping_interval=None) as ws:
            for _ in range(3):
                # Each server ping is answered; the connection outlives several timeouts.
                await ws.send("still here?")
                await asyncio.sleep(0.5)
            assert ws.close_code is None


async def test_shutdown_closes_open_websockets_with_1012() -> None:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    accepted = asyncio.Event()
    connecting = asyncio.Event()
    release = asyncio.Event()

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] == "/late":
            connecting.set()
            await release.wait()  # accepts only once the shutdown has begun
        await send({"type": "websocket.accept"})
        if scope["path"] == "/stuck":
            accepted.set()
            await asyncio.Event().wait()  # never receives: shutdown must not wait forever
        await seen.put(await receive())

    async with serving(make_app(handler), timeout_graceful_shutdown=1.0) as server:
        polite = await ws_connect(server.port, "/polite")
        stuck = await ws_connect(server.port, "/stuck")
        await asyncio.wait_for(accepted.wait(), TIMEOUT)
        late_task = asyncio.create_task(ws_connect(server.port, "/late").__aenter__())
        await asyncio.wait_for(connecting.wait(), TIMEOUT)
        server.stop()
        state = server.server.state
        for _ in range(1000):
            if state.shutting_down:
                break
            await asyncio.sleep(0.01)
        release.set()
        late = await asyncio.wait_for(late_task, TIMEOUT)
    # The server has stopped; every client was told "service restart", including the
    # one whose handshake was still being decided when the shutdown began.
    for ws in (polite, stuck, late):
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert ws.close_code == 1012
    codes = [(await asyncio.wait_for(seen.get(), TIMEOUT))["code"] for _ in range(2)]
    assert codes == [1012, 1012]


async def test_slow_client_pauses_the_apps_send() -> None:
    chunk = b"z" * (256 * 1024)
    total = 256  # 64 MiB: far more than socket buffers and the transport hold
    sent = 0
    finished = asyncio.Event()

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal sent
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(total):
            await send({"type": "websocket.send", "bytes": chunk})
            sent += 1
        finished.set()
        await receive()

    async with serving(make_app(handler), ws_per_message_deflate=False) as server:
        reader, writer, head = await raw_open(server.port)
        # Wait until the app stops making progress (bounded), without reading anything.
        last = -1
        for _ in range(100):
            if finished.is_set() or sent == last:
                break
            last = sent
            await asyncio.sleep(0.2)
        assert not finished.is_set()
        assert sent < total // 2
        for _ in range(total):
            opcode, payload = await read_frame(reader)
            assert opcode == 0x2 and len(payload) == len(chunk)
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        writer.transport.abort()


async def test_app_not_receiving_pauses_a_fast_client() -> None:
    go = asyncio.Event()
    received = 0
    chunk = b"q" * (256 * 1024)
    total = 256

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal received
        await receive()
        await send({"type": "websocket.accept"})
        await go.wait()
        for _ in range(total):
            message = await receive()
            assert message["bytes"] == chunk
            received += 1
        await send({"type": "websocket.send", "text": "done"})
        await receive()

    async with serving(make_app(handler)) as server:
        reader, writer, head = await raw_open(server.port)
        frame = client_frame(0x2, chunk)
        for _ in range(total):
            writer.write(frame)
        # The server stops reading while the app does not receive, so the client's
        # buffer cannot drain.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(writer.drain(), 1.0)
        assert received == 0
        go.set()
        await asyncio.wait_for(writer.drain(), TIMEOUT)
        assert await read_frame(reader) == (0x1, b"done")
        assert received == total
        writer.transport.abort()


async def test_per_message_deflate_negotiation() -> None:
    async with serving(make_app(echo)) as server:
        async with ws_connect(server.port, max_size=None) as ws:
            assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
            text = "compress me please " * 20_000
            await ws.send(text)
            assert await recv(ws) == text
    # The size limit applies to the inflated message: ~1 KiB on the wire, 1 MiB inflated.
    async with serving(make_app(echo), ws_max_size=100_000) as server:
        async with ws_connect(server.port, max_size=None) as ws:
            await ws.send("a" * (1 << 20))
            with pytest.raises(ConnectionClosed):
                await recv(ws)
        assert ws.close_code == 1009
    async with serving(make_app(echo), ws_per_message_deflate=False) as server:
        async with ws_connect(server.port) as ws:
            assert "sec-websocket-extensions" not in ws.response.headers
            await ws.send("plain")
            assert await recv(ws) == "plain"


async def test_bad_handshakes_get_http_errors() -> None:
    async with serving(make_app(echo)) as server:
        _, writer, head = await raw_open(server.port, request=upgrade_request(version=b"8"))
        assert head.startswith(b"HTTP/1.1 426 ")
        assert b"sec-websocket-version: 13" in head.lower()
        writer.close()
        _, writer, head = await raw_open(server.port, request=upgrade_request(key=b"short"))
        assert head.startswith(b"HTTP/1.1 400 ")
        writer.close()
        # Without "Connection: Upgrade" it is a plain HTTP request (RFC 9110 section 7.8).
        reader, writer, head = await raw_open(
            server.port, request=upgrade_request(connection=b"keep-alive"))
        assert head.startswith(b"HTTP/1.1 200 ")
        assert await reader.readexactly(4) == b"http"
        writer.close()


async def test_wss_over_tls_has_the_wss_scheme() -> None:
    import ssl

    pytest.importorskip("cryptography")
    schemes: list[str] = []

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        schemes.append(scope["scheme"])
        await echo(scope, receive, send)

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with serving(make_app(handler), https=True) as server:
        async with connect(f"wss://127.0.0.1:{server.port}/", ssl=context, proxy=None,
                           open_timeout=TIMEOUT) as ws:
            await ws.send("secret")
            assert await recv(ws) == "secret"
    assert schemes == ["wss"]


async def test_wsgi_app_answers_an_upgrade_with_plain_http() -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"wsgi"]

    async with serving(wsgi_app) as server:
        reader, writer, head = await raw_open(server.port)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert await reader.readexactly(4) == b"wsgi"
        writer.close()


async def test_starlette_websocket_endpoint() -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    disconnects: asyncio.Queue[int] = asyncio.Queue()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="json")
        name = websocket.query_params["name"]
        try:
            while True:
                data = await websocket.receive_json()
                await websocket.send_json({"hello": name, "echo": data})
        except WebSocketDisconnect as exc:
            await disconnects.put(exc.code)

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    async with serving(app) as server:
        async with ws_connect(server.port, "/ws?name=ada", subprotocols=["json"]) as ws:
            await ws.send('{"n": 1}')
            assert await recv(ws) == '{"hello":"ada","echo":{"n":1}}'
            await ws.close(1001)
        assert await asyncio.wait_for(disconnects.get(), TIMEOUT) == 1001


def test_threaded_server_on_uvloop_echoes_and_closes_with_1012() -> None:
    from websockets.sync.client import connect as sync_connect

    with run_in_thread(make_app(echo), loop="uvloop") as server, sync_connect(
        f"ws://127.0.0.1:{server.port}/", proxy=None, open_timeout=TIMEOUT
    ) as ws:
        ws.send("over uvloop")
        assert ws.recv(timeout=TIMEOUT) == "over uvloop"
        server.stop()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 1012


# --- the opening handshake, sans-IO ------------------------------------------------------

# RFC 6455 section 1.3: the example key and the Sec-WebSocket-Accept it yields.
SAMPLE_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def parsed_request(*headers: tuple[bytes, bytes], http_version: bytes = b"1.1",
                   has_body: bool = False) -> Any:
    """What ``read_upgrade`` reads of a parsed request (names lowercased, as parsed)."""
    return SimpleNamespace(http_version=http_version, headers=list(headers), has_body=has_body)


UPGRADE_HEADERS = (
    (b"host", b"example.com"),
    (b"upgrade", b"WebSocket"),
    (b"connection", b"keep-alive, Upgrade"),
    (b"sec-websocket-key", SAMPLE_KEY),
    (b"sec-websocket-version", b"13"),
)


def test_read_upgrade_sorts_requests() -> None:
    handshake = read_upgrade(parsed_request(
        *UPGRADE_HEADERS,
        (b"sec-websocket-protocol", b"chat, superchat"),
        (b"sec-websocket-protocol", b" v2 ,"),
        (b"sec-websocket-extensions", b"x-foo, permessage-deflate; client_max_window_bits"),
    ))
    assert handshake == Handshake(
        SAMPLE_KEY, ["chat", "superchat", "v2"],
        ["x-foo", "permessage-deflate; client_max_window_bits"],
    )
    # Not upgrades: the HTTP app answers them.
    assert read_upgrade(parsed_request(*UPGRADE_HEADERS, http_version=b"1.0")) is None
    no_connection = [h for h in UPGRADE_HEADERS if h[0] != b"connection"]
    assert read_upgrade(parsed_request(*no_connection, (b"connection", b"close"))) is None
    # Invalid upgrades: a complete response to send before closing.
    old_version = [h for h in UPGRADE_HEADERS if h[0] != b"sec-websocket-version"]
    answer = read_upgrade(parsed_request(*old_version, (b"sec-websocket-version", b"8")))
    assert isinstance(answer, bytes)
    assert answer.startswith(
        b"HTTP/1.1 426 Upgrade Required\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n"
    )
    assert answer.endswith(b"\r\n\r\nUnsupported WebSocket version (expected 13)\n")
    no_key = [h for h in UPGRADE_HEADERS if h[0] != b"sec-websocket-key"]
    for request in (
        parsed_request(*no_key),
        parsed_request(*no_key, (b"sec-websocket-key", b"c2hvcnQ=")),  # 5 bytes, not 16
        parsed_request(*UPGRADE_HEADERS, has_body=True),
    ):
        answer = read_upgrade(request)
        assert isinstance(answer, bytes)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert answer.endswith(b"\r\n\r\nInvalid WebSocket handshake\n")


def test_websocket_scope_from_the_http_scope() -> None:
    http_scope = {"type": "http", "method": "GET", "scheme": "https", "path": "/ws",
                  "extensions": {"tls": {}}}
    scope = websocket_scope(http_scope, ["chat"])
    assert scope == {"type": "websocket", "scheme": "wss", "path": "/ws",
                     "subprotocols": ["chat"],
                     "extensions": {"tls": {}, "websocket.http.response": {}}}
    assert http_scope["type"] == "http" and "method" in http_scope
    assert websocket_scope({"method": "GET", "scheme": "http"}, [])["scheme"] == "ws"


def test_accept_response_bytes() -> None:
    def accept(message: dict[str, Any], deflate: bool = True) -> tuple[bytes, list[Any]]:
        return accept_response(
            message, key=SAMPLE_KEY, subprotocols=["chat", "superchat"],
            offers=["x-foo", "permessage-deflate; server_max_window_bits=99",
                    "permessage-deflate; client_max_window_bits"],
            default_headers=[b"server: asyncdev\r\n"], per_message_deflate=deflate,
        )

    head, extensions = accept({"type": "websocket.accept", "subprotocol": "superchat",
                               "headers": [(b"x-id", b"7")]})
    # The first deflate offer is out of range (RFC 7692 section 7.1.2.1): the next one wins.
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\nserver: asyncdev\r\n"
        b"upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: " + SAMPLE_ACCEPT
        + b"\r\nsec-websocket-protocol: superchat\r\n"
        b"sec-websocket-extensions: permessage-deflate; client_max_window_bits=15\r\n"
        b"x-id: 7\r\n\r\n"
    )
    assert [extension.name for extension in extensions] == ["permessage-deflate"]
    head, extensions = accept({"type": "websocket.accept"}, deflate=False)
    assert extensions == []
    assert head.endswith(b"sec-websocket-accept: " + SAMPLE_ACCEPT + b"\r\n\r\n")
    with pytest.raises(RuntimeError, match="not offered"):
        accept({"type": "websocket.accept", "subprotocol": "json"})
    for bad in ((b"x-a", b"1\r\nx-b: 2"), (b"bad name", b"1"), ("x-a", b"1")):
        with pytest.raises(RuntimeError, match="header"):
            accept({"type": "websocket.accept", "headers": [bad]})


def test_denial_response_closes_the_connection() -> None:
    framer = denial_response(
        {"type": "websocket.http.response.start", "status": 403,
         "headers": [(b"content-length", b"2")]},
        [b"server: asyncdev\r\n"],
    )
    assert framer.body(b"no", False) == (
        b"HTTP/1.1 403 Forbidden\r\nserver: asyncdev\r\ncontent-length: 2\r\n"
        b"connection: close\r\n\r\nno"
    )
