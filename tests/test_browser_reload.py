"""Browser reload: script injection and the internal endpoints, over real sockets.

The page-reloads-itself check in a real browser is test_browser_reload_e2e.py.
"""

from __future__ import annotations

import threading

import pytest

from asyncdev._features.browser_reload import PROCESS_ID
from asyncdev.testing import run_in_thread

PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>"
TAG = f'<script src="/__asyncdev__/reload.js" data-asyncdev-id="{PROCESS_ID}"></script>\n'


def page_app(headers=(), parts=(PAGE,), length=True, status=200):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b"".join(parts)
        all_headers = [(b"content-type", b"text/html; charset=utf-8"), *headers]
        if length:
            all_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": all_headers})
        for index, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part,
                        "more_body": index < len(parts) - 1})

    return app


def fetch(port, raw_client, target="/", *extra, method="GET"):
    client = raw_client(port)
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", *extra]
    client.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    return client.read_response(head_request=method == "HEAD")


def served(app, raw_client, *extra, method="GET", **options):
    with run_in_thread(app, browser_reload=True, **options) as server:
        return fetch(server.port, raw_client, "/", *extra, method=method)


def test_script_goes_before_body_end_and_length_is_fixed(raw_client):
    status, headers, body = served(page_app(), raw_client)
    assert status == 200
    assert body == PAGE.replace(b"</body>", TAG.encode() + b"</body>")
    assert int(headers["content-length"]) == len(body)


def test_streamed_page_gets_the_script_in_the_part_that_closes_the_body(raw_client):
    parts = (b"<html><body>", b"<p>one</p>", b"<p>two</p></BODY></html>")
    _, headers, body = served(page_app(parts=parts, length=False), raw_client)
    assert headers.get("transfer-encoding") == "chunked"
    assert body == b"<html><body><p>one</p><p>two</p>" + TAG.encode() + b"</BODY></html>"


def test_page_without_body_end_gets_the_script_appended(raw_client):
    _, _, body = served(page_app(parts=(b"<h1>fragment</h1>",)), raw_client)
    assert body == b"<h1>fragment</h1>" + TAG.encode()


def test_error_pages_in_html_get_it_too(raw_client):
    _, _, body = served(page_app(status=404), raw_client)
    assert TAG.encode() in body


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-encoding", b"gzip")],
        [(b"content-disposition", b"attachment; filename=x.html")],
    ],
)
def test_compressed_or_downloaded_html_is_left_alone(raw_client, headers):
    status, _, body = served(page_app(headers=headers), raw_client)
    assert (status, body) == (200, PAGE)


def test_other_types_and_head_are_left_alone(raw_client):
    async def text_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"</body>"})

    assert served(text_app, raw_client)[2] == b"</body>"
    _, headers, _ = served(page_app(), raw_client, method="HEAD")
    assert int(headers["content-length"]) == len(PAGE)


@pytest.mark.parametrize(
    ("policy", "injected"),
    [
        ("default-src 'self'", True),
        ("script-src 'self' 'nonce-abc'; connect-src *", True),
        ("img-src 'none'", True),
        ("script-src 'none'", False),
        ("script-src 'nonce-abc'", False),
        ("default-src 'none'; script-src 'self'", False),  # connect-src falls back to none
        ("script-src 'self' 'strict-dynamic'", False),
        ("default-src https://cdn.example", False),
    ],
)
def test_content_security_policy_is_respected(raw_client, caplog, policy, injected):
    caplog.set_level("INFO", logger="asyncdev.error")
    headers = [(b"content-security-policy", policy.encode())]
    _, _, body = served(page_app(headers=headers), raw_client)
    assert (body != PAGE) is injected
    logged = any("Content-Security-Policy" in r.getMessage() for r in caplog.records)
    assert logged is not injected


def test_nothing_is_injected_without_the_option(raw_client):
    with run_in_thread(page_app()) as server:
        assert fetch(server.port, raw_client)[2] == PAGE
        assert fetch(server.port, raw_client, "/__asyncdev__/reload.js")[2] == PAGE


def test_reload_script_is_served(raw_client):
    with run_in_thread(page_app(), browser_reload=True) as server:
        status, headers, body = fetch(server.port, raw_client, "/__asyncdev__/reload.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert b"EventSource" in body and b"location.reload()" in body


def read_chunk(client) -> bytes:
    size = int(client.read_line(), 16)
    data = client.read_exact(size)
    assert client.read_exact(2) == b"\r\n"
    return data


def open_events(port, raw_client, *extra):
    client = raw_client(port)
    lines = ["GET /__asyncdev__/events HTTP/1.1", "Host: localhost", *extra]
    client.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    return client


def test_event_stream_sends_the_process_id_then_ends_cleanly_on_shutdown(raw_client, caplog):
    caplog.set_level("WARNING")
    with run_in_thread(page_app(), browser_reload=True) as server:
        client = open_events(server.port, raw_client, "Accept: text/event-stream",
                             "Sec-Fetch-Site: same-origin")
        status, headers, _ = client.read_head()
        assert status == 200
        assert headers["content-type"] == "text/event-stream"
        assert read_chunk(client) == f"retry: 250\ndata: {PROCESS_ID}\n\n".encode()
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        # The server ends the stream itself (it does not wait for the page to leave,
        # nor abort it after the grace period).
        assert read_chunk(client) == b""  # the last chunk: a complete response
        assert client.is_closed()
        stopper.join(30)
    assert not [r for r in caplog.records if "still busy" in r.getMessage()]


@pytest.mark.parametrize(
    "header",
    ["Sec-Fetch-Site: cross-site", "Sec-Fetch-Site: same-site", "Origin: http://evil.example",
     "Origin: http://localhost:1"],
)
def test_internal_endpoints_are_same_origin_only(raw_client, header):
    with run_in_thread(page_app(), browser_reload=True) as server:
        for path in ("/__asyncdev__/events", "/__asyncdev__/reload.js"):
            status, _, body = fetch(server.port, raw_client, path, header)
            assert status == 403
            assert PROCESS_ID.encode() not in body


def test_same_origin_request_with_origin_is_answered(raw_client):
    with run_in_thread(page_app(), browser_reload=True) as server:
        status, _, _ = fetch(server.port, raw_client, "/__asyncdev__/reload.js",
                             "Origin: http://localhost")
        assert status == 200


def test_injected_pages_lose_their_validators(raw_client):
    # A revalidated copy would carry the previous process's id and reload forever.
    headers = [(b"etag", b'"v1"'), (b"last-modified", b"Mon, 01 Jan 2024 00:00:00 GMT"),
               (b"cache-control", b"max-age=600")]
    _, got, body = served(page_app(headers=headers), raw_client)
    assert TAG.encode() in body
    assert "etag" not in got and "last-modified" not in got
    assert got["cache-control"] == "no-cache"


def test_static_html_pages_get_the_script_but_ranges_do_not(raw_client, tmp_path):
    (tmp_path / "index.html").write_bytes(PAGE)
    with run_in_thread(page_app(), browser_reload=True, static=[f"/s={tmp_path}"]) as server:
        _, headers, body = fetch(server.port, raw_client, "/s/index.html")
        assert body == PAGE.replace(b"</body>", TAG.encode() + b"</body>")
        assert int(headers["content-length"]) == len(body)
        status, _, body = fetch(server.port, raw_client, "/s/index.html", "Range: bytes=0-8")
        assert (status, body) == (206, PAGE[:9])
