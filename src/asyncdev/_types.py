"""ASGI and WSGI type aliases shared by every layer.

Kept deliberately loose (``MutableMapping[str, Any]`` messages) so the hot path needs
no casts; the ASGI spec is the reference for what each message holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any, NamedTuple, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ASGI2App = Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class HasAddress(Protocol):
    def getsockname(self) -> Any: ...


class WatchRequest(NamedTuple):
    """Files a feature wants to hear about without a restart: ``patterns`` are globs as
    in ``--reload-include``, matched below ``directory``."""

    directory: str
    patterns: tuple[str, ...]


class ServerListener(Protocol):
    """Server events a feature may want (see ``NoEvents`` for a do-nothing base)."""

    def server_stopping(self) -> None: ...

    def files_changed(self, paths: Sequence[str]) -> None: ...

    def watch_paths(self) -> Sequence[WatchRequest]: ...
