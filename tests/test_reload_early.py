"""The first server process starts before the command line is read (``_reload.early``).

With reload on, ``python -m asyncdev`` starts its server process first, so that the
new interpreter imports the serving path while the supervisor reads the command line,
finds the app and binds. These tests hold the supervisor inside the command line's
parsing (a ``sitecustomize`` on PYTHONPATH makes ``asyncdev._cli.build`` wait for a
file) and look at its real child processes meanwhile.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncdev._reload import early
from asyncdev._reload.control import CHILD_ENV_VAR, Channels
from reload_helpers import Supervised, child_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc; the early start needs POSIX")

PID_APP = '''\
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
'''

# In the supervisor only (a server process has the channels variable at start): the
# command line is read once the test creates the gate file.
GATE_SITE = """\
import os
import time

if %(env_var)r not in os.environ and os.environ.get("EARLY_GATE"):
    import asyncdev._cli as _cli

    _build = _cli.build

    def _gated_build(*args, **kwargs):
        gate = os.environ["EARLY_GATE"]
        open(gate + ".reading", "w").close()
        deadline = time.monotonic() + 30
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        return _build(*args, **kwargs)

    _cli.build = _gated_build
"""


def _gated(tmp_path: Path, *args: str, **env: str) -> tuple[Supervised, Path]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(GATE_SITE % {"env_var": CHILD_ENV_VAR})
    gate = tmp_path / "gate"
    environment = child_env(EARLY_GATE=str(gate), **env)
    environment["PYTHONPATH"] = str(site) + os.pathsep + environment["PYTHONPATH"]
    (tmp_path / "app.py").write_text(PID_APP)
    proc = Supervised([sys.executable, "-m", "asyncdev", "app:app", "--port", "0", *args],
                      tmp_path, environment)
    return proc, gate


def _wait_file(path: Path, proc: Supervised, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.proc.poll() is None, proc.output
        assert time.monotonic() < deadline, f"{path} never appeared\n{proc.output}"
        time.sleep(0.01)  # polling interval, not a readiness wait


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_the_server_process_starts_before_the_command_line_is_read(tmp_path: Path) -> None:
    proc, gate = _gated(tmp_path)
    with proc:
        _wait_file(gate.with_name("gate.reading"), proc)
        # The supervisor has not read its command line yet: its server process runs.
        children = proc.children()
        assert len(children) == 1, children
        first = children[0]
        assert early.BOOT in _cmdline(first)
        gate.touch()
        proc.wait_ready()
        status, _, body = proc.get("/")
        # That very process serves the app.
        assert (status, body) == (200, str(first).encode())


def test_no_reload_on_the_command_line_starts_no_server_process(tmp_path: Path) -> None:
    proc, gate = _gated(tmp_path, "--no-reload")
    with proc:
        _wait_file(gate.with_name("gate.reading"), proc)
        assert proc.children() == []
        gate.touch()
        proc.wait_ready()
        status, _, body = proc.get("/")
        assert (status, body) == (200, str(proc.proc.pid).encode())


def test_a_command_that_turns_out_not_to_reload_kills_the_early_process(
    tmp_path: Path,
) -> None:
    # Reload is off in the project's configuration, which the command line reads only
    # after starting the server process: the one server serves, with no process left.
    (tmp_path / "pyproject.toml").write_text("[tool.asyncdev]\nreload = false\n")
    proc, gate = _gated(tmp_path)
    with proc:
        _wait_file(gate.with_name("gate.reading"), proc)
        assert len(proc.children()) == 1
        gate.touch()
        proc.wait_ready()
        status, _, body = proc.get("/")
        assert (status, body) == (200, str(proc.proc.pid).encode())
        assert proc.children() == []


def test_a_bad_argument_leaves_no_process_behind(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(PID_APP)
    marker = f"early-{os.getpid()}-{time.monotonic_ns()}"
    # Output to a file, not a pipe: reading a pipe to its end would wait for every
    # process holding it, the early one included.
    with open(tmp_path / "err.txt", "w+") as err:
        result = subprocess.run(
            [sys.executable, "-m", "asyncdev", "app:app", "--port", "nope"], cwd=tmp_path,
            env=child_env(EARLY_MARKER=marker), stdout=subprocess.DEVNULL, stderr=err,
            timeout=60,
        )
        err.seek(0)
        stderr = err.read()
    assert result.returncode == 2
    assert "--port" in stderr and "Traceback" not in stderr
    # Killed and reaped before the command exited, not merely dying with it later.
    assert _processes_with(marker) == []


def test_the_early_process_inherits_only_its_channels(tmp_path: Path) -> None:
    # A descriptor the command line inherited (a pipe from a test harness, say) must
    # not stay open in the server process, as subprocess's close_fds ensures.
    read_end, write_end = os.pipe()
    (tmp_path / "app.py").write_text(PID_APP)
    try:
        proc = Supervised([sys.executable, "-m", "asyncdev", "app:app", "--port", "0"],
                          tmp_path, child_env(), pass_fds=(write_end,))
        with proc:
            proc.wait_ready()
            status, _, body = proc.get("/")
            assert status == 200
            server = int(body)
            pipe = os.readlink(f"/proc/self/fd/{write_end}")
            assert pipe in _open_files(proc.proc.pid)  # the supervisor has it
            assert pipe not in _open_files(server)
    finally:
        os.close(read_end)
        os.close(write_end)


def _open_files(pid: int) -> list[str]:
    result = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            result.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return result


def _processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if f"EARLY_MARKER={marker}".encode() in environ.split(b"\0"):
            found.append(int(name))
    return found


def test_channels_say_when_the_listeners_come_on_the_control_socket() -> None:
    channels = Channels(control=5, listeners=None, parent=42, handoff=(6, 7))
    decoded = Channels.decode(channels.encode())
    assert decoded == channels and decoded.listeners is None
    assert decoded.with_listeners((3,)) == Channels(5, (3,), 42, (6, 7))
    assert decoded.fds == (5, 6, 7)


def test_only_inheritable_descriptors_are_closed_for_the_server_process() -> None:
    read_end, write_end = os.pipe()
    try:
        os.set_inheritable(write_end, True)
        others = early._other_inheritable(keep=())
        assert write_end in others and read_end not in others
        assert write_end not in early._other_inheritable(keep=(write_end,))
        assert all(fd > 2 for fd in others)
    finally:
        os.close(read_end)
        os.close(write_end)
