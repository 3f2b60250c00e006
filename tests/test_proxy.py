"""Proxy headers (--proxy-headers, --forwarded-allow-ips), over real sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from asyncdev._features.proxy import parse_forwarded
from asyncdev.testing import run_in_thread


async def echo_scope(scope, receive, send):
    host = dict(scope["headers"]).get(b"host", b"").decode()
    info = {"client": scope["client"], "scheme": scope["scheme"], "host": host}
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(info)})
        await send({"type": "websocket.close", "code": 1000})
        return
    if scope["type"] != "http":
        return
    body = json.dumps(info).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def seen(client, *headers: str, host: str = "localhost"):
    lines = ["GET / HTTP/1.1", f"Host: {host}", *headers]
    client.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, _, body = client.read_response()
    return json.loads(body) if status == 200 else status


def test_headers_are_ignored_by_default(raw_client):
    with run_in_thread(echo_scope) as server:
        info = seen(raw_client(server.port), "X-Forwarded-For: 203.0.113.5",
                    "X-Forwarded-Proto: https", "Forwarded: for=198.51.100.1")
    assert info["client"][0] == "127.0.0.1"
    assert info["scheme"] == "http"


def test_loopback_proxy_is_trusted_when_no_list_is_given(raw_client):
    with run_in_thread(echo_scope, proxy_headers=True) as server:
        info = seen(raw_client(server.port), "X-Forwarded-For: 203.0.113.5",
                    "X-Forwarded-Proto: https", "X-Forwarded-Host: app.example")
    assert info == {"client": ["203.0.113.5", 0], "scheme": "https", "host": "app.example"}


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        (("127.0.0.1", "10.0.0.0/8"), "203.0.113.5"),  # every proxy hop is trusted
        (("127.0.0.1",), "10.0.0.2"),  # the hop before us is not: it is the client
        (("*",), "198.51.100.7"),  # everyone trusted: the leftmost hop
    ],
)
def test_hops_are_read_right_to_left(raw_client, trusted, expected):
    with run_in_thread(echo_scope, proxy_headers=True, forwarded_allow_ips=trusted) as server:
        info = seen(raw_client(server.port),
                    "X-Forwarded-For: 198.51.100.7, 203.0.113.5", "X-Forwarded-For: 10.0.0.2")
    assert info["client"][0] == expected


def test_untrusted_peer_cannot_claim_anything(raw_client):
    with run_in_thread(
        echo_scope, proxy_headers=True, forwarded_allow_ips=("192.0.2.0/24",)
    ) as server:
        info = seen(raw_client(server.port), "X-Forwarded-For: 203.0.113.5",
                    "X-Forwarded-Proto: https", "Forwarded: for=198.51.100.1;proto=https")
    assert info["client"][0] == "127.0.0.1"
    assert info["scheme"] == "http"


def test_forwarded_wins_and_is_parsed_per_rfc_7239(raw_client):
    with run_in_thread(
        echo_scope, proxy_headers=True, forwarded_allow_ips=("127.0.0.1", "10.0.0.0/8")
    ) as server:
        info = seen(
            raw_client(server.port),
            'Forwarded: for="[2001:db8::1]:4711";proto=https;host="app.test:8443", '
            "For=10.0.0.2;proto=http",
            "X-Forwarded-For: 203.0.113.5",
        )
    assert info == {"client": ["2001:db8::1", 4711], "scheme": "https", "host": "app.test:8443"}


def test_malformed_forwarded_changes_nothing(raw_client):
    with run_in_thread(echo_scope, proxy_headers=True) as server:
        info = seen(raw_client(server.port), 'Forwarded: for="unterminated',
                    "X-Forwarded-For: 203.0.113.5")
    assert info["client"][0] == "127.0.0.1"


def test_obfuscated_client_becomes_unknown(raw_client):
    with run_in_thread(echo_scope, proxy_headers=True) as server:
        info = seen(raw_client(server.port), "Forwarded: for=_hidden")
    assert info["client"] is None


def test_forwarded_host_still_goes_through_the_host_check(raw_client):
    with run_in_thread(echo_scope, proxy_headers=True, allowed_hosts=()) as server:
        client = raw_client(server.port)
        assert seen(client, "X-Forwarded-Host: evil.example") == 400
        assert seen(client, "X-Forwarded-Host: app.localhost")["host"] == "app.localhost"


def test_websocket_scheme_follows_the_proxy():
    async def main(port: int) -> dict:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/", open_timeout=10,
            additional_headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"},
        ) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    with run_in_thread(echo_scope, proxy_headers=True) as server:
        info = asyncio.run(main(server.port))
    assert info["scheme"] == "wss"
    assert info["client"] == ["203.0.113.5", 0]


def test_parse_forwarded():
    assert parse_forwarded('for=192.0.2.60;proto=http;by=203.0.113.43, for="[::1]:80"') == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"},
        {"for": "[::1]:80"},
    ]
    assert parse_forwarded('for="a\\"b"') == [{"for": 'a"b'}]
    assert parse_forwarded("for=1.2.3.4 junk") is None
    assert parse_forwarded("") == []
