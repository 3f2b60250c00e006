"""One server process as the supervisor sees it, and what it does to files around it.

``Child`` is a process, its end of the control socket and its ``control.Lifecycle``
state, which changes only through ``advance`` (the transition table). The helpers
say how a process ended, delete stale bytecode, and turn the config into what a
process needs before the app's own config exists.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from . import control
from .control import Event, Lifecycle

if TYPE_CHECKING:
    from .._config import Config
    from .spawn import SpawnedProcess

__all__ = ["Child", "describe_exit", "invalidate_bytecode", "json_config"]


class Child:
    """A server process and the supervisor's end of its control socket."""

    def __init__(self, proc: SpawnedProcess, ctrl: socket.socket) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.ctrl = ctrl
        self.state = Lifecycle.STARTING
        self.exit_code: int | None = None
        self.on_exit: list[Callable[[], object]] = []
        self.files: frozenset[str] = frozenset()  # what it imported while waiting
        self.timings: dict[str, float] = {}
        self.deep = False  # told to run the user's start-up while it waits
        self.user = False  # and it did (said so when ready)
        self.path = ""  # how a reload took it: "warm", "spare" or "cold"

    @property
    def exited(self) -> bool:
        return self.state is Lifecycle.EXITED

    def advance(self, event: Event) -> bool:
        """Take ``event``; False for a stale report (the state stays). A transition the
        table forbids raises ``control.LifecycleError``."""
        new = control.next_state(self.state, event)
        if new is None:
            return False
        self.state = new
        return True

    def send(self, message: control.Message) -> None:
        if not self.exited:
            # A few hundred bytes to a process reading them: the write never blocks
            # for long, and one to a process that just died fails at once.
            with contextlib.suppress(OSError):
                self.ctrl.sendall(control.encode(message))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ctrl.shutdown(socket.SHUT_RDWR)
        self.ctrl.close()

    def kill(self) -> None:
        if not self.exited:
            self.advance(Event.KILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def __repr__(self) -> str:
        return f"<Child {self.pid} {self.state.value}>"


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def invalidate_bytecode(paths: Sequence[str]) -> None:
    """Delete the cached bytecode of changed sources.

    Python trusts a ``.pyc`` whose recorded source mtime (whole seconds) and size still
    match, so an edit within the same second that keeps the size would run the old
    code. Deleting the cache costs one unlink and forces a compile of the new source.
    """
    for path in paths:
        if not path.endswith(".py"):
            continue
        for optimization in ("", 1, 2):
            with contextlib.suppress(OSError, ValueError, NotImplementedError):
                os.unlink(importlib.util.cache_from_source(path, optimization=optimization))


def json_config(config: Config) -> dict[str, Any]:
    """The options a child needs to serve an error page before the app's own call runs."""
    result: dict[str, Any] = {}
    for field in fields(config):
        value = getattr(config, field.name)
        if field.name in ("app", "fd", "reload") or callable(value):
            continue
        result[field.name] = json.loads(json.dumps(value, default=str))
    return result
