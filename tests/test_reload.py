"""End-to-end reload: a real supervisor process, real file edits, real requests."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reload_helpers import Supervised, child_env, pid_gone, port_closed, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="reload needs POSIX")


def test_cli_serves_new_code_after_an_edit(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "one")
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        assert server.get()[2] == b"one"
        write_app(tmp_path / "app.py", "two")
        server.wait_body(b"two")
        server.wait_line(r"Detected change in 'app\.py', reloading")


def test_serve_from_a_plain_script_reloads(tmp_path: Path) -> None:
    script = tmp_path / "main.py"
    source = textwrap.dedent('''\
        from asyncdev import serve

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"%s"})

        if __name__ == "__main__":
            serve(app, port=0, reload=True)
    ''')
    script.write_text(source % "first")
    args = [sys.executable, str(script)]
    with Supervised(args, tmp_path) as server:
        server.wait_ready()
        assert server.get()[2] == b"first"
        script.write_text(source % "second")
        server.wait_body(b"second")


def test_a_script_that_fails_before_serving_gets_the_error_page(tmp_path: Path) -> None:
    script = tmp_path / "main.py"
    good = textwrap.dedent('''\
        from asyncdev import serve

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"%s"})

        serve(app, port=0, reload=True, access_log=False)
    ''')
    script.write_text(good % "fine")
    with Supervised([sys.executable, str(script)], tmp_path) as server:
        server.wait_ready()
        script.write_text("raise RuntimeError('<before serve>')\n" + good % "fine")
        status, _, body = server.wait_body(b"RuntimeError", headers={"Accept": "text/html"})
        assert status == 500 and b"&lt;before serve&gt;" in body
        script.write_text(good % "back")
        server.wait_body(b"back")


def test_request_loop_sees_no_failure_across_reloads(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "v0")
    with Supervised.cli(tmp_path, "app:app", "--no-access-log") as server:
        server.wait_ready()
        failures: list[object] = []
        bodies: set[bytes] = set()
        done = threading.Event()

        def hammer() -> None:
            while not done.is_set():
                try:
                    status, _, body = server.get(timeout=20)
                except OSError as exc:
                    failures.append(exc)
                else:
                    if status != 200:
                        failures.append(status)
                    bodies.add(body)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            for version in range(1, 4):
                write_app(tmp_path / "app.py", f"v{version}")
                server.wait_body(f"v{version}".encode())
            # The clients' own next connections reach the last version too.
            deadline = time.monotonic() + 20
            while b"v3" not in bodies and time.monotonic() < deadline and not failures:
                time.sleep(0.01)  # polling interval, not a readiness wait
        finally:
            done.set()
            for thread in threads:
                thread.join(30)
        assert failures == []
        assert {b"v1", b"v2", b"v3"} <= bodies


def test_keep_alive_connections_survive_reloads(tmp_path: Path) -> None:
    """Idle persistent connections are handed to the next process, not closed."""
    write_app(tmp_path / "app.py", "v0")
    with Supervised.cli(tmp_path, "app:app", "--no-access-log") as server:
        server.wait_ready()
        failures: list[object] = []
        last: list[bytes] = [b""] * 3  # each connection's latest body
        done = threading.Event()

        def hammer(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            while not done.is_set():
                try:
                    conn.request("GET", "/")
                    response = conn.getresponse()
                    last[index] = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(exc)
                    conn.close()
            conn.close()

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        try:
            for version in range(1, 4):
                write_app(tmp_path / "app.py", f"v{version}")
                server.wait_body(f"v{version}".encode())
            # The old process hands its idle connections over once the new one serves:
            # every one of them then reaches the new code.
            deadline = time.monotonic() + 20
            while last != [b"v3"] * 3 and time.monotonic() < deadline and not failures:
                time.sleep(0.01)  # polling interval, not a readiness wait
        finally:
            done.set()
            for thread in threads:
                thread.join(30)
        assert failures == []
        assert last == [b"v3"] * 3


def test_syntax_error_shows_the_error_page_until_fixed(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    write_app(app, "good")
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        app.write_text("async def app(scope, receive, send):\n    return <b>broken</b>\n")
        status, head, body = server.wait_body(
            b"SyntaxError", headers={"Accept": "text/html,*/*"}
        )
        assert status == 500
        assert head["content-type"].startswith("text/html")
        assert b"&lt;b&gt;broken&lt;/b&gt;" in body and b"<b>broken" not in body
        status, head, body = server.get(headers={"Accept": "*/*"})
        assert status == 500
        assert head["content-type"].startswith("text/plain")
        assert b"<b>broken</b>" in body and b"app.py" in body
        server.wait_line(r"could not start")
        write_app(app, "fixed")
        server.wait_body(b"fixed")
        assert server.count(r"could not start") == 1


def test_a_failing_import_outside_the_watched_dirs_is_watched(tmp_path: Path) -> None:
    project, lib = tmp_path / "project", tmp_path / "lib"
    project.mkdir()
    lib.mkdir()
    (lib / "helper.py").write_text("VALUE = (\n")
    (project / "app.py").write_text(textwrap.dedent('''\
        import sys
        sys.path.insert(0, LIB)
        import helper

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": helper.VALUE})
    ''').replace("LIB", repr(str(lib))))
    with Supervised.cli(project, "app:app") as server:
        server.wait_ready()
        assert server.get()[0] == 500
        # The supervisor starts watching lib/ once the failure is reported, shortly
        # after the page exists: edit until the change is seen (bounded).
        for attempt in range(40):
            (lib / "helper.py").write_text(f"VALUE = b'helped'  # {attempt}\n")
            try:
                server.wait_line(r"Detected change in '.*helper\.py'", timeout=0.5)
                break
            except AssertionError:
                pass
        server.wait_body(b"helped")


def test_ignored_paths_do_not_trigger_a_reload(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "one")
    venv = tmp_path / "env-with-any-name"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "generated").mkdir()
    (tmp_path / "node_modules").mkdir()
    with Supervised.cli(tmp_path, "app:app", "--reload-exclude", "generated/**") as server:
        server.wait_ready()
        (venv / "lib" / "module.py").write_text("x = 1\n")
        (tmp_path / "generated" / "models.py").write_text("x = 1\n")
        (tmp_path / "node_modules" / "tool.py").write_text("x = 1\n")
        (tmp_path / "server.log").write_text("written by the app\n")
        (tmp_path / "notes.txt").write_text("not a source file\n")
        write_app(tmp_path / "app.py", "two")
        server.wait_body(b"two")
        first = server.wait_line(r"Detected change")
        assert first.endswith("Detected change in 'app.py', reloading"), first
        assert server.count(r"Detected change") == 1


def test_reload_include_adds_templates(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("<p>one</p>")
    (tmp_path / "app.py").write_text(textwrap.dedent('''\
        from pathlib import Path

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            body = Path(__file__).with_name("templates").joinpath("page.html").read_bytes()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
    '''))
    with Supervised.cli(tmp_path, "app:app", "--reload-include", "templates/**/*.html") as server:
        server.wait_ready()
        (tmp_path / "templates" / "page.html").write_text("<p>two</p>")
        server.wait_line(r"Detected change in 'templates/page\.html', reloading")


def test_env_file_is_read_again_on_reload(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GREETING=hello\n")
    (tmp_path / "app.py").write_text(textwrap.dedent('''\
        import os

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            body = os.environ.get("GREETING", "unset").encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
    '''))
    with Supervised.cli(tmp_path, "app:app", "--env-file", ".env") as server:
        server.wait_ready()
        assert server.get()[2] == b"hello"
        (tmp_path / ".env").write_text("OTHER=1\n")
        server.wait_body(b"unset")


def test_same_size_edit_within_the_same_second_serves_the_new_code(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    write_app(app, "AAAA")
    stamp = int(time.time()) - 10
    os.utime(app, (stamp, stamp))
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        assert server.get()[2] == b"AAAA"
        # Same size and same whole-second mtime: only the .pyc cache tells them apart.
        write_app(app, "BBBB")
        os.utime(app, (stamp, stamp))
        server.wait_line(r"Detected change")
        server.wait_body(b"BBBB")


def test_open_stream_does_not_hold_the_reload(tmp_path: Path) -> None:
    source = textwrap.dedent('''\
        import asyncio

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            if scope["path"] == "/stream":
                while True:
                    await send({"type": "http.response.body", "body": b"tick\\n",
                                "more_body": True})
                    await asyncio.sleep(0.1)
            await send({"type": "http.response.body", "body": b"%s"})
    ''')
    (tmp_path / "app.py").write_text(source % "before")
    with Supervised.cli(tmp_path, "app:app", "--timeout-graceful-shutdown", "1") as server:
        server.wait_ready()
        stream = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        stream.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"tick" in stream.recv(4096)
        (tmp_path / "app.py").write_text(source % "after")
        server.wait_body(b"after")
        # The old process cuts the stream after its grace period and goes away.
        stream.settimeout(20)
        try:
            while stream.recv(65536):
                pass
        except ConnectionResetError:
            pass
        stream.close()


def test_kill_9_of_the_supervisor_frees_the_port(tmp_path: Path) -> None:
    write_app(tmp_path / "app.py", "alive")
    server = Supervised.cli(tmp_path, "app:app")
    try:
        port = server.wait_ready()
        assert server.get()[2] == b"alive"
        children = server.children()
        assert children
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        assert port_closed(port)
        assert all(pid_gone(pid) for pid in children)
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.close()
    finally:
        server.__exit__()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_everything_with_exit_code_0(tmp_path: Path, sig: int) -> None:
    write_app(tmp_path / "app.py", "alive")
    with Supervised.cli(tmp_path, "app:app", "--timeout-graceful-shutdown", "2") as server:
        server.wait_ready()
        assert server.get()[2] == b"alive"
        children = server.children()
        if sig == signal.SIGINT:
            server.signal_group(sig)  # Ctrl+C reaches the whole foreground group
        else:
            os.kill(server.proc.pid, sig)
        assert server.proc.wait(15) == 0
        assert all(pid_gone(pid) for pid in children)
        assert "Traceback" not in server.output


def test_crash_while_serving_restarts(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent('''\
        import os

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            if scope["path"] == "/crash":
                os._exit(3)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"up"})
    '''))
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        with pytest.raises(OSError):
            server.get("/crash")
        server.wait_line(r"exited unexpectedly \(exit code 3\); restarting")
        server.wait_body(b"up")


def test_reload_is_off_for_python_c(tmp_path: Path) -> None:
    code = (
        "from asyncdev import serve\n"
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'inline'})\n"
        "serve(app, port=0, reload=True)\n"
    )
    with Supervised([sys.executable, "-c", code], tmp_path, child_env()) as server:
        server.wait_ready()
        assert server.get()[2] == b"inline"
        assert "Reload is off: the code was given with python -c" in server.output
        assert server.children() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
def test_the_running_supervisor_stays_lean(tmp_path: Path) -> None:
    """Not even at run time does the supervisor load asyncio or ssl (if they are
    extension modules here): that is most of a server process's memory."""
    import _asyncio
    import _ssl

    libraries = [getattr(m, "__file__", None) for m in (_asyncio, _ssl)]
    libraries = [os.path.basename(f) for f in libraries if f]
    if not libraries:
        pytest.skip("asyncio and ssl are built into this interpreter")
    write_app(tmp_path / "app.py", "one")
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        write_app(tmp_path / "app.py", "two")  # a reload too, then look
        server.wait_body(b"two")
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
        child_maps = Path(f"/proc/{server.children()[0]}/maps").read_text()
    assert all(lib in child_maps for lib in libraries)  # the probe sees them where loaded
    assert not [lib for lib in libraries if lib in maps]


def test_python_dev_mode_sees_no_unclosed_resources(tmp_path: Path) -> None:
    """``python -X dev`` (asyncio's debugging advice) warns about every socket left to
    a finalizer: neither the supervisor nor a replaced or stopped server leaves one."""
    write_app(tmp_path / "app.py", "one")
    args = [sys.executable, "-X", "dev", "-m", "asyncdev", "app:app", "--port", "0"]
    with Supervised(args, tmp_path) as server:
        server.wait_ready()
        write_app(tmp_path / "app.py", "two")
        server.wait_body(b"two")
        server.wait_line(r"Detected change")
        assert server.stop() == 0
        for thread in server.threads:
            thread.join(10)
    assert "ResourceWarning" not in server.output, server.output


@pytest.mark.parametrize("save", ["rename", "truncate-then-write"])
def test_an_editors_save_is_one_reload_of_the_finished_file(tmp_path: Path, save: str) -> None:
    # Editors save by writing a new file and renaming it over the old one, or by
    # truncating and writing: either way the app must never be seen half-written.
    write_app(tmp_path / "app.py", "one")
    with Supervised.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        source = (tmp_path / "app.py").read_text().replace("one", "two")
        if save == "rename":
            temporary = tmp_path / "app.py.tmp-save"
            temporary.write_text(source)
            os.replace(temporary, tmp_path / "app.py")
        else:
            with open(tmp_path / "app.py", "w") as handle:  # truncated here ...
                handle.write(source)  # ... written here: two changes of one save
        server.wait_body(b"two")
        if save == "rename":
            # One event for the file the app imports; the temporary one is no .py file.
            # (Truncate-then-write is grouped the same way unless the editor is held up
            # between its two calls for longer than the quiet window.)
            assert server.count(r"Detected change") == 1
            assert "could not start" not in server.output
