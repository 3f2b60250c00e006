"""Shared fixtures: small ASGI apps and a raw-socket HTTP helper."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:  # running from a checkout without an install
    sys.path.insert(0, str(SRC))


class RawClient:
    """A blocking raw-socket HTTP/1.1 client that reads responses exactly."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def read_head(self) -> tuple[int, dict[str, str], list[tuple[str, str]]]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a full head: {self.buffer!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        items = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        return status, {k.lower(): v for k, v in items}, items  # type: ignore[misc]

    def read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise ConnectionError("closed mid-body")
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError("closed mid-line")
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_response(self, *, head_request: bool = False) -> tuple[int, dict[str, str], bytes]:
        status, headers, _ = self.read_head()
        if head_request or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "content-length" in headers:
            return status, headers, self.read_exact(int(headers["content-length"]))
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line():
                        pass
                    return status, headers, body
                body += self.read_exact(size)
                assert self.read_exact(2) == b"\r\n"
        body = self.buffer
        while self._fill():
            pass
        body, self.buffer = self.buffer, b""
        return status, headers, body

    def is_closed(self, timeout: float = 10.0) -> bool:
        """True once the server closed the connection (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_client():
    clients: list[RawClient] = []

    def connect(port: int, host: str = "127.0.0.1") -> RawClient:
        client = RawClient(port, host)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()
