"""Server processes: free ports, spawning pinned to a CPU, readiness, and accounting.

A server runs in its own session (process group) so the whole tree can be stopped;
CPU time, RSS/PSS and open file descriptors are summed over that tree from /proc
(psutil where /proc is missing). Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
_HAVE_PROC = Path("/proc/self/stat").exists()
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

try:
    import psutil
except ImportError:  # optional: /proc is enough on Linux
    psutil = None


class StartError(RuntimeError):
    """A server did not answer 200 in time, or exited; carries the tail of its log."""


def free_port() -> int:
    """A port that was free a moment ago (bound then closed); callers retry on a clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def pin_self(cpu: int | None) -> set[int] | None:
    """Pin this process to one CPU; returns the previous affinity to restore later."""
    if cpu is None or not can_pin():
        return None
    previous = set(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return previous


def restore_affinity(previous: set[int] | None) -> None:
    if previous is not None:
        os.sched_setaffinity(0, previous)


# The CPUs this process may use before the run pins itself to the load CPU.
_ALL_CPUS = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def _pinner(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        if _ALL_CPUS is None or set(os.sched_getaffinity(0)) == _ALL_CPUS:
            return None

        def unpin() -> None:
            # Not pinned means every CPU, not the load generator's one that this
            # process is pinned to.
            os.sched_setaffinity(0, _ALL_CPUS)

        return unpin
    if not can_pin():
        return None

    def pin() -> None:
        # Runs in the child before exec: every process the server forks inherits it.
        os.sched_setaffinity(0, {cpu})

    return pin


@dataclass
class ServerProcess:
    """One running server (the root of its process tree) and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path
    spawned_at: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, *, grace: float = 5.0) -> None:
        """SIGTERM to the whole group, then SIGKILL whatever is left after ``grace``."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Reloader children may outlive their parent for a moment: clear the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace)


def spawn(
    name: str,
    cmd: Sequence[str],
    *,
    port: int,
    cwd: Path,
    env: Mapping[str, str],
    cpu: int | None,
    log_dir: Path,
) -> ServerProcess:
    log_path = log_dir / f"{name}-{port}.log"
    with open(log_path, "wb") as log:
        started = time.monotonic()
        popen = subprocess.Popen(
            list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_pinner(cpu),
        )
    return ServerProcess(name, popen, port, log_path, started)


# -- talking to the server -----------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _decode_chunked(data: bytes) -> bytes:
    out = bytearray()
    while data:
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)


def http_get(port: int, path: str = "/", *, timeout: float = 5.0) -> Reply:
    """One ``GET`` on a fresh connection with ``Connection: close``; raises OSError."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionResetError("connection closed before a complete response head")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _decode_chunked(body)
    elif "content-length" in headers and len(body) < int(headers["content-length"]):
        raise ConnectionResetError("connection closed in the middle of the body")
    return Reply(status, headers, body)


def wait_ready(server: ServerProcess, *, timeout: float = 30.0, path: str = "/",
               poll: float = 0.005) -> float:
    """Poll (connect + GET) until a 200 comes back; returns seconds since the spawn.

    Bounded by ``timeout``; raises StartError if the process exits or never answers.
    """
    deadline = server.spawned_at + timeout
    while True:
        if server.popen.poll() is not None:
            raise StartError(f"{server.name} exited with {server.popen.returncode}: "
                             f"{server.log_tail(1)}\n{server.log_tail()}")
        try:
            reply = http_get(server.port, path, timeout=max(0.5, deadline - time.monotonic()))
        except OSError:
            reply = None
        if reply is not None and reply.status == 200:
            return time.monotonic() - server.spawned_at
        if time.monotonic() > deadline:
            raise StartError(f"{server.name} did not answer 200 within {timeout:.0f} s: "
                             f"{server.log_tail(1)}\n{server.log_tail()}")
        time.sleep(poll)


def start_server(
    name: str,
    build: Callable[[int], tuple[list[str], dict[str, str]]],
    *,
    cwd: Path,
    base_env: Mapping[str, str],
    cpu: int | None,
    log_dir: Path,
    timeout: float = 30.0,
    path: str = "/",
    attempts: int = 3,
) -> tuple[ServerProcess, float]:
    """Spawn on a free port and wait for a 200; a port clash is retried on a new port."""
    error: StartError | None = None
    for _ in range(attempts):
        port = free_port()
        cmd, extra_env = build(port)
        server = spawn(name, cmd, port=port, cwd=cwd, env={**base_env, **extra_env}, cpu=cpu,
                       log_dir=log_dir)
        try:
            return server, wait_ready(server, timeout=timeout, path=path)
        except StartError as exc:
            server.stop(grace=2.0)
            error = exc
            if "address already in use" not in str(exc).lower():
                raise
    assert error is not None
    raise error


# -- accounting over the process tree ------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("latin-1")
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces or ')'.
    return raw[raw.rindex(")") + 2:].split()


def tree_pids(root: int) -> list[int]:
    """The root and all its descendants that are alive now."""
    if not _HAVE_PROC:
        if psutil is None:
            return [root]
        try:
            proc = psutil.Process(root)
            return [root, *(c.pid for c in proc.children(recursive=True))]
        except psutil.Error:
            return []
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    result, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid == root and not Path(f"/proc/{root}").exists():
            continue
        result.append(pid)
        todo.extend(children.get(pid, ()))
    return result


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of the tree, plus that of children it already reaped (cutime/cstime)."""
    total = 0.0
    for pid in tree_pids(root):
        if _HAVE_PROC:
            fields = _stat_fields(pid)
            if fields is not None:
                total += sum(int(x) for x in fields[11:15]) / _TICKS
        elif psutil is not None:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
    return total


@dataclass
class Memory:
    rss: int  # bytes, summed over the tree (shared pages counted once per process)
    pss: int | None  # bytes, shared pages divided among their users; None where unknown
    processes: int


def tree_memory(root: int) -> Memory:
    rss = pss = 0
    have_pss = True
    pids = tree_pids(root)
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
            continue
        except OSError:
            have_pss = False
        if psutil is not None:
            with contextlib.suppress(psutil.Error):
                rss += psutil.Process(pid).memory_info().rss
    return Memory(rss, pss if have_pss else None, len(pids))


def tree_fds(root: int) -> int | None:
    total = 0
    for pid in tree_pids(root):
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return total


class PeakSampler:
    """Samples the tree's memory a few times a second while a load runs."""

    def __init__(self, root: int, *, interval: float = 0.25) -> None:
        import threading

        self.root = root
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        mem = tree_memory(self.root)
        self.peak_rss = max(self.peak_rss, mem.rss)
        if mem.pss is not None:
            self.peak_pss = max(self.peak_pss or 0, mem.pss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
