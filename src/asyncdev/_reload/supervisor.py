"""The reload supervisor: owns the listening socket and the watcher, replaces server processes.

``supervise(config)`` binds once, then runs the user's command line again in a fresh
interpreter (``child.main``) that inherits the socket, and on each relevant file change
tells that process to drain and starts the next one at once, from a spare interpreter
kept ready with asyncdev imported. Connections arriving in between wait in the listen
backlog. It never imports the user's code, nor the HTTP layers.

It does not use asyncio either: this process lives as long as the developer's session
and asyncio (which loads ssl) would double its memory. Every decision runs on the
thread that called ``supervise``, in a ``Dispatcher``; other threads only block on one
thing each (a watcher, a process's messages, its exit) and post what they saw. No
handler waits: a reload that must wait (for a spare, for an old process to be gone) is
a ``PendingReload`` that goes on when what it waits for is posted. Every decision is
in the one ``Supervisor`` class, which is why this module is past 450 lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import ConfigError
from . import control, early
from .control import Event, Lifecycle
from .dispatcher import Dispatcher, Timer
from .entry import EntryPlan, entry_plan
from .process import Child, describe_exit, invalidate_bytecode, json_config
from .spawn import spawn
from .watch import ReloadFilter, relative, reload_dirs
from .watchers import Watchers

if TYPE_CHECKING:
    from .._config import Config

__all__ = ["Supervisor", "reload_unavailable", "supervise"]

logger = logging.getLogger("asyncdev.error")

# A spare is told to go at once when ready; one still importing after this long is
# replaced rather than waited for.
_SPARE_WAIT = 5.0
# After the grace period, the time the old process gets for lifespan shutdown and exit.
_EXIT_MARGIN = 1.5
# Reloads remembered for the state endpoint of the server processes.
_HISTORY = 10
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 8.0
# Spares that fail to run the user's start-up before the supervisor stops asking them.
_STARTUP_ATTEMPTS = 3


def reload_unavailable() -> str | None:
    """Why this process cannot supervise reloads (then serve without), or None."""
    if os.name != "posix":
        return "reloading needs a POSIX system to hand the socket over"
    if hasattr(sys, "ps1") or "ipykernel" in sys.modules:
        return "the server was started from an interactive session"
    plan = entry_plan(getattr(sys, "orig_argv", []))
    return plan if isinstance(plan, str) else None


def supervise(config: Config, announce: Announce) -> int:
    """Serve ``config`` with reload until Ctrl+C or SIGTERM; the process exit code.

    ``announce`` prints the banner, once, when the first server process is up."""
    plan = entry_plan(sys.orig_argv)
    if isinstance(plan, str):
        raise ConfigError(f"reload: {plan}; run it as a script or with python -m")
    return Supervisor(config, plan, announce).run()


# --- the supervisor -------------------------------------------------------------------------


class Announce(Protocol):
    """Prints the banner (``_banner.announce`` with the config bound)."""

    def __call__(
        self, *, description: str, interface: str, loop_name: str, addresses: list[Any],
        reload_dirs: list[str], **details: Any,
    ) -> None: ...


class Supervisor:
    def __init__(self, config: Config, plan: EntryPlan, announce: Announce) -> None:
        self.config = config
        self.plan = plan
        self.announce = announce
        self.cwd = os.getcwd()
        self.roots = reload_dirs(config, plan, self.cwd)
        self.filter = ReloadFilter(
            roots=self.roots, includes=config.reload_includes,
            excludes=config.reload_excludes, cwd=self.cwd,
        )
        self.dispatcher = Dispatcher(self._failure)
        self.sockets: list[socket.socket] = []
        self.handoff: tuple[socket.socket, ...] = ()
        self.children: set[Child] = set()
        self.unclosed: set[Child] = set()  # exited, the control socket still open
        self.current: Child | None = None
        self.spare: Child | None = None
        self.stopping = False
        self.stop_requested = False
        self.signals = 0
        self.backoff = _BACKOFF_FIRST
        self.banner_printed = False
        self.restart_timer: Timer | None = None
        self.watchers = Watchers(
            roots=self.roots, filter=self.filter, reload_delay=config.reload_delay,
            report=lambda paths: self.dispatcher.post(self._on_changes, paths),
            start_thread=self._start_thread,
        )
        self.reload: PendingReload | None = None
        self.detected_at = 0.0
        self.warm: list[str] = []
        # The user's start-up the spares run too (issue: warm reloads); None until a
        # process serves the app, and after spares failed to run it several times.
        self.startup: control.Startup | None = None
        self.startup_failures = 0
        self.recent: tuple[str, ...] = ()  # the files the last reload was for
        self.keys: Any = None  # the terminal's KeyReader, when stdin is one
        # The last reloads with their timings, for the server processes' state endpoint.
        self.history: deque[dict[str, Any]] = deque(maxlen=_HISTORY)

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        from .._sockets import bind_sockets

        self.sockets = bind_sockets(self.config.replace(reload=False))
        # The command line may have started the first process already (see early).
        first = early.take(self.plan.flags)
        # Idle keep-alive connections travel from the old process to the new one here.
        if first is not None:
            self.handoff = tuple(socket.socket(fileno=fd) for fd in first.handoff)
        else:
            self.handoff = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        previous: dict[signal.Signals, Any] = {}
        try:
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    previous[sig] = signal.signal(sig, self._signalled)
            # The server first: importing the watcher overlaps with its start.
            self._activate(self._spawn(first=first))
            self.watchers.start()
            from .._envfile import AUTOMATIC_FILES

            env_files = [*self.config.env_file, *(AUTOMATIC_FILES if self.config.dotenv else ())]
            if env_files:
                # Each child reads them afresh; editing one is a change like any other
                # (.env may appear later: its path is watched, not the file).
                self.watchers.watch_also([os.path.abspath(f) for f in env_files], always=True)
            # Find the virtual environments below the roots before their files change.
            self._start_thread(self.filter.scan_environments, "asyncdev-scan")
            self.dispatcher.run_until(lambda: self.stop_requested)
            self._shutdown()
        finally:
            if self.keys is not None:
                self.keys.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.watchers.stop()
            for child in (*self.children, *self.unclosed):
                child.close()
            for sock in (*self.sockets, *self.handoff):
                sock.close()
            if self.config.uds:
                with contextlib.suppress(OSError):
                    os.unlink(self.config.uds)
        return 0

    def _start_thread(self, target: Callable[[], object], name: str) -> None:
        def guarded() -> None:
            try:
                target()
            except Exception as exc:
                self.dispatcher.post(self._failure, exc)

        threading.Thread(target=guarded, name=name, daemon=True).start()

    def _failure(self, exc: BaseException) -> None:
        logger.error("Reload supervisor failure", exc_info=exc)
        self.stop_requested = True

    def _signalled(self, signum: int, frame: object) -> None:
        self.dispatcher.post(self._on_signal)

    def _on_signal(self) -> None:
        self.signals += 1
        # The signal may have reached the whole process group: children exiting now
        # are not failures.
        self.stopping = True
        if self.signals == 1:
            self.stop_requested = True
        else:
            for child in list(self.children):
                child.kill()

    def _shutdown(self) -> None:
        self.stopping = True
        if self.restart_timer is not None:
            self.restart_timer.cancel()
        if self.reload is not None:
            self.reload.cancel()
            self.reload = None
        for child in list(self.children):
            if child.state in _DRAINABLE:
                child.advance(Event.STOP)
                child.send(control.Stop())
            else:
                child.kill()
        # The children drain for timeout_graceful_shutdown, then need a moment to exit.
        self.dispatcher.run_until(lambda: not self.children,
                                  self.config.timeout_graceful_shutdown + _EXIT_MARGIN)
        for child in list(self.children):
            child.kill()
        self.dispatcher.run_until(lambda: not self.children, 5.0)

    # -- processes -------------------------------------------------------------------------

    def _spawn(self, *, startup: control.Startup | None = None,
               first: early.EarlyChild | None = None) -> Child:
        """A new server process; with ``startup``, it runs the user's start-up while it
        waits (only for a spare: one told to go at once runs the entry point as is).
        ``first``: the process the command line started, which gets its listening
        sockets on its control socket."""
        fds = [sock.fileno() for sock in self.sockets]
        if first is not None:
            proc = first.proc
            parent_end = socket.socket(fileno=first.ctrl)
            try:
                socket.send_fds(parent_end, [b"L"], fds)
            except OSError:
                pass  # it died already: its exit is reported like any other
        else:
            parent_end, child_end = socket.socketpair()
            try:
                # From the dispatcher's (main) thread: see spawn().
                proc = spawn(self.plan.flags, control.Channels(
                    control=child_end.fileno(), listeners=tuple(fds), parent=os.getpid(),
                    handoff=tuple(sock.fileno() for sock in self.handoff),
                ))
            except BaseException:
                parent_end.close()
                raise
            finally:
                child_end.close()
        child = Child(proc, parent_end)
        child.deep = startup is not None
        self.children.add(child)
        child.send(control.Plan(
            entry=self.plan.kind, target=self.plan.target, args=self.plan.args,
            path0=self.plan.path0, orig_argv=tuple(sys.orig_argv),
            config=json_config(self.config), warm=tuple(self.warm), startup=startup,
        ))
        self._start_thread(lambda: self._read(child), f"asyncdev-read-{child.pid}")
        self._start_thread(lambda: self._wait(child), f"asyncdev-wait-{child.pid}")
        return child

    def _read(self, child: Child) -> None:
        """Thread: post each message of ``child`` until its end of the socket closes."""
        with contextlib.suppress(OSError, ValueError), child.ctrl.makefile("rb") as stream:
            for line in stream:
                # A process dying mid-message leaves a line that cannot be decoded: its
                # exit is reported on its own.
                self.dispatcher.post(self._on_message, child, control.decode(line))

    def _wait(self, child: Child) -> None:
        """Thread: report the exit of ``child`` (its socket may outlive it in a fork)."""
        self.dispatcher.post(self._reaped, child, child.proc.wait())

    def _reaped(self, child: Child, code: int) -> None:
        last = child.state
        child.advance(Event.EXIT)
        child.exit_code = code
        # Its reader sees the end of the socket at once, unless a process it forked
        # holds the other end: then this wakes the reader, after its last messages.
        self.unclosed.add(child)
        self.dispatcher.call_later(0.5, lambda: self._close(child))
        for callback in child.on_exit:
            callback()
        self._on_exit(child, last, code)
        self._continue_reload()

    def _close(self, child: Child) -> None:
        self.unclosed.discard(child)
        child.close()  # idempotent

    def _on_message(self, child: Child, message: control.Message) -> None:
        now = time.monotonic()
        if isinstance(message, control.Ready):
            child.files = frozenset(message.files)
            child.user = message.user
            child.timings["warm"] = message.warm_ms
            if not child.advance(Event.READY):
                return
            if message.user_failed:
                self._startup_failed(child, counts=not message.user_refused)
            elif message.user:
                self.startup_failures = 0
            if child is self.spare and not message.user_failed:
                logger.debug("A server process is waiting, %s, ready in %.0f ms",
                             "warm (it ran the app's start-up)" if message.user
                             else "with the libraries imported", message.warm_ms)
            self._continue_reload()
        elif isinstance(message, control.Started):
            child.timings["started"] = now
        elif isinstance(message, control.Answered):
            if child is self.current and self.detected_at and child.path:
                elapsed = (now - self.detected_at) * 1000
                logger.debug("First response %.0f ms after the change was seen", elapsed)
                if self.history:
                    self.history[-1]["first_response_ms"] = round(elapsed, 1)
                    child.send(control.Reloads(entries=tuple(self.history)))
        elif isinstance(message, (control.Serving, control.Failed)):
            failed = isinstance(message, control.Failed)
            if not child.advance(Event.FAILED if failed else Event.SERVING):
                return  # from a process told to stop meanwhile
            child.timings["failed" if failed else "serving"] = now
            self._report_timings(child)
            self._print_banner(child, message)
            if isinstance(message, control.Failed):
                self.watchers.watch_also(message.files, always=True)
                self._ensure_spare()
        elif isinstance(message, control.Modules):
            # Sent soon after the start, and again by a process being replaced, with
            # what it loaded on first use since: the spares import all of it.
            seen = set(message.warm)
            self.warm = [*message.warm, *(m for m in self.warm if m not in seen)][:5000]
            self.watchers.watch_also(message.files, always=False)
            if child is self.current:
                # Started now rather than at Serving: it would compete for the CPU
                # with the first requests, and the next spare imports what this used.
                self._ensure_spare()
        elif isinstance(message, control.Startup) and child is self.current:
            if self.startup_failures < _STARTUP_ATTEMPTS:
                self.startup = message
        elif isinstance(message, control.Watch) and child is self.current:
            self.watchers.listen(message.requests)

    def _report_timings(self, child: Child) -> None:
        t = child.timings
        done = t.get("serving", t.get("failed", 0.0))
        go = t.get("go", done)
        if self.detected_at and child.path:
            logger.debug(
                "Reloaded in %.0f ms (%s path): %.0f ms to start the process, %.0f ms to "
                "import the app and serve", (done - self.detected_at) * 1000, child.path,
                (go - self.detected_at) * 1000, (done - go) * 1000,
            )
            self.history.append({
                "at": round(time.time(), 3),
                "files": [relative(p, self.cwd) for p in self.recent],
                "path": child.path, "serving": "serving" in t,
                "serving_ms": round((done - self.detected_at) * 1000, 1),
            })
            child.send(control.Reloads(entries=tuple(self.history)))

    def _print_banner(self, child: Child, message: control.Serving | control.Failed) -> None:
        if self.banner_printed:
            return
        self.banner_printed = True
        config = self.config
        app = config.app
        serving = message if isinstance(message, control.Serving) else None
        description = (serving and serving.description) or (
            app if isinstance(app, str) else getattr(app, "__qualname__", "the app")
        )
        self.announce(
            description=str(description),
            interface=(serving and serving.interface) or config.interface,
            loop_name=message.loop or config.loop,
            addresses=[sock.getsockname() for sock in self.sockets],
            reload_dirs=[relative(r, self.cwd) if r != self.cwd else r for r in self.roots],
            framework=serving.framework if serving else None,
            notes=list(serving.notes) if serving else [],
            keys=self._start_keys(),
        )
        sys.stdout.flush()
        if serving is not None:
            child.send(control.Announced())  # it may answer requests now

    # -- the terminal's keys -----------------------------------------------------------------

    def _start_keys(self) -> bool:
        from .._terminal import KeyReader, key_handler, keys_available

        if self.keys is None and keys_available():
            on_key = key_handler(quit=self._quit, url=self._url, reload=self.reload_now)
            self.keys = KeyReader(lambda key: self.dispatcher.post(on_key, key))
        return self.keys is not None

    def _quit(self) -> None:
        self.stopping = True
        self.stop_requested = True

    def _url(self) -> str | None:
        from .._sockets import format_url

        if not self.sockets or self.config.uds is not None:
            return None
        return format_url(self.sockets[0].getsockname(), self.config.scheme) + "/"

    def reload_now(self) -> None:
        """Replace the server process as a file change would (the r key)."""
        if not self.stopping and self.reload is None:
            self._begin_reload([])

    def _activate(self, child: Child, *, error: str | None = None) -> None:
        child.advance(Event.GO if error is None else Event.GO_BROKEN)
        child.timings["go"] = time.monotonic()
        child.send(control.Go(env=dict(os.environ), error=error,
                              banner=error is None and not self.banner_printed))
        self.current = child

    def _ensure_spare(self) -> None:
        if not self.stopping and self.spare is None:
            self.spare = self._spawn(startup=self._spare_startup())

    def _spare_startup(self) -> control.Startup | None:
        """The user's start-up for the next spare, without the files a change is likely
        to touch: the app's own module, and those changed by the last reload."""
        startup = self.startup
        if startup is None:
            return None
        app = self.config.app
        avoid = set(self.recent)
        skip = ""
        if isinstance(app, str):
            target = app.rpartition(":")[0] if ":" in app else app
            if target.endswith(".py"):
                avoid.add(os.path.realpath(target))
            else:
                skip = target
        modules = tuple(m for m in startup.modules if m != skip)
        if not modules and not startup.django_settings:
            return None
        return startup.replace(modules=modules, avoid=tuple(sorted(avoid)))

    def _startup_failed(self, spare: Child, *, counts: bool) -> None:
        """A spare could not run the user's start-up (it imports a file just changed, a
        file is mid-edit, it needs the real entry point): replace it by one that
        imports libraries only, until the next process serves."""
        self.startup_failures += counts
        self.startup = None
        if counts and self.startup_failures >= _STARTUP_ATTEMPTS:
            logger.debug("The app's start-up failed in %d waiting processes: "
                         "reloads import it afresh from now on", self.startup_failures)
        spare.kill()
        if spare is self.spare:
            self.spare = None
            if self.reload is None:
                self._ensure_spare()

    def _on_exit(self, child: Child, last: Lifecycle, code: int) -> None:
        """``child`` exited with ``code`` when its state was ``last``."""
        self.children.discard(child)
        if child is self.spare:
            self.spare = None
            if last is not Lifecycle.KILLED and not self.stopping:
                logger.warning("A spare server process exited (%s)", describe_exit(code))
            return
        if child is not self.current or self.stopping:
            return
        self.current = None
        if last in (Lifecycle.SERVING, Lifecycle.FAILED):
            served_for = time.monotonic() - child.timings.get(last.value, 0.0)
            if served_for > 30.0:
                self.backoff = _BACKOFF_FIRST
            logger.error(
                "The server process exited unexpectedly (%s); restarting in %.1f s",
                describe_exit(code), self.backoff,
            )
            self.restart_timer = self.dispatcher.call_later(self.backoff, self._restart)
            self.backoff = min(self.backoff * 2, _BACKOFF_MAX)
        elif last in (Lifecycle.STARTING, Lifecycle.READY, Lifecycle.RUNNING):
            message = (
                f"The server process exited ({describe_exit(code)}) before serving. "
                "Fix the problem and save: the server restarts by itself."
            )
            logger.error("%s", message)
            self._restart(error=message)
        # KILLED: by us, on purpose. BROKEN: it only showed the error page, and
        # restarting it would loop; the next change reloads.

    def _restart(self, *, error: str | None = None) -> None:
        if self.stopping or self.current is not None or self.reload is not None:
            return
        child, self.spare = self.spare, None
        if child is not None and child.deep and child.state is not Lifecycle.READY:
            # Still running the app's start-up, which may yet fail half-way: only a
            # spare that said it is ready and whole may serve.
            child.kill()
            child = None
        if child is None or child.exited:
            child = self._spawn()
        self._activate(child, error=error)

    # -- reloading -------------------------------------------------------------------------

    def _on_changes(self, paths: Collection[str]) -> None:
        if self.stopping:
            return
        if self.reload is not None:
            # A change seen while a reload waits (for a spare, an old process) comes after.
            self.reload.queued.update(paths)
            return
        if not any(self.filter.reloads(path) for path in paths):
            self._tell_listeners(sorted(paths))
            return
        self._begin_reload(sorted(paths))

    def _tell_listeners(self, paths: list[str]) -> None:
        """Files only the listeners watch changed: the serving process handles them.
        An error page or a process still starting reads them afresh anyway."""
        current = self.current
        if current is not None and current.state is Lifecycle.SERVING:
            logger.debug("Changed without a reload: %s", ", ".join(
                relative(p, self.cwd) for p in paths
            ))
            current.send(control.Changed(paths=tuple(paths)))

    def _begin_reload(self, paths: list[str]) -> None:
        self.detected_at = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Change seen %.0f ms after the write", _since_written(paths))
        shown = [relative(p, self.cwd) for p in paths]
        listing = ", ".join(f"'{p}'" for p in shown[:3])
        if len(shown) > 3:
            listing += f" and {len(shown) - 3} more"
        if paths:
            logger.info("Detected change%s in %s, reloading",
                        "s" if len(shown) > 1 else "", listing)
        else:
            logger.info("Reloading on request")
        if self.restart_timer is not None:
            self.restart_timer.cancel()
        self.backoff = _BACKOFF_FIRST

        reload = self.reload = PendingReload(paths)
        self.recent = tuple(os.path.realpath(p) for p in paths)
        old, self.current = self.current, None
        if old is not None and old.state in _DRAINABLE:
            # It stops accepting at once and drains; the next process accepts meanwhile.
            old.advance(Event.STOP)
            old.send(control.Stop(handoff=True))
            timer = self.dispatcher.call_later(self.config.reload_grace + _EXIT_MARGIN, old.kill)
            old.on_exit.append(timer.cancel)
        elif old is not None:
            # Not serving yet: it exits at once if still importing the old code, or
            # drains what it accepted if its server has begun listening (a SIGKILL would
            # reset those connections). Either way the reload waits for it to be gone,
            # so that it cannot write a stale .pyc after we deleted it.
            if "started" in old.timings:
                old.advance(Event.STOP)
                old.send(control.Stop(handoff=True))
            else:
                old.kill()  # it has not even read its Go yet (still importing asyncdev)
            reload.retiring = old
            reload.kill_timer = self.dispatcher.call_later(
                self.config.reload_grace + _EXIT_MARGIN,
                lambda: self._stop_waiting(reload, for_spare=False),
            )
        self._continue_reload()

    def _stop_waiting(self, reload: PendingReload, *, for_spare: bool) -> None:
        if reload is not self.reload:
            return
        if for_spare:
            reload.spare_waited = True
        elif reload.retiring is not None:
            reload.retiring.kill()
            reload.retiring = None
        self._continue_reload()

    def _continue_reload(self) -> None:
        """Take the pending reload as far as it can go now; called again on each event
        it may wait for (a process exited, a spare became ready, a timer)."""
        reload = self.reload
        if reload is None or self.stopping:
            return
        if reload.retiring is not None and not reload.retiring.exited:
            return
        if not reload.invalidated:
            invalidate_bytecode(reload.paths)
            reload.invalidated = True
        spare = self.spare
        if spare is not None and spare.state is Lifecycle.STARTING and not reload.spare_waited:
            if reload.spare_timer is None:
                reload.spare_timer = self.dispatcher.call_later(
                    _SPARE_WAIT, lambda: self._stop_waiting(reload, for_spare=True)
                )
            return
        self.spare = None
        if reload.spare_timer is not None:
            # It imported while the files changed: what it wrote to __pycache__ meanwhile
            # may be stale (same second, same size), now that it is done.
            invalidate_bytecode(reload.paths)
        refusal = self._refusal(spare, reload.paths)
        if refusal is not None and spare is not None:
            spare.kill()
        how = "cold" if refusal is not None else "warm" if spare and spare.user else "spare"
        logger.debug("Reload path: %s (%s)", how, refusal or (
            "the waiting process ran the app's start-up and holds no changed file"
            if how == "warm" else "the waiting process imported libraries only"
        ))
        self.reload = None
        reload.cancel()
        child = spare if refusal is None and spare is not None else self._spawn()
        child.path = how
        self._activate(child)
        if reload.queued:
            self._on_changes(reload.queued)

    def _refusal(self, spare: Child | None, paths: Sequence[str]) -> str | None:
        """Why ``spare`` must not serve after ``paths`` changed, or None.

        A process that imported a changed file would run the old code; one that ran the
        user's start-up may have read any other changed file (data, templates, .env)."""
        if spare is None:
            return "no process was waiting"
        if spare.state is not Lifecycle.READY:
            return "the waiting process was not ready"
        held = next((p for p in paths if os.path.realpath(p) in spare.files), None)
        if held is not None:
            return f"the waiting process had imported {relative(held, self.cwd)}"
        if spare.user:
            other = next((p for p in paths if not p.endswith(".py")), None)
            if other is not None:
                return f"the waiting process may have read {relative(other, self.cwd)}"
        return None


def _since_written(paths: Sequence[str]) -> float:
    """Milliseconds from the last write to one of ``paths`` until now (detection)."""
    mtimes = []
    for path in paths:
        with contextlib.suppress(OSError):
            mtimes.append(os.stat(path).st_mtime)
    return (time.time() - max(mtimes)) * 1000 if mtimes else 0.0


# Processes that stop by themselves when told (Stop), draining what they accepted.
_DRAINABLE = (Lifecycle.SERVING, Lifecycle.FAILED, Lifecycle.BROKEN)


@dataclass(eq=False)
class PendingReload:
    """A reload under way: what changed, and what it waits for before the next process
    goes (a killed process to be gone, a spare to be ready; each bounded by a timer)."""

    paths: list[str]
    retiring: Child | None = None
    invalidated: bool = False
    spare_waited: bool = False
    kill_timer: Timer | None = None
    spare_timer: Timer | None = None
    queued: set[str] = field(default_factory=set)  # changes seen meanwhile, reloaded after

    def cancel(self) -> None:
        for timer in (self.kill_timer, self.spare_timer):
            if timer is not None:
                timer.cancel()
