"""The Python load generator: N asyncio connections sending one request each in turn.

Used where ``wrk`` is missing (and by the soak cell, which needs exact per-connection
request counts). Parses HTTP/1.1 responses framed by Content-Length, chunked encoding
or connection close; counts non-2xx statuses and connection failures as errors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .procs import HOST

T = TypeVar("T")
_TIMEOUT = 10.0


@dataclass
class LoadResult:
    requests: int
    duration: float
    errors: int
    latencies: list[float] = field(default_factory=list, repr=False)  # seconds
    p50_ms: float | None = None
    p99_ms: float | None = None
    tool: str = "python"

    @property
    def rps(self) -> float:
        return self.requests / self.duration if self.duration > 0 else 0.0

    def finish(self) -> LoadResult:
        if self.latencies:
            ordered = sorted(self.latencies)
            self.p50_ms = percentile(ordered, 50) * 1000
            self.p99_ms = percentile(ordered, 99) * 1000
        return self


def percentile(ordered: list[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def build_request(port: int, *, method: str = "GET", path: str = "/", body: bytes = b"",
                  close: bool = False) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    if body or method == "POST":
        lines += ["Content-Type: application/octet-stream", f"Content-Length: {len(body)}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, server-wants-close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            close = "close" in value.lower()
    if lines[0].startswith("HTTP/1.0"):
        close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    elif status not in (204, 304) and not 100 <= status < 200:
        await reader.read()  # framed by the connection's end
        close = True
    return status, close


async def _connection_loop(port: int, request: bytes, deadline: float, result: LoadResult,
                           *, max_requests: int | None = None) -> None:
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    done = 0
    while time.monotonic() < deadline and (max_requests is None or done < max_requests):
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(HOST, port), _TIMEOUT)
            reader, writer = conn
            start = time.perf_counter()
            writer.write(request)
            status, close = await asyncio.wait_for(read_response(reader), _TIMEOUT)
            result.latencies.append(time.perf_counter() - start)
            result.requests += 1
            done += 1
            if not 200 <= status < 400:
                result.errors += 1
            if close:
                writer.close()
                conn = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ValueError, IndexError):
            result.errors += 1
            done += 1
            if conn is not None:
                conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()
        try:
            await conn[1].wait_closed()
        except OSError:
            pass


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where installed: the generator must not be the bottleneck."""
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def run_load(port: int, request: bytes, *, connections: int, duration: float) -> LoadResult:
    """Keep ``connections`` connections busy for ``duration`` seconds."""

    async def main() -> LoadResult:
        result = LoadResult(0, 0.0, 0)
        start = time.monotonic()
        deadline = start + duration
        await asyncio.gather(*(_connection_loop(port, request, deadline, result)
                               for _ in range(connections)))
        result.duration = time.monotonic() - start
        return result.finish()

    return run_async(main())


def run_fixed(port: int, request: bytes, *, connections: int, per_connection: int,
              timeout: float = 120.0) -> LoadResult:
    """Open ``connections`` keep-alive connections at once, ``per_connection`` requests each."""

    async def main() -> LoadResult:
        result = LoadResult(0, 0.0, 0)
        start = time.monotonic()
        deadline = start + timeout
        await asyncio.gather(*(
            _connection_loop(port, request, deadline, result, max_requests=per_connection)
            for _ in range(connections)))
        result.duration = time.monotonic() - start
        return result.finish()

    return run_async(main())
