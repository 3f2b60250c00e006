"""A minimal event dispatcher for code that must not load asyncio (the reload supervisor).

Callbacks posted from any thread, or from a signal handler, and timers all run one at a
time on the thread that calls ``run_until``.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Dispatcher", "Timer"]


class Timer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Dispatcher:
    """Runs posted callbacks and due timers, one at a time, on the thread in ``run_until``.

    ``post`` may be called from any thread and from signal handlers: ``SimpleQueue.put``
    is reentrant, and a signal interrupts the wait in ``get`` to run its handler.
    ``run_until`` may nest, but a handler that waits runs other handlers inside
    its own: the supervisor's handlers never wait (see ``PendingReload``).
    """

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._inbox: queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._on_error = on_error

    def post(self, callback: Callable[..., object], *args: Any) -> None:
        self._inbox.put((callback, args))

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = Timer(callback)
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), timer))
        return timer

    def run_until(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """Dispatch until ``done()`` holds (True) or ``timeout`` seconds pass (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            now = time.monotonic()
            if self._timers and self._timers[0][0] <= now:
                timer = heapq.heappop(self._timers)[2]
                if not timer.cancelled:
                    self._call(timer.callback, ())
                continue
            if deadline is not None and now >= deadline:
                return False
            wait = self._timers[0][0] - now if self._timers else None
            if deadline is not None:
                wait = deadline - now if wait is None else min(wait, deadline - now)
            try:
                callback, args = self._inbox.get(timeout=wait)
            except queue.Empty:
                continue
            self._call(callback, args)
        return True

    def _call(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception as exc:
            self._on_error(exc)
