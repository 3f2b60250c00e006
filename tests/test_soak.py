"""Soak (``-m soak``, kept out of the default run): many keep-alive connections, rounds
of requests, zero errors, flat memory, file descriptors back to their baseline.

Each server runs in its own process on the same machine in the same run: asyncdev,
then uvicorn (h11) when installed, and the figures of both are printed side by side
(run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.soak

CONNECTIONS = 200
REQUESTS_PER_CONNECTION = 50
ROUNDS = 5
MIB = 1024 * 1024
# RSS may move by allocator noise between rounds; growth beyond this is a leak.
MAX_GROWTH = 4 * MIB

APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = b"Hello, " + body[:16]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", b"%d" % len(payload))]})
        await send({"type": "http.response.body", "body": payload})
    """
)

ASYNCDEV = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from soak_app import app
    from asyncdev._config import Config
    from asyncdev._loops import new_event_loop
    from asyncdev._server.server import Server

    loop, _ = new_event_loop("auto")
    server = Server(Config(app=app, port=int(sys.argv[2]), access_log=False,
                           install_signal_handlers=True))
    loop.run_until_complete(server.serve())
    """
)


@dataclass
class Figures:
    server: str
    seconds: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    fd_baseline: int = 0
    errors: int = 0

    @property
    def growth(self) -> int:
        # The first round warms caches (imports, free lists); growth is measured after.
        return self.rss[-1] - self.rss[1]

    def line(self) -> str:
        rps = CONNECTIONS * REQUESTS_PER_CONNECTION / min(self.seconds)
        return (
            f"{self.server:10s} best {rps:8.0f} req/s  errors {self.errors}  "
            f"rss {self.rss[0] / MIB:6.1f} -> {self.rss[-1] / MIB:6.1f} MiB "
            f"(growth after round 1: {self.growth / MIB:+.2f} MiB)  "
            f"fds baseline {self.fd_baseline}, after rounds {self.fds}"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "soak_app.py").write_text(APP)
    return tmp_path


def _commands(app_dir: Path) -> Iterator[tuple[str, list[str], int]]:
    port = _free_port()
    yield "asyncdev", [sys.executable, "-c", ASYNCDEV, str(app_dir), str(port)], port
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        return
    port = _free_port()
    yield "uvicorn", [
        sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "soak_app:app",
        "--port", str(port), "--http", "h11", "--no-access-log", "--log-level", "warning",
    ], port


async def _client(port: int, errors: list[BaseException]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"POST /soak HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nworld"
        for _ in range(REQUESTS_PER_CONNECTION):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200 "):
                raise AssertionError(head)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            if body != b"Hello, world":
                raise AssertionError(body)
        writer.close()
        await writer.wait_closed()
    except Exception as exc:
        errors.append(exc)


async def _round(port: int) -> tuple[float, int]:
    errors: list[BaseException] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, errors) for _ in range(CONNECTIONS)))
    return time.perf_counter() - started, len(errors)


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert proc.poll() is None, "the server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the server did not start")


def _settled_fds(process: object, baseline: int) -> int:
    """The server's descriptor count once closed connections are gone (bounded wait)."""
    count = 0
    for _ in range(100):
        count = process.num_fds()  # type: ignore[attr-defined]
        if count <= baseline:
            break
        time.sleep(0.05)
    return count


def soak(name: str, command: list[str], port: int) -> Figures:
    figures = Figures(name)
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(command, stdout=devnull, stderr=devnull)
    try:
        _wait_listening(port, proc)
        process = psutil.Process(proc.pid)
        figures.fd_baseline = process.num_fds()
        for _ in range(ROUNDS):
            seconds, errors = asyncio.run(_round(port))
            figures.seconds.append(seconds)
            figures.errors += errors
            figures.fds.append(_settled_fds(process, figures.fd_baseline))
            figures.rss.append(process.memory_info().rss)
    finally:
        proc.terminate()
        proc.wait(30)
    return figures


def test_soak_keep_alive_rounds(app_dir: Path) -> None:
    results = [soak(name, command, port) for name, command, port in _commands(app_dir)]
    print()
    for figures in results:
        print(figures.line())
    mine = results[0]
    assert mine.errors == 0
    assert mine.growth < MAX_GROWTH
    assert mine.fds[-1] <= mine.fd_baseline
