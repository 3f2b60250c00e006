"""The debug error page for an app that fails before its response, over real sockets."""

from __future__ import annotations

import socket

import pytest

from asyncdev._features.errorpage import render_traceback_page
from asyncdev.testing import run_in_thread


def helper_that_fails(value: str) -> None:
    raise ValueError(f"bad <{value}> & worse")


async def failing_app(scope, receive, send):
    if scope["type"] != "http":
        return
    helper_that_fails("input")


async def silent_app(scope, receive, send):
    return None


def get(client, path: str, accept: str, *extra: str, method: str = "GET"):
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", f"Accept: {accept}", *extra]
    client.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    return client.read_response(head_request=method == "HEAD")


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_browser_on_loopback_gets_html_page_with_escaped_traceback(raw_client):
    with run_in_thread(failing_app) as server:
        status, headers, body = get(raw_client(server.port), "/boom?x=1", "text/html,*/*")
    assert status == 500
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    page = body.decode()
    assert "ValueError: bad &lt;input&gt; &amp; worse" in page
    assert "<input>" not in page
    assert "GET /boom?x=1 HTTP/1.1" in page
    assert "helper_that_fails" in page
    assert "raise ValueError(" in page  # the failing source line
    assert "<script" not in page  # no script without browser reload: a page, not a console


def test_non_browser_gets_plain_text_traceback(raw_client):
    with run_in_thread(failing_app) as server:
        status, headers, body = get(raw_client(server.port), "/api", "application/json")
    assert status == 500
    assert headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert text.startswith("ValueError: bad <input> & worse\nGET /api HTTP/1.1\n")
    assert "Traceback (most recent call last)" in text
    assert "in helper_that_fails" in text


def test_head_request_gets_the_head_only(raw_client):
    with run_in_thread(failing_app) as server:
        client = raw_client(server.port)
        status, headers, _ = get(client, "/", "text/html", method="HEAD")
        assert status == 500
        assert int(headers["content-length"]) > 0
        assert client.is_closed()
        assert client.buffer == b""


def test_debug_errors_false_gives_a_bare_500(raw_client):
    with run_in_thread(failing_app, debug_errors=False) as server:
        status, _, body = get(raw_client(server.port), "/", "text/html")
    assert status == 500
    assert b"Traceback" not in body and b"ValueError" not in body


def test_request_relayed_by_a_local_tunnel_gets_a_bare_500(raw_client):
    with run_in_thread(failing_app) as server:
        status, _, body = get(
            raw_client(server.port), "/", "text/html", "X-Forwarded-For: 203.0.113.9"
        )
    assert status == 500
    assert b"ValueError" not in body


@pytest.mark.parametrize("debug_errors", [None, True])
def test_non_loopback_client_gets_the_page_only_when_asked(raw_client, debug_errors):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with run_in_thread(failing_app, host="0.0.0.0", debug_errors=debug_errors) as server:
        status, _, body = get(raw_client(server.port, host=address), "/", "text/html")
    assert status == 500
    assert (b"ValueError" in body) is bool(debug_errors)


def test_app_returning_without_a_response_gets_a_page(raw_client):
    with run_in_thread(silent_app) as server:
        status, _, body = get(raw_client(server.port), "/quiet", "text/plain")
    assert status == 500
    assert body.decode().startswith("The application did not send a response\nGET /quiet")


def test_page_loads_the_reload_script_when_browser_reload_is_on(raw_client):
    with run_in_thread(failing_app, browser_reload=True) as server:
        _, headers, body = get(raw_client(server.port), "/", "text/html")
    assert b'<script src="/__asyncdev__/reload.js"' in body
    assert "script-src 'self'" in headers["content-security-policy"]


def test_render_traceback_page_shows_the_whole_chain():
    try:
        try:
            {}["missing"]
        except KeyError as inner:
            raise RuntimeError("wrapped <b>") from inner
    except RuntimeError as exc:
        error = exc
    page = render_traceback_page(
        error, title="App failed to import", request_line="GET / HTTP/1.1", html=True
    ).decode()
    assert "<h1>App failed to import</h1>" in page
    assert page.index("<h2>KeyError") < page.index("direct cause") < page.index("<h2>RuntimeError")
    assert "wrapped &lt;b&gt;" in page
    text = render_traceback_page(error, title="App failed to import", html=False).decode()
    assert text.startswith("App failed to import\n\nTraceback")
    assert "RuntimeError: wrapped <b>" in text
