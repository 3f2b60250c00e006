"""The reload supervisor: owns the listening socket and the watcher, replaces server processes.

``supervise(config)`` binds once, then runs the user's command line again in a fresh
interpreter (``child.main``) that inherits the socket, and on each relevant file change
tells that process to drain and starts the next one at once, from a spare interpreter
kept ready with asyncdev imported. Connections arriving in between wait in the listen
backlog. It never imports the user's code, nor the HTTP layers.

It does not use asyncio either: this process lives as long as the developer's session
and asyncio (which loads ssl) would double its memory. Every decision runs on the
thread that called ``supervise``, in a ``Dispatcher``; other threads only block on one
thing each (a watcher, a process's messages, its exit) and post what they saw.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import ConfigError
from .dispatcher import Dispatcher, Timer
from .entry import CHILD_ENV_VAR, EntryPlan, entry_plan
from .watch import ReloadFilter, default_reload_dirs, relative

if TYPE_CHECKING:
    from .._config import Config

__all__ = ["Supervisor", "reload_unavailable", "supervise"]

logger = logging.getLogger("asyncdev.error")

_BOOT = "from asyncdev._reload.child import main; main()"
# A spare is told to go at once when ready; one still importing after this long is
# replaced rather than waited for.
_SPARE_WAIT = 5.0
# After the grace period, the time the old process gets for lifespan shutdown and exit.
_EXIT_MARGIN = 1.5
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 8.0


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


# --- one server process -------------------------------------------------------------------


class Child:
    """A server process and the supervisor's end of its control socket."""

    def __init__(self, proc: subprocess.Popen[bytes], ctrl: socket.socket) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.ctrl = ctrl
        self.state = "starting"  # ready, active, serving, failed, stopping
        self.ready = False
        self.exit_code: int | None = None
        self.on_exit: list[Callable[[], object]] = []
        self.files: frozenset[str] = frozenset()
        self.error_page_only = False
        self.killed = False
        self.timings: dict[str, float] = {}

    @property
    def exited(self) -> bool:
        return self.exit_code is not None

    def send(self, message_type: str, /, **fields: Any) -> None:
        fields["t"] = message_type
        if not self.exited:
            # A few hundred bytes to a process reading them: the write never blocks
            # for long, and one to a process that just died fails at once.
            with contextlib.suppress(OSError):
                self.ctrl.sendall(json.dumps(fields).encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ctrl.shutdown(socket.SHUT_RDWR)
        self.ctrl.close()

    def kill(self) -> None:
        if not self.exited:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def __repr__(self) -> str:
        return f"<Child {self.pid} {self.state}>"


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _invalidate_bytecode(paths: Sequence[str]) -> None:
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


def _json_config(config: Config) -> dict[str, Any]:
    """The options a child needs to serve an error page before the app's own call runs."""
    result: dict[str, Any] = {}
    for field in fields(config):
        value = getattr(config, field.name)
        if field.name in ("app", "fd", "reload") or callable(value):
            continue
        result[field.name] = json.loads(json.dumps(value, default=str))
    return result


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
        self.roots = self._reload_dirs()
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
        self.extra_files: set[str] = set()
        self.watchers: list[threading.Event] = []  # one stop event per watcher thread
        self.extras_watcher: threading.Event | None = None
        self.reloading = False
        self.queued_changes: set[str] = set()
        self.detected_at = 0.0
        self.warm: list[str] = []
        self.keys: Any = None  # the terminal's KeyReader, when stdin is one

    def _reload_dirs(self) -> list[str]:
        config = self.config
        if config.reload_dirs:
            dirs = []
            for directory in config.reload_dirs:
                full = os.path.realpath(os.path.join(self.cwd, directory))
                if not os.path.isdir(full):
                    raise ConfigError(
                        f"reload_dirs: {directory!r} is not a directory (cwd: {self.cwd})"
                    )
                dirs.append(full)
            return dirs
        app = config.app
        project: str | None = None
        if isinstance(app, str) or app is None:
            project = config.app_dir
            target = app or ""
            if not target.endswith(".py"):
                target = target.rpartition(":")[0]
            if project is None and target.endswith(".py"):
                project = os.path.dirname(os.path.abspath(target))
        elif self.plan.kind == "script":
            project = os.path.dirname(os.path.realpath(self.plan.target))
        return default_reload_dirs(project, self.cwd)

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        from .._sockets import bind_sockets

        self.sockets = bind_sockets(self.config.replace(reload=False))
        # Idle keep-alive connections travel from the old process to the new one here.
        self.handoff = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        previous: dict[signal.Signals, Any] = {}
        try:
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    previous[sig] = signal.signal(sig, self._signalled)
            # The server first: importing the watcher overlaps with its start.
            self._activate(self._spawn())
            self._start_watcher(self.roots, self.filter, recursive=True)
            from .._envfile import AUTOMATIC_FILES

            env_files = [*self.config.env_file, *(AUTOMATIC_FILES if self.config.dotenv else ())]
            if env_files:
                # Each child reads them afresh; editing one is a change like any other
                # (.env may appear later: its path is watched, not the file).
                self._watch_also([os.path.abspath(f) for f in env_files], always=True)
            # Find the virtual environments below the roots before their files change.
            self._start_thread(self.filter.scan_environments, "asyncdev-scan")
            self.dispatcher.run_until(lambda: self.stop_requested)
            self._shutdown()
        finally:
            if self.keys is not None:
                self.keys.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for stop in self.watchers:
                stop.set()
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
        for child in list(self.children):
            if child.state in ("serving", "failed"):
                child.state = "stopping"
                child.send("stop")
            else:
                child.kill()
        # The children drain for timeout_graceful_shutdown, then need a moment to exit.
        self.dispatcher.run_until(lambda: not self.children,
                                  self.config.timeout_graceful_shutdown + _EXIT_MARGIN)
        for child in list(self.children):
            child.kill()
        self.dispatcher.run_until(lambda: not self.children, 5.0)

    # -- processes -------------------------------------------------------------------------

    def _spawn(self) -> Child:
        parent_end, child_end = socket.socketpair()
        fds = [sock.fileno() for sock in self.sockets]
        env = dict(os.environ)
        handoff = [sock.fileno() for sock in self.handoff]
        env[CHILD_ENV_VAR] = (
            f"{child_end.fileno()}:{','.join(map(str, fds))}:{os.getpid()}:"
            f"{','.join(map(str, handoff))}"
        )
        try:
            # From the dispatcher's (main) thread: PR_SET_PDEATHSIG fires when the
            # thread that forked the child exits, not only the process.
            proc = subprocess.Popen(
                [sys.executable, *self.plan.flags, "-c", _BOOT],
                env=env, pass_fds=(child_end.fileno(), *fds, *handoff),
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        child = Child(proc, parent_end)
        self.children.add(child)
        child.send(
            "plan", kind=self.plan.kind, target=self.plan.target, args=list(self.plan.args),
            path0=self.plan.path0, orig_argv=list(sys.orig_argv),
            config=_json_config(self.config), warm=self.warm,
        )
        self._start_thread(lambda: self._read(child), f"asyncdev-read-{child.pid}")
        self._start_thread(lambda: self._wait(child), f"asyncdev-wait-{child.pid}")
        return child

    def _read(self, child: Child) -> None:
        """Thread: post each message of ``child`` until its end of the socket closes."""
        with contextlib.suppress(OSError, ValueError), child.ctrl.makefile("rb") as stream:
            for line in stream:
                # A process dying mid-message leaves a line json cannot parse: its
                # exit is reported on its own.
                self.dispatcher.post(self._on_message, child, json.loads(line))

    def _wait(self, child: Child) -> None:
        """Thread: report the exit of ``child`` (its socket may outlive it in a fork)."""
        self.dispatcher.post(self._reaped, child, child.proc.wait())

    def _reaped(self, child: Child, code: int) -> None:
        child.exit_code = code
        # Its reader sees the end of the socket at once, unless a process it forked
        # holds the other end: then this wakes the reader, after its last messages.
        self.unclosed.add(child)
        self.dispatcher.call_later(0.5, lambda: self._close(child))
        for callback in child.on_exit:
            callback()
        self._on_exit(child, code)

    def _close(self, child: Child) -> None:
        self.unclosed.discard(child)
        child.close()  # idempotent

    def _on_message(self, child: Child, message: dict[str, Any]) -> None:
        kind = message["t"]
        now = time.monotonic()
        if kind == "ready":
            child.files = frozenset(message["files"])
            child.timings["warm"] = message["warm_ms"]
            if child.state == "starting":
                child.state = "ready"
            child.ready = True
        elif kind == "started":
            child.timings["started"] = now
        elif kind in ("serving", "failed"):
            if child.state != "active":
                return
            child.state = kind
            child.timings[kind] = now
            self._report_timings(child)
            self._print_banner(message)
            if kind == "failed":
                self._watch_also(message["files"], always=True)
                self._ensure_spare()
        elif kind == "modules":
            # Sent soon after the start, and again by a process being replaced, with
            # what it loaded on first use since: the spares import all of it.
            seen = set(message["warm"])
            self.warm = [*message["warm"], *(m for m in self.warm if m not in seen)][:5000]
            self._watch_also(message["files"], always=False)
            if child is self.current:
                # Started now rather than at "serving": it would compete for the CPU
                # with the first requests, and the next spare imports what this used.
                self._ensure_spare()

    def _report_timings(self, child: Child) -> None:
        t = child.timings
        done = t.get("serving", t.get("failed", 0.0))
        go = t.get("go", done)
        if self.detected_at:
            logger.debug(
                "Reloaded in %.0f ms: %.0f ms to start the process, %.0f ms to load and serve",
                (done - self.detected_at) * 1000, (go - self.detected_at) * 1000,
                (done - go) * 1000,
            )

    def _print_banner(self, message: dict[str, Any]) -> None:
        if self.banner_printed:
            return
        self.banner_printed = True
        config = self.config
        app = config.app
        description = message.get("description") or (
            app if isinstance(app, str) else getattr(app, "__qualname__", "the app")
        )
        self.announce(
            description=str(description),
            interface=message.get("interface") or config.interface,
            loop_name=message.get("loop") or config.loop,
            addresses=[sock.getsockname() for sock in self.sockets],
            reload_dirs=[relative(r, self.cwd) if r != self.cwd else r for r in self.roots],
            framework=message.get("framework"), notes=message.get("notes") or [],
            keys=self._start_keys(),
        )
        sys.stdout.flush()

    # -- the terminal's keys -----------------------------------------------------------------

    def _start_keys(self) -> bool:
        from .._terminal import KeyReader, keys_available

        if self.keys is None and keys_available():
            self.keys = KeyReader(lambda key: self.dispatcher.post(self._on_key, key))
        return self.keys is not None

    def _on_key(self, key: str) -> None:
        from .._terminal import CLEAR, help_text, open_browser

        key = key.lower()
        if key == "r":
            self.reload_now()
        elif key == "o":
            from .._sockets import format_url

            if self.sockets and self.config.uds is None:
                open_browser(format_url(self.sockets[0].getsockname(), self.config.scheme) + "/")
        elif key == "c":
            sys.stdout.write(CLEAR)
            sys.stdout.flush()
        elif key == "q":
            self.stopping = True
            self.stop_requested = True
        elif key in ("h", "?"):
            sys.stdout.write(help_text(reload=True) + "\n")
            sys.stdout.flush()

    def reload_now(self) -> None:
        """Replace the server process as a file change would (the r key)."""
        if not self.stopping:
            self._on_changes([])

    def _activate(self, child: Child, *, error: str | None = None) -> None:
        child.state = "active"
        child.timings["go"] = time.monotonic()
        child.error_page_only = error is not None
        child.send("go", env=dict(os.environ), error=error)
        self.current = child

    def _ensure_spare(self) -> None:
        if not self.stopping and self.spare is None:
            self.spare = self._spawn()

    def _on_exit(self, child: Child, code: int) -> None:
        self.children.discard(child)
        if child is self.spare:
            self.spare = None
            if not child.killed and not self.stopping:
                logger.warning("A spare server process exited (%s)", _describe_exit(code))
            return
        if child is not self.current or self.stopping:
            return
        self.current = None
        if child.killed:
            return
        if child.state in ("serving", "failed") and not child.error_page_only:
            served_for = time.monotonic() - child.timings.get(child.state, 0.0)
            if served_for > 30.0:
                self.backoff = _BACKOFF_FIRST
            logger.error(
                "The server process exited unexpectedly (%s); restarting in %.1f s",
                _describe_exit(code), self.backoff,
            )
            self.restart_timer = self.dispatcher.call_later(self.backoff, self._restart)
            self.backoff = min(self.backoff * 2, _BACKOFF_MAX)
        elif not child.error_page_only:
            message = (
                f"The server process exited ({_describe_exit(code)}) before serving. "
                "Fix the problem and save: the server restarts by itself."
            )
            logger.error("%s", message)
            self._restart(error=message)

    def _restart(self, *, error: str | None = None) -> None:
        if self.stopping or self.current is not None:
            return
        child, self.spare = self.spare, None
        if child is None or child.exited:
            child = self._spawn()
        self._activate(child, error=error)

    # -- watching --------------------------------------------------------------------------

    def _step(self) -> int:
        """watchfiles' step in ms: changes are yielded once no new file has changed for
        one step, checked every step, so an editor's writes are grouped for between
        one and two steps: half of --reload-delay, up to all of it."""
        return max(1, round(self.config.reload_delay * 500))

    def _start_watcher(
        self, dirs: Sequence[str], watch_filter: Callable[[Any, str], bool], *, recursive: bool,
    ) -> threading.Event:
        stop = threading.Event()
        self.watchers.append(stop)
        step = self._step()

        def watch() -> None:
            import watchfiles

            for changes in watchfiles.watch(
                *dirs, watch_filter=watch_filter, step=step,
                # A file written continuously next to the sources (a log, a database
                # the app updates on every request) must not hold a reload up for long.
                debounce=max(4 * step, 200), stop_event=stop, recursive=recursive,
                ignore_permission_denied=True, raise_interrupt=False,
            ):
                self.dispatcher.post(self._on_changes, {path for _, path in changes})

        self._start_thread(watch, "asyncdev-watch")
        return stop

    def _watch_also(self, files: Sequence[str], *, always: bool) -> None:
        """Watch files outside the reload directories (or, if ``always``, excluded ones)."""
        added = False
        for path in files:
            inside = any(path.startswith(os.path.join(root, "")) for root in self.roots)
            if inside and not always:
                continue
            if path not in self.filter.extra_files:
                self.filter.extra_files.add(path)
                added = added or not inside
            if not inside:
                self.extra_files.add(path)
        if not added:
            return
        if self.extras_watcher is not None:
            self.extras_watcher.set()
            self.watchers.remove(self.extras_watcher)
            self.extras_watcher = None
        watched = frozenset(self.extra_files)
        # Their directories, not recursively: an editor that saves by renaming a new
        # file over the old one would leave a watch on the file itself blind.
        dirs = sorted({os.path.dirname(f) for f in watched if os.path.isdir(os.path.dirname(f))})
        if dirs:
            self.extras_watcher = self._start_watcher(
                dirs, lambda _, path: path in watched, recursive=False
            )

    # -- reloading -------------------------------------------------------------------------

    def _on_changes(self, paths: Collection[str]) -> None:
        # A change seen while a reload waits (for a spare, an old process) comes after.
        self.queued_changes.update(paths)
        if self.reloading:
            return
        self.reloading = True
        requested = not paths  # reload_now: once, even with no file changed
        try:
            while (self.queued_changes or requested) and not self.stopping:
                requested = False
                batch, self.queued_changes = sorted(self.queued_changes), set()
                self._reload(batch)
        finally:
            self.reloading = False
            self.queued_changes.clear()

    def _reload(self, paths: list[str]) -> None:
        self.detected_at = time.monotonic()
        shown = [relative(p, self.cwd) for p in paths]
        listing = ", ".join(f"'{p}'" for p in shown[:3])
        if len(shown) > 3:
            listing += f" and {len(shown) - 3} more"
        if not paths:
            logger.info("Reloading on request")
        else:
            logger.info("Detected change%s in %s, reloading",
                        "s" if len(shown) > 1 else "", listing)
        if self.restart_timer is not None:
            self.restart_timer.cancel()
        self.backoff = _BACKOFF_FIRST

        old, self.current = self.current, None
        if old is not None:
            self._retire(old)
        _invalidate_bytecode(paths)
        spare, self.spare = self.spare, None
        if spare is not None and not self._usable(spare, paths):
            spare.kill()
            spare = None
        if spare is None:
            spare = self._spawn()
        if self.stopping:
            spare.kill()
            return
        self._activate(spare)

    def _retire(self, child: Child) -> None:
        if child.state in ("serving", "failed"):
            # It stops accepting at once and drains; the next process accepts meanwhile.
            child.state = "stopping"
            child.send("stop", handoff=True)
            timer = self.dispatcher.call_later(self.config.reload_grace + _EXIT_MARGIN, child.kill)
            child.on_exit.append(timer.cancel)
        else:
            # Still importing the old code: nothing to drain. Wait for it to be gone so
            # that it cannot write a stale .pyc after we deleted it.
            child.kill()
            self.dispatcher.run_until(lambda: child.exited, 2.0)

    def _usable(self, spare: Child, paths: Sequence[str]) -> bool:
        """A spare that pre-imported a changed file would run the old code."""
        if not spare.ready:
            self.dispatcher.run_until(lambda: spare.ready or spare.exited, _SPARE_WAIT)
        if spare.exited or not spare.ready:
            return False
        return not any(os.path.realpath(p) in spare.files for p in paths)
