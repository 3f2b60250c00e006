"""The pytest plugin: the ``asyncdev_server`` fixture, exercised in a pytester run."""

from __future__ import annotations

from testing_helpers import INNER_PYTEST_ARGS, no_leaks, warm_up

pytest_plugins = ["pytester"]

INNER_TESTS = '''
import socket
import threading

import httpx
import pytest

from asyncdev import StartupError

seen = {}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].replace("lifespan.", "")
            seen.setdefault("lifespan", []).append(kind)
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = f"{scope['root_path']} {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from wsgi"]


def server_threads():
    return [t for t in threading.enumerate() if t.name.startswith("asyncdev-")]


def test_1_serves_asgi_with_options(asyncdev_server):
    server = asyncdev_server(app, root_path="/api")
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(server.url + "/api/x").text.startswith("/api ")


def test_2_several_servers_and_wsgi(asyncdev_server):
    first, second = asyncdev_server(app), asyncdev_server(wsgi)
    assert first.port != second.port
    assert httpx.get(second.url).text == "from wsgi"


def test_3_fails_with_a_running_server(asyncdev_server):
    server = asyncdev_server(app)
    seen["port"] = server.port
    assert httpx.get(server.url).status_code == 404, "this test fails on purpose"


def test_4_the_failed_test_was_torn_down():
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", seen["port"]), timeout=10)
    assert server_threads() == []
    assert seen["lifespan"].count("startup") == seen["lifespan"].count("shutdown") == 3


def test_5_startup_errors_reach_the_test(asyncdev_server):
    with pytest.raises(StartupError):
        asyncdev_server(app, ssl_certfile="/nonexistent.pem", ssl_keyfile="/nonexistent.pem")
    with pytest.raises(ImportError, match="no_such_module_for_asyncdev"):
        asyncdev_server("no_such_module_for_asyncdev:app")
'''


INNER_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def test_fixture_starts_and_always_tears_down(pytester):
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner=INNER_TESTS)
    warm_up()
    with no_leaks():
        result = pytester.runpytest(*INNER_PYTEST_ARGS)
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: this test fails on purpose*"])


def test_fixture_is_registered_by_the_entry_point(pytester):
    pytester.makeini(INNER_INI)
    result = pytester.runpytest("--fixtures", *INNER_PYTEST_ARGS)
    result.stdout.fnmatch_lines(["asyncdev_server*", "*Start a real server for this test*"])
