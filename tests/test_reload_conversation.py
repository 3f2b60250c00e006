"""The reload conversation end to end: stops at awkward moments, changes that need no
new process (CONTRACTS 2). Real supervisor, real processes, real file edits."""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from asyncdev._reload.control import CHILD_ENV_VAR
from reload_helpers import ASGI_APP, Supervised, child_env, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="reload needs POSIX")


def wait_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)  # polling interval for a file another process writes
    return path.read_text()


def test_ctrl_c_while_the_server_starts_leaves_nothing_unclosed(tmp_path: Path) -> None:
    """Ctrl+C reaches the whole process group, here while the server process is inside
    its start (the app's lifespan startup): the supervisor stops it, cleanly."""
    (tmp_path / "app.py").write_text(textwrap.dedent('''\
        import asyncio
        import pathlib

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                await receive()
                pathlib.Path("starting").write_text("yes")
                await asyncio.Event().wait()
    '''))
    args = [sys.executable, "-X", "dev", "-m", "asyncdev", "app:app", "--port", "0"]
    with Supervised(args, tmp_path) as server:
        wait_file(tmp_path / "starting")
        server.signal_group(signal.SIGINT)
        assert server.proc.wait(20) == 0
        for thread in server.threads:
            thread.join(10)
    for sign in ("ResourceWarning", "Traceback", "was destroyed", "KeyboardInterrupt"):
        assert sign not in server.output, server.output


SLOW_APP = '''\
import pathlib
import time

pathlib.Path("importing").write_text("v2")
while not pathlib.Path("gate").exists():
    time.sleep(0.01)  # the app's own slow start-up, until the test opens the gate
''' + ASGI_APP


def test_an_edit_while_the_new_process_starts_is_served_after_it(tmp_path: Path) -> None:
    """The process still importing the old code is killed and waited for, without the
    supervisor waiting inside a handler; a request made meanwhile gets the new code."""
    write_app(tmp_path / "app.py", "one")
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        (tmp_path / "app.py").write_text(SLOW_APP % "two")
        wait_file(tmp_path / "importing")
        answers: list[bytes] = []
        request = threading.Thread(target=lambda: answers.append(server.get()[2]))
        request.start()
        write_app(tmp_path / "app.py", "three")
        request.join(30)
        assert answers == [b"three"]
        assert server.count(r"Detected change") == 2
        assert not (tmp_path / "gate").exists()


LISTENER_SITE = """\
import json
import os

if %(env_var)r in os.environ:
    from asyncdev._server.server import Server
    from asyncdev._types import WatchRequest

    def watch_paths(self):
        return [WatchRequest(os.getcwd(), ("*.css",))]

    def files_changed(self, paths):
        with open(os.environ["CHANGED_LOG"], "a") as log:
            for path in paths:
                log.write("%%d %%s\\n" %% (os.getpid(), os.path.basename(path)))

    Server.watch_paths = watch_paths
    Server.files_changed = files_changed
"""

PID_APP = '''\
import json
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"%s " + str(os.getpid()).encode()})
'''


def test_a_change_only_listeners_watch_reaches_them_without_a_reload(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LISTENER_SITE % {"env_var": CHILD_ENV_VAR})
    log = tmp_path / "changed.log"
    env = child_env(CHANGED_LOG=str(log))
    env["PYTHONPATH"] = str(site) + os.pathsep + env["PYTHONPATH"]
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text(PID_APP % "one")
    (project / "style.css").write_text("body {}")
    args = [sys.executable, "-m", "asyncdev", "app:app", "--port", "0", "--log-level", "debug"]
    with Supervised(args, project, env) as server:
        server.wait_ready()
        first = server.get()[2].split()[1].decode()
        (project / "style.css").write_text("body { color: red }")
        assert wait_file(log) == f"{first} style.css\n"
        assert server.get()[2] == f"one {first}".encode()
        assert server.count(r"Detected change") == 0
        # A reload: the new process asks for the same, and is told.
        (project / "app.py").write_text(PID_APP % "two")
        second = server.wait_body(b"two")[2].split()[1].decode()
        server.wait_line(r"Changed without a reload|Reloaded in")
        deadline = time.monotonic() + 30
        while f"{second} style.css" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            (project / "style.css").write_text(f"body {{ margin: {time.monotonic()} }}")
            time.sleep(0.3)  # until the new process's request to watch has arrived
        assert server.count(r"Detected change") == 1, server.output


def test_the_state_endpoint_lists_the_last_reloads_with_their_timings(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "one")
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        for body in ("two", "three"):
            write_app(tmp_path / "app.py", body)
            server.wait_body(body.encode())
        deadline = time.monotonic() + 30
        while True:  # the first response's timing comes just after that response
            reloads = [entry for entry in json.loads(server.get("/__asyncdev__/state")[2])
                       ["reloads"] if entry["kind"] == "reload"]
            if len(reloads) == 2 and "first_response_ms" in reloads[-1]:
                break
            assert time.monotonic() < deadline, reloads
            time.sleep(0.05)  # polling a condition, bounded by the deadline
    for entry in reloads:
        assert entry["files"] == ["app.py"] and entry["path"] in ("warm", "spare", "cold")
        assert entry["serving"] is True and entry["serving_ms"] > 0
    assert reloads[0]["at"] < reloads[1]["at"]
