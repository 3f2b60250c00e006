"""asyncdev.testing: run_in_thread and serving, over real sockets, checked for leaks."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import sys
import threading
import uuid

import httpx
import pytest

import asyncdev.testing
from asyncdev import AppImportError, AsyncdevError, ConfigError, StartupError
from asyncdev.testing import RunningServer, run_in_thread, serving
from testing_helpers import no_leaks, refused, self_signed_certificate, warm_up


class App:
    """An ASGI app with a lifespan that records what happened to it."""

    def __init__(self, name: str = "app", *, startup: str = "ok", shutdown: str = "ok") -> None:
        self.name = name
        self.startup = startup
        self.shutdown = shutdown
        self.events: list[str] = []
        self.entered = threading.Event()
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def __call__(self, scope, receive, send):
        self.loops.append(asyncio.get_running_loop())
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        path = scope["path"]
        if path == "/hang":
            self.entered.set()
            await asyncio.get_running_loop().create_future()  # never answers
        if path == "/boom":
            raise RuntimeError("boom")
        if path == "/exit":
            raise SystemExit(4)
        if path == "/state":
            body = scope["state"]["db"]
        elif path.endswith("/scope"):
            body = f"{scope['scheme']} {scope['root_path']} {path}"
        else:
            body = self.name
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body.encode()})

    async def lifespan(self, scope, receive, send):
        message = await receive()
        assert message["type"] == "lifespan.startup"
        if self.startup == "raise":
            raise ValueError("no database")
        if self.startup == "exit":
            raise SystemExit(3)
        if self.startup == "hang":
            await asyncio.get_running_loop().create_future()
        scope["state"]["db"] = f"{self.name}-db"
        self.events.append("startup")
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        if self.shutdown == "hang":
            await asyncio.get_running_loop().create_future()
        self.events.append("shutdown")
        await send({"type": "lifespan.shutdown.complete"})


def wsgi_app(environ, start_response):
    body = f"wsgi {environ['SCRIPT_NAME']} {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def causes(exc: BaseException | None) -> list[BaseException]:
    chain = []
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


@pytest.fixture(scope="module", autouse=True)
def _warm_up():
    warm_up()


@pytest.fixture(autouse=True)
def leak_check(request):
    """Every synchronous test here must leave no thread and no descriptor behind."""
    if asyncio.iscoroutinefunction(request.function):
        yield  # the async tests check inside, around their own event loop
        return
    with no_leaks():
        yield


# --- run_in_thread ----------------------------------------------------------------------


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_port_zero_is_bound_before_return_and_url_has_the_real_port(loop):
    app = App()
    with run_in_thread(app, loop=loop) as server:
        assert isinstance(server, RunningServer)
        assert server.port != 0
        assert server.host == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}"
        # Listening already: a connection needs no retry loop.
        socket.create_connection((server.host, server.port), timeout=10).close()
        response = httpx.get(server.url)
        assert (response.status_code, response.text) == (200, "app")
        assert app.loops[-1] is not asyncio.get_event_loop_policy()  # its own loop ran it
    assert refused(server.port)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_asgi_and_wsgi_apps_with_options(kind):
    app = App() if kind == "asgi" else wsgi_app
    with run_in_thread(app, root_path="/api", server_header=False) as server:
        response = httpx.get(server.url + "/scope")
    assert response.status_code == 200
    assert "server" not in response.headers
    expected = "http /api " if kind == "asgi" else "wsgi /api "
    assert response.text.startswith(expected)


def test_an_import_string_app(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"string_app_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'from a string'})\n"
    )
    with run_in_thread(f"{name}:app", app_dir=str(tmp_path)) as server:
        assert httpx.get(server.url).text == "from a string"
    monkeypatch.delitem(sys.modules, name)


def test_lifespan_runs_and_its_state_reaches_requests():
    app = App("main")
    with run_in_thread(app) as server:
        assert app.events == ["startup"]
        assert httpx.get(server.url + "/state").text == "main-db"
    assert app.events == ["startup", "shutdown"]


def test_tls_files_give_an_https_url(tmp_path):
    certfile, keyfile = self_signed_certificate(tmp_path)
    with run_in_thread(App(), ssl_certfile=certfile, ssl_keyfile=keyfile) as server:
        assert server.url == f"https://127.0.0.1:{server.port}"
        context = ssl.create_default_context(cafile=certfile)
        response = httpx.get(server.url + "/scope", verify=context)
    assert response.text == "https  /scope"


def test_a_unix_socket(tmp_path):
    path = str(tmp_path / "server.sock")
    with run_in_thread(App(), uds=path) as server:
        assert (server.url, server.host) == (f"unix:{path}", path)
        with pytest.raises(RuntimeError):
            server.port
        with httpx.Client(transport=httpx.HTTPTransport(uds=path)) as client:
            assert client.get("http://localhost/").text == "app"


def test_limit_concurrency_is_applied():
    app = App()
    with run_in_thread(app, limit_concurrency=1, timeout_graceful_shutdown=0.1) as server:
        hung = socket.create_connection((server.host, server.port), timeout=10)
        with hung:
            hung.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            assert app.entered.wait(10)
            assert httpx.get(server.url).status_code == 503


def test_logs_reach_the_logging_module_and_nothing_is_printed(caplog, capfd):
    caplog.set_level(logging.INFO, logger="asyncdev")
    with run_in_thread(App(), debug_errors=False) as server:
        assert httpx.get(server.url + "/boom").status_code == 500
    errors = [r for r in caplog.records if r.name == "asyncdev.error"]
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in errors)
    assert any(r.name == "asyncdev.access" and "/boom" in r.getMessage() for r in caplog.records)
    assert capfd.readouterr() == ("", "")


def test_several_servers_at_once():
    apps = [App(f"app{i}") for i in range(3)]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(run_in_thread(app)) for app in apps]
        assert len({s.port for s in servers}) == 3
        for server, app in zip(servers, apps):
            assert httpx.get(server.url).text == app.name
        servers[0].stop()
        assert refused(servers[0].port)
        assert [httpx.get(s.url + "/state").text for s in servers[1:]] == ["app1-db", "app2-db"]
    assert all(app.events == ["startup", "shutdown"] for app in apps)


def test_stop_is_idempotent_and_stops_listening():
    with run_in_thread(App()) as server:
        server.stop()
        server.stop()
        assert refused(server.port)


def test_stop_is_bounded_when_a_request_hangs(caplog):
    app = App()
    with run_in_thread(app, timeout_graceful_shutdown=0.2) as server:
        client = socket.create_connection((server.host, server.port), timeout=10)
        with client:
            client.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            assert app.entered.wait(10)
            stopper = threading.Thread(target=server.stop)
            stopper.start()
            stopper.join(60)
            assert not stopper.is_alive(), "stop() hung"
            with contextlib.suppress(ConnectionResetError):
                assert client.recv(1024) == b""  # closed after the grace period
    assert refused(server.port)
    assert app.events == ["startup", "shutdown"]
    assert "still busy" in caplog.text


def test_stop_is_bounded_when_lifespan_shutdown_hangs(monkeypatch, caplog):
    monkeypatch.setattr(asyncdev.testing, "_SHUTDOWN_MARGIN", 0.3)
    app = App(shutdown="hang")
    with run_in_thread(app, timeout_graceful_shutdown=0.1) as server:
        pass
    assert refused(server.port)
    assert "cancelling it" in caplog.text


def test_stop_is_bounded_for_a_wsgi_request_that_hangs():
    release = threading.Event()

    def slow(environ, start_response):
        entered.set()
        release.wait(60)
        start_response("200 OK", [])
        return [b""]

    entered = threading.Event()
    try:
        with run_in_thread(slow, timeout_graceful_shutdown=0.1) as server:
            client = socket.create_connection((server.host, server.port), timeout=10)
            with client:
                client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert entered.wait(10)
                server.stop()
                with contextlib.suppress(ConnectionResetError):
                    assert client.recv(1024) == b""
    finally:
        release.set()
    # The worker is left to finish the app's call, then exits by itself.
    for thread in threading.enumerate():
        if thread.name.startswith("asyncdev-wsgi"):
            thread.join(10)


# --- startup failures -----------------------------------------------------------------


def test_lifespan_startup_error_is_raised_in_the_caller():
    with pytest.raises(StartupError, match="no database") as info:
        with run_in_thread(App(startup="raise")):
            pytest.fail("the block must not run")
    assert any(isinstance(e, ValueError) for e in causes(info.value))


def test_bind_error_is_raised_in_the_caller():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(StartupError, match=str(port)) as info:
            with run_in_thread(App(), port=port):
                pass
    assert any(getattr(e, "errno", None) == errno.EADDRINUSE for e in causes(info.value))


def test_import_error_is_raised_in_the_caller():
    with pytest.raises(AppImportError, match="asyncdev_no_such_module"):
        with run_in_thread("asyncdev_no_such_module:app"):
            pass


@pytest.mark.parametrize("where", ["import", "lifespan"])
def test_system_exit_becomes_an_asyncdev_error(where, tmp_path, monkeypatch):
    if where == "import":
        monkeypatch.setattr(sys, "path", list(sys.path))
        name = f"exits_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text("import sys\nsys.exit(3)\n")
        app, options = f"{name}:app", {"app_dir": str(tmp_path)}
    else:
        app, options = App(startup="exit"), {}
    with pytest.raises(AsyncdevError) as info:
        with run_in_thread(app, **options):
            pass
    assert any(isinstance(e, SystemExit) for e in causes(info.value))


def test_system_exit_in_a_request_is_a_500_and_the_server_keeps_serving(caplog):
    with run_in_thread(App(), debug_errors=False) as server:
        assert httpx.get(server.url + "/exit").status_code == 500
        assert httpx.get(server.url).status_code == 200
    assert refused(server.port)
    assert "SystemExit" in caplog.text


def test_startup_timeout_is_bounded():
    with pytest.raises(StartupError, match="startup_timeout"):
        with run_in_thread(App(startup="hang"), startup_timeout=0.5):
            pass


def test_bad_options_are_rejected_before_any_thread_starts():
    with pytest.raises(ConfigError, match="port"):
        with run_in_thread(App(), port=-1):
            pass
    with pytest.raises(ConfigError, match="reload"):
        with run_in_thread(App(), reload=True):
            pass


# --- serving: the caller's loop ---------------------------------------------------------


async def wait_for(event: threading.Event) -> None:
    for _ in range(1000):  # bounded: 10 s
        if event.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the app never got the request")


async def only_this_task() -> bool:
    """True once every other task of the loop has finished (cancellations take a turn)."""
    for _ in range(500):  # bounded: 5 s
        if asyncio.all_tasks() == {asyncio.current_task()}:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_serving_runs_in_the_callers_loop():
    app = App("async")
    with no_leaks():
        async with serving(app) as server:
            assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}"
            async with httpx.AsyncClient() as client:
                response = await client.get(server.url + "/state")
            assert response.text == "async-db"
            assert app.loops[-1] is asyncio.get_running_loop()
        assert app.events == ["startup", "shutdown"]
        assert refused(server.port)
    assert await only_this_task()


async def test_serving_a_wsgi_app_leaves_no_worker_thread():
    with no_leaks():
        async with serving(wsgi_app, root_path="/w") as server:
            async with httpx.AsyncClient() as client:
                response = await client.get(server.url + "/w/x")
        assert response.text.startswith("wsgi /w ")


async def test_serving_raises_startup_errors():
    with no_leaks():
        with pytest.raises(StartupError) as info:
            async with serving(App(startup="raise")):
                pass
        assert any(isinstance(e, ValueError) for e in causes(info.value))
    assert await only_this_task()


async def test_serving_startup_timeout():
    with no_leaks():
        with pytest.raises(StartupError, match="startup_timeout"):
            async with serving(App(startup="hang"), startup_timeout=0.3):
                pass
    assert await only_this_task()


async def test_serving_stop_is_bounded_when_a_request_hangs():
    app = App()
    with no_leaks():
        async with serving(app, timeout_graceful_shutdown=0.2) as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            await wait_for(app.entered)
            await asyncio.wait_for(server.aclose(), 60)
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            with contextlib.suppress(ConnectionResetError):
                await writer.wait_closed()
        assert refused(server.port)
    assert await only_this_task()


async def test_aclose_of_a_thread_server():
    with no_leaks():
        with run_in_thread(App()) as server:
            await server.aclose()
            assert refused(server.port)
