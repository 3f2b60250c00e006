"""Many reloads under constant load: does any request fail or hang?

Starts ``python -m asyncdev`` (reload on) on a scratch copy of a trivial app (or, with
``--project django``, of the full Django project in ``apps/djfull``, editing its
``catalog/views.py``), keeps two clients requesting on fresh connections and one on a
keep-alive connection, and rewrites the file N times at irregular intervals (50 ms to
800 ms, so some edits land while a reload is still under way). Every answer must be a
200 from some version of the app, and the last version must be served at the end.
Prints the counts; exits 1 on any failure.

    python benchmarks/reload_stress.py --reloads 300 [--project django]

Edits replace the file atomically (as most editors save): an edit that truncates the
file in place can be imported half-written, which is the app's error page (until the
write completes and triggers the next reload), not a server failure.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
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


DJANGO_DIR = Path(__file__).resolve().parent / "apps" / "djfull"


def write_app(path: Path, version: int) -> None:
    if path.name == "views.py":  # the Django project's: its MARKER is the version
        text = re.sub(r'^MARKER = ".*"$', f'MARKER = "v{version}"', path.read_text(),
                      count=1, flags=re.MULTILINE)
        # The body is "reload-app v<N>": the answer check looks for the "v".
        text = text.replace('"reload-app " + MARKER', "MARKER")
    else:
        text = APP % version
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text)
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
    parser.add_argument("--project", choices=("trivial", "django"), default="trivial")
    options = parser.parse_args()
    rng = random.Random(options.seed)

    workdir = Path(tempfile.mkdtemp(prefix="asyncdev-reload-stress-"))
    if options.project == "django":
        workdir = workdir / "project"
        shutil.copytree(DJANGO_DIR, workdir, ignore=shutil.ignore_patterns("__pycache__"))
        app, target = workdir / "catalog" / "views.py", "fullproject.wsgi"
    else:
        app, target = workdir / "app.py", "app:app"
    write_app(app, 0)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    log_path = workdir / "server.log"
    with open(log_path, "w") as log:
        # The log goes to a file: a pipe nobody reads would fill up and block the server.
        server = subprocess.Popen(
            [sys.executable, "-m", "asyncdev", target, "--port", str(port),
             "--no-access-log", "--log-level", "debug"],
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
