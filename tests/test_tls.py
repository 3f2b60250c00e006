"""HTTPS for development: the generated certificate and the wrong-protocol hints."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import sys

import httpx
import pytest

from asyncdev._errors import StartupError
from asyncdev._server import tls as _tls
from asyncdev.testing import run_in_thread

LOOPS = ["asyncio", "uvloop"]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"{scope['scheme']} ok".encode()})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "asyncdev"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """One certificate for the module (making one is the slow part)."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield _tls.development_certificate()[0]
    finally:
        if old is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = old


def test_certificate_is_made_once_and_reused(cache):
    certfile, keyfile = _tls.development_certificate()
    assert certfile == keyfile == str(cache / "localhost.pem")
    info = os.stat(certfile)
    assert stat.S_IMODE(info.st_mode) == 0o600  # it holds the private key
    pem = open(certfile, "rb").read()
    assert b"PRIVATE KEY" in pem and b"BEGIN CERTIFICATE" in pem
    assert _tls.development_certificate() == (certfile, keyfile)
    assert open(certfile, "rb").read() == pem  # reused, not remade


def test_certificate_close_to_expiry_is_renewed(cache):
    certfile, _ = _tls.development_certificate()
    pem = open(certfile, "rb").read()
    stale = b"# asyncdev development certificate, expires 1000\n" + pem.split(b"\n", 1)[1]
    open(certfile, "wb").write(stale)
    _tls.development_certificate()
    assert open(certfile, "rb").read() not in (stale, pem)


def test_missing_cryptography_says_what_to_install(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)  # makes the import fail
    with pytest.raises(StartupError, match=r"pip install 'asyncdev\[https\]'"):
        _tls.development_certificate()


@pytest.mark.parametrize("loop", LOOPS)
def test_https_serves_with_the_development_certificate(certificate, loop):
    with run_in_thread(app, https=True, loop=loop) as server:
        assert server.url.startswith("https://")
        verify = ssl.create_default_context(cafile=certificate)
        for url in (server.url, f"https://localhost:{server.port}"):
            response = httpx.get(url + "/", verify=verify, timeout=10)
            assert (response.status_code, response.text) == (200, "https ok")


@pytest.mark.parametrize("loop", LOOPS)
def test_plain_http_to_https_port_gets_a_hint(certificate, raw_client, loop):
    with run_in_thread(app, https=True, loop=loop) as server:
        client = raw_client(server.port)
        client.send(f"GET /page?q=1 HTTP/1.1\r\nHost: localhost:{server.port}\r\n\r\n".encode())
        status, headers, body = client.read_response()
        assert status == 400
        assert headers["content-type"].startswith("text/plain")
        assert f"https://localhost:{server.port}/page?q=1".encode() in body
        assert headers["connection"] == "close"  # the client hangs up after reading it
        client.close()
        # The port still speaks TLS to the next client.
        verify = ssl.create_default_context(cafile=certificate)
        assert httpx.get(server.url, verify=verify, timeout=10).status_code == 200


@pytest.mark.parametrize("loop", LOOPS)
def test_tls_to_http_port_is_closed_with_a_log_hint(caplog, loop, monkeypatch):
    monkeypatch.setattr(_tls, "_last_logged", {})
    caplog.set_level("WARNING", logger="asyncdev.error")
    with run_in_thread(app, loop=loop) as server:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            with pytest.raises((ssl.SSLError, ConnectionError)):
                context.wrap_socket(sock, server_hostname="localhost")
        assert httpx.get(server.url, timeout=10).text == "http ok"
    hints = [r.getMessage() for r in caplog.records if "tried HTTPS" in r.getMessage()]
    assert len(hints) == 1
    assert "--https" in hints[0]
