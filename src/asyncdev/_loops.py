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
    """A new loop set as the thread's current one, then closed: tasks still pending are
    cancelled first (as ``asyncio.run`` does), then async generators are finalised."""
    loop, resolved = new_event_loop(name)
    asyncio.set_event_loop(loop)
    try:
        yield loop, resolved
    finally:
        try:
            _cancel_leftover_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and settle the tasks still pending when the loop is about to close.

    A task left pending (the app's lifespan after a second Ctrl+C or a start that was
    interrupted) would be closed by the garbage collector at exit instead, with the
    app's context managers failing and logging while the interpreter shuts down.
    """
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    # Bounded: an app that swallows cancellation must not hang the exit.
    loop.run_until_complete(asyncio.wait(pending, timeout=2.0))
    for task in pending:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
