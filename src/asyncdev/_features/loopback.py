"""Whether a request comes from this machine: who may see tracebacks and dev state.

``is_local_client(scope)`` is true for a loopback peer (or a Unix socket) that is not
relaying for someone else: a tunnel or proxy on loopback speaks for the internet.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._types import Scope

__all__ = ["is_local_client"]


def is_local_client(scope: Scope) -> bool:
    """A loopback peer that is not relaying for someone else (a tunnel, a proxy)."""
    for name, _ in scope.get("headers", ()):
        if name in (b"x-forwarded-for", b"forwarded", b"x-real-ip"):
            # A local tunnel (ngrok, cloudflared, ssh -R) connects from loopback on
            # behalf of the internet: its clients must not see tracebacks.
            return False
    client = scope.get("client")
    if client is None:
        return True  # a Unix socket: only local processes can connect
    try:
        address = ipaddress.ip_address(str(client[0]).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
