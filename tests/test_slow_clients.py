"""Slow and silent clients are closed after their timeouts and cost nothing afterwards.

Timeouts are short here (``timeout_request_head``/``timeout_body`` of 0.5-1 s); the
tests wait for the server's close with generous bounds and never assert durations.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from asyncdev._server.connection import HTTPConnection
from asyncdev.testing import RunningServer, run_in_thread
from hostile_helpers import (
    TIMEOUT,
    Recorder,
    closed_by_peer,
    connect,
    get,
    open_fd_count,
    raise_fd_limit,
    read_response,
)

SHORT = {"timeout_request_head": 0.5, "timeout_body": 0.5, "timeout_keep_alive": 0.5}


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def server(recorder: Recorder) -> Iterator[RunningServer]:
    with run_in_thread(recorder, access_log=False, **SHORT) as running:
        yield running


def test_connection_that_sends_nothing_is_closed(server: RunningServer) -> None:
    with connect(server.port) as sock:
        sock.settimeout(TIMEOUT)
        assert sock.recv(1024) == b""  # closed without a word: there was no request


def test_partial_head_gets_408_and_is_closed(server: RunningServer) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: localhost\r\nX-Almost: the")
        response = read_response(sock, bytearray())
        assert response is not None and response.status == 408
        assert closed_by_peer(sock)


def test_trickled_head_is_a_deadline_not_an_inactivity_timer(server: RunningServer) -> None:
    """Slowloris: a byte at a time keeps the socket busy but not the connection alive."""
    with connect(server.port) as sock:
        sock.sendall(b"GET /trickle HTTP/1.1\r\nHost: localhost\r\n")
        closed = False
        for _ in range(200):  # up to 20 s of trickling, 40x the head timeout
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_peer(sock, timeout=0.1):
                closed = True
                break
        assert closed


def test_partial_body_gets_408_and_the_app_sees_a_disconnect(
    server: RunningServer, recorder: Recorder
) -> None:
    recorder.take()
    with connect(server.port) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
        response = read_response(sock, bytearray())
        assert response is not None and response.status == 408
        assert closed_by_peer(sock)
    assert recorder.take() == []  # the Recorder records only bodies read to the end


def test_partial_chunked_body_is_closed(server: RunningServer, recorder: Recorder) -> None:
    recorder.take()
    with connect(server.port) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n5\r\nab")
        response = read_response(sock, bytearray())
        assert response is not None and response.status == 408
        assert closed_by_peer(sock)
    assert recorder.take() == []


def test_body_timeout_is_inactivity_not_a_deadline(recorder: Recorder) -> None:
    """A slow but steady upload lasting several body timeouts completes."""
    recorder.take()
    with run_in_thread(recorder, access_log=False, timeout_body=2.0) as server, \
            connect(server.port) as sock:
        sock.sendall(b"POST /steady HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\n\r\n")
        for _ in range(40):  # ~4 s in all, a byte every 0.1 s: 20x inside the timeout
            sock.sendall(b"z")
            time.sleep(0.1)
        response = read_response(sock, bytearray())
        assert response is not None and response.status == 200
    served = recorder.take()
    assert [s.body for s in served] == [b"z" * 40]


def test_idle_keep_alive_connection_is_closed(server: RunningServer) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /once HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = read_response(sock, bytearray())
        assert response is not None and response.status == 200
        assert closed_by_peer(sock)


def test_partial_pipelined_head_is_due_like_any_head(server: RunningServer) -> None:
    """The start of a second head that came with the first request gets a 408 too."""
    with connect(server.port) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: localhost\r\n\r\nGET /second HTTP/1.1\r\n")
        buffer = bytearray()
        first = read_response(sock, buffer)
        assert first is not None and first.status == 200
        second = read_response(sock, buffer)
        assert second is not None and second.status == 408


def _live_connections() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is HTTPConnection)


def test_a_thousand_slow_clients_do_not_stop_normal_requests() -> None:
    raise_fd_limit(8192)
    recorder = Recorder()
    with run_in_thread(recorder, access_log=False, timeout_request_head=1.0,
                       timeout_body=1.0) as server:
        assert get(server.port, "/warm-up") is not None
        baseline_fds = open_fd_count()
        baseline_connections = len(server.server.state.connections)
        slow: list[socket.socket] = []
        try:
            for i in range(1000):
                sock = connect(server.port)
                slow.append(sock)
                kind = i % 4
                if kind == 1:
                    sock.sendall(b"GET /slow HTTP/1.1\r\nHost: local")
                elif kind == 2:
                    sock.sendall(b"POST /slow HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Content-Length: 100\r\n\r\nabc")
                elif kind == 3:
                    sock.sendall(b"POST /slow HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n10\r\nabc")
            # Meanwhile, normal requests are served.
            for n in range(20):
                response = get(server.port, f"/normal/{n}")
                assert response is not None and response.status == 200
            # Every slow connection is closed by the server, none left hanging.
            for sock in slow:
                assert closed_by_peer(sock, timeout=30.0)
        finally:
            for sock in slow:
                sock.close()
        assert [p for p in recorder.paths() if p.startswith("/normal/")] == [
            f"/normal/{n}" for n in range(20)
        ]
        assert "/slow" not in recorder.paths()
        # The server let go of them: connection objects, their descriptors (the
        # client sockets were in this process too and are closed).
        state = server.server.state
        for _ in range(100):
            if len(state.connections) <= baseline_connections:
                break
            time.sleep(0.05)
        assert len(state.connections) <= baseline_connections
        assert open_fd_count() <= baseline_fds
        assert _live_connections() <= baseline_connections
        response = get(server.port, "/canary")
        assert response is not None and response.status == 200


def test_closed_connections_do_not_leak_app_tasks() -> None:
    """A client that leaves mid-upload ends the request task; nothing stays pending."""
    done = threading.Event()
    count = [0]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive())["type"] != "http.disconnect":
            pass
        count[0] += 1
        if count[0] == 50:
            done.set()

    with run_in_thread(app, access_log=False) as server:
        for _ in range(50):
            with connect(server.port) as sock:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9\r\n\r\nab")
        assert done.wait(TIMEOUT)
        state = server.server.state
        for _ in range(100):
            if not state.tasks and not state.connections:
                break
            time.sleep(0.05)
        assert not state.tasks
        assert not state.connections

