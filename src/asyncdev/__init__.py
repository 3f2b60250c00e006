"""asyncdev: the development server for Python web apps.

The public surface is this module and ``asyncdev.testing``; everything else is private.
"""

from __future__ import annotations

from ._errors import AppImportError, AsyncdevError, ClientDisconnected, ConfigError, StartupError
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._api import run, serve
    from ._config import Config
    from ._server.server import Server


# Every process of the command line imports this package first, and the reload
# supervisor must not pay for the HTTP stack (asyncio, h11, ...) at all: these names are
# imported on first use.
_LAZY = {"run": "._api", "serve": "._api", "Server": "._server.server", "Config": "._config"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncdev' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "AppImportError",
    "AsyncdevError",
    "ClientDisconnected",
    "Config",
    "ConfigError",
    "Server",
    "StartupError",
    "__version__",
    "run",
    "serve",
]
