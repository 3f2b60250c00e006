"""The debug error page for an app that fails before its response, over real sockets."""

from __future__ import annotations

import io
import logging
import re
import socket
import sys

import pytest

import errorpage_app
from asyncdev._logging import DefaultFormatter
from asyncdev.testing import run_in_thread
from errorpage_helpers import APP_FILE, BROWSER, check_forms, source_line


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
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    page = body.decode()
    assert "ValueError: bad &lt;input&gt; &amp; worse" in page
    assert "<input>" not in page
    assert "GET /boom?x=1 HTTP/1.1" in page
    assert "helper_that_fails" in page
    assert "raise ValueError(" in page  # the failing source line
    # The one script is the copy button's, allowed by this response's nonce.
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy).group(1)
    assert re.findall(r"<script[^>]*>", page) == [f'<script nonce="{nonce}">']


def test_non_browser_gets_plain_text_traceback(raw_client):
    with run_in_thread(failing_app) as server:
        status, headers, body = get(raw_client(server.port), "/api", "*/*")
    assert status == 500
    assert headers["content-type"].startswith("text/plain")
    text = body.decode()
    # The exception and the user's failing line first, then the request line.
    assert text.startswith('ValueError: bad <input> & worse\n  File "')
    first_lines = text.splitlines()[:4]
    assert "in helper_that_fails" in first_lines[1]
    assert first_lines[2].strip().startswith("raise ValueError(")
    assert first_lines[3] == "GET /api HTTP/1.1"
    assert "Traceback (most recent call last)" in text


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
        _, _, body = get(raw_client(server.port), "/quiet", "text/html")
    assert "<h1>The application did not send a response</h1>" in body.decode()


def test_page_loads_the_reload_script_when_browser_reload_is_on(raw_client):
    with run_in_thread(failing_app, browser_reload=True) as server:
        _, headers, body = get(raw_client(server.port), "/", "text/html")
    assert b'<script src="/__asyncdev__/reload.js"' in body
    assert re.search(r"script-src [^;]*'self'", headers["content-security-policy"])


# --- the failing line first, in every form ------------------------------------------------

def fetcher(raw_client, port: int, path: str):
    def fetch(accept: str):
        return get(raw_client(port), path, accept)
    return fetch


def test_key_error_deep_in_user_code_opens_the_users_line(raw_client):
    number, line = source_line("KEYERROR-LINE")
    with run_in_thread(errorpage_app.app) as server:
        page, text, data = check_forms(
            fetcher(raw_client, server.port, "/keyerror"), line=line, heading="KeyError: 'price'"
        )
    failing = page.split('<section class="failing">', 1)[1].split("</section>", 1)[0]
    assert f"line {number}, in <b>price_of</b>" in failing
    # Its locals are open, the secret masked, the plain value shown.
    assert "<details class=\"locals\" open>" in failing
    assert "<th>api_token</th><td><code>********************</code>" in failing
    assert "<th>item</th><td><code>{&#x27;name&#x27;: &#x27;tea&#x27;}</code>" in failing
    # json's frames (between parse_order and the app) are folded into one row.
    assert re.search(r'<details class="libs"><summary>\d+ library frames? <span class="muted">'
                     r"\u00b7 json", page)
    # Every user frame links to the editor; library frames do not.
    assert page.count('href="vscode://file/') == len(
        [f for f in data["frames"] if f["user"]]) + 1  # the failing block's own link
    # Three frames deep in the user's code, under json's library frames.
    # (Python 3.11+ qualifies names: order_total.<locals>.<genexpr>.)
    functions = [(f["function"].rsplit(".", 1)[-1], f["user"]) for f in data["frames"]]
    assert functions[-4:] == [("parse_order", True), ("order_total", True),
                              ("<genexpr>", True), ("price_of", True)]
    assert ("raw_decode", False) in functions
    assert data["frames"][-1]["locals"]["api_token"] == "********************"
    assert "'SECRET_KEY': '********************'" in data["frames"][-3]["locals"]["settings"]


def test_editor_links_follow_the_setting(raw_client, monkeypatch):
    monkeypatch.setenv("ASYNCDEV_EDITOR", "pycharm://open?file={path}&line={line}")
    number, _ = source_line("KEYERROR-LINE")
    with run_in_thread(errorpage_app.app) as server:
        _, _, body = get(raw_client(server.port), "/keyerror", BROWSER)
    assert f'href="pycharm://open?file={APP_FILE}&amp;line={number}"' in body.decode()
    assert "vscode://" not in body.decode()


def test_chained_exception_shows_the_root_cause_first(raw_client):
    _, line = source_line("KEYERROR-LINE")
    with run_in_thread(errorpage_app.app) as server:
        page, text, data = check_forms(
            fetcher(raw_client, server.port, "/chained"), line=line, heading="KeyError: 'price'"
        )
    # What the app finally raised is named under the heading, and follows, folded
    # under Python's sentence.
    assert ('<p class="then">then <b>errorpage_app.PricingError: order 42 cannot be priced'
            '</b> <span class="muted">(raised from it)</span></p>') in page
    assert re.search(r'<details class="chain"><summary>The above exception was the direct '
                     r"cause of <b>errorpage_app.PricingError: order 42 cannot be priced</b>",
                     page)
    assert text.index("KeyError: 'price'\n\nThe above exception was the direct cause") < \
        text.index("errorpage_app.PricingError: order 42 cannot be priced")
    assert [(item["type"], item["link"]) for item in data["chain"]] == [
        ("KeyError", None), ("errorpage_app.PricingError", "cause")]
    assert data["chain"][1]["frames"][-1]["source"] == source_line("CHAINED-LINE")[1]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_exception_group_opens_its_first_failing_member(raw_client):
    _, line = source_line("GROUP-LINE")
    with run_in_thread(errorpage_app.app) as server:
        page, text, data = check_forms(
            fetcher(raw_client, server.port, "/group"), line=line,
            heading="ValueError: out of stock: tea",
        )
    assert "2 checks failed (2 sub-exceptions)" in page
    assert re.search(r'<details class="member" open><summary>1 of 2: <b>ValueError', page)
    assert re.search(r'<details class="member"><summary>2 of 2: <b>TypeError', page)
    assert "+-- 2 of 2" in text and "TypeError: address must be a str" in text
    (group,) = data["chain"]
    assert group["type"] == "ExceptionGroup"
    assert [member[0]["type"] for member in group["exceptions"]] == ["ValueError", "TypeError"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="add_note is Python 3.11+")
def test_notes_are_shown(raw_client):
    _, line = source_line("NOTE-LINE")
    with run_in_thread(errorpage_app.app) as server:
        page, text, data = check_forms(
            fetcher(raw_client, server.port, "/note"), line=line, heading="KeyError: 'coffee'"
        )
    assert '<p class="note-text">while pricing order 42</p>' in page
    assert text.splitlines()[1] == "Note: while pricing order 42"
    assert data["notes"] == ["while pricing order 42"]
    assert data["frames"][-1]["locals"]["password"] == "********************"


def test_remote_clients_never_see_locals(raw_client):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with run_in_thread(errorpage_app.app, host="0.0.0.0", debug_errors=True) as server:
        _, _, body = get(raw_client(server.port, host=address), "/keyerror", BROWSER)
    page = body.decode()
    assert "KeyError" in page and "Local variables" not in page


def test_terminal_prints_a_failure_once_with_the_users_line_marked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(DefaultFormatter())
    logger = logging.getLogger("asyncdev.test-errorpage")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for path in ("/a", "/b\x1b[2J"):
            try:
                errorpage_app.order_total({"items": [{"name": "tea"}]})
            except KeyError as exc:
                logger.error("Exception in ASGI application (GET %s)", path, exc_info=exc)
        try:
            raise RuntimeError("not the user's")
        except RuntimeError as exc:
            logger.error("Internal", exc_info=exc)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    number, line = source_line("KEYERROR-LINE")
    assert f'> File "{APP_FILE}", line {number}, in price_of\n    {line}\n' in output
    assert output.count("Traceback (most recent call last)") == 2  # the KeyError, the other
    assert ("Exception in ASGI application (GET /b\\x1b[2J): KeyError: 'price' (the same "
            "failure as above, 2 times now)") in output
    assert "RuntimeError: not the user's" in output
