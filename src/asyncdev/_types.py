"""ASGI and WSGI type aliases, and the interface through which features hear the server.

The aliases are kept deliberately loose (``MutableMapping[str, Any]`` messages) so the
hot path needs no casts; the ASGI spec is the reference for what each message holds.
``ServerListener`` is what a feature implements to learn about server events (see
``ServerEvents``); ``ErrorResponse`` is an error page before framing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

Headers = list[tuple[bytes, bytes]]


class ErrorResponse(NamedTuple):
    """An answer asyncdev makes itself for an app that failed before responding: the
    server frames it (and sends the head only for HEAD)."""

    status: int
    headers: Headers
    body: bytes


# (scope, exception or None) -> the answer; None: the app returned without responding.
ErrorRenderer = Callable[[Scope, "BaseException | None"], ErrorResponse]


class WatchRequest(NamedTuple):
    """Files under ``directory`` matching ``patterns`` (globs as in --reload-include)
    whose changes a feature handles in the running process, with no restart."""

    directory: str
    patterns: tuple[str, ...]


class ServerListener(Protocol):
    """What a feature implements to hear about the server it runs in. The server calls
    these on its event loop's thread, in the order the features were stacked
    (innermost first)."""

    def server_stopping(self) -> None:
        """A graceful stop (Ctrl+C, or a reload) has begun: end long-lived responses."""

    def files_changed(self, paths: Sequence[str]) -> None:
        """Files this feature asked to watch (``watch_paths``) have changed."""

    def watch_paths(self) -> Sequence[WatchRequest]:
        """What to watch for changes handled without a restart."""

    def reloads_reported(self, reloads: Sequence[Mapping[str, Any]]) -> None:
        """The last reloads, as the reload supervisor timed them (newest last)."""


class NoEvents:
    """A ``ServerListener`` that ignores every event: subclass it and override what a
    feature needs."""

    def server_stopping(self) -> None:
        return None

    def files_changed(self, paths: Sequence[str]) -> None:
        return None

    def watch_paths(self) -> Sequence[WatchRequest]:
        return ()

    def reloads_reported(self, reloads: Sequence[Mapping[str, Any]]) -> None:
        return None


class Integration(Protocol):
    """A framework's per-process part, found by the app loader (e.g. Django's).

    ``allowed_hosts`` are Host names the framework answers (they pass asyncdev's Host
    check too); ``start`` runs blocking work (system checks) in a worker thread before
    the server reports serving; ``wrap`` adds the framework's middleware innermost (a
    ``ServerListener``)."""

    allowed_hosts: tuple[str, ...]

    def start(self) -> None: ...

    def wrap(self, app: ASGIApp) -> ServerListener: ...
