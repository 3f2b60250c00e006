"""Flow control for one transport, both ways, shared by HTTP and WebSocket connections.

Reading is paused while the app is behind (memory per connection stays bounded) and
resumed when it catches up; writers wait in ``drain`` while the transport is above its
high-water mark (asyncio's ``pause_writing``) until it drains or the connection is lost.
"""

from __future__ import annotations

import asyncio

__all__ = ["HIGH_WATER", "FlowControl"]

# Above this many unread bytes the socket stops being read until the app catches up:
# memory per connection stays bounded whatever the client sends.
HIGH_WATER = 64 * 1024


class FlowControl:
    """Read pausing and write waiting for one transport.

    The owner calls ``stop()`` once it has closed or given up the transport (no more
    pausing or waiting) and ``lost()`` from ``connection_lost`` (waiters wake).
    """

    __slots__ = ("_loop", "_transport", "_waiters", "read_paused", "stopped", "write_paused")

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport) -> None:
        self._loop = loop
        self._transport = transport
        self._waiters: list[asyncio.Future[None]] = []
        self.read_paused = False
        self.write_paused = False
        self.stopped = False

    def pause_reading(self) -> None:
        if not self.read_paused and not self.stopped:
            self.read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> bool:
        """Resume reading if it was paused; True when it was."""
        if self.read_paused and not self.stopped:
            self.read_paused = False
            self._transport.resume_reading()
            return True
        return False

    def force_resume_reading(self) -> None:
        """Resume reading even after ``stop()`` (a lingering close reads and drops)."""
        if self.read_paused:
            self.read_paused = False
            self._transport.resume_reading()

    # asyncio.Protocol's write flow control, forwarded by the owner.
    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.wake_writers()

    def stop(self) -> None:
        self.stopped = True

    def lost(self) -> None:
        self.stopped = True
        self.wake_writers()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait while writing is paused; False if ``timeout`` seconds passed first."""
        if self.write_paused and not self.stopped:
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            if timeout is None:
                await waiter
                return True
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                return False
        return True

    def wake_writers(self) -> None:
        """Wake every ``drain`` now (the writer is to find out why)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
