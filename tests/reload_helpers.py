"""Run the reload supervisor as a real subprocess and talk to it over real sockets.

``Supervised`` starts a command in its own session (so signals can target its process
group), collects stdout/stderr lines in background threads, finds the port in the
banner, and offers bounded waits: for a log line, for a body, for the port to close.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")

ASGI_APP = '''\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"%s"})
'''


def write_app(path: Path, body: str) -> None:
    path.write_text(ASGI_APP % body)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode caching stays on: the stale-.pyc test depends on it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Supervised:
    """A supervisor subprocess with its output collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None,
                 pass_fds: tuple[int, ...] = (), *, one_stream: bool = False) -> None:
        # one_stream: stderr into stdout's pipe, so that lines keep their order (as on
        # a terminal).
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env or child_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if one_stream else subprocess.PIPE,
            start_new_session=True, pass_fds=pass_fds,
        )
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.threads = [
            threading.Thread(target=self._collect, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr) if stream is not None
        ]
        for thread in self.threads:
            thread.start()
        self.port = 0

    @classmethod
    def cli(cls, cwd: Path, *options: str) -> Supervised:
        return cls([sys.executable, "-m", "asyncdev", *options, "--port", "0"], cwd)

    def _collect(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    @property
    def output(self) -> str:
        with self.cond:
            return "\n".join(self.lines)

    def wait_line(self, pattern: str, *, count: int = 1, timeout: float = 30.0) -> str:
        """The ``count``-th line matching ``pattern`` (a regex), waiting for it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [line for line in self.lines if regex.search(line)]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._alive()):
                    raise AssertionError(
                        f"no line {count} matching {pattern!r}; output:\n" + "\n".join(self.lines)
                    )
                self.cond.wait(min(remaining, 0.5))

    def _alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self.cond:
            return sum(1 for line in self.lines if regex.search(line))

    def wait_ready(self, timeout: float = 30.0) -> int:
        line = self.wait_line(
            r"Starting development server at http://127\.0\.0\.1:\d+", timeout=timeout
        )
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match
        self.port = int(match.group(1))
        return self.port

    def get(
        self, path: str = "/", *, headers: dict[str, str] | None = None, timeout: float = 20.0
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()

    def wait_body(self, expected: bytes, *, path: str = "/", timeout: float = 30.0,
                  headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Poll until a response contains ``expected`` (bounded)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                status, head, body = self.get(path, headers=headers)
            except OSError as exc:
                last = exc
            else:
                if expected in body:
                    return status, head, body
                last = body
            time.sleep(0.05)  # polling interval, not a readiness wait
        raise AssertionError(f"never got {expected!r}; last: {last!r}\n{self.output}")

    def children(self) -> list[int]:
        """Direct children of the supervisor (Linux)."""
        pid = self.proc.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def signal_group(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT to the whole group (as Ctrl+C does); SIGKILL if it does not exit."""
        if self.proc.poll() is None:
            try:
                self.signal_group(signal.SIGINT)
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        with_suppress_kill(self.proc.pid)
        return self.proc.wait(10)

    def __enter__(self) -> Supervised:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def with_suppress_kill(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def port_closed(port: int, timeout: float = 15.0) -> bool:
    """True once nothing accepts connections on ``port`` (bounded wait)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            return True
        sock.close()
        time.sleep(0.05)
    return False


def pid_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie still answers kill(0); its state says it is gone.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False
