"""Proxy headers: the client's address, scheme and Host as a trusted proxy reports them.

``ProxyHeaders`` (ASGI middleware, on with ``proxy_headers``) reads ``Forwarded``
(RFC 7239) or, without it, ``X-Forwarded-For``/``-Proto``/``-Host``, but only from a
peer in ``forwarded_allow_ips`` (loopback and Unix sockets when that is empty; ``*``
trusts every peer). Hops are read right to left, skipping trusted proxies: the first
untrusted one is the client. The scope is copied, never changed in place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._config import Config
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["ProxyHeaders", "parse_forwarded"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULT_TRUSTED = ("127.0.0.1", "::1")
# RFC 7239 section 4: forwarded-pair = token "=" value, value = token / quoted-string.
_PAIR = re.compile(
    r"""[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^;,\s"]*)[ \t]*"""
)
_SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss"), "ws": ("http", "ws"),
            "wss": ("https", "wss")}
_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")
_HOST_CHARS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%:\[\]-]+")


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """The elements of a Forwarded field, left to right; None when it is malformed."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        if value[pos] in " \t,":
            if value[pos] == "," and current:
                elements.append(current)
                current = {}
            pos += 1
            continue
        match = _PAIR.match(value, pos)
        if match is None:
            return None
        key, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        current.setdefault(key, raw)  # a repeated parameter: the first one counts
        pos = match.end()
        if pos < end:
            if value[pos] == ";":
                pos += 1
            elif value[pos] != ",":
                return None
    if current:
        elements.append(current)
    return elements


def _node(value: str) -> tuple[str, int] | None:
    """RFC 7239 section 6: an IP with an optional port, or None for "unknown"/"_hidden"."""
    value = value.strip()
    port = 0
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, tail = value.partition(":")
        if tail.isdigit():
            port = int(tail)
    else:
        host = value
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        return None


class ProxyHeaders:
    """ASGI middleware applying forwarded headers sent by trusted peers."""

    def __init__(self, app: ASGIApp, *, config: Config) -> None:
        self.app = app
        allowed = config.forwarded_allow_ips or _DEFAULT_TRUSTED
        self.trust_all = "*" in allowed
        self.networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(ip, strict=False) for ip in allowed if ip != "*"
        )

    def trusted(self, host: str) -> bool:
        if self.trust_all:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            client = scope.get("client")
            # A Unix socket peer is a local process: the proxy that owns the socket.
            if client is None or self.trusted(str(client[0])):
                found: dict[bytes, list[bytes]] = {}
                for name, value in scope["headers"]:
                    if name in _HEADERS:
                        found.setdefault(name, []).append(value)
                if found:
                    scope = self._apply(scope, found)
        return self.app(scope, receive, send)

    def _apply(self, scope: Scope, found: dict[bytes, list[bytes]]) -> Scope:
        def joined(name: bytes) -> str | None:
            values = found.get(name)
            return None if values is None else b",".join(values).decode("latin-1")

        client: tuple[str, int] | bool | None = False  # False: leave as it is
        proto = host = None
        forwarded = joined(b"forwarded")
        elements = parse_forwarded(forwarded) if forwarded is not None else None
        if elements:
            chosen = self._pick([e.get("for", "") for e in elements])
            if chosen is not None:
                element = elements[chosen]
                client = _node(element.get("for", ""))
                proto = element.get("proto")
                host = element.get("host")
        elif forwarded is None:
            hops = joined(b"x-forwarded-for")
            if hops is not None:
                items = [item.strip() for item in hops.split(",") if item.strip()]
                chosen = self._pick(items)
                if chosen is not None:
                    client = _node(items[chosen])
            # Proxies usually set these rather than append: the nearest one, trusted, wins.
            protos = joined(b"x-forwarded-proto")
            if protos:
                proto = protos.split(",")[-1].strip()
            hosts = joined(b"x-forwarded-host")
            if hosts:
                host = hosts.split(",")[-1].strip()
        scope = dict(scope)
        if client is not False:
            scope["client"] = client
        if proto:
            schemes = _SCHEMES.get(proto.lower())
            if schemes is not None:
                scope["scheme"] = schemes[scope["type"] == "websocket"]
        if host and _HOST_CHARS.fullmatch(host):
            encoded = host.encode("ascii")
            scope["headers"] = [
                (name, encoded if name == b"host" else value) for name, value in scope["headers"]
            ]
        return scope

    def _pick(self, nodes: list[str]) -> int | None:
        """Index of the client among the hops: the rightmost one that is not a trusted
        proxy, or the leftmost when every hop is trusted."""
        if not nodes:
            return None
        for index in range(len(nodes) - 1, -1, -1):
            node = _node(nodes[index])
            if node is None or not self.trusted(node[0]):
                return index
        return 0
