"""Host header check against DNS rebinding, for servers bound to loopback.

``host_check(app, config)`` wraps ``app`` so that only requests whose Host is
``localhost``, a ``*.localhost`` name, an IP literal or one of ``allowed_hosts`` are
answered; others get a 400 that names the ``--allowed-host`` flag to add. WebSocket
handshakes have their Origin checked against the same list. It returns ``app`` itself
when no check applies: bound beyond loopback, on a Unix socket, or ``*`` allowed.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._config import Config
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["HostCheck", "host_check", "is_loopback_bind"]

logger = logging.getLogger("asyncdev.error")

# RFC 9110 section 7.2 (Host = uri-host [":" port]) with RFC 3986 section 3.2.2:
# an IP-literal in brackets (RFC 6874 zone id allowed) or a reg-name.
_HOST = re.compile(
    rb"(?:\[([0-9a-fA-F:.]+(?:%(?:25)?[A-Za-z0-9._~-]+)?)\]"
    rb"|([A-Za-z0-9._~!$&'()*+,;=%-]+))"
    rb"(?::[0-9]{0,5})?"
)
# Host values already seen to be fine skip the parse; bounded so that a client
# cycling through ports cannot grow it.
_CACHE_SIZE = 64
_MALFORMED = "\0malformed"  # a reason no host name can spell
_MAX_LOGGED = 64


def is_loopback_bind(config: Config) -> bool:
    """True when the server listens on loopback only (a name or address of this host)."""
    if config.uds is not None:
        return False  # a browser cannot reach a Unix socket; whatever fronts it decides
    host = config.host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_check(app: ASGIApp, config: Config) -> ASGIApp:
    """``app`` behind a Host check when the server is bound to loopback, else ``app``."""
    if not is_loopback_bind(config) or "*" in config.allowed_hosts:
        return app
    return HostCheck(app, allowed_hosts=config.allowed_hosts)


class HostCheck:
    """ASGI middleware answering only the Host names a loopback server should see."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: tuple[str, ...] = ()) -> None:
        self.app = app
        exact: set[str] = set()
        suffixes: list[str] = []
        for entry in allowed_hosts:
            name = entry.strip().lower().rstrip(".")
            if name.startswith("*."):
                suffixes.append(name[1:])
            elif name.startswith("."):  # ".example.com": the name and its subdomains
                exact.add(name[1:])
                suffixes.append(name)
            elif name:
                exact.add(name.strip("[]"))
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)
        self._ok: set[bytes] = set()
        self._logged: set[str] = set()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a request with a known-good Host costs one pass over the
        # headers and a set lookup, with no frame of ours left on the stack.
        kind = scope["type"]
        if kind == "http":
            for name, value in scope["headers"]:
                if name == b"host":
                    if value in self._ok:
                        return self.app(scope, receive, send)
                    return self._check_http(value, scope, receive, send)
            # No Host: HTTP/1.0 (h11 requires one in 1.1). Browsers always send it,
            # so such a request cannot come from a rebinding page.
            return self.app(scope, receive, send)
        if kind == "websocket":
            return self._check_websocket(scope, receive, send)
        return self.app(scope, receive, send)

    # -- decisions -----------------------------------------------------------------------

    def allows_name(self, name: str) -> bool:
        """Whether a host name (lowercase, no port, no trailing dot) is answered."""
        if name == "localhost" or name.endswith(".localhost") or name in self.exact:
            return True
        if name.endswith(self.suffixes):
            return True
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return False
        # An IP literal cannot be rebound: a hostile page's own name is never sent.
        return True

    def verdict(self, value: bytes) -> str | None:
        """None when the Host value is fine, else the refused name (or _MALFORMED)."""
        match = _HOST.fullmatch(value)
        if match is None:
            return _MALFORMED
        literal, reg_name = match.groups()
        if literal is not None:
            try:
                ipaddress.IPv6Address(literal.decode("ascii").replace("%25", "%"))
            except ValueError:
                return _MALFORMED
            return None
        name = reg_name.decode("ascii").lower()
        if name.endswith("."):  # the fully qualified form names the same host
            name = name[:-1]
        if not name or name.endswith("."):
            return _MALFORMED
        return None if self.allows_name(name) else name

    def _check_http(
        self, value: bytes, scope: Scope, receive: Receive, send: Send
    ) -> Awaitable[None]:
        reason = self.verdict(value)
        if reason is None:
            if len(self._ok) < _CACHE_SIZE:
                self._ok.add(value)
            return self.app(scope, receive, send)
        return _send_400(send, self._refusal(reason, value))

    async def _check_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
        reason = None
        if host is not None:
            reason = self.verdict(host)
        if reason is None and origin is not None:
            reason = self._origin_verdict(origin)
        if reason is None:
            await self.app(scope, receive, send)
            return
        body = self._refusal(reason, origin if reason.startswith("origin") else host)
        message = await receive()  # websocket.connect: refuse it with a denial response
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({
                "type": "websocket.http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", b"%d" % len(body))],
            })
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})  # the server sends 403

    def _origin_verdict(self, origin: bytes) -> str | None:
        # RFC 6454 section 7: "null" is what sandboxed frames and file: pages send; a
        # downloaded HTML file must not reach a local server's WebSockets.
        scheme, sep, authority = origin.partition(b"://")
        if not sep or scheme.lower() not in (b"http", b"https") or not authority:
            return "origin " + origin.decode("latin-1")
        reason = self.verdict(authority)
        return None if reason is None else "origin " + origin.decode("latin-1")

    def _refusal(self, reason: str, value: bytes | None) -> bytes:
        shown = (value or b"").decode("latin-1").encode("unicode_escape").decode("ascii")
        if reason == _MALFORMED:
            return f"Bad Request: malformed Host header {shown!r}.\n".encode()
        if reason.startswith("origin "):
            name = _origin_name(value or b"")
            what = f"WebSocket from Origin {shown!r} refused"
        else:
            name = reason
            what = f"Host {shown!r} is not allowed"
        flag = f"--allowed-host {name}" if name else "--allowed-host NAME"
        if name not in self._logged and len(self._logged) < _MAX_LOGGED:
            self._logged.add(name)
            logger.warning(
                "%s: this server listens on loopback, so it answers only localhost, "
                "*.localhost and IP addresses (DNS rebinding protection). Add %s to allow it.",
                what, flag,
            )
        return (
            f"{what}.\n"
            "This server listens on loopback, so it answers only localhost, *.localhost "
            "and IP addresses: this protects it from DNS rebinding attacks.\n"
            f"To allow it, restart the server with {flag} "
            "(or --allowed-host '*' to allow every name).\n"
        ).encode("utf-8", "replace")


def _origin_name(origin: bytes) -> str:
    authority = origin.partition(b"://")[2]
    match = _HOST.fullmatch(authority)
    if match is None or match.group(2) is None:
        return ""
    return match.group(2).decode("ascii").lower().rstrip(".")


async def _send_400(send: Send, body: bytes) -> None:
    await send({
        "type": "http.response.start",
        "status": 400,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            (b"x-content-type-options", b"nosniff"),
        ],
    })
    await send({"type": "http.response.body", "body": body})
