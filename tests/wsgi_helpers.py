"""Helpers for the WSGI bridge tests: log capture, bounded waits, fake ASGI drivers."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECTS = Path(__file__).resolve().parent / "wsgi_projects"
WAIT = 30.0  # generous: the machine is shared and may be loaded


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``predicate`` (a state that, once reached, stays) within a bounded time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


class LogCapture(logging.Handler):
    """Records of one logger, safe to read from the test thread while threads log."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        with self.changed:
            return [r.getMessage() for r in self.records if r.levelno >= level]

    def wait_for(self, needle: str, timeout: float = WAIT) -> logging.LogRecord:
        with self.changed:
            found: list[logging.LogRecord] = []

            def match() -> bool:
                found[:] = [r for r in self.records if needle in r.getMessage()]
                return bool(found)

            if not self.changed.wait_for(match, timeout):
                raise AssertionError(f"no log record containing {needle!r}: {self.messages()}")
            return found[0]


@contextmanager
def capture_log(name: str = "asyncdev.error") -> Iterator[LogCapture]:
    logger = logging.getLogger(name)
    handler = LogCapture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def thread_is_waiting_on_condition(ident: int) -> bool:
    """True while thread ``ident`` is blocked in ``threading.Condition.wait``."""
    frame = sys._current_frames().get(ident)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("threading.py"):
            return True
        frame = frame.f_back
    return False


def http_scope(method: str = "GET", path: str = "/",
               headers: list[tuple[bytes, bytes]] | None = None, **extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"test"), *(headers or [])],
        "client": ("127.0.0.1", 4321), "server": ("127.0.0.1", 8000),
    }
    scope.update(extra)
    return scope


async def drive(app: Any, scope: dict[str, Any],
                body_chunks: list[bytes] | None = None) -> list[dict[str, Any]]:
    """Call an ASGI app with scripted ``receive`` messages; return what it sent."""
    incoming: list[dict[str, Any]] = []
    chunks = body_chunks or [b""]
    for i, chunk in enumerate(chunks):
        incoming.append({"type": "http.request", "body": chunk,
                         "more_body": i < len(chunks) - 1})
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await asyncio.wait_for(app(scope, receive, send), WAIT)
    finally:
        done.set()
    return sent


def response_of(sent: list[dict[str, Any]]) -> tuple[int, dict[bytes, bytes], bytes]:
    assert sent[0]["type"] == "http.response.start", sent
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert sent[-1].get("more_body", False) is False
    return sent[0]["status"], dict(sent[0]["headers"]), body
