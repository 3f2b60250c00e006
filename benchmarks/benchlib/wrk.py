"""Drive ``wrk`` (one thread, pinned to the load CPU) and read its results as JSON.

A generated Lua script sets the method, body and headers, and its ``done()`` hook prints
one machine-readable line: request and error counts and latency percentiles.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

from .procs import HOST, can_pin
from .pyload import LoadResult

_MARK = "BENCH_RESULT "

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    MARK, summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def find_wrk() -> str | None:
    return shutil.which("wrk")


def lua_script(directory: Path, name: str, *, method: str = "GET", body_size: int = 0,
               close: bool = False) -> Path:
    lines = [f'MARK = "{_MARK}"', f'wrk.method = "{method}"']
    if body_size:
        # wrk adds Content-Length itself when a body is set.
        lines.append(f'wrk.body = string.rep("x", {body_size})')
        lines.append('wrk.headers["Content-Type"] = "application/octet-stream"')
    if close:
        lines.append('wrk.headers["Connection"] = "close"')
    path = directory / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n" + _DONE)
    return path


def run_wrk(wrk: str, port: int, script: Path, *, path: str = "/", connections: int,
            duration: float, cpu: int | None) -> LoadResult:
    seconds = max(1, math.ceil(duration))  # wrk takes whole seconds
    cmd = [wrk, "-t1", f"-c{max(1, connections)}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(script), f"http://{HOST}:{port}{path}"]
    pin = None
    if cpu is not None and can_pin():
        def pin() -> None:
            os.sched_setaffinity(0, {cpu})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                          preexec_fn=pin, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            data = json.loads(line[len(_MARK):])
            errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
            return LoadResult(
                requests=data["requests"], duration=data["duration_us"] / 1e6, errors=errors,
                p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000, tool="wrk")
    raise RuntimeError(f"wrk gave no result (exit {proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()[-500:]}")
