"""Quiet where peers are quiet, in real processes: a client leaving a stream is one access
line; --timeout-graceful-shutdown holds with reload on; repeated Ctrl+C stops at once."""

from __future__ import annotations

import signal
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reload_helpers import Supervised

SSE_APP = textwrap.dedent('''\
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def events(request):
        async def stream():
            n = 0
            while True:
                n += 1
                yield f"data: {n}\\n\\n"
                await asyncio.sleep(0.02)
        return StreamingResponse(stream(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/events", events)])
''')


def test_client_leaving_an_event_stream_is_one_access_line(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    (tmp_path / "main.py").write_text(SSE_APP)
    with Supervised.cli(tmp_path, "main:app") as server:
        server.wait_ready()
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
                sock.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n"
                             b"Accept: text/event-stream\r\n\r\n")
                received = b""
                while b"data: 3" not in received:
                    chunk = sock.recv(65536)
                    assert chunk, received
                    received += chunk
        server.wait_line(r'"GET /events HTTP/1\.1" 200 [\d.]+ms client disconnected', count=3)
        # The server is still fine, and said nothing else about it.
        server.wait_line(r"Starting development server")
        assert server.get("/missing")[0] == 404
        server.wait_line(r'"GET /missing HTTP/1\.1" 404')
        assert "ERROR" not in server.output and "Traceback" not in server.output


SLOW_APP = textwrap.dedent('''\
    import asyncio

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            await asyncio.sleep(2.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"finished"})
''')


def test_a_slow_request_survives_ctrl_c_with_reload_on(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(SLOW_APP)
    with Supervised.cli(tmp_path, "main:app", "--timeout-graceful-shutdown", "10") as server:
        server.wait_ready()
        result: list[object] = []

        def slow() -> None:
            try:
                result.append(server.get("/slow", timeout=30))
            except OSError as exc:
                result.append(exc)

        thread = threading.Thread(target=slow)
        thread.start()
        # The request is in the app (its access line comes only at the end): wait until
        # the server holds the connection, then press Ctrl+C.
        deadline = time.monotonic() + 20
        while not _established(server.port):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # let the request head reach the app (not a readiness wait)
        server.signal_group(signal.SIGINT)
        thread.join(30)
        assert result and not isinstance(result[0], OSError), (result, server.output)
        assert result[0][0] == 200 and result[0][2] == b"finished"  # type: ignore[index]
        assert server.proc.wait(30) == 0


def _established(port: int) -> bool:
    """An established connection to ``port`` exists on this machine (Linux)."""
    needle = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(needle.strip()) and fields[3] == "01":
                return True
    return False


LIFESPAN_APP = textwrap.dedent('''\
    import asyncio
    import contextlib

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.sleep(0.3)

    async def slow(request):
        await asyncio.sleep(2.5)
        return PlainTextResponse("finished")

    app = Starlette(routes=[Route("/slow", slow)], lifespan=lifespan)
''')


def test_repeated_ctrl_c_stops_at_once_without_a_traceback(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    (tmp_path / "main.py").write_text(LIFESPAN_APP)
    for _ in range(3):
        with Supervised.cli(tmp_path, "main:app", "--timeout-graceful-shutdown", "30") as server:
            server.wait_ready()
            threading.Thread(target=lambda: _quietly(server.get, "/slow"), daemon=True).start()
            time.sleep(0.2)  # a request in flight (not a readiness wait)
            for _ in range(3):
                server.signal_group(signal.SIGINT)
            assert server.proc.wait(15) is not None
            time.sleep(0.1)
            assert "Traceback" not in server.output, server.output
            assert "Event loop is closed" not in server.output, server.output


def _quietly(function, *args):  # type: ignore[no-untyped-def]
    try:
        function(*args)
    except OSError:
        pass
