"""Where asyncdev's cold start goes: the phases from spawn to the first 200 response.

Runs ``python -m asyncdev`` on the Flask, FastAPI and Django projects of ``apps/``,
with reload and without, and times each phase in the real processes: a
``sitecustomize`` on PYTHONPATH records the moments on the machine's monotonic clock
(shared by every process), the harness records the spawn and the first 200. Medians of
the rounds, in milliseconds::

    python benchmarks/startup_phases.py --rounds 7
    python benchmarks/startup_phases.py --projects flask --modes reload

The recording costs a little (one wrapped ``__import__``), so the totals run a few
milliseconds above ``run.py --cells startup-*``; compare phases with each other, and
totals with that cell.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
PROJECTS = {
    "flask": (APPS, "flask_hello:app", ["flask_hello.py"]),
    "fastapi": (APPS, "fastapi_hello:app", ["fastapi_hello.py"]),
    "django": (APPS / "djproject", "benchproject.wsgi:application", None),
}

# Written into each process (supervisor and server alike): each mark is one line,
# appended as it happens, so a process that never exits cleanly still tells.
SITECUSTOMIZE = r'''
import builtins, os, sys, time

_out = os.environ.get("PHASES_DIR")
if _out:
    _path = os.path.join(_out, "%d.txt" % os.getpid())
    _server = "_ASYNCDEV_RELOAD_CHILD" in os.environ

    def _mark(name):
        with open(_path, "a") as f:
            f.write("%.6f %s %s\n" % (time.monotonic(), "server" if _server else "main", name))

    _mark("site")
    _original = builtins.__import__
    _timed = {"asyncio": "asyncio", "h11": "h11", "uvloop": "uvloop", "a2wsgi": "a2wsgi"}
    _seen = set()

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        key = _timed.get(name.partition(".")[0]) if level == 0 else None
        first = key is not None and key not in sys.modules and key not in _seen
        if first:
            _seen.add(key)
            _mark("import %s >" % key)
        try:
            return _original(name, globals, locals, fromlist, level)
        finally:
            if first:
                _mark("import %s <" % key)
            _hook()

    _hooked = set()

    def _wrap(owner, attr, label):
        function = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            _mark(label + " >")
            try:
                return function(*args, **kwargs)
            finally:
                _mark(label + " <")

        setattr(owner, attr, wrapper)

    def _hook():
        importer = sys.modules.get("asyncdev._importer")
        if importer is not None and "load" not in _hooked and hasattr(importer, "load_app"):
            _hooked.add("load")
            _wrap(importer, "load_app", "app")
        early = sys.modules.get("asyncdev._reload.early")
        if early is not None and "spawn" not in _hooked and hasattr(early, "_spawn"):
            _hooked.add("spawn")
            _wrap(early, "_spawn", "spawn")
        connection = sys.modules.get("asyncdev._server.connection")
        ready = connection is not None and hasattr(connection, "HTTPConnection")
        if ready and "conn" not in _hooked:
            _hooked.add("conn")
            made = connection.HTTPConnection.connection_made

            def connection_made(self, transport):
                if "accepted" not in _hooked:
                    _hooked.add("accepted")
                    _mark("accepted")
                return made(self, transport)

            connection.HTTPConnection.connection_made = connection_made

    builtins.__import__ = _import
'''

# (label, start mark, end mark): the rows of the table, in order. Marks are
# "<process> <name>"; "spawn" and "first 200" are the harness's.
PHASES = [
    ("interpreter start (spawn to site)", "spawn", "main site"),
    ("supervisor: until the server process is spawned", "main site", "main spawn <"),
    ("server process: interpreter start", "main spawn <", "server site"),
    ("asyncdev, its command line and serving path", "{proc} site", "{proc} app >"),
    ("the app: framework and project", "{proc} app >", "{proc} app <"),
    ("checks, the WSGI bridge, listening, accepting", "{proc} app <", "{proc} accepted"),
    ("first response", "{proc} accepted", "first 200"),
    ("total: spawn to first 200", "spawn", "first 200"),
    ("within those: importing asyncio", "{proc} import asyncio >", "{proc} import asyncio <"),
    ("within those: importing h11", "{proc} import h11 >", "{proc} import h11 <"),
    ("within those: importing uvloop", "{proc} import uvloop >", "{proc} import uvloop <"),
    ("within those: importing a2wsgi", "{proc} import a2wsgi >", "{proc} import a2wsgi <"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_200(port: int, proc: subprocess.Popen[bytes], deadline: float) -> float:
    request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(request)
                if sock.recv(16).startswith(b"HTTP/1.1 200"):
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.002)  # polling interval, as run.py's readiness poll
    raise RuntimeError("no 200 within the deadline")


def _one(project: str, reload: bool, work: Path) -> dict[str, float]:
    source, target, files = PROJECTS[project]
    copy = work / f"{project}-{'reload' if reload else 'noreload'}"
    if copy.exists():
        shutil.rmtree(copy)
    if files is None:
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        copy.mkdir(parents=True)
        for name in files:
            (copy / name).write_text((source / name).read_text())
    marks_dir = work / "marks"
    if marks_dir.exists():
        shutil.rmtree(marks_dir)
    marks_dir.mkdir()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(work / "site"), str(copy)])
    env["PHASES_DIR"] = str(marks_dir)
    port = _free_port()
    cmd = [sys.executable, "-m", "asyncdev", target, f"127.0.0.1:{port}", "--no-access-log",
           "--log-level", "warning"]
    if not reload:
        cmd.append("--no-reload")
    spawned = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=copy, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        answered = _first_200(port, proc, spawned + 30)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    marks = {"spawn": spawned, "first 200": answered}
    for path in marks_dir.iterdir():
        for line in path.read_text().splitlines():
            stamp, name = line.split(" ", 1)
            marks.setdefault(name, float(stamp))  # the first of each (the first server)
    return marks


def _phases(marks: dict[str, float], reload: bool) -> dict[str, float]:
    proc = "server" if reload else "main"
    result = {}
    for label, start, end in PHASES:
        start, end = start.format(proc=proc), end.format(proc=proc)
        if start in marks and end in marks:
            result[label] = (marks[end] - marks[start]) * 1000
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--projects", default="flask,fastapi,django")
    parser.add_argument("--modes", default="noreload,reload")
    args = parser.parse_args(argv)
    projects = args.projects.split(",")
    modes = [mode == "reload" for mode in args.modes.split(",")]
    with tempfile.TemporaryDirectory(prefix="asyncdev-phases-") as tmp:
        work = Path(tmp)
        (work / "site").mkdir()
        (work / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
        columns: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.rounds):
            for project in projects:
                for reload in modes:
                    name = f"{project} {'reload' if reload else 'no reload'}"
                    phases = _phases(_one(project, reload, work), reload)
                    for label, value in phases.items():
                        columns.setdefault(name, {}).setdefault(label, []).append(value)
    names = list(columns)
    print(f"# asyncdev start-up phases, ms (median of {args.rounds}; Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs)\n")
    print("| phase | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, _, _ in PHASES:
        cells = []
        for name in names:
            values = columns[name].get(label)
            cells.append(f"{statistics.median(values):.0f}" if values else "")
        if any(cells):
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
