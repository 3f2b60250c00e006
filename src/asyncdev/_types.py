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
    """Files a feature handles without a restart: globs (as ``--reload-include``) under
    ``directory``."""

    directory: str
    patterns: tuple[str, ...]


class Integration(Protocol):
    """A framework's per-process part, found by the app loader (e.g. Django's).

    ``framework`` and ``notes`` go to the banner; ``allowed_hosts`` are Host names the
    framework answers (they pass asyncdev's Host check too); ``start`` runs blocking work (system
    checks) in a worker thread before the server reports serving; ``wrap`` adds the
    framework's middleware innermost, which may listen to server events."""

    framework: str
    notes: tuple[str, ...]
    allowed_hosts: tuple[str, ...]

    def start(self) -> None: ...

    def wrap(self, app: ASGIApp) -> ASGIApp: ...


class FilesListener(Protocol):
    """A middleware that handles some file changes without a new process."""

    def watch_paths(self) -> Sequence[WatchRequest]: ...

    def files_changed(self, paths: Sequence[str]) -> None: ...
