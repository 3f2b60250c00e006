"""What idle server processes import: only what the app uses, the rest on first use.

Each reload runs a fresh interpreter, and the supervisor keeps a spare one ready, so
whatever a server process imports without needing it costs memory twice over. These
tests look at real processes: a ``sitecustomize`` on PYTHONPATH records ``sys.modules``
(and the list of modules to warm) whenever a reload child tells the supervisor it is
ready (the spare, done warming) or what it imported (the serving child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from asyncdev._reload.control import CHILD_ENV_VAR
from reload_helpers import Supervised, child_env, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="reload needs POSIX")

# Optional layers and modules only they need: a plain ASGI app that has met neither a
# WebSocket nor an error loads none of them, and nor does its spare. (Browser reload is
# on by default with reload: its middleware loads in every server process, the
# WebSocket layer only once a page connects.)
OPTIONAL = (
    "asyncdev._server.websocket", "asyncdev._protocol.wshandshake", "wsproto",
    "asyncdev._features.errorpage", "asyncdev._server.wsgi", "a2wsgi", "asyncdev._features.static",
    "asyncdev._features.welcome", "zipfile", "email.utils",
)

SITECUSTOMIZE = """\
import json
import os
import sys

_dump_dir = os.environ.get("FOOTPRINT_DUMP_DIR")
if _dump_dir and %(env_var)r in os.environ:
    import asyncdev._reload.child.session as _child

    _send = _child.send

    def _recording_send(message):
        if message.kind in ("ready", "modules"):
            record = {"modules": sorted(sys.modules), "warm": getattr(message, "warm", None)}
            path = os.path.join(_dump_dir, "%%d-%%s.json" %% (os.getpid(), message.kind))
            with open(path + ".tmp", "w") as handle:
                json.dump(record, handle)
            os.replace(path + ".tmp", path)
        _send(message)

    _child.send = _recording_send
"""

WSGI_APP = '''\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]
'''

WEBSOCKET_APP = '''\
VERSION = "%s"


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": VERSION + ":" + message["text"]})
        await send({"type": "websocket.close"})
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": VERSION.encode()})
'''


class Recorder:
    """The dumps written by the reload children of one supervisor."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "dumps"
        self.dir.mkdir()
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE % {"env_var": CHILD_ENV_VAR})
        self.env = child_env(FOOTPRINT_DUMP_DIR=str(self.dir))
        self.env["PYTHONPATH"] = str(site) + os.pathsep + self.env["PYTHONPATH"]

    def cli(self, cwd: Path, *options: str) -> Supervised:
        args = [sys.executable, "-m", "asyncdev", *options, "--port", "0"]
        return Supervised(args, cwd, self.env)

    def wait(self, event: str, *, exclude: tuple[int, ...] = (),
             timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
        """The pid and record of the first process not in ``exclude`` that sent ``event``."""
        deadline = time.monotonic() + timeout
        while True:
            for path in sorted(self.dir.glob(f"*-{event}.json")):
                pid = int(path.name.split("-", 1)[0])
                if pid not in exclude:
                    return pid, json.loads(path.read_text())
            if time.monotonic() > deadline:
                found = sorted(p.name for p in self.dir.iterdir())
                raise AssertionError(f"no {event!r} record outside {exclude}; found {found}")
            time.sleep(0.05)  # polling interval for a file another process writes


def loaded(record: dict[str, Any], names: tuple[str, ...] = OPTIONAL) -> list[str]:
    modules = set(record["modules"])
    return [name for name in names if name in modules]


def test_plain_asgi_app_leaves_optional_layers_out_of_child_and_spare(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    write_app(tmp_path / "app.py", "plain")
    with recorder.cli(tmp_path, "app:app") as server:
        server.wait_ready()
        assert server.get()[2] == b"plain"
        child, serving = recorder.wait("modules")
        _, spare = recorder.wait("ready", exclude=(child,))
        assert loaded(serving) == []
        assert loaded(spare) == []
        assert "asyncdev._features.browser_reload" in serving["modules"]
        # The list the next spare warms names asyncdev's own modules too, ahead of the
        # libraries (which may need the app's setup to import).
        warm = serving["warm"]
        assert {"asyncdev._cli", "asyncdev._server.server", "asyncdev._features.hostcheck",
                "h11"} <= set(warm)
        own = [name for name in warm if name.partition(".")[0] == "asyncdev"]
        assert warm[: len(own)] == own


def test_next_spare_imports_the_layers_the_app_used(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    (tmp_path / "app.py").write_text(WSGI_APP)
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "hello.txt").write_text("static")
    with recorder.cli(tmp_path, "app:app", "--static", "/static=./public") as server:
        server.wait_ready()
        assert server.get()[2] == b"wsgi"
        assert server.get("/static/hello.txt")[2] == b"static"
        child, serving = recorder.wait("modules")
        _, spare = recorder.wait("ready", exclude=(child,))
        wsgi_parts = ("asyncdev._server.wsgi", "a2wsgi.wsgi", "asyncdev._features.static")
        assert {"asyncdev._server.wsgi", "a2wsgi", "asyncdev._features.static"} <= set(
            serving["warm"]
        )
        assert loaded(spare, wsgi_parts) == [
            "asyncdev._server.wsgi", "a2wsgi.wsgi", "asyncdev._features.static",
        ]
        # A WSGI app never gets WebSockets; nothing failed, so no error page either.
        assert loaded(
            spare, ("wsproto", "asyncdev._server.websocket", "asyncdev._features.errorpage")
        ) == []
        # The spare serves the next version.
        (tmp_path / "app.py").write_text(WSGI_APP.replace('b"wsgi"', 'b"again"'))
        server.wait_body(b"again")


def websocket_echo(port: int, text: str) -> str:
    with connect(f"ws://127.0.0.1:{port}/", proxy=None, open_timeout=10) as ws:
        ws.send(text)
        reply = ws.recv(timeout=10)
    assert isinstance(reply, str)
    return reply


def test_websocket_as_the_first_request_before_and_after_a_reload(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    (tmp_path / "app.py").write_text(WEBSOCKET_APP % "v1")
    with recorder.cli(tmp_path, "app:app") as server:
        port = server.wait_ready()
        first, serving = recorder.wait("modules")
        assert loaded(serving, ("wsproto",)) == []
        assert websocket_echo(port, "hi") == "v1:hi"
        (tmp_path / "app.py").write_text(WEBSOCKET_APP % "v2")
        # The next process is serving once it reports its modules; it has seen no
        # request, and its spare warmed what the first process had at that point.
        second, serving = recorder.wait("modules", exclude=(first,))
        assert loaded(serving, ("wsproto",)) == []
        assert websocket_echo(port, "hi") == "v2:hi"
        assert server.get()[2] == b"v2"
        # The replaced process said, as it stopped, what it had loaded since its start
        # (the WebSocket layer): the spare for the next reload imports that ahead.
        _, spare = recorder.wait("ready", exclude=(first, second))
        assert loaded(spare, ("asyncdev._server.websocket", "wsproto")) == [
            "asyncdev._server.websocket", "wsproto",
        ]


LAZY_LAYERS_SCRIPT = textwrap.dedent('''\
    import http.client
    import json
    import sys

    from websockets.sync.client import connect

    from asyncdev.testing import run_in_thread

    LAYERS = ("asyncdev._server.websocket", "wsproto", "asyncdev._features.errorpage")


    async def app(scope, receive, send):
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            message = await receive()
            await send({"type": "websocket.send", "text": "echo:" + message["text"]})
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/boom":
            raise RuntimeError("<boom>")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})


    def get(port, path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers={"Accept": "text/html"})
        response = conn.getresponse()
        result = response.status, response.read().decode()
        conn.close()
        return result


    def layers():
        return [name for name in LAYERS if name in sys.modules]


    seen = {}
    with run_in_thread(app) as server:
        seen["started"] = layers()
        seen["http"] = get(server.port, "/"), layers()
        with connect(f"ws://127.0.0.1:{server.port}/", proxy=None) as ws:
            ws.send("hi")
            seen["websocket"] = ws.recv(timeout=10), layers()
        seen["error"] = get(server.port, "/boom"), layers()
    print(json.dumps(seen))
''')


def test_websocket_layer_and_error_page_load_on_first_use() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LAZY_LAYERS_SCRIPT], env=child_env(), capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["started"] == []
    assert seen["http"] == [[200, "hello"], []]
    assert seen["websocket"] == ["echo:hi", ["asyncdev._server.websocket", "wsproto"]]
    (status, page), layers = seen["error"]
    assert status == 500 and "&lt;boom&gt;" in page and "RuntimeError" in page
    assert layers == ["asyncdev._server.websocket", "wsproto", "asyncdev._features.errorpage"]
