"""Signals and exit codes of the real CLI process (no reload)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

APP = textwrap.dedent(
    """
    import asyncio

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    print("LIFESPAN SHUTDOWN", flush=True)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/slow":
            print("SLOW STARTED", flush=True)
            await asyncio.sleep(1.0)
        if scope["path"] == "/hang":
            print("HANG STARTED", flush=True)
            await asyncio.Event().wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
    """
)

URL_RE = re.compile(r"Starting development server at (http://\S+?)/?$")


class CLIServer:
    def __init__(self, tmp_path: Path, *args: str) -> None:
        (tmp_path / "sigapp.py").write_text(APP)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "asyncdev", "sigapp:app", "0", "--no-reload", *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"},
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self.wait_for(URL_RE).group(1)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 30.0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    match = regex.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"never saw {regex.pattern!r}; output: {self.lines}")
                self._cond.wait(min(remaining, 0.5))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def get_quietly(url: str) -> None:
    """A request whose connection the server is expected to cut."""
    try:
        httpx.get(url, timeout=30)
    except httpx.HTTPError:
        pass


@pytest.fixture
def cli_server(tmp_path):
    servers: list[CLIServer] = []

    def start(*args: str) -> CLIServer:
        server = CLIServer(tmp_path, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_after_in_flight_requests(cli_server, sig):
    server = cli_server("--timeout-graceful-shutdown", "10")
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(r=httpx.get(server.url + "/slow", timeout=30))
    )
    thread.start()
    server.wait_for("SLOW STARTED")
    server.proc.send_signal(sig)
    thread.join(30)
    assert result["r"].text == "done"
    assert server.proc.wait(30) == 0
    server.wait_for("LIFESPAN SHUTDOWN")


def test_grace_period_bounds_a_hung_request(cli_server):
    server = cli_server("--timeout-graceful-shutdown", "0.5")
    thread = threading.Thread(target=get_quietly, args=(server.url + "/hang",), daemon=True)
    thread.start()
    server.wait_for("HANG STARTED")
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(20) == 0


def test_second_ctrl_c_forces_exit(cli_server):
    server = cli_server("--timeout-graceful-shutdown", "60")
    thread = threading.Thread(target=get_quietly, args=(server.url + "/hang",), daemon=True)
    thread.start()
    server.wait_for("HANG STARTED")
    server.proc.send_signal(signal.SIGINT)
    # Still draining (grace is 60 s) until the second Ctrl+C.
    with pytest.raises(subprocess.TimeoutExpired):
        server.proc.wait(0.5)
    server.proc.send_signal(signal.SIGINT)
    server.proc.wait(20)
