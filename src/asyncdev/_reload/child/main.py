"""The reload server process from its start: adopt the channels, wait as the spare, go.

``main()`` is what the supervisor starts (``python -c``; the first one may be started
by the command line before it is read, see ``early``). It adopts the descriptors
named in ``control.CHILD_ENV_VAR`` (then deletes it), arranges to die with the
supervisor, imports asyncdev and what the last process used but no user code, says
``Ready`` and waits. Told to go, it runs the user's entry point as ``sys.orig_argv``
would; the ``serve()`` or CLI call in it reaches ``serving.run_child``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from .. import control, handoff, warm
from . import serving
from . import session as _session
from .interpreter import apply_env, entry_argv, run_entry, set_path0
from .session import close_channels, die_with_parent, receive, session, start_lifeline

__all__ = ["main"]


def main() -> None:
    """Entry of a reload child (``python -c`` from the supervisor). Exits the process."""
    try:
        try:
            code = _main()
        except KeyboardInterrupt:
            # Ctrl+C reaches the whole process group; the supervisor reports what matters.
            code = 130
        sys.stdout.flush()
        sys.exit(code)
    finally:
        # Also when the app's own entry point ends with sys.exit().
        close_channels()
        handoff.close_sockets()


def _ignore_interrupt(signum: int, frame: object) -> None:
    # Ctrl+C reaches the whole process group, and the supervisor stops or kills this
    # process as it sees fit. An exception raised at any point of the start (say,
    # inside the server's start, between creating a listener and recording it) would
    # leave half-made resources to the finalizers. Serving installs its own handlers.
    # (A handler, not SIG_IGN: processes the app starts would inherit SIG_IGN.)
    return


def _main() -> int:
    try:
        channels = control.Channels.pop_from_environment()
    except ValueError:
        channels = None
    if channels is None:
        sys.stderr.write("asyncdev._reload.child is started by the reload supervisor only.\n")
        return 2
    signal.signal(signal.SIGINT, _ignore_interrupt)
    ctrl = socket.socket(fileno=channels.control)
    ctrl.set_inheritable(False)
    session.ctrl = ctrl
    die_with_parent(channels.parent)
    # Before the first word from the supervisor: the first process is started before
    # the command line is read, and imports the serving path meanwhile.
    warm.import_serving_path()
    if channels.listeners is None:
        try:
            marker, fds, _, _ = socket.recv_fds(ctrl, 1, 64)
        except OSError:
            return 0
        if not marker:
            return 0  # the command did not need a server process after all
        channels = channels.with_listeners(tuple(fds))
    assert channels.listeners is not None
    for fd in (*channels.listeners, *channels.handoff):
        # Processes the app starts must not keep the port open after we are gone.
        os.set_inheritable(fd, False)
    if len(channels.handoff) == 2:
        handoff.set_sockets(*channels.handoff)
    return _run(channels)


def _run(channels: control.Channels) -> int:
    plan = receive()
    if not isinstance(plan, control.Plan):
        return 0
    session.base_config = plan.config
    set_path0(plan.path0)
    started = time.monotonic()
    warm.warm_up(plan.warm, uvloop=plan.config.get("loop") != "asyncio")
    env_file = plan.config.get("env_file")
    startup_env: dict[str, str] | None = None
    refused = False
    if plan.startup is not None:
        # The user's modules see the command line they will run under.
        sys.orig_argv = list(plan.orig_argv)
        sys.argv = entry_argv(plan.entry, plan.target, plan.args)
        session.warming = True
        try:
            startup_env = warm.run_startup(plan.startup, env_file=env_file)
        except warm.StartupRefused:
            refused = True
        finally:
            session.warming = False
    _session.send(control.Ready(
        files=warm.imported_files(), warm_ms=(time.monotonic() - started) * 1000,
        user=startup_env is not None, user_failed=plan.startup is not None and startup_env is None,
        user_refused=refused,
    ))

    go = receive()
    if not isinstance(go, control.Go):
        return 0
    _session.send(control.Started())
    apply_env(go.env)
    session.banner = go.banner
    if startup_env:
        # What the start-up set (DJANGO_SETTINGS_MODULE, say) stays set, over the
        # env file as when it runs after the entry point read that file.
        if env_file:
            from ..._envfile import apply_env_file

            apply_env_file(env_file)
        os.environ.update(startup_env)
    session.listen_fds = list(channels.listeners or ())
    start_lifeline()
    if go.error:
        return serving.serve_failure(RuntimeError(go.error))

    sys.orig_argv = list(plan.orig_argv)
    try:
        run_entry(plan.entry, plan.target, plan.args)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit included: the app's script gave up
        if session.served or session.stopping:
            raise
        return serving.serve_failure(exc)
    if not session.served and not session.stopping:
        return serving.serve_failure(RuntimeError(
            "The program ran to its end without starting the server: does it call "
            "asyncdev.serve() (for example under `if __name__ == \"__main__\":`)?"
        ))
    return 0
