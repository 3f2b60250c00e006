"""HTTP/1.1 and ASGI behaviour of the core server, over real sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from asyncdev import _errors
from asyncdev.testing import run_in_thread


async def read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def echo_app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    info = f"{scope['method']} {scope['path']} {scope['query_string'].decode()} {len(body)}"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-info", info.encode())]})
    await send({"type": "http.response.body", "body": body or info.encode()})


async def streaming_echo_app(scope, receive, send):
    """Echoes the body in one message, or in three parts under /parts (chunked)."""
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    if scope["path"] == "/parts":
        third = len(body) // 3
        for piece in (body[:third], body[third:2 * third]):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        body = body[2 * third:]
    await send({"type": "http.response.body", "body": body})


def test_large_bodies_are_echoed_whole_with_either_framing():
    body = bytes(range(256)) * 4096  # 1 MiB, past the size where parts are joined
    with run_in_thread(streaming_echo_app) as server, httpx.Client() as client:
        whole = client.post(server.url, content=body)
        assert whole.headers["content-length"] == str(len(body)) and whole.content == body
        parts = client.post(server.url + "/parts", content=body)
        assert parts.headers["transfer-encoding"] == "chunked" and parts.content == body
        head = client.head(server.url)
        assert head.status_code == 200 and head.content == b""
        again = client.post(server.url, content=b"small")  # the same connection, reused
        assert again.content == b"small"


def test_keep_alive_serves_several_requests_on_one_connection(raw_client):
    with run_in_thread(echo_app) as server:
        client = raw_client(server.port)
        for path in ("/one", "/two", "/three"):
            client.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, headers, body = client.read_response()
            assert status == 200
            assert body == f"GET {path}  0".encode()
            assert "connection" not in headers
        assert not client.is_closed(timeout=0.2)


def test_pipelined_requests_are_answered_in_order(raw_client):
    with run_in_thread(echo_app) as server:
        client = raw_client(server.port)
        client.send(b"".join(
            f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5)
        ) + b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        bodies = [client.read_response()[2] for _ in range(6)]
        assert bodies == [f"GET /{i}  0".encode() for i in range(5)] + [b"abc"]


def test_pipelined_request_waits_for_the_app_that_answered_the_one_before(raw_client):
    # The next request is parsed after the app's send() has returned, not inside it:
    # with one request at a time allowed, the pipelined ones are served, not refused.
    with run_in_thread(echo_app, limit_concurrency=1) as server:
        client = raw_client(server.port)
        client.send(b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(3)))
        responses = [client.read_response() for _ in range(3)]
        assert [(status, body) for status, _, body in responses] == [
            (200, f"GET /{i}  0".encode()) for i in range(3)]


def test_chunked_request_body_is_decoded(raw_client):
    with run_in_thread(echo_app) as server:
        client = raw_client(server.port)
        client.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        status, headers, body = client.read_response()
        assert (status, body) == (200, b"hello world")


async def streaming_app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for i in range(3):
        await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_streamed_response_is_chunked_on_http11(raw_client):
    with run_in_thread(streaming_app) as server:
        client = raw_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = client.read_response()
        assert headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        assert body == b"part0;part1;part2;"
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # still usable
        assert client.read_response()[2] == b"part0;part1;part2;"


def test_streamed_response_is_close_delimited_on_http10(raw_client):
    with run_in_thread(streaming_app) as server:
        client = raw_client(server.port)
        client.send(b"GET / HTTP/1.0\r\n\r\n")
        status, headers, body = client.read_response()
        assert "transfer-encoding" not in headers
        assert headers["connection"] == "close"
        assert body == b"part0;part1;part2;"


def test_single_body_gets_a_content_length_and_http10_keep_alive(raw_client):
    with run_in_thread(echo_app) as server:
        client = raw_client(server.port)
        client.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, body = client.read_response()
        assert headers["content-length"] == str(len(body))
        assert headers["connection"] == "keep-alive"
        client.send(b"GET /b HTTP/1.0\r\n\r\n")
        status, headers, body = client.read_response()
        assert body == b"GET /b  0"
        assert client.is_closed()


def test_head_has_no_body_but_keeps_content_length(raw_client):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"11")]})
        await send({"type": "http.response.body", "body": b"hello world"})

    with run_in_thread(app) as server:
        client = raw_client(server.port)
        client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = client.read_response(head_request=True)
        assert headers["content-length"] == "11"
        # The next response must start right away: no body bytes in between.
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = client.read_response()
        assert (status, body) == (200, b"hello world")


def test_date_and_server_headers():
    with run_in_thread(echo_app) as server:
        response = httpx.get(server.url)
        assert response.headers["server"] == "asyncdev"
        assert response.headers["date"].endswith(" GMT")
    with run_in_thread(echo_app, server_header=False, date_header=False) as server:
        response = httpx.get(server.url)
        assert "server" not in response.headers
        assert "date" not in response.headers


def test_expect_100_continue_sent_only_when_the_app_reads(raw_client):
    async def no_read(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b"too big"})

    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    with run_in_thread(echo_app) as server:
        client = raw_client(server.port)
        client.send(head)
        assert client.read_head()[0] == 100
        client.send(b"hello")
        assert client.read_response()[:3:2] == (200, b"hello")
    with run_in_thread(no_read) as server:
        client = raw_client(server.port)
        client.send(head)
        status, headers, body = client.read_response()
        assert status == 413  # no 100 first
        assert client.is_closed()  # the unread body cannot be skipped safely


def test_large_upload_is_streamed_with_backpressure():
    release = threading.Event()
    chunks: list[int] = []

    async def slow_reader(scope, receive, send):
        if scope["type"] != "http":
            return
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
        total = 0
        while True:
            message = await receive()
            chunks.append(len(message.get("body", b"")))
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(total).encode()})

    size = 64 * 1024 * 1024
    with run_in_thread(slow_reader) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        sock.settimeout(1.0)
        block = b"x" * 65536
        sent = 0
        try:
            while sent < size:
                sent += sock.send(block)
        except TimeoutError:
            pass
        # The app is not reading: the server stopped reading too, so only kernel buffers
        # and one high-water mark of ours hold the bytes sent so far.
        assert sent < size // 2
        release.set()
        sock.settimeout(30)
        while sent < size:
            sent += sock.send(block[: min(65536, size - sent)])
        response = b""
        while not response.endswith(str(size).encode()):
            data = sock.recv(65536)
            assert data
            response += data
        sock.close()
    assert max(chunks) <= 1024 * 1024


def test_large_download_pauses_the_app_while_the_client_is_slow():
    produced = [0]

    async def producer(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        block = b"y" * 65536
        for _ in range(1024):  # 64 MiB
            await send({"type": "http.response.body", "body": block, "more_body": True})
            produced[0] += len(block)
        await send({"type": "http.response.body", "body": b""})

    with run_in_thread(producer) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(1024)
        assert first.startswith(b"HTTP/1.1 200")
        # Wait until the producer is stuck (the number stops moving), bounded.
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = produced[0]
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since > 0.5:
                break
            time.sleep(0.05)
        assert produced[0] < 32 * 1024 * 1024
        received = len(first)
        sock.settimeout(30)
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            received += len(data)
            if data.endswith(b"0\r\n\r\n"):
                break
        sock.close()
        assert produced[0] == 64 * 1024 * 1024


def test_app_sees_disconnect_when_the_client_goes_away():
    seen = threading.Event()

    async def waiter(scope, receive, send):
        if scope["type"] != "http":
            return
        assert (await receive())["type"] == "http.request"
        message = await receive()
        if message["type"] == "http.disconnect":
            seen.set()

    with run_in_thread(waiter) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.close()
        assert seen.wait(10)


def test_send_after_disconnect_raises_oserror():
    outcome: list[BaseException] = []
    done = threading.Event()

    async def sse(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/ok":
            await send({"type": "http.response.body", "body": b"ok"})
            return
        try:
            while True:
                await send(
                    {"type": "http.response.body", "body": b"data: x\n\n", "more_body": True}
                )
                await asyncio.sleep(0.01)
        except OSError as exc:
            outcome.append(exc)
            done.set()
            raise

    with run_in_thread(sse) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100)
        sock.close()
        assert done.wait(10)
        assert isinstance(outcome[0], _errors.ClientDisconnected)
        assert httpx.get(server.url + "/ok").text == "ok"


@pytest.mark.parametrize("when", ["before", "after_start"])
def test_app_exception_before_body_gives_500_and_server_keeps_serving(when, caplog):
    async def broken(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/ok":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"fine"})
            return
        if when == "after_start":
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("kaboom")

    with run_in_thread(broken, debug_errors=False) as server:
        response = httpx.get(server.url + "/boom")
        assert response.status_code == 500
        assert "kaboom" not in response.text
        assert httpx.get(server.url + "/ok").text == "fine"
    assert any("kaboom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_app_exception_mid_body_closes_the_connection(raw_client):
    async def broken(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("kaboom")

    with run_in_thread(broken) as server:
        client = raw_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = client.read_head()
        assert status == 200
        assert client.is_closed()
        # The chunked body never got its terminating chunk: the client sees truncation.
        assert not client.buffer.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize(
    "messages",
    [
        [],  # returns without responding
        [{"type": "http.response.start", "status": 200, "headers": []}],  # never completes
        [{"type": "http.response.body", "body": b"x"}],  # body before start
        [{"type": "http.response.start", "status": 200,
          "headers": [(b"x-bad", b"a\r\nInjected: yes")]}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"bad name", b"v")]}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"x-nul", b"a\x00b")]}],
        [{"type": "http.response.start", "status": 200, "headers": [("str", "header")]}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]},
         {"type": "http.response.body", "body": b"x" * 20}],
        [{"type": "http.response.start", "status": 99999, "headers": []}],
    ],
    ids=["no-response", "no-body", "body-first", "crlf-value", "bad-name", "nul-value",
         "str-header", "too-long-body", "bad-status"],
)
def test_invalid_app_behaviour_gives_500_and_nothing_raw(messages, raw_client):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        for message in messages:
            await send(message)

    with run_in_thread(app, debug_errors=False) as server:
        client = raw_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = client.read_response()
        assert status == 500
        assert "injected" not in headers
        assert client.is_closed()
        assert httpx.get(server.url).status_code == 500  # still serving


def test_short_body_against_content_length_closes_the_connection(raw_client):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with run_in_thread(app) as server:
        client = raw_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = client.read_head()
        assert headers["content-length"] == "10"
        assert client.is_closed()
        assert client.buffer == b"abc"


def test_scope_contents():
    seen = {}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        seen.update(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with run_in_thread(app, root_path="/api") as server:
        # root_path is the prefix a proxy in front stripped (same as uvicorn).
        httpx.get(server.url + "/caf%C3%A9/x%2Fy?q=1&r=%20", headers={"X-Test": "1"})
    assert seen["type"] == "http"
    assert seen["asgi"]["version"] == "3.0"
    assert seen["http_version"] == "1.1"
    assert seen["method"] == "GET"
    assert seen["scheme"] == "http"
    assert seen["root_path"] == "/api"
    assert seen["path"] == "/api/café/x/y"
    assert seen["raw_path"] == b"/caf%C3%A9/x%2Fy"
    assert seen["query_string"] == b"q=1&r=%20"
    assert (b"x-test", b"1") in seen["headers"]
    assert seen["client"][0] == "127.0.0.1"
    assert seen["server"] == ("127.0.0.1", server.port)
    assert seen["state"] == {}


def test_lifespan_state_reaches_requests_and_shutdown_runs():
    events = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"]["db"] = "connected"
                    events.append("startup")
                    await send({"type": "lifespan.startup.complete"})
                else:
                    events.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["state"]["db"].encode()})

    with run_in_thread(app) as server:
        assert httpx.get(server.url).text == "connected"
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]


def test_lifespan_startup_failure_is_raised():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(_errors.StartupError, match="no database"):
        with run_in_thread(app):
            pass


def test_lifespan_auto_tolerates_apps_without_it_and_on_requires_it():
    async def app(scope, receive, send):
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with run_in_thread(app) as server:
        assert httpx.get(server.url).text == "ok"
    with pytest.raises(_errors.StartupError, match="lifespan"):
        with run_in_thread(app, lifespan="on"):
            pass


@pytest.mark.parametrize("interface", ["asgi2", "auto"])
def test_asgi2_app_is_adapted(interface):
    class App:
        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            if self.scope["type"] != "http":
                return
            # The ASGI spec: "version" is "2.0" for an ASGI 2 app.
            version = self.scope["asgi"]["version"].encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"asgi " + version})

    with run_in_thread(App, interface=interface) as server:
        assert httpx.get(server.url).text == "asgi 2.0"


def test_keep_alive_idle_connection_is_closed_after_the_timeout(raw_client):
    with run_in_thread(echo_app, timeout_keep_alive=0.3) as server:
        client = raw_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        client.read_response()
        assert client.is_closed(timeout=10)


def test_connection_close_request_header_closes(raw_client):
    with run_in_thread(echo_app) as server:
        client = raw_client(server.port)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, headers, _ = client.read_response()
        assert headers["connection"] == "close"
        assert client.is_closed()


def test_graceful_shutdown_lets_in_flight_requests_finish():
    started = threading.Event()

    async def slow(scope, receive, send):
        if scope["type"] != "http":
            return
        started.set()
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"finished"})

    with run_in_thread(slow, timeout_graceful_shutdown=10) as server:
        result = {}
        thread = threading.Thread(target=lambda: result.update(r=httpx.get(server.url, timeout=20)))
        thread.start()
        assert started.wait(10)
        server.stop()
        thread.join(20)
        assert result["r"].text == "finished"
        assert result["r"].headers["connection"] == "close"


def test_stop_is_bounded_when_a_request_never_finishes():
    started = threading.Event()

    async def hung(scope, receive, send):
        if scope["type"] != "http":
            return
        started.set()
        await asyncio.Event().wait()

    with run_in_thread(hung, timeout_graceful_shutdown=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert started.wait(10)
        t0 = time.monotonic()
        server.stop()
        assert time.monotonic() - t0 < 8  # bounded, not a benchmark
        sock.settimeout(5)
        assert sock.recv(100) == b""
        sock.close()


def test_a_client_that_stops_reading_is_dropped_after_the_body_timeout():
    outcome: list[BaseException] = []
    done = threading.Event()

    async def producer(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"z" * 65536,
                            "more_body": True})
        except OSError as exc:
            outcome.append(exc)
            done.set()
            raise

    with run_in_thread(producer, timeout_body=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        # Never read: the server's buffers fill, then the timeout drops us.
        assert done.wait(20)
        assert isinstance(outcome[0], _errors.ClientDisconnected)
        sock.close()


async def test_a_server_started_without_accepting_answers_once_it_serves() -> None:
    # start(accept=False) binds and starts the app but leaves accepting to serve(): what
    # the command line prints first (the banner) comes before any answer.
    import asyncdev

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    server = asyncdev.Server(asyncdev.Config(
        app=app, port=0, lifespan="off", access_log=False, install_signal_handlers=False))
    await server.start(accept=False)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    # Keep-alive: an accepted connection stays in the server's set once answered.
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    for _ in range(20):  # loop iterations in which an accepting server would take it
        await asyncio.sleep(0)
    assert server.state is not None and not server.state.connections
    serving = asyncio.create_task(server.serve())
    reply = await asyncio.wait_for(reader.readuntil(b"ok"), 10)
    assert reply.startswith(b"HTTP/1.1 200")
    assert len(server.state.connections) == 1
    writer.close()
    server.request_shutdown()
    await asyncio.wait_for(serving, 10)
