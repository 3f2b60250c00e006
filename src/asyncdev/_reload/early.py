"""The first server process, started before the command line is even read.

With reload on, the first response waits for two interpreters in a row: the
supervisor's (read the command line, find the app, bind) and then the server
process's (import asyncio, h11, the app). ``start`` overlaps them: the very first thing
``python -m asyncdev`` does is start the server process, which imports the serving path
while the supervisor reads the command line; it gets its listening sockets and its plan
on its control socket once they exist (``channels.Channels.listeners`` is None).

When the command turns out not to want it (``--no-reload`` from a config file, an
error, ``--help``), ``discard`` kills it. Only what the interpreter loaded at start is
imported here (``_socket``, and ``spawn``'s ``os.posix_spawn``): every millisecond
before the spawn is on the way to the first response.
"""

from __future__ import annotations

import os
import sys

from .channels import CHILD_ENV_VAR, Channels
from .spawn import SpawnedProcess, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EarlyChild", "discard", "start", "take"]

# Arguments after which the command does not serve with reload, or does not serve.
_NOT_SERVING = frozenset(("--no-reload", "--noreload", "-h", "--help", "--version"))
_FALSE = frozenset(("0", "false", "no", "off", ""))


class EarlyChild:
    """The process and the supervisor's ends of its sockets, as descriptors."""

    def __init__(self, proc: SpawnedProcess, ctrl: int, handoff: tuple[int, int],
                 flags: tuple[str, ...]) -> None:
        self.proc = proc
        self.ctrl = ctrl
        self.handoff = handoff
        self.flags = flags

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for fd in (self.ctrl, *self.handoff):
            try:
                os.close(fd)
            except OSError:
                pass


_pending: EarlyChild | None = None


def start(args: Sequence[str]) -> None:
    """Start the first server process now if ``args`` (the command line) will want one."""
    global _pending
    if _pending is None and _wanted(args):
        try:
            _pending = _spawn()
        except OSError:
            _pending = None  # the supervisor starts it the usual way


def take(flags: Sequence[str]) -> EarlyChild | None:
    """The process started early, for the supervisor to adopt (then it is the
    supervisor's to close); None if there is none or it runs other interpreter flags."""
    global _pending
    child, _pending = _pending, None
    if child is not None and child.flags != tuple(flags):
        child.close()
        return None
    return child


def discard() -> None:
    """Kill the process started early, if nobody took it."""
    global _pending
    child, _pending = _pending, None
    if child is not None:
        child.close()


def _wanted(args: Sequence[str]) -> bool:
    if os.name != "posix" or not hasattr(os, "posix_spawn"):
        return False
    if CHILD_ENV_VAR in os.environ or "asyncdev._reload.child.main" in sys.modules:
        return False  # a server process running the command line again
    if hasattr(sys, "ps1") or not getattr(sys, "orig_argv", None):
        return False
    if any(arg in _NOT_SERVING for arg in args):
        return False
    reload = os.environ.get("ASYNCDEV_RELOAD")
    return reload is None or reload.strip().lower() not in _FALSE


def _spawn() -> EarlyChild:
    import _socket

    from .entry import entry_plan

    plan = entry_plan(sys.orig_argv)
    if isinstance(plan, str):
        raise OSError(plan)
    parent_end, child_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    handoff = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    ctrl, theirs = parent_end.detach(), child_end.detach()
    ours = (handoff[0].detach(), handoff[1].detach())
    try:
        proc = spawn(plan.flags, Channels(
            control=theirs, listeners=None, parent=os.getpid(), handoff=ours,
        ))
    except BaseException:
        for fd in (ctrl, *ours):
            os.close(fd)
        raise
    finally:
        os.close(theirs)
    return EarlyChild(proc, ctrl, ours, plan.flags)
