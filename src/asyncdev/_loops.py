"""Event loop choice: ``new_event_loop(name)`` returns a fresh loop and the name it resolved to.

``"auto"`` takes uvloop when it is installed and importable, else asyncio's default
loop; ``"uvloop"`` insists and raises ``ConfigError`` saying what to install when it is
missing. The caller owns the loop (set it current, close it), or lets ``current_loop``
do both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Literal

from ._errors import ConfigError

__all__ = ["current_loop", "new_event_loop", "resolve_loop_name"]

ResolvedLoop = Literal["asyncio", "uvloop"]


def resolve_loop_name(name: str) -> ResolvedLoop:
    """What ``name`` ("auto", "asyncio" or "uvloop") means on this interpreter."""
    if name == "asyncio":
        return "asyncio"
    if name not in ("auto", "uvloop"):
        raise ConfigError(f"loop: {name!r} is not valid; expected one of auto, asyncio, uvloop")
    try:
        import uvloop  # noqa: F401
    except ImportError as exc:
        if name == "uvloop":
            raise ConfigError(
                "loop: uvloop is not installed. Install it with 'python -m pip install uvloop' "
                "(it is not available on Windows or PyPy), or use --loop asyncio."
            ) from exc
        return "asyncio"
    return "uvloop"


def new_event_loop(name: str = "auto") -> tuple[asyncio.AbstractEventLoop, ResolvedLoop]:
    """A new event loop of the kind ``name`` asks for, and the kind it turned out to be."""
    resolved = resolve_loop_name(name)
    if resolved == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop, resolved
    return asyncio.new_event_loop(), resolved


@contextlib.contextmanager
def current_loop(name: str = "auto") -> Iterator[tuple[asyncio.AbstractEventLoop, ResolvedLoop]]:
    """A new loop set as the thread's current one, then closed (async generators first)."""
    loop, resolved = new_event_loop(name)
    asyncio.set_event_loop(loop)
    try:
        yield loop, resolved
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
