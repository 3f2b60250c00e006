"""Many reloads under constant load: does any request fail or hang?

Starts ``python -m asyncdev app:app`` (reload on) on a scratch copy of a trivial app,
keeps two clients requesting on fresh connections and one on a keep-alive connection,
and rewrites the app N times at irregular intervals (50 ms to 800 ms, so some edits
land while a reload is still under way). Every answer must be a 200 from some version
of the app, and the last version must be served at the end. Prints the counts; exits 1
on any failure.

    python benchmarks/reload_stress.py --reloads 300

Edits replace the file atomically (as most editors save): an edit that truncates the
file in place can be imported half-written, which is the app's error page (until the
write completes and triggers the next reload), not a server failure.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

APP = """\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"v%d"})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_app(path: Path, version: int) -> None:
    scratch = path.with_suffix(".tmp")
    scratch.write_text(APP % version)
    os.replace(scratch, path)


class Load:
    """Client threads that record every outcome until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures: Counter[str] = Counter()
        self.threads = [
            threading.Thread(target=self._fresh, daemon=True),
            threading.Thread(target=self._fresh, daemon=True),
            threading.Thread(target=self._keep_alive, daemon=True),
        ]

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def _record(self, kind: str, status: int | None, body: bytes | str) -> None:
        with self.lock:
            if status == 200 and isinstance(body, bytes) and body.startswith(b"v"):
                self.ok += 1
            else:
                text = body if isinstance(body, str) else body[:60].decode(errors="replace")
                self.failures[f"{kind}: {status} {text}"] += 1

    def _get(self, conn: http.client.HTTPConnection) -> tuple[int, bytes]:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read()

    def _fresh(self) -> None:
        while not self.stop.is_set():
            conn = self._connection()
            try:
                self._record("fresh", *self._get(conn))
            except (OSError, http.client.HTTPException) as exc:
                self._record("fresh", None, repr(exc))
            finally:
                conn.close()

    def _keep_alive(self) -> None:
        conn = self._connection()
        while not self.stop.is_set():
            try:
                self._record("keep-alive", *self._get(conn))
            except (OSError, http.client.HTTPException) as exc:
                self._record("keep-alive", None, repr(exc))
                conn.close()
                conn = self._connection()
            self.stop.wait(0.01)
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reloads", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    rng = random.Random(options.seed)

    workdir = Path(tempfile.mkdtemp(prefix="asyncdev-reload-stress-"))
    app = workdir / "app.py"
    write_app(app, 0)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    log_path = workdir / "server.log"
    with open(log_path, "w") as log:
        # The log goes to a file: a pipe nobody reads would fill up and block the server.
        server = subprocess.Popen(
            [sys.executable, "-m", "asyncdev", "app:app", "--port", str(port)],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print(f"the server did not start; log: {log_path}")
                    return 1
                time.sleep(0.05)
        load = Load(port)
        for thread in load.threads:
            thread.start()
        started = time.monotonic()
        for version in range(1, options.reloads + 1):
            time.sleep(rng.choice([0.05, 0.1, 0.2, 0.4, 0.8]))
            write_app(app, version)
        # The last version must come through, within a bounded wait.
        expected = f"v{options.reloads}".encode()
        deadline = time.monotonic() + 30
        last: object = None
        while time.monotonic() < deadline:
            conn = load._connection()
            try:
                last = load._get(conn)[1]
            except (OSError, http.client.HTTPException) as exc:
                last = exc
            finally:
                conn.close()
            if last == expected:
                break
            time.sleep(0.05)
        load.stop.set()
        for thread in load.threads:
            thread.join(15)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    reloads = log_path.read_text().count("reloading")
    failed = sum(load.failures.values())
    print(f"{options.reloads} edits, {reloads} reloads, {elapsed:.0f} s; "
          f"{load.ok} requests answered, {failed} failed; last version served: "
          f"{'yes' if last == expected else f'no ({last!r})'}")
    for what, count in load.failures.most_common(10):
        print(f"  {count} x {what}")
    return 0 if failed == 0 and last == expected else 1


if __name__ == "__main__":
    sys.exit(main())
