"""The reload supervisor: owns the listening socket and the watcher, replaces server processes.

``supervise(config)`` binds once, then runs the user's command line again in a fresh
interpreter (``_child.main``) that inherits the socket, and on each relevant file change
tells that process to drain and starts the next one at once, from a spare interpreter
kept ready with asyncdev imported. Connections arriving in between wait in the listen
backlog. It never imports the user's code, nor the HTTP layers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ._child import ENV_VAR, RELOAD_GRACE
from ._entry import EntryPlan, entry_plan
from ._errors import ConfigError
from ._watch import ReloadFilter, default_reload_dirs, relative

if TYPE_CHECKING:
    from ._config import Config

__all__ = ["Supervisor", "reload_unavailable", "supervise"]

logger = logging.getLogger("asyncdev.error")

_BOOT = "from asyncdev._child import main; main()"
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


def supervise(config: Config) -> int:
    """Serve ``config`` with reload until Ctrl+C or SIGTERM; the process exit code."""
    plan = entry_plan(sys.orig_argv)
    if isinstance(plan, str):
        raise ConfigError(f"reload: {plan}; run it as a script or with python -m")
    supervisor = Supervisor(config, plan)
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(supervisor.run())
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()


# --- one server process -------------------------------------------------------------------


class Child:
    """A server process and the supervisor's end of its control socket."""

    def __init__(self, proc: subprocess.Popen[bytes], writer: asyncio.StreamWriter) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.writer = writer
        self.state = "starting"  # ready, active, serving, failed, stopping
        self.ready = asyncio.Event()
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.files: frozenset[str] = frozenset()
        self.error_page_only = False
        self.killed = False
        self.timings: dict[str, float] = {}

    def send(self, message_type: str, /, **fields: Any) -> None:
        fields["t"] = message_type
        if not self.writer.is_closing():
            self.writer.write(json.dumps(fields).encode() + b"\n")

    def kill(self) -> None:
        if not self.exited.done():
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


class Supervisor:
    def __init__(self, config: Config, plan: EntryPlan) -> None:
        self.config = config
        self.plan = plan
        self.cwd = os.getcwd()
        self.roots = self._reload_dirs()
        self.filter = ReloadFilter(
            roots=self.roots, includes=config.reload_includes,
            excludes=config.reload_excludes, cwd=self.cwd,
        )
        self.sockets: list[socket.socket] = []
        self.handoff: tuple[socket.socket, ...] = ()
        self.children: set[Child] = set()
        self.current: Child | None = None
        self.spare: Child | None = None
        self.stopping = False
        self.signals = 0
        self.stop_requested = asyncio.Event()
        self.backoff = _BACKOFF_FIRST
        self.banner_printed = False
        self.restart_handle: asyncio.TimerHandle | None = None
        self.extra_files: set[str] = set()
        self.extras_task: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.detected_at = 0.0
        self.warm: list[str] = []

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

    async def run(self) -> int:
        from ._sockets import bind_sockets

        loop = asyncio.get_running_loop()
        self.sockets = bind_sockets(self.config.replace(reload=False))
        # Idle keep-alive connections travel from the old process to the new one here.
        self.handoff = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal)
            self._spawn_task(self._watch())
            if self.config.env_file:
                # Each child reads the file afresh; editing it is a change like any other.
                self._watch_also([os.path.abspath(self.config.env_file)], always=True)
            self._spawn_task(self._scan_environments())
            first = await self._spawn()
            self._activate(first)
            await self.stop_requested.wait()
            await self._shutdown()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for sock in (*self.sockets, *self.handoff):
                sock.close()
            if self.config.uds:
                with contextlib.suppress(OSError):
                    os.unlink(self.config.uds)
        return 0

    def _spawn_task(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Reload supervisor failure", exc_info=task.exception())
            self.stop_requested.set()

    def _on_signal(self) -> None:
        self.signals += 1
        # The signal may have reached the whole process group: children exiting now
        # are not failures.
        self.stopping = True
        if self.signals == 1:
            self.stop_requested.set()
        else:
            for child in list(self.children):
                child.kill()

    async def _shutdown(self) -> None:
        self.stopping = True
        if self.restart_handle is not None:
            self.restart_handle.cancel()
        for child in list(self.children):
            if child.state in ("serving", "failed"):
                child.state = "stopping"
                child.send("stop")
            else:
                child.kill()
        pending = [c.exited for c in self.children if not c.exited.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.config.timeout_graceful_shutdown)
        for child in list(self.children):
            child.kill()
        pending = [c.exited for c in self.children if not c.exited.done()]
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    # -- processes -------------------------------------------------------------------------

    async def _spawn(self) -> Child:
        parent_end, child_end = socket.socketpair()
        fds = [sock.fileno() for sock in self.sockets]
        env = dict(os.environ)
        handoff = [sock.fileno() for sock in self.handoff]
        env[ENV_VAR] = (
            f"{child_end.fileno()}:{','.join(map(str, fds))}:{os.getpid()}:"
            f"{','.join(map(str, handoff))}"
        )
        try:
            # From the loop's (main) thread: PR_SET_PDEATHSIG fires when the thread
            # that forked the child exits, not only the process.
            proc = subprocess.Popen(
                [sys.executable, *self.plan.flags, "-c", _BOOT],
                env=env, pass_fds=(child_end.fileno(), *fds, *handoff),
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent_end)
        child = Child(proc, writer)
        self.children.add(child)
        child.send(
            "plan", kind=self.plan.kind, target=self.plan.target, args=list(self.plan.args),
            path0=self.plan.path0, orig_argv=list(sys.orig_argv),
            config=_json_config(self.config), warm=self.warm,
        )
        self._spawn_task(self._read(child, reader))
        self._watch_exit(child)
        return child

    def _watch_exit(self, child: Child) -> None:
        loop = asyncio.get_running_loop()

        def reaped(code: int) -> None:
            if not child.exited.done():
                child.exited.set_result(code)
                self._on_exit(child, code)

        try:
            pidfd = os.pidfd_open(child.pid)
        except (AttributeError, OSError):
            future = loop.run_in_executor(None, child.proc.wait)
            future.add_done_callback(lambda f: reaped(f.result()))
            return

        def readable() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            reaped(child.proc.wait())

        loop.add_reader(pidfd, readable)

    async def _read(self, child: Child, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                self._on_message(child, json.loads(line))
        except (OSError, ValueError):
            pass  # the process died mid-message; its exit is handled on its own
        finally:
            child.writer.close()

    def _on_message(self, child: Child, message: dict[str, Any]) -> None:
        kind = message["t"]
        now = time.monotonic()
        if kind == "ready":
            child.files = frozenset(message["files"])
            child.timings["warm"] = message["warm_ms"]
            if child.state == "starting":
                child.state = "ready"
            child.ready.set()
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
        elif kind == "modules" and child is self.current:
            self.warm = message["warm"]
            self._watch_also(message["files"], always=False)
            # Started now rather than at "serving": it would compete for the CPU with
            # the first requests, and the next spare imports what this one used.
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
        from . import __version__
        from ._logging import print_banner
        from ._sockets import format_url

        config = self.config
        app = config.app
        description = message.get("description") or (
            app if isinstance(app, str) else getattr(app, "__qualname__", "the app")
        )
        addresses = [sock.getsockname() for sock in self.sockets]
        port = addresses[0][1] if addresses and isinstance(addresses[0], tuple) else None
        print_banner(
            version=__version__,
            app_description=str(description),
            interface=message.get("interface") or config.interface,
            loop_name=message.get("loop") or config.loop,
            urls=[format_url(a, config.scheme) for a in addresses],
            reload=True,
            bound_all_interfaces=config.uds is None and config.host in ("0.0.0.0", "::", ""),
            port=port,
            scheme=config.scheme,
            colour=config.use_colors,
            reload_dirs=[relative(r, self.cwd) if r != self.cwd else r for r in self.roots],
        )
        sys.stdout.flush()

    def _activate(self, child: Child, *, error: str | None = None) -> None:
        child.state = "active"
        child.timings["go"] = time.monotonic()
        child.error_page_only = error is not None
        child.send("go", env=dict(os.environ), error=error)
        self.current = child

    def _ensure_spare(self) -> None:
        if self.stopping or self.spare is not None:
            return

        async def start_spare() -> None:
            spare = await self._spawn()
            if self.stopping or self.spare is not None:
                spare.kill()
            else:
                self.spare = spare

        self.spare = None
        self._spawn_task(start_spare())

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
            loop = asyncio.get_running_loop()
            self.restart_handle = loop.call_later(
                self.backoff, lambda: self._spawn_task(self._restart())
            )
            self.backoff = min(self.backoff * 2, _BACKOFF_MAX)
        elif not child.error_page_only:
            message = (
                f"The server process exited ({_describe_exit(code)}) before serving. "
                "Fix the problem and save: the server restarts by itself."
            )
            logger.error("%s", message)
            self._spawn_task(self._restart(error=message))

    async def _restart(self, *, error: str | None = None) -> None:
        if self.stopping or self.current is not None:
            return
        child, self.spare = self.spare, None
        if child is None or child.exited.done():
            child = await self._spawn()
        if self.stopping or self.current is not None:
            child.kill()
            return
        self._activate(child, error=error)

    # -- reloading -------------------------------------------------------------------------

    def _step(self) -> int:
        """watchfiles' step in ms: changes are yielded once no new file has changed for
        one step, checked every step, so an editor's writes are grouped for between
        one and two steps: half of --reload-delay, up to all of it."""
        return max(1, round(self.config.reload_delay * 500))

    async def _watch(self) -> None:
        import watchfiles

        step = self._step()
        async for changes in watchfiles.awatch(
            *self.roots,
            watch_filter=self.filter,
            step=step,
            # A file written continuously next to the sources (a log, a database the
            # app updates on every request) must not hold a reload up for long.
            debounce=max(4 * step, 200),
            ignore_permission_denied=True,
        ):
            await self._reload(sorted({path for _, path in changes}))

    async def _watch_extras(self, files: frozenset[str]) -> None:
        import watchfiles

        step = self._step()
        # Their directories, not recursively: an editor that saves by renaming a new
        # file over the old one would leave a watch on the file itself blind.
        dirs = sorted({os.path.dirname(f) for f in files if os.path.isdir(os.path.dirname(f))})
        if not dirs:
            return
        async for changes in watchfiles.awatch(
            *dirs, watch_filter=lambda _, path: path in files, step=step,
            debounce=max(4 * step, 200), recursive=False, ignore_permission_denied=True,
        ):
            await self._reload(sorted({path for _, path in changes}))

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
        if added:
            if self.extras_task is not None:
                self.extras_task.cancel()
            self.extras_task = self._spawn_task(self._watch_extras(frozenset(self.extra_files)))

    async def _scan_environments(self) -> None:
        """Find the virtual environments below the roots before their files change."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.filter.scan_environments)

    async def _reload(self, paths: list[str]) -> None:
        if self.stopping:
            return
        self.detected_at = time.monotonic()
        shown = [relative(p, self.cwd) for p in paths]
        listing = ", ".join(f"'{p}'" for p in shown[:3])
        if len(shown) > 3:
            listing += f" and {len(shown) - 3} more"
        logger.info("Detected change%s in %s, reloading", "s" if len(shown) > 1 else "", listing)
        if self.restart_handle is not None:
            self.restart_handle.cancel()
        self.backoff = _BACKOFF_FIRST

        old, self.current = self.current, None
        if old is not None:
            await self._retire(old)
        _invalidate_bytecode(paths)
        spare, self.spare = self.spare, None
        if spare is not None and not await self._usable(spare, paths):
            spare.kill()
            spare = None
        if spare is None:
            spare = await self._spawn()
        if self.stopping:
            spare.kill()
            return
        self._activate(spare)

    async def _retire(self, child: Child) -> None:
        if child.state in ("serving", "failed"):
            # It stops accepting at once and drains; the next process accepts meanwhile.
            child.state = "stopping"
            child.send("stop", handoff=True)
            loop = asyncio.get_running_loop()
            handle = loop.call_later(RELOAD_GRACE + _EXIT_MARGIN, child.kill)
            child.exited.add_done_callback(lambda _: handle.cancel())
        else:
            # Still importing the old code: nothing to drain. Wait for it to be gone so
            # that it cannot write a stale .pyc after we deleted it.
            child.kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(child.exited), 2.0)

    async def _usable(self, spare: Child, paths: Sequence[str]) -> bool:
        """A spare that pre-imported a changed file would run the old code."""
        if not spare.ready.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(spare.ready.wait(), _SPARE_WAIT)
        if spare.exited.done() or not spare.ready.is_set():
            return False
        return not any(os.path.realpath(p) in spare.files for p in paths)
