"""Helpers for the hostile-input tests: a recording app and raw-socket exchanges.

``Recorder`` is an ASGI app that remembers every request it served completely (path,
query, headers, body), so a test can tell exactly what reached the app and prove that
nothing was smuggled. ``exchange`` sends exact bytes and reads one response or EOF.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 10.0


@dataclass
class Served:
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    http_version: str


@dataclass
class Recorder:
    """An ASGI app recording each request whose body it read to the end."""

    served: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        record = Served(
            scope["method"],
            scope["path"],
            scope["query_string"],
            list(scope["headers"]),
            body,
            scope["http_version"],
        )
        with self.lock:
            self.served.append(record)
        payload = f"served {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": payload})

    def paths(self) -> list[str]:
        with self.lock:
            return [record.path for record in self.served]

    def take(self) -> list[Served]:
        with self.lock:
            served, self.served = self.served, []
        return served


def connect(port: int, timeout: float = TIMEOUT) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes


def read_response(sock: socket.socket, buffer: bytearray) -> Response | None:
    """One response from ``sock`` (bytes beyond it stay in ``buffer``); None on EOF first.

    Strict: the status line and every header line must be well formed, and the body
    framed by Content-Length (all that asyncdev's own and the test app's answers use)
    or chunked.
    """
    while b"\r\n\r\n" not in buffer:
        chunk = _recv(sock)
        if not chunk:
            if buffer:
                raise AssertionError(f"connection closed inside a response head: {bytes(buffer)!r}")
            return None
        buffer += chunk
    end = buffer.index(b"\r\n\r\n")
    head = bytes(buffer[:end])
    del buffer[: end + 4]
    lines = head.split(b"\r\n")
    version, status, _ = (lines[0].split(b" ", 2) + [b""])[:3]
    assert version == b"HTTP/1.1", head
    assert status.isdigit() and len(status) == 3, head
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        assert sep and name and name == name.strip(), head
        headers[name.decode("ascii").lower()] = value.strip().decode("latin-1")
    if 100 <= int(status) < 200 or int(status) in (204, 304):
        body = b""
    elif "content-length" in headers:
        size = int(headers["content-length"])
        while len(buffer) < size:
            chunk = _recv(sock)
            assert chunk, "connection closed inside a response body"
            buffer += chunk
        body = bytes(buffer[:size])
        del buffer[:size]
    else:
        assert headers.get("transfer-encoding") == "chunked", head
        body = _read_chunked(sock, buffer)
    return Response(int(status), headers, body, head)


def _read_chunked(sock: socket.socket, buffer: bytearray) -> bytes:
    body = b""
    while True:
        while b"\r\n" not in buffer:
            chunk = _recv(sock)
            assert chunk, "connection closed inside a chunked body"
            buffer += chunk
        end = buffer.index(b"\r\n")
        size = int(bytes(buffer[:end]), 16)
        del buffer[: end + 2]
        while len(buffer) < size + 2:
            chunk = _recv(sock)
            assert chunk, "connection closed inside a chunk"
            buffer += chunk
        body += bytes(buffer[:size])
        assert buffer[size : size + 2] == b"\r\n"
        del buffer[: size + 2]
        if not size:
            return body


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def closed_by_peer(sock: socket.socket, timeout: float = TIMEOUT) -> bool:
    """True once the server closed (EOF or reset); False if it stays open ``timeout``."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    finally:
        sock.settimeout(TIMEOUT)


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send what the server accepts; a server that already closed is not an error."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def get(port: int, path: str) -> Response | None:
    """A fresh connection, one well-formed GET, its response."""
    with connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        return read_response(sock, bytearray())


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to ``wanted`` (or the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))
