"""This server process's side of the conversation with the reload supervisor.

It holds the control socket (``send``/``receive`` typed ``control`` messages), dies with
the supervisor (PR_SET_PDEATHSIG and the lifeline thread, which also obeys ``Stop`` and
``Changed``), and knows whether this process still waits to serve (``in_reload_child``).
No asyncio here: the entry points import it to ask that question, in every process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import control

__all__ = [
    "Session", "close_channels", "die_with_parent", "in_reload_child", "receive", "send",
    "session", "start_lifeline",
]


class Session:
    """What this process learnt from the supervisor; guarded by ``lock`` across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ctrl: socket.socket | None = None
        self.received = b""  # bytes read from ctrl past the last whole message
        self.listen_fds: list[int] = []
        self.adopted = False  # a server took the sockets (only the first serve() may)
        self.served = False
        self.stopping = False
        self.stop_handoff = False  # the Stop was for a reload: hand idle connections over
        self.listening = False  # a server may be accepting: stop by draining, not exiting
        self.base_config: dict[str, Any] = {}
        self.exiting = False  # main() is done: the lifeline must not act on EOF
        self.warming = False  # running the app's start-up as a spare (see warm.py)
        self.banner = False  # the supervisor prints the banner when this process serves
        self.announced = threading.Event()  # and it has (control.Announced)
        # Set by the serving code once a server runs: both called from the lifeline
        # thread, they hand over to the loop thread.
        self.stop_serving: Callable[[bool], None] | None = None
        self.files_changed: Callable[[Sequence[str]], None] | None = None
        self.reloads_reported: Callable[[Sequence[dict[str, Any]]], None] | None = None


session = Session()


def in_reload_child() -> bool:
    """True in a process started by the reload supervisor that has not served yet."""
    return (bool(session.listen_fds) or session.warming) and not session.adopted


def send(message: control.Message) -> None:
    ctrl = session.ctrl
    if ctrl is None:
        return
    with contextlib.suppress(OSError):
        ctrl.sendall(control.encode(message))


def receive() -> control.Message | None:
    """The next message from the supervisor, or None once it has gone.

    Read straight from the socket (no ``makefile``): closing it at exit then never
    waits for the thread blocked here."""
    ctrl, data = session.ctrl, session.received
    while b"\n" not in data:
        try:
            chunk = ctrl.recv(65536) if ctrl is not None else b""
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    line, _, session.received = data.partition(b"\n")
    return control.decode(line)


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills us the moment the supervisor dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return
    # The supervisor may have died before prctl took effect.
    if os.getppid() != parent:
        os._exit(1)


def start_lifeline() -> None:
    threading.Thread(target=_lifeline, name="asyncdev-lifeline", daemon=True).start()


def _lifeline() -> None:
    """Thread: obey Stop and Changed; when the supervisor vanishes, stop and never linger."""
    while True:
        message = receive()
        if message is None or isinstance(message, control.Stop):
            break
        if isinstance(message, control.Changed):
            with session.lock:
                files_changed = session.files_changed
            if files_changed is not None:
                files_changed(message.paths)
        elif isinstance(message, control.Announced):
            session.announced.set()
        elif isinstance(message, control.Reloads):
            with session.lock:
                reloads_reported = session.reloads_reported
            if reloads_reported is not None:
                reloads_reported(message.entries)
    handoff = message is not None and message.handoff
    session.announced.set()  # nothing to wait for any more
    with session.lock:
        if session.exiting:
            return
        session.stopping = True
        session.stop_handoff = handoff
        stop_serving, listening = session.stop_serving, session.listening
    if stop_serving is not None:
        stop_serving(handoff)
    elif not listening:
        # Still importing the app: nothing in flight worth a grace period.
        os._exit(0)
    # Otherwise a server is starting and may have accepted connections already: once
    # started it sees ``stopping`` and drains them (see serving).
    if message is None:
        # Without PR_SET_PDEATHSIG (or an app that blocks its loop) nobody would kill us.
        time.sleep(control.RELOAD_GRACE + 3.0)
        os._exit(1)


def close_channels() -> None:
    """Close what the supervisor passed in, rather than leave it to the finalizers
    (which warn about every unclosed socket under ``python -X dev``)."""
    with session.lock:
        session.exiting = True
    if session.ctrl is not None:
        with contextlib.suppress(OSError):
            session.ctrl.shutdown(socket.SHUT_RDWR)  # the lifeline's read returns at once
        session.ctrl.close()
