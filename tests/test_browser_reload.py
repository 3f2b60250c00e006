"""Browser reload: what is injected where, the pages' WebSocket and the state endpoint,
over real sockets.

What a real browser does with it (tabs refresh, CSS swaps, the overlay) is
test_browser_reload_e2e.py.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging

import httpx
import pytest
import websockets

from asyncdev._banner import format_banner
from asyncdev._cli import build_config
from asyncdev._config import Config
from asyncdev._features.browser_reload import PROCESS_ID
from asyncdev._features.errorpage import startup_error_app
from asyncdev._logging import DefaultFormatter
from asyncdev.testing import run_in_thread, serving

PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>"
TAG = b'<script src="/__asyncdev__/reload.js"></script>\n'
DOCUMENT = ("Sec-Fetch-Dest: document", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Site: none")
VALIDATORS = [(b"etag", b'"v1"'), (b"last-modified", b"Mon, 01 Jan 2024 00:00:00 GMT"),
              (b"cache-control", b"max-age=600"), (b"expires", b"Mon, 01 Jan 2024 00:10:00 GMT")]


def page_app(headers=(), parts=(PAGE,), length=True, status=200, content_type=b"text/html"):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b"".join(parts)
        all_headers = [(b"content-type", content_type + b"; charset=utf-8"), *headers]
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


# --- on by default with reload, never in tests ---------------------------------------------


def test_on_whenever_reload_is_on_and_off_with_the_flag():
    assert Config(reload=True).browser_reload is True
    assert Config().browser_reload is False
    assert Config(reload=True, browser_reload=False).browser_reload is False
    # Kept by the reload child, which serves with reload=False.
    assert Config(reload=True).replace(reload=False).browser_reload is True
    assert build_config(["app:app"]).browser_reload is True
    assert build_config(["app:app", "--no-browser-reload"]).browser_reload is False
    assert build_config(["app:app", "--no-reload"]).browser_reload is False
    assert build_config(["app:app", "--no-browser-errors"]).browser_errors is False


def test_without_websockets_it_says_pages_will_not_follow(caplog):
    with run_in_thread(page_app(), browser_reload=True, ws="none"):
        pass
    assert any("Browser reload needs WebSockets" in r.getMessage() for r in caplog.records)


def test_never_in_asyncdev_testing(raw_client):
    with run_in_thread(page_app()) as server:
        assert server.config.browser_reload is False
        assert fetch(server.port, raw_client, "/", *DOCUMENT)[2] == PAGE


def test_the_banner_says_it_in_one_line():
    def banner(on):
        return format_banner(version="1", app_description="app:app", interface="asgi3",
                             loop_name="asyncio", urls=["http://127.0.0.1:8000"], reload=True,
                             bound_all_interfaces=False, lan_url=None, colour=False,
                             browser_reload=on)

    lines = [line for line in banner(True).splitlines() if "rowser reload" in line]
    assert lines == [("Browser reload is on: open pages follow your changes "
                      "(--no-browser-reload turns it off)")]
    assert "rowser reload" not in banner(False)


# --- only into documents ----------------------------------------------------------------


def test_page_gets_the_script_and_keeps_its_validators(raw_client):
    status, headers, body = served(page_app(headers=VALIDATORS), raw_client, *DOCUMENT)
    assert status == 200
    assert body == PAGE.replace(b"</body>", TAG + b"</body>")
    assert int(headers["content-length"]) == len(body)
    assert headers["etag"] == '"v1"'
    assert headers["last-modified"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert headers["cache-control"] == "max-age=600"
    assert headers["expires"] == "Mon, 01 Jan 2024 00:10:00 GMT"


def test_the_script_is_the_same_in_every_process(raw_client):
    # A revalidated copy (304) must stay right: no process id in the page.
    _, _, body = served(page_app(), raw_client, *DOCUMENT)
    assert PROCESS_ID.encode() not in body


@pytest.mark.parametrize("header", ["HX-Request: true", "Sec-Fetch-Dest: empty",
                                    "Sec-Fetch-Dest: iframe", "X-Requested-With: XMLHttpRequest",
                                    "Turbo-Frame: list"])
def test_fragments_and_frames_are_the_apps_byte_for_byte(raw_client, header):
    fragment = b"<li>one</li><li>two</li>"
    for parts in ((fragment,), (PAGE,)):
        _, headers, body = served(page_app(parts=parts, headers=VALIDATORS), raw_client,
                                  "Sec-Fetch-Dest: document", header)
        assert body == parts[0]
        assert headers["content-length"] == str(len(parts[0]))
        assert headers["cache-control"] == "max-age=600"


def test_without_fetch_metadata_only_a_document_with_body_end_gets_it(raw_client):
    assert served(page_app(), raw_client)[2] == PAGE.replace(b"</body>", TAG + b"</body>")
    fragment = b"<h1>fragment</h1>"
    _, headers, body = served(page_app(parts=(fragment,)), raw_client)
    assert (body, headers["content-length"]) == (fragment, str(len(fragment)))
    _, _, body = served(page_app(parts=(fragment,), length=False), raw_client)
    assert body == fragment


def test_streamed_page_gets_it_where_the_body_ends_even_across_parts(raw_client):
    parts = (b"<html><body>", b"<p>one</p></bo", b"dy></html>")
    _, headers, body = served(page_app(parts=parts, length=False), raw_client)
    assert headers.get("transfer-encoding") == "chunked"
    assert body == b"<html><body><p>one</p>" + TAG + b"</body></html>"


def test_an_x_requested_with_other_than_xmlhttprequest_is_still_a_page(raw_client):
    # Android's WebView names the app in it on every request, navigations included.
    _, _, body = served(page_app(), raw_client, *DOCUMENT, "X-Requested-With: com.example")
    assert TAG in body


def test_page_navigation_without_body_end_gets_it_appended(raw_client):
    _, headers, body = served(page_app(parts=(b"<h1>x</h1>",)), raw_client, *DOCUMENT)
    assert body == b"<h1>x</h1>" + TAG
    assert int(headers["content-length"]) == len(body)


def test_a_page_answered_to_a_post_is_marked(raw_client):
    _, _, body = served(page_app(), raw_client, *DOCUMENT, "Content-Length: 0", method="POST")
    assert b'<script src="/__asyncdev__/reload.js" data-asyncdev-method="POST"></script>' in body


def test_the_debug_error_page_for_a_post_is_marked_too(raw_client):
    async def failing(scope, receive, send):
        raise RuntimeError("boom")

    _, _, body = served(failing, raw_client, *DOCUMENT, "Accept: text/html",
                        "Content-Length: 0", method="POST")
    assert b'<script src="/__asyncdev__/reload.js" data-asyncdev-method="POST">' in body


def test_head_is_left_alone(raw_client):
    status, headers, body = served(page_app(), raw_client, *DOCUMENT, method="HEAD")
    assert (status, body, int(headers["content-length"])) == (200, b"", len(PAGE))


def test_a_page_is_asked_for_uncompressed_and_a_compressing_app_is_left_alone(raw_client):
    seen = []

    async def gzip_app(scope, receive, send):
        accept = dict(scope["headers"]).get(b"accept-encoding", b"")
        seen.append(accept)
        body, headers = PAGE, [(b"content-type", b"text/html")]
        if b"gzip" in accept or scope["path"] == "/always":
            body = gzip.compress(PAGE)
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*headers, (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    with run_in_thread(gzip_app, browser_reload=True) as server:
        _, headers, body = fetch(server.port, raw_client, "/", *DOCUMENT,
                                 "Accept-Encoding: gzip, br")
        assert body == PAGE.replace(b"</body>", TAG + b"</body>")
        assert "content-encoding" not in headers
        # A fetch keeps its compression, untouched.
        _, headers, body = fetch(server.port, raw_client, "/", "Sec-Fetch-Dest: empty",
                                 "Accept-Encoding: gzip")
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == PAGE
        _, _, body = fetch(server.port, raw_client, "/always", *DOCUMENT)
        assert gzip.decompress(body) == PAGE
    assert seen[0] == b"" and seen[1] == b"gzip"


@pytest.mark.parametrize(
    ("policy", "tag"),
    [
        ("default-src 'self'", TAG),
        ("script-src 'self' 'nonce-abc'; connect-src *", TAG),
        ("img-src 'none'", TAG),
        ("script-src 'nonce-abc'", b'<script src="/__asyncdev__/reload.js" nonce="abc">'),
        ("script-src 'nonce-r4nd' 'strict-dynamic'; connect-src 'self'",
         b'<script src="/__asyncdev__/reload.js" nonce="r4nd">'),
        ("script-src 'none'", None),
        ("default-src 'none'; script-src 'self'", None),  # connect-src falls back to none
        ("script-src 'self' 'strict-dynamic'", None),
        ("default-src https://cdn.example", None),
    ],
)
def test_content_security_policy_is_respected(raw_client, caplog, policy, tag):
    caplog.set_level("INFO", logger="asyncdev.error")
    headers = [(b"content-security-policy", policy.encode())]
    _, got, body = served(page_app(headers=headers), raw_client, *DOCUMENT)
    assert got["content-security-policy"] == policy
    if tag is None:
        assert body == PAGE
        assert any("Content-Security-Policy" in r.getMessage() for r in caplog.records)
    else:
        assert tag in body


def test_the_apps_plain_500_for_a_page_becomes_a_page_that_recovers(raw_client):
    app = page_app(parts=(b"Internal <Server> Error",), status=500, content_type=b"text/plain")
    status, headers, body = served(app, raw_client, *DOCUMENT)
    assert status == 500
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"<pre>Internal &lt;Server&gt; Error</pre>" in body and TAG in body
    assert int(headers["content-length"]) == len(body)
    # Not for a fetch: the app's own answer.
    _, _, body = served(app, raw_client, "Sec-Fetch-Dest: empty")
    assert body == b"Internal <Server> Error"


def test_pages_and_their_assets_without_caching_headers_are_revalidated(raw_client):
    for dest in ("document", "style"):
        _, headers, _ = served(page_app(), raw_client, f"Sec-Fetch-Dest: {dest}")
        assert headers["cache-control"] == "no-cache"
    assert "cache-control" not in served(page_app(), raw_client, "Sec-Fetch-Dest: empty")[1]


def test_static_html_pages_get_the_script_but_ranges_do_not(raw_client, tmp_path):
    (tmp_path / "index.html").write_bytes(PAGE)
    with run_in_thread(page_app(), browser_reload=True, static=[f"/s={tmp_path}"]) as server:
        _, headers, body = fetch(server.port, raw_client, "/s/index.html", *DOCUMENT)
        assert body == PAGE.replace(b"</body>", TAG + b"</body>")
        assert int(headers["content-length"]) == len(body)
        assert "etag" in headers and "last-modified" in headers
        status, _, body = fetch(server.port, raw_client, "/s/index.html", "Range: bytes=0-8")
        assert (status, body) == (206, PAGE[:9])


# --- the script and the endpoints ---------------------------------------------------------


def test_reload_script_is_served_with_a_stable_etag(raw_client):
    with run_in_thread(page_app(), browser_reload=True) as server:
        status, headers, body = fetch(server.port, raw_client, "/__asyncdev__/reload.js")
        assert status == 200
        assert headers["content-type"].startswith("text/javascript")
        assert b"SharedWorker" in body and b"WebSocket" in body
        status, _, body = fetch(server.port, raw_client, "/__asyncdev__/reload.js",
                                f"If-None-Match: {headers['etag']}")
        assert (status, body) == (304, b"")


@pytest.mark.parametrize(
    "header",
    ["Sec-Fetch-Site: cross-site", "Sec-Fetch-Site: same-site", "Origin: http://evil.example",
     "Origin: http://localhost:1"],
)
def test_internal_endpoints_are_same_origin_only(raw_client, header):
    with run_in_thread(page_app(), browser_reload=True) as server:
        for path in ("/__asyncdev__/state", "/__asyncdev__/reload.js"):
            status, _, body = fetch(server.port, raw_client, path, header)
            assert status == 403
            assert PROCESS_ID.encode() not in body


async def ws_messages(url, count, **options):
    async with websockets.connect(url, **options) as ws:
        return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(count)]


async def test_socket_says_hello_then_files_changed_then_closes_with_1012(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    async with serving(page_app(), browser_reload=True, static=[f"/assets={static}"]) as server:
        url = server.url.replace("http", "ws") + "/__asyncdev__/ws"
        async with websockets.connect(url, origin=server.url) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello" and hello["id"] == PROCESS_ID
            assert hello["broken"] is False and hello["log"] is True
            server.server.files_changed([str(static / "css" / "site.css")])
            css = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert css == {"type": "css", "files": [{"name": "site.css",
                                                     "url": "/assets/css/site.css"}]}
            server.server.files_changed([str(static / "logo.png")])
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "reload"
            server.stop()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 1012


async def test_socket_refuses_other_origins():
    async with serving(page_app(), browser_reload=True) as server:
        url = server.url.replace("http", "ws") + "/__asyncdev__/ws"
        with pytest.raises(websockets.InvalidStatus):
            await ws_messages(url, 1, origin="http://evil.example")


async def test_watch_paths_ask_for_stylesheets_and_static_assets(tmp_path):
    async with serving(page_app(), browser_reload=True, static=[f"/s={tmp_path}"],
                       reload_dirs=[str(tmp_path / "src")]) as server:
        requests = server.server.watch_requests()
    assert requests[0] == (str(tmp_path / "src"), ("*.css",))
    assert requests[1].directory == str(tmp_path)
    assert {"*.css", "*.js", "*.png"} <= set(requests[1].patterns)


async def test_a_failed_fetch_shows_in_the_page_and_in_the_state(caplog):
    async def app(scope, receive, send):
        if scope["path"] == "/api":
            {}["missing key"]  # the user's line
        await page_app()(scope, receive, send)

    async with serving(app, browser_reload=True) as server:
        url = server.url.replace("http", "ws") + "/__asyncdev__/ws"
        async with websockets.connect(url, origin=server.url) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            async with httpx.AsyncClient() as client:
                answer = await client.get(server.url + "/api", headers={
                    "sec-fetch-dest": "empty", "referer": server.url + "/"})
                assert answer.status_code == 500
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert message["type"] == "error" and message["page"] == server.url + "/"
                error = message["error"]
                assert error["title"] == "KeyError: 'missing key'"
                assert error["frame"]["source"] == '{}["missing key"]  # the user\'s line'
                assert error["frame"]["file"] == __file__
                state = (await client.get(server.url + "/__asyncdev__/state")).json()
        assert state["state"] == "serving" and state["id"] == PROCESS_ID
        assert state["last_request_error"]["title"] == "KeyError: 'missing key'"
        assert state["reloads"][0]["kind"] == "start"


async def test_the_error_page_process_tells_pages_the_app_is_broken():
    try:
        exec(compile("1 +", "/project/app.py", "exec"))
    except SyntaxError as exc:
        failure = exc
    async with serving(startup_error_app(failure), browser_reload=True) as server:
        url = server.url.replace("http", "ws") + "/__asyncdev__/ws"
        (hello,) = await ws_messages(url, 1, origin=server.url)
        async with httpx.AsyncClient() as client:
            state = (await client.get(server.url + "/__asyncdev__/state")).json()
    assert hello["broken"] is True
    assert hello["error"]["frame"]["file"] == "/project/app.py"
    assert hello["error"]["frame"]["source"] == "1 +"
    assert state["state"] == "broken" and state["error"]["title"].startswith("SyntaxError")


async def test_page_errors_are_logged_escaped_and_can_be_turned_off(caplog):
    caplog.set_level(logging.ERROR, logger="asyncdev.error")
    report = {"type": "log", "kind": "console.error", "message": "boom\x1b[31m\nnext",
              "source": "http://localhost/app.js", "line": 3, "column": 7}
    for enabled in (True, False):
        async with serving(page_app(), browser_reload=True, browser_errors=enabled) as server:
            url = server.url.replace("http", "ws") + "/__asyncdev__/ws"
            async with websockets.connect(url, origin=server.url) as ws:
                await ws.send(json.dumps(report))
                await ws.send("not json")
    records = [r for r in caplog.records if r.getMessage().startswith("Browser")]
    assert len(records) == 1
    line = DefaultFormatter().format(records[0])
    assert line.endswith(" Browser console.error: boom\\x1b[31m\\nnext "
                         "(http://localhost/app.js:3:7)")


def test_wsgi_apps_get_the_socket_and_answer_their_own_upgrades(raw_client):
    def wsgi_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        return [PAGE]

    with run_in_thread(wsgi_app, browser_reload=True) as server:
        url = f"ws://127.0.0.1:{server.port}/__asyncdev__/ws"
        (hello,) = asyncio.run(ws_messages(url, 1, origin=server.url))
        assert hello["id"] == PROCESS_ID
        status, _, body = fetch(server.port, raw_client, "/chat", "Connection: Upgrade",
                                "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
        assert (status, body) == (200, PAGE.replace(b"</body>", TAG + b"</body>"))


async def test_a_saved_stylesheet_reaches_open_pages_without_a_restart(tmp_path):
    # The whole path, through the CLI: the supervisor watches what the browser side
    # asked for, sends the change to the serving process, which tells the pages.
    from reload_helpers import Supervised

    (tmp_path / "app.py").write_text(
        "async def app(scope, receive, send):\n"
        "    import os\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': str(os.getpid()).encode()})\n"
    )
    sheet = tmp_path / "static" / "site.css"
    sheet.parent.mkdir()
    sheet.write_text("body { color: red }\n")
    with Supervised.cli(tmp_path, "app:app", "--static", "/static=static") as server:
        port = server.wait_ready()
        pid = server.get()[2]
        url = f"ws://127.0.0.1:{port}/__asyncdev__/ws"
        async with websockets.connect(url, origin=f"http://127.0.0.1:{port}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
            sheet.write_text("body { color: blue }\n")
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert message == {"type": "css", "files": [{"name": "site.css",
                                                     "url": "/static/site.css"}]}
        status, _, body = await asyncio.to_thread(server.get)
        assert (status, body) == (200, pid)  # the same process
        assert server.count(r"Detected change") == 0
