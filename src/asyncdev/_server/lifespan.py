"""The ASGI lifespan protocol: startup before the first request, shutdown after the last.

Mode ``on`` requires the app to support it; ``auto`` quietly turns it off when the app
raises on the lifespan scope before answering; ``off`` never sends it. A startup
failure raises ``StartupError`` with the app's message, chained to its exception.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .._errors import StartupError

if TYPE_CHECKING:
    from .._types import ASGIApp, Message

__all__ = ["Lifespan"]

logger = logging.getLogger("asyncdev.error")


class Lifespan:
    def __init__(self, app: ASGIApp, mode: str, state: dict[str, Any]) -> None:
        self.app = app
        self.mode = mode
        self.state = state
        self._receive_queue: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done: asyncio.Future[Message] | None = None
        self._shutdown_done: asyncio.Future[Message] | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsupported = False
        self._received = False
        self._error: BaseException | None = None

    async def startup(self) -> None:
        if self.mode == "off":
            return
        loop = asyncio.get_running_loop()
        self._startup_done = loop.create_future()
        self._shutdown_done = loop.create_future()
        self._task = loop.create_task(self._main())
        await self._receive_queue.put({"type": "lifespan.startup"})
        message = await self._startup_done
        if message["type"] == "lifespan.startup.failed":
            text = message.get("message") or ""
            raise StartupError(
                "Application startup failed" + (f": {text}" if text else ".")
            ) from self._error
        if message["type"] == "unsupported" and self.mode == "on":
            raise StartupError(
                "The app does not support the ASGI lifespan protocol but lifespan is "
                "'on'. Use --lifespan auto or off."
            ) from self._error

    async def shutdown(self) -> None:
        if self._task is None or self._unsupported or self._task.done():
            return
        assert self._shutdown_done is not None
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        message = await self._shutdown_done
        if message["type"] == "lifespan.shutdown.failed":
            logger.error("Application shutdown failed: %s", message.get("message") or "")

    async def cancel(self) -> None:
        """Stop a lifespan task that is still running (a forced stop, a shutdown that
        timed out) inside the loop: left pending, it would be closed by the garbage
        collector after the loop, and the app's context managers would fail noisily."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._error = exc
            startup = self._startup_done
            if startup is not None and not startup.done():
                if self.mode == "auto" and not self._received:
                    # It raised before even reading the startup message: an app that
                    # does not know the lifespan scope.
                    logger.debug("ASGI lifespan is not supported by the app (%r)", exc)
                    self._unsupported = True
                    startup.set_result({"type": "unsupported"})
                else:
                    startup.set_result({"type": "lifespan.startup.failed", "message": repr(exc)})
            else:
                logger.error("Exception in the ASGI lifespan task", exc_info=exc)
                if self._shutdown_done is not None and not self._shutdown_done.done():
                    self._shutdown_done.set_result(
                        {"type": "lifespan.shutdown.failed", "message": repr(exc)}
                    )
        finally:
            for fut in (self._startup_done, self._shutdown_done):
                if fut is not None and not fut.done():
                    fut.set_result({"type": "lifespan.shutdown.complete"})

    async def _receive(self) -> Message:
        self._received = True
        return await self._receive_queue.get()

    async def _send(self, message: Message) -> None:
        tp = message["type"]
        if tp in ("lifespan.startup.complete", "lifespan.startup.failed"):
            assert self._startup_done is not None
            if not self._startup_done.done():
                self._startup_done.set_result(message)
        elif tp in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            assert self._shutdown_done is not None
            if not self._shutdown_done.done():
                self._shutdown_done.set_result(message)
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message {tp!r}")
