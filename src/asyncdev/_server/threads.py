"""A pool of daemon worker threads fed from one queue, for blocking app code.

``submit`` starts threads on demand up to ``size`` and warns (at most every few
seconds) when jobs must wait; ``close`` lets idle workers exit. The WSGI bridge runs
each request on it (the warning names its --threads option); no asyncio here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ThreadPool"]

logger = logging.getLogger("asyncdev.error")

# A stuck pool would otherwise log once per request.
_SATURATION_WARNING_INTERVAL = 10.0


class ThreadPool:
    """Daemon worker threads fed from one queue; warns when requests must wait.

    Daemon threads so that a request stuck in app code cannot keep the process alive
    after the server has stopped (a reload or Ctrl+C must not hang on it).
    """

    def __init__(self, size: int, *, name: str) -> None:
        self.size = size
        self.name = name
        # None is the signal to exit, one per worker, sent by close().
        self._jobs: queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._workers: list[threading.Thread] = []
        self._closed = False
        self._lock = threading.Lock()
        self._threads = 0
        self._busy = 0  # submitted and not yet finished
        self._last_warning = -_SATURATION_WARNING_INTERVAL

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        with self._lock:
            self._busy += 1
            busy = self._busy
            spawn = busy > self._threads and self._threads < self.size
            if spawn:
                self._threads += 1
        if spawn:
            worker = threading.Thread(
                target=self._work, name=f"{self.name}-{self._threads}", daemon=True
            )
            with self._lock:
                self._workers.append(worker)
            worker.start()
        elif busy > self.size:
            self._warn_saturated(busy - self.size)
        self._jobs.put((fn, args))

    def _warn_saturated(self, waiting: int) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _SATURATION_WARNING_INTERVAL:
            self._last_warning = now
            logger.warning(
                "All %d WSGI threads are busy; %d request(s) waiting. A request may be "
                "stuck, or raise --threads.", self.size, waiting,
            )

    def close(self, timeout: float | None = 0.0) -> bool:
        """Make every worker exit once idle; idempotent. No job may be submitted after.

        Waits up to ``timeout`` seconds (None: no limit) for the idle ones to exit and
        returns True once they have. A worker still inside the app cannot be stopped; it
        exits when the app returns. Without this, every stopped server (as in
        asyncdev.testing) would leave its threads behind.
        """
        with self._lock:
            workers = list(self._workers)
            first = not self._closed
            self._closed = True
        if first:
            for _ in workers:
                self._jobs.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            alive = [worker for worker in workers if worker.is_alive()]
            with self._lock:
                busy = self._busy
            if len(alive) <= busy:
                return True  # any worker left is inside the app
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            alive[0].join(0.01 if remaining is None else min(0.01, remaining))

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            fn, args = job
            try:
                fn(*args)
            except BaseException:
                logger.exception("Unexpected error in a WSGI worker thread")
            finally:
                del fn, args, job
                with self._lock:
                    self._busy -= 1
