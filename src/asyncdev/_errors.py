"""The exception tree of asyncdev.

``AsyncdevError`` is the root. ``ConfigError`` (also a ``ValueError``) names the bad
option; ``AppImportError`` says which app could not be loaded and what to try;
``StartupError`` covers bind failures and lifespan startup failures;
``ClientDisconnected`` (an ``OSError``) is what ``send()`` raises once the client is gone
(ASGI spec 2.4) and what a WSGI app's ``wsgi.input.read()`` raises mid-body. Messages are
written for the user: one or two lines that say what to do.
"""

from __future__ import annotations

__all__ = [
    "AppImportError",
    "AsyncdevError",
    "ClientDisconnected",
    "ConfigError",
    "StartupError",
]


class AsyncdevError(Exception):
    """Base class of every error asyncdev raises on purpose."""


class ConfigError(AsyncdevError, ValueError):
    """An option has a bad value; the message names the option."""


class AppImportError(AsyncdevError, ImportError):
    """The application could not be imported or is not a callable app."""


class StartupError(AsyncdevError, RuntimeError):
    """The server could not start: the address is busy, or lifespan startup failed."""


class ClientDisconnected(AsyncdevError, OSError):
    """The client closed the connection; there is nobody left to send to."""
