"""Starting a server process: ``python -c BOOT`` with its channels, and nothing else.

Every server process starts here, the first one (which the command line starts before
it has imported anything, see ``early``) and every later one (the supervisor's). It
uses ``os.posix_spawn`` with what ``subprocess`` would do: only the channels'
descriptors are inherited (``close_fds``), SIGPIPE and SIGXFSZ are back to their
defaults (``restore_signals``), and SIGINT starts blocked (see ``BOOT``). It imports
only what the interpreter loaded at start: ``socket`` and ``subprocess`` would cost the
first process's start several milliseconds.
"""

from __future__ import annotations

import os
import sys

from .channels import CHILD_ENV_VAR, Channels

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["BOOT", "SpawnedProcess", "spawn"]

# What every server process runs (``python -c``): see child/main.py. Ctrl+C reaches
# the whole process group, and the supervisor decides what it means. A server process
# starts with SIGINT blocked (an interpreter interrupted in its own start-up dies with a
# fatal error), then ignores it while importing; child/main.py installs a handler, which
# the processes the app starts do not inherit as SIG_IGN.
BOOT = ("import _signal; _signal.signal(_signal.SIGINT, _signal.SIG_IGN); "
        "_signal.pthread_sigmask(_signal.SIG_UNBLOCK, [_signal.SIGINT]); "
        "from asyncdev._reload.child.main import main; main()")


class SpawnedProcess:
    """A started server process: what the supervisor needs of it (``pid``, ``wait``,
    ``kill``), as ``subprocess.Popen`` offers it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                status = 0
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)  # SIGKILL, without importing signal
            except ProcessLookupError:
                pass


def spawn(flags: Sequence[str], channels: Channels) -> SpawnedProcess:
    """Start ``python [flags] -c BOOT`` holding ``channels`` (named in its environment),
    from the calling thread: PR_SET_PDEATHSIG fires when that thread exits."""
    env = dict(os.environ)
    env[CHILD_ENV_VAR] = channels.encode()
    passed = channels.fds
    # Inheritable for the spawn only (what subprocess's pass_fds does in the child).
    made = [fd for fd in passed if not os.get_inheritable(fd)]
    for fd in made:
        os.set_inheritable(fd, True)
    try:
        pid = os.posix_spawn(
            sys.executable, [sys.executable, *flags, "-c", BOOT], env,
            file_actions=[(os.POSIX_SPAWN_CLOSE, fd) for fd in _other_inheritable(passed)],
            setsigdef=_default_signals(), setsigmask=_blocked_interrupt(),
        )
    finally:
        for fd in made:
            os.set_inheritable(fd, False)
    return SpawnedProcess(pid)


def _other_inheritable(keep: Sequence[int]) -> list[int]:
    """Descriptors this process inherited that the server process must not (what
    ``subprocess``'s ``close_fds`` does)."""
    try:
        names = os.listdir("/proc/self/fd" if sys.platform.startswith("linux") else "/dev/fd")
    except OSError:
        return []
    result = []
    for name in names:
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        try:
            if os.get_inheritable(fd):
                result.append(fd)
        except OSError:
            pass  # the directory's own descriptor, closed by now
    return result


def _blocked_interrupt() -> set[int]:
    """This thread's signal mask with SIGINT added: the server process's at its start."""
    import _signal  # type: ignore[import-not-found]  # no stubs; signal.py costs its enums

    return {*_signal.pthread_sigmask(_signal.SIG_BLOCK, []), _signal.SIGINT}


def _default_signals() -> tuple[int, ...]:
    # Python ignores SIGPIPE (and SIGXFSZ); a new interpreter starts from the defaults,
    # as subprocess restores them.
    import _signal  # type: ignore[import-not-found]

    return tuple(getattr(_signal, name) for name in ("SIGPIPE", "SIGXFSZ")
                 if hasattr(_signal, name))
