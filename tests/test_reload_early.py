"""The first server process starts before the command line is read (``_reload.early``).

With reload on, ``python -m asyncdev`` starts its server process first, so that the
new interpreter imports the serving path while the supervisor reads the command line,
finds the app and binds. These tests hold the supervisor inside the command line's
parsing (a ``sitecustomize`` on PYTHONPATH makes ``asyncdev._cli.build`` wait for a
file) and look at its real child processes meanwhile.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncdev._reload import spawn
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
        assert spawn.BOOT in _cmdline(first)
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
        others = spawn._other_inheritable(keep=())
        assert write_end in others and read_end not in others
        assert write_end not in spawn._other_inheritable(keep=(write_end,))
        assert all(fd > 2 for fd in others)
    finally:
        os.close(read_end)
        os.close(write_end)


# In a server process: its interpreter's start (site) waits for a file.
SITE_GATE_SITE = """\
import os
import time

if %(env_var)r in os.environ and os.environ.get("EARLY_GATE"):
    gate = os.environ["EARLY_GATE"]
    open(gate + ".site", "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
"""

HOLDER = """\
import sys
from asyncdev._reload import early

early.start(["app:app"])
print(early._pending.proc.pid, flush=True)
sys.stdin.readline()
early.discard()
"""


def _signals(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(field)


def _state(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


def test_ctrl_c_in_a_starting_interpreter_waits_until_it_is_ignored(tmp_path: Path) -> None:
    """A Ctrl+C reaching a server process in its interpreter's own start-up would kill
    it with a fatal error: it starts with SIGINT blocked, then ignores it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE_GATE_SITE % {"env_var": CHILD_ENV_VAR})
    (tmp_path / "holder.py").write_text(HOLDER)
    gate = tmp_path / "gate"
    environment = child_env(EARLY_GATE=str(gate))
    environment["PYTHONPATH"] = str(site) + os.pathsep + environment["PYTHONPATH"]
    holder = subprocess.Popen([sys.executable, "holder.py"], cwd=tmp_path, env=environment,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    interrupt = 1 << (signal.SIGINT - 1)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        child = int(holder.stdout.readline())
        deadline = time.monotonic() + 30
        while not gate.with_name("gate.site").exists():
            assert time.monotonic() < deadline and _state(child) != "Z"
            time.sleep(0.01)  # polling interval, not a readiness wait
        os.kill(child, signal.SIGINT)
        # Held, not delivered: the process is alive with the signal pending.
        assert _signals(child, "SigBlk") & interrupt
        assert (_signals(child, "ShdPnd") | _signals(child, "SigPnd")) & interrupt
        assert _state(child) != "Z"
        gate.touch()
        # Once running asyncdev's code it ignores Ctrl+C, and the pending one is gone.
        while not _signals(child, "SigIgn") & interrupt:
            assert time.monotonic() < deadline and _state(child) != "Z", "it died"
            time.sleep(0.01)  # polling interval, not a readiness wait
        assert not _signals(child, "SigBlk") & interrupt
        assert _state(child) != "Z"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.mark.parametrize("held", ["command line", "server process"])
def test_ctrl_c_during_the_start_stops_quietly(tmp_path: Path, held: str) -> None:
    """Ctrl+C reaches the whole process group at once, however early: no traceback,
    no error about the server process, nothing left running."""
    site = tmp_path / "site"
    site.mkdir()
    source = GATE_SITE if held == "command line" else SITE_GATE_SITE
    (site / "sitecustomize.py").write_text(source % {"env_var": CHILD_ENV_VAR})
    gate = tmp_path / "gate"
    marker = f"early-{os.getpid()}-{time.monotonic_ns()}"
    environment = child_env(EARLY_GATE=str(gate), EARLY_MARKER=marker)
    environment["PYTHONPATH"] = str(site) + os.pathsep + environment["PYTHONPATH"]
    (tmp_path / "app.py").write_text(PID_APP)
    proc = Supervised([sys.executable, "-m", "asyncdev", "app:app", "--port", "0"],
                      tmp_path, environment)
    with proc:
        suffix = ".reading" if held == "command line" else ".site"
        _wait_file(gate.with_name("gate" + suffix), proc)
        proc.signal_group(signal.SIGINT)
        gate.touch()
        code = proc.proc.wait(30)
        for thread in proc.threads:
            thread.join(10)
        # Stopped (0), or interrupted: exit status 130, or ended by the SIGINT itself
        # once its handlers ran (a shell reports both as 130).
        assert code in (0, 130, -signal.SIGINT), proc.output
        assert "Traceback" not in proc.output and "ERROR" not in proc.output, proc.output
        assert "Fatal" not in proc.output, proc.output
        assert _processes_with(marker) == []


# In the second server process only (the spare): its interpreter's start waits.
SPARE_GATE_SITE = """\
import os
import time

if %(env_var)r in os.environ and os.environ.get("EARLY_GATE"):
    gate = os.environ["EARLY_GATE"]
    try:
        fd = os.open(gate + ".first", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.close(fd)
    except FileExistsError:
        with open(gate + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.replace(gate + ".tmp", gate + ".site")
        deadline = time.monotonic() + 30
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
"""


def test_ctrl_c_in_a_starting_spare_waits_until_it_is_ignored(tmp_path: Path) -> None:
    # Later processes start the same way (spawn.spawn): SIGINT blocked likewise.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SPARE_GATE_SITE % {"env_var": CHILD_ENV_VAR})
    gate = tmp_path / "gate"
    environment = child_env(EARLY_GATE=str(gate))
    environment["PYTHONPATH"] = str(site) + os.pathsep + environment["PYTHONPATH"]
    (tmp_path / "app.py").write_text(PID_APP)
    interrupt = 1 << (signal.SIGINT - 1)
    proc = Supervised([sys.executable, "-m", "asyncdev", "app:app", "--port", "0"],
                      tmp_path, environment)
    with proc:
        proc.wait_ready()
        assert proc.get("/")[0] == 200  # the spare is started after the first requests
        _wait_file(gate.with_name("gate.site"), proc)
        spare = int(gate.with_name("gate.site").read_text())
        os.kill(spare, signal.SIGINT)
        assert _signals(spare, "SigBlk") & interrupt
        assert (_signals(spare, "ShdPnd") | _signals(spare, "SigPnd")) & interrupt
        gate.touch()
        deadline = time.monotonic() + 30
        while not _signals(spare, "SigIgn") & interrupt:
            assert time.monotonic() < deadline and _state(spare) != "Z", proc.output
            time.sleep(0.01)  # polling interval, not a readiness wait
        assert _state(spare) != "Z"
        assert "exited" not in proc.output, proc.output


LIFESPAN_GATE_APP = '''\
import asyncio
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                gate = os.environ["EARLY_GATE"]
                open(gate + ".lifespan", "w").close()
                while not os.path.exists(gate):
                    await asyncio.sleep(0.01)
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
'''


@pytest.mark.parametrize("reload", [True, False], ids=["reload", "no-reload"])
def test_the_banner_comes_before_the_first_access_line(tmp_path: Path, reload: bool) -> None:
    # A request already waiting when the server starts (an open tab's reload script, a
    # script polling the port) is answered after the banner is out, not above it. The
    # app's lifespan startup holds the start with the port bound.
    gate = tmp_path / "gate"
    (tmp_path / "app.py").write_text(LIFESPAN_GATE_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [sys.executable, "-m", "asyncdev", "app:app", "--port", str(port)]
    proc = Supervised(args if reload else [*args, "--no-reload"], tmp_path,
                      child_env(EARLY_GATE=str(gate)), one_stream=True)
    with proc:
        _wait_file(gate.with_name("gate.lifespan"), proc)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(b"GET /waiting HTTP/1.1\r\nHost: localhost\r\n"
                           b"Connection: close\r\n\r\n")
            gate.touch()
            reply = b""
            while chunk := client.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
        access = proc.wait_line(r'"GET /waiting HTTP/1\.1" 200')
        lines = proc.output.splitlines()
        banner = next(i for i, line in enumerate(lines) if "Starting development server" in line)
        assert banner < lines.index(access), proc.output
