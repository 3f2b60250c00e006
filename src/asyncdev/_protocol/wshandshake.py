"""The WebSocket opening handshake (RFC 6455 section 4.2), sans-IO: headers in, bytes out.

``read_upgrade`` sorts a request into not-an-upgrade, an error response to send (426,
400) or a valid ``Handshake``; ``websocket_scope`` derives the ASGI scope from it. The
app's answer becomes bytes here: ``accept_response`` (the 101 with its subprotocol and
permessage-deflate, RFC 7692) or ``denial_response``. Nothing here does any I/O.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, NamedTuple

from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import generate_accept_token

from . import response as _http
from .grammar import has_forbidden_value_byte, is_token

if TYPE_CHECKING:
    from .._types import Message, Scope
    from .events import Request

__all__ = ["Handshake", "accept_response", "denial_response", "read_upgrade", "websocket_scope"]



class Handshake(NamedTuple):
    """What a valid opening handshake asked for, in the client's order of preference."""

    key: bytes
    subprotocols: list[str]
    offers: list[str]  # Sec-WebSocket-Extensions, one entry per offered extension


def read_upgrade(request: Request) -> Handshake | bytes | None:
    """``None`` when ``request`` is not a WebSocket upgrade (the HTTP app answers it),
    the complete error response when it is an invalid one, else the ``Handshake``."""
    if request.http_version != b"1.1":
        return None
    wants_websocket = wants_upgrade = False
    key = version = None
    subprotocols: list[str] = []
    offers: list[str] = []
    for name, value in request.headers:
        if name == b"upgrade":
            wants_websocket = wants_websocket or b"websocket" in _tokens(value)
        elif name == b"connection":
            wants_upgrade = wants_upgrade or b"upgrade" in _tokens(value)
        elif name == b"sec-websocket-key":
            key = value
        elif name == b"sec-websocket-version":
            version = value
        elif name == b"sec-websocket-protocol":
            subprotocols += (p.strip() for p in value.decode("latin-1").split(",") if p.strip())
        elif name == b"sec-websocket-extensions":
            offers += (e.strip() for e in value.decode("latin-1").split(",") if e.strip())
    # RFC 9110 section 7.8: Upgrade only counts when Connection lists it; otherwise this
    # is a plain request for the HTTP app.
    if not (wants_websocket and wants_upgrade):
        return None
    if version != b"13":
        # RFC 6455 section 4.4: name the version we speak.
        return _with_headers(
            _http.error_response(426, "Unsupported WebSocket version (expected 13)"),
            b"upgrade: websocket\r\nsec-websocket-version: 13\r\n",
        )
    if key is None or not _valid_key(key) or request.has_body:
        return _http.error_response(400, "Invalid WebSocket handshake")
    return Handshake(key, subprotocols, offers)


def websocket_scope(scope: Scope, subprotocols: list[str]) -> Scope:
    """The ASGI ``websocket`` scope for the upgrade request whose HTTP scope is ``scope``."""
    ws_scope = dict(scope)
    del ws_scope["method"]
    ws_scope["type"] = "websocket"
    ws_scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
    ws_scope["subprotocols"] = subprotocols
    ws_scope["extensions"] = {**scope.get("extensions", {}), "websocket.http.response": {}}
    return ws_scope


def accept_response(
    message: Message,
    *,
    key: bytes,
    subprotocols: list[str],
    offers: list[str],
    default_headers: list[bytes],
    per_message_deflate: bool,
) -> tuple[bytes, list[Extension]]:
    """The 101 answering ``message`` (``websocket.accept``), and the extensions it agreed
    to for wsproto. Raises RuntimeError for a subprotocol or header the app may not send."""
    subprotocol = message.get("subprotocol")
    if subprotocol is not None and subprotocol not in subprotocols:
        # RFC 6455 section 4.2.2: the server picks one of the client's offers.
        raise RuntimeError(
            f"websocket.accept: subprotocol {subprotocol!r} was not offered by the "
            f"client (offered: {subprotocols!r})"
        )
    head = [
        b"HTTP/1.1 101 Switching Protocols\r\n",
        *default_headers,
        b"upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ",
        generate_accept_token(key),
        b"\r\n",
    ]
    if subprotocol is not None:
        head += (b"sec-websocket-protocol: ", subprotocol.encode("ascii"), b"\r\n")
    extensions: list[Extension] = []
    if per_message_deflate:
        deflate = _negotiate_deflate(offers)
        if deflate is not None:
            extensions.append(deflate[0])
            head += (b"sec-websocket-extensions: ", deflate[1], b"\r\n")
    for item in message.get("headers") or ():
        name, value = item
        if type(name) is not bytes or type(value) is not bytes:
            raise RuntimeError(f"websocket.accept header {item!r}: use bytes")
        if is_token(name) is None or has_forbidden_value_byte(value) is not None:
            raise RuntimeError(f"websocket.accept: invalid header {item!r}")
        head += (name, b": ", value, b"\r\n")
    head.append(b"\r\n")
    return b"".join(head), extensions


def denial_response(message: Message, default_headers: list[bytes]) -> _http.ResponseFramer:
    """The framer for the app's own answer instead of the 101 (ASGI's WebSocket Denial
    Response), started from ``message`` (``websocket.http.response.start``)."""
    framer = _http.ResponseFramer()
    # The upgrade request was a GET (RFC 6455 section 4.1) and the connection ends with
    # this response.
    framer.start(
        message["status"],
        message.get("headers") or (),
        request_method=b"GET",
        http_version=b"1.1",
        keep_alive=False,
        default_headers=default_headers,
    )
    return framer


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip().lower() for token in value.split(b",")]


def _valid_key(key: bytes) -> bool:
    # RFC 6455 section 4.2.1 item 5: base64 of 16 bytes.
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def _negotiate_deflate(offers: list[str]) -> tuple[PerMessageDeflate, bytes] | None:
    # RFC 7692 section 5: the client lists offers in order of preference; the server
    # accepts the first one it can honour.
    for offer in offers:
        if offer.split(";", 1)[0].strip() != PerMessageDeflate.name:
            continue
        deflate = PerMessageDeflate()
        try:
            accepted = server_extensions_handshake([offer], [deflate])
        except ValueError:  # parameters out of range or malformed
            continue
        if accepted:
            return deflate, accepted
    return None


def _with_headers(response: bytes, headers: bytes) -> bytes:
    status_line, rest = response.split(b"\r\n", 1)
    return status_line + b"\r\n" + headers + rest
