"""Load limits: --limit-concurrency answers 503 and keeps serving; running out of file
descriptors stops accepting for a moment instead of killing the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from asyncdev.testing import run_in_thread
from hostile_helpers import TIMEOUT, closed_by_peer, connect, get, read_response


def test_limit_concurrency_answers_503_past_the_limit_and_serves_the_rest() -> None:
    entered = threading.Semaphore(0)
    release = threading.Event()
    called: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        called.append(scope["path"])
        if scope["path"] == "/block":
            entered.release()
            while not release.is_set():
                import asyncio

                await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    with run_in_thread(app, limit_concurrency=2, access_log=False) as server:
        # Idle keep-alive connections are not requests in progress: they do not count.
        idle = [connect(server.port) for _ in range(3)]
        blocked = [connect(server.port) for _ in range(2)]
        for sock in blocked:
            sock.sendall(b"GET /block HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for _ in blocked:
            assert entered.acquire(timeout=TIMEOUT)
        with connect(server.port) as sock:
            sock.sendall(b"GET /refused HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response = read_response(sock, bytearray())
            assert response is not None and response.status == 503
            assert response.headers["connection"] == "close"
            assert closed_by_peer(sock)
        assert "/refused" not in called
        release.set()
        for sock in blocked:
            response = read_response(sock, bytearray())
            assert response is not None and response.status == 200
            sock.close()
        for sock in idle:
            sock.sendall(b"GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response = read_response(sock, bytearray())
            assert response is not None and response.status == 200
            sock.close()
        assert called.count("/after") == 3


SERVER_SCRIPT = textwrap.dedent(
    """
    import asyncio, resource, sys
    from asyncdev._config import Config
    from asyncdev._loops import new_event_loop
    from asyncdev._server.server import Server

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_CAP, FD_CAP))
    loop, _ = new_event_loop(sys.argv[1])
    server = Server(Config(app=app, port=0, access_log=False, lifespan="off",
                           install_signal_handlers=False, timeout_request_head=60.0))
    loop.run_until_complete(server.start())
    print("PORT", server.port, flush=True)
    loop.run_until_complete(server.serve())
    """
)

FD_LIMIT = 48


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_running_out_of_file_descriptors_does_not_stop_the_server(loop: str) -> None:
    pytest.importorskip(loop)
    script = SERVER_SCRIPT.replace("FD_CAP", str(FD_LIMIT))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, loop],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("PORT"), proc.stderr.read().decode() if proc.stderr else line
        port = int(line.split()[1])
        # More connections than the server has descriptors: they complete in the
        # kernel's listen queue whatever the server does.
        flood = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                 for _ in range(FD_LIMIT * 2)]
        waiting = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        waiting.sendall(b"GET /waiting HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for sock in flood:
            sock.close()
        # The server is alive and serves again once descriptors are free. (uvloop
        # resets connections that arrive before it has seen the flood's closes.)
        response = None
        for _ in range(100):
            try:
                response = get(port, "/after")
            except OSError:
                response = None
            if response is not None:
                break
            time.sleep(0.05)
        assert response is not None and response.status == 200
        assert proc.poll() is None
        if loop == "asyncio":
            # asyncio paused accepting: the connection that waited is served now.
            response = read_response(waiting, bytearray())
            assert response is not None and response.status == 200
        # (uvloop's libuv closes connections it cannot take, so a waiting one may
        # have been reset.)
        waiting.close()
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=TIMEOUT)
    text = stderr.decode()
    assert "Traceback" not in text, text
    if loop == "asyncio":
        assert text.count("Cannot accept connections") == 1, text
