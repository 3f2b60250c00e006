"""The supervisor's watcher threads: what they watch, and how changes reach the dispatcher.

``Watchers`` runs ``watchfiles.watch`` on threads that only block and report each batch
of changed paths through ``report`` (the dispatcher's post). It watches the reload
directories recursively, files outside them that matter (``watch_also``: a module
imported from elsewhere, a file that failed, the env file), and the directories the
serving process's listeners asked for (``listen``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .._types import WatchRequest
from .watch import ReloadFilter

__all__ = ["Watchers"]


class Watchers:
    def __init__(
        self, *, roots: Sequence[str], filter: ReloadFilter, reload_delay: float,
        report: Callable[[set[str]], None],
        start_thread: Callable[[Callable[[], object], str], None],
    ) -> None:
        self.roots = roots
        self.filter = filter
        self.report = report
        self.start_thread = start_thread
        # watchfiles' step in ms: changes are yielded once no new file has changed for
        # one step, checked every step, so an editor's writes are grouped for between
        # one and two steps: half of --reload-delay, up to all of it.
        self.step = max(1, round(reload_delay * 500))
        self.stops: list[threading.Event] = []  # one stop event per watcher thread
        self.extra_files: set[str] = set()
        self.extras: threading.Event | None = None
        self.listened_dirs: set[str] = set()

    def start(self) -> None:
        """Watch the reload directories."""
        self._watch(self.roots, self.filter, recursive=True)

    def stop(self) -> None:
        for stop in self.stops:
            stop.set()

    def _watch(
        self, dirs: Sequence[str], watch_filter: Callable[[Any, str], bool], *, recursive: bool,
    ) -> threading.Event:
        stop = threading.Event()
        self.stops.append(stop)
        step = self.step

        def watch() -> None:
            import watchfiles

            for changes in watchfiles.watch(
                *dirs, watch_filter=watch_filter, step=step,
                # A file written continuously next to the sources (a log, a database
                # the app updates on every request) must not hold a reload up for long.
                debounce=max(4 * step, 200), stop_event=stop, recursive=recursive,
                ignore_permission_denied=True, raise_interrupt=False,
            ):
                self.report({path for _, path in changes})

        self.start_thread(watch, "asyncdev-watch")
        return stop

    def _inside(self, path: str) -> bool:
        """Whether ``path`` is a reload directory or lies below one."""
        path = os.path.join(path, "")
        return any(path.startswith(os.path.join(root, "")) for root in self.roots)

    def watch_also(self, files: Sequence[str], *, always: bool) -> None:
        """Watch files outside the reload directories (or, if ``always``, excluded ones)."""
        added = False
        for path in files:
            inside = self._inside(path)
            if inside and not always:
                continue
            if path not in self.filter.extra_files:
                self.filter.extra_files.add(path)
                added = added or not inside
            if not inside:
                self.extra_files.add(path)
        if not added:
            return
        if self.extras is not None:
            self.extras.set()
            self.stops.remove(self.extras)
            self.extras = None
        watched = frozenset(self.extra_files)
        # Their directories, not recursively: an editor that saves by renaming a new
        # file over the old one would leave a watch on the file itself blind.
        dirs = sorted({os.path.dirname(f) for f in watched if os.path.isdir(os.path.dirname(f))})
        if dirs:
            self.extras = self._watch(dirs, lambda _, path: path in watched, recursive=False)

    def listen(self, requests: Sequence[WatchRequest]) -> None:
        """Watch what the serving process's listeners asked for (CONTRACTS 2)."""
        self.filter.listen(requests)
        outside = {
            real for directory, _ in requests
            if os.path.isdir(real := os.path.realpath(directory)) and not self._inside(real)
        } - self.listened_dirs
        if outside:
            self.listened_dirs.update(outside)
            self._watch(sorted(outside), self.filter, recursive=True)
