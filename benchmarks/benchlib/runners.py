"""Run one cell: start its servers, measure them round by round, interleaved.

Round r measures every server once (A, B, C, then A, B, C again...), so a burst of
noise from the neighbours hits all servers alike. Each runner returns raw samples per
server; ``report`` turns them into medians and ratios.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import procs
from .cells import Cell
from .pyload import LoadResult, build_request, run_fixed, run_load
from .servers import BENCH_DIR, PY, App, Server
from .wrk import lua_script, run_wrk

MiB = 1024 * 1024


@dataclass
class Options:
    rounds: int
    duration: float
    connections: int | None
    loadgen: str  # "wrk" or "python"
    wrk: str | None
    server_cpu: int | None
    load_cpu: int | None
    workdir: Path
    warmup: float = 1.0
    pin_all: bool = False  # also the cells that run unpinned (Cell.pinned False)
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)


@dataclass
class ServerRun:
    """Everything measured for one server in one cell."""

    name: str
    status: str = "ok"  # ok, skipped, failed
    note: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def fail(self, note: str) -> None:
        self.status = "failed"
        self.note = note.strip().splitlines()[0][:200] if note.strip() else "failed"


def _base_env(app: App) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(app.cwd)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("FLASK_APP", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _start(server: Server, app: App, opt: Options, *, timeout: float = 30.0,
           ) -> tuple[procs.ServerProcess, float]:
    return procs.start_server(
        server.name, lambda port: server.launch(app, port), cwd=app.cwd,
        base_env=_base_env(app), cpu=opt.server_cpu, log_dir=opt.workdir, timeout=timeout)


def _prepare(cell: Cell, chosen: list[Server]) -> dict[str, ServerRun]:
    runs = {}
    for server in chosen:
        run = ServerRun(server.name, note=server.note)
        missing = server.missing()
        if missing:
            run.status, run.note = "skipped", missing
        runs[server.name] = run
    return runs


def _mem_info(memory: procs.Memory) -> dict[str, Any]:
    return {"rss_mib": memory.rss / MiB,
            "pss_mib": None if memory.pss is None else memory.pss / MiB,
            "processes": memory.processes}


# -- throughput ----------------------------------------------------------------------


def _loader(cell: Cell, opt: Options) -> Callable[[int, float], LoadResult]:
    connections = opt.connections or cell.connections
    if opt.loadgen == "wrk":
        assert opt.wrk is not None
        script = lua_script(opt.workdir, cell.name, method=cell.method,
                            body_size=cell.body_size, close=cell.close)
        return lambda port, seconds: run_wrk(opt.wrk or "wrk", port, script,
                                             connections=connections, duration=seconds,
                                             cpu=opt.load_cpu)

    def python_load(port: int, seconds: float) -> LoadResult:
        request = build_request(port, method=cell.method, body=b"x" * cell.body_size,
                                close=cell.close)
        return run_load(port, request, connections=connections, duration=seconds)

    return python_load


def run_throughput(cell: Cell, chosen: list[Server], opt: Options) -> dict[str, ServerRun]:
    runs = _prepare(cell, chosen)
    load = _loader(cell, opt)
    live: dict[str, procs.ServerProcess] = {}
    try:
        for server in chosen:
            run = runs[server.name]
            if run.status != "ok":
                continue
            app = server.app or cell.app
            try:
                proc, startup = _start(server, app, opt)
            except procs.StartError as exc:
                run.fail(str(exc))
                opt.log(f"[{cell.name}] {server.name}: failed to start\n{exc}")
                continue
            live[server.name] = proc
            time.sleep(0.3)  # let lazy start-up work finish before calling it idle
            run.info["startup_s"] = startup
            run.info["idle"] = _mem_info(procs.tree_memory(proc.pid))
            try:
                load(proc.port, opt.warmup)  # first connections, lazy imports, caches
            except (RuntimeError, OSError) as exc:
                opt.log(f"[{cell.name}] {server.name}: warm-up failed: {exc}")
        for round_no in range(opt.rounds):
            for server in chosen:
                run = runs[server.name]
                proc_or_none = live.get(server.name)
                if run.status != "ok" or proc_or_none is None:
                    continue
                proc = proc_or_none
                if not proc.alive():
                    run.fail(f"exited during the run: {proc.log_tail(3)}")
                    continue
                cpu_before = procs.tree_cpu_seconds(proc.pid)
                try:
                    with procs.PeakSampler(proc.pid) as peak:
                        result = load(proc.port, opt.duration)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                    run.fail(f"load failed: {exc}")
                    continue
                cpu = procs.tree_cpu_seconds(proc.pid) - cpu_before
                sample = {
                    "rps": result.rps, "requests": result.requests, "errors": result.errors,
                    "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
                    "cpu_us_per_req": cpu / result.requests * 1e6 if result.requests else None,
                    "peak_rss_mib": peak.peak_rss / MiB,
                    "peak_pss_mib": None if peak.peak_pss is None else peak.peak_pss / MiB,
                    "tool": result.tool,
                }
                run.samples.append(sample)
                opt.log(f"[{cell.name}] round {round_no + 1}/{opt.rounds} {server.name}: "
                        f"{result.rps:,.0f} req/s, {sample['cpu_us_per_req'] or 0:.0f} us "
                        f"CPU/req, {result.errors} errors")
    finally:
        for proc in live.values():
            proc.stop()
    return runs


# -- startup and idle memory -----------------------------------------------------------


def _fresh_copy(app: App, opt: Options, label: str) -> App:
    """A private copy of the app's directory (reload servers watch and edit it)."""
    target = opt.workdir / label
    if target.exists():
        shutil.rmtree(target)
    if app.cwd == BENCH_DIR / "apps":
        target.mkdir(parents=True)
        module = app.target.partition(":")[0]
        # Written, not copied: fresh mtimes, so no stale bytecode can match them.
        (target / f"{module}.py").write_text((app.cwd / f"{module}.py").read_text())
    else:
        shutil.copytree(app.cwd, target, ignore=shutil.ignore_patterns("__pycache__"))
    return replace(app, cwd=target)


def _fresh_starts(
    cell: Cell, chosen: list[Server], opt: Options, runs: dict[str, ServerRun], label: str,
) -> Iterator[tuple[int, Server, ServerRun, App, procs.ServerProcess, float]]:
    """Round after round, each server still in the running, started on a fresh copy of
    its app: (round, server, run, app, process, seconds to first response). A server
    that fails to start fails its run and is not yielded."""
    for round_no in range(opt.rounds):
        for server in chosen:
            run = runs[server.name]
            if run.status != "ok":
                continue
            app = _fresh_copy(server.app or cell.app, opt, f"{label}-{server.name}")
            try:
                proc, seconds = _start(server, app, opt)
            except procs.StartError as exc:
                run.fail(str(exc))
                continue
            yield round_no, server, run, app, proc, seconds


def run_startup(cell: Cell, chosen: list[Server], opt: Options) -> dict[str, ServerRun]:
    runs = _prepare(cell, chosen)
    if not cell.pinned and not opt.pin_all:
        opt = replace(opt, server_cpu=None)
    for round_no, server, run, _, proc, seconds in _fresh_starts(
        cell, chosen, opt, runs, "startup"
    ):
        proc.stop()
        run.samples.append({"ms": seconds * 1000})
        opt.log(f"[{cell.name}] round {round_no + 1}/{opt.rounds} {server.name}: "
                f"{seconds * 1000:.0f} ms")
    return runs


def run_idle_memory(cell: Cell, chosen: list[Server], opt: Options,
                    *, settle: float = 2.0) -> dict[str, ServerRun]:
    runs = _prepare(cell, chosen)
    for round_no, server, run, _, proc, _ in _fresh_starts(cell, chosen, opt, runs, "idle"):
        try:
            # "Idle" is defined as this long after the first response: reloaders
            # start their workers (and spares) in the background.
            time.sleep(settle)
            sample = _mem_info(procs.tree_memory(proc.pid))
        finally:
            proc.stop()
        run.samples.append(sample)
        opt.log(f"[{cell.name}] round {round_no + 1}/{opt.rounds} {server.name}: "
                f"RSS {sample['rss_mib']:.1f} MiB in {sample['processes']} processes")
    return runs


# -- reload ------------------------------------------------------------------------------


class _Poller(threading.Thread):
    """Requests the page on fresh connections every ``interval`` and logs each outcome."""

    def __init__(self, port: int, *, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.events: list[tuple[float, bool]] = []  # (end time, success)
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.marker: bytes | None = None
        self.seen_at: float | None = None
        self.seen = threading.Event()
        self.first_ok = threading.Event()

    def watch(self, marker: str) -> None:
        with self.lock:
            self.marker, self.seen_at = marker.encode(), None
            self.seen.clear()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                reply = procs.http_get(self.port, timeout=10.0)
                ok, body = reply.status == 200, reply.body
            except (OSError, ValueError, IndexError):
                ok, body = False, b""
            end = time.monotonic()
            with self.lock:
                self.events.append((end, ok))
                if ok:
                    self.first_ok.set()
                if ok and self.marker is not None and self.seen_at is None \
                        and self.marker in body:
                    self.seen_at = end
                    self.seen.set()
            self.halt.wait(self.interval)

    def failures(self, start: float, end: float) -> tuple[int, int]:
        with self.lock:
            window = [ok for t, ok in self.events if start <= t <= end]
        return sum(1 for ok in window if not ok), len(window)


_MARKER_LINE = re.compile(r'^MARKER = ".*"$', re.MULTILINE)


def _edit(path: Path, marker: str) -> None:
    text = _MARKER_LINE.sub(f'MARKER = "{marker}"', path.read_text(), count=1)
    with open(path, "w") as f:  # in place, as most editors save
        f.write(text)


def run_reload(cell: Cell, chosen: list[Server], opt: Options, *, settle: float = 1.0,
               after: float = 0.5, timeout: float = 20.0) -> dict[str, ServerRun]:
    runs = _prepare(cell, chosen)
    edit_no = 0
    for round_no, server, run, app, proc, _ in _fresh_starts(cell, chosen, opt, runs,
                                                             cell.name):
        poller = _Poller(proc.port)
        try:
            assert app.edit_file is not None
            # Nobody saves within a second of starting the server; reloaders use
            # that time to arm their watchers.
            time.sleep(settle)
            poller.start()
            if not poller.first_ok.wait(timeout):
                run.fail("no successful request before the edit")
                continue
            edit_no += 1
            # A new size on every edit: the latency measured is the reload's own,
            # not that of a stale-bytecode mishap (tested elsewhere).
            marker = f"edit-{edit_no}" + "." * edit_no
            poller.watch(marker)
            t0 = time.monotonic()
            _edit(app.cwd / app.edit_file, marker)
            if not poller.seen.wait(timeout):
                failed, total = poller.failures(t0, time.monotonic())
                run.samples.append({"ms": None, "failed": failed, "requests": total})
                run.fail(f"new code not served within {timeout:.0f} s")
                continue
            assert poller.seen_at is not None
            latency = poller.seen_at - t0
            time.sleep(after)  # failures right after the switch count too
            failed, total = poller.failures(t0, poller.seen_at + after)
            run.samples.append({"ms": latency * 1000, "failed": failed, "requests": total})
            opt.log(f"[{cell.name}] round {round_no + 1}/{opt.rounds} {server.name}: "
                    f"{latency * 1000:.0f} ms, {failed} failed of {total}")
        finally:
            poller.halt.set()
            if poller.is_alive():
                poller.join(timeout=15)
            proc.stop()
    return runs


# -- WebSocket echo ------------------------------------------------------------------------


def _ws_load(port: int, *, connections: int, duration: float, cpu: int | None,
             server_pid: int) -> tuple[dict[str, Any], float]:
    """Run the client process; returns its JSON result and the server CPU seconds used."""
    cmd = [PY, str(BENCH_DIR / "benchlib" / "wsload.py"), "--port", str(port),
           "--connections", str(connections), "--duration", str(duration)]
    pin = None
    if cpu is not None and procs.can_pin():
        def pin() -> None:
            os.sched_setaffinity(0, {cpu})
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=pin) as client:
        assert client.stdout is not None and client.stderr is not None
        cpu_before = None
        result = None
        deadline = threading.Timer(duration + 60, client.kill)
        deadline.start()
        try:
            for line in client.stdout:
                if line.strip() == "READY":
                    cpu_before = procs.tree_cpu_seconds(server_pid)
                elif line.startswith("{"):
                    cpu_after = procs.tree_cpu_seconds(server_pid)
                    result = json.loads(line)
            err = client.stderr.read()
        finally:
            deadline.cancel()
    if result is None or cpu_before is None:
        raise RuntimeError(f"WebSocket client failed: {err.strip()[-300:]}")
    return result, cpu_after - cpu_before


def run_ws_echo(cell: Cell, chosen: list[Server], opt: Options) -> dict[str, ServerRun]:
    runs = _prepare(cell, chosen)
    connections = opt.connections or cell.connections
    live: dict[str, procs.ServerProcess] = {}
    try:
        for server in chosen:
            run = runs[server.name]
            if run.status != "ok":
                continue
            try:
                proc, _ = _start(server, server.app or cell.app, opt)
            except procs.StartError as exc:
                run.fail(str(exc))
                continue
            live[server.name] = proc
            run.info["idle"] = _mem_info(procs.tree_memory(proc.pid))
            try:
                _ws_load(proc.port, connections=connections, duration=opt.warmup,
                         cpu=opt.load_cpu, server_pid=proc.pid)
            except RuntimeError as exc:
                run.fail(str(exc))
        for round_no in range(opt.rounds):
            for server in chosen:
                run = runs[server.name]
                proc_or_none = live.get(server.name)
                if run.status != "ok" or proc_or_none is None:
                    continue
                proc = proc_or_none
                try:
                    with procs.PeakSampler(proc.pid) as peak:
                        result, cpu = _ws_load(proc.port, connections=connections,
                                               duration=opt.duration, cpu=opt.load_cpu,
                                               server_pid=proc.pid)
                except RuntimeError as exc:
                    run.fail(str(exc))
                    continue
                messages = result["messages"]
                sample = {
                    "mps": messages / result["duration"], "messages": messages,
                    "errors": result["errors"], "p50_ms": result["p50_ms"],
                    "p99_ms": result["p99_ms"],
                    "cpu_us_per_msg": cpu / messages * 1e6 if messages else None,
                    "peak_rss_mib": peak.peak_rss / MiB,
                }
                run.samples.append(sample)
                opt.log(f"[{cell.name}] round {round_no + 1}/{opt.rounds} {server.name}: "
                        f"{sample['mps']:,.0f} msg/s, {result['errors']} errors")
    finally:
        for proc in live.values():
            proc.stop()
    return runs


# -- soak --------------------------------------------------------------------------------------


def _fds_back(pid: int, baseline: int, timeout: float = 5.0) -> int | None:
    """Open descriptors once they return to the baseline (closing is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        fds = procs.tree_fds(pid)
        if fds is None or fds <= baseline or time.monotonic() > deadline:
            return fds
        time.sleep(0.05)


def run_soak(cell: Cell, chosen: list[Server], opt: Options, *, per_connection: int = 50,
             ) -> dict[str, ServerRun]:
    runs = _prepare(cell, chosen)
    connections = opt.connections or cell.connections
    soak_rounds = max(2, min(opt.rounds, 3))
    for server in chosen:
        run = runs[server.name]
        if run.status != "ok":
            continue
        try:
            proc, _ = _start(server, server.app or cell.app, opt)
        except procs.StartError as exc:
            run.fail(str(exc))
            continue
        try:
            time.sleep(0.3)
            baseline_fds = procs.tree_fds(proc.pid)
            baseline = procs.tree_memory(proc.pid)
            run.info.update(baseline_fds=baseline_fds, idle=_mem_info(baseline))
            request = build_request(proc.port)
            for round_no in range(soak_rounds):
                result = run_fixed(proc.port, request, connections=connections,
                                   per_connection=per_connection)
                fds = _fds_back(proc.pid, baseline_fds or 0)
                memory = procs.tree_memory(proc.pid)
                run.samples.append({"requests": result.requests, "errors": result.errors,
                                    "rps": result.rps, "fds": fds, **_mem_info(memory)})
                opt.log(f"[{cell.name}] round {round_no + 1}/{soak_rounds} {server.name}: "
                        f"{result.requests} requests, {result.errors} errors, "
                        f"RSS {memory.rss / MiB:.1f} MiB, {fds} fds (baseline {baseline_fds})")
            if not proc.alive():
                run.fail("the server exited during the soak")
        finally:
            proc.stop()
    return runs


RUNNERS: dict[str, Callable[[Cell, list[Server], Options], dict[str, ServerRun]]] = {
    "throughput": run_throughput,
    "startup": run_startup,
    "idle-memory": run_idle_memory,
    "reload": run_reload,
    "ws-echo": run_ws_echo,
    "soak": run_soak,
}
