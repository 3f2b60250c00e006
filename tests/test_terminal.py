"""The terminal's single keys, through a real pseudo-terminal: r reloads, o opens the
browser (a fake one named by BROWSER), h lists the keys, q quits."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reload_helpers import child_env, write_app

TIMEOUT = 30.0


class Terminal:
    """``python -m asyncdev`` with a pty as its stdin, stdout and stderr."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "asyncdev", "--port", "0", *args], cwd=cwd, env=env,
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
            # The pty becomes the controlling terminal of the new session, so the server
            # is its foreground process group, as in a shell.
            preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0),
        )
        os.close(slave)
        self.text = ""

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while (match := regex.search(self.text)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {pattern!r} in:\n{self.text}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"terminal closed before {pattern!r}:\n{self.text}")
                self.text += data.decode(errors="replace").replace("\r\n", "\n")
        return match

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
        self.proc.wait(10)
        os.close(self.master)


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal session semantics")
def test_keys_reload_open_help_and_quit(tmp_path: Path) -> None:
    write_app(tmp_path / "main.py", "hello")
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" >> {opened}\n")
    browser.chmod(0o755)
    env = child_env(BROWSER=str(browser), NO_COLOR="1")
    term = Terminal(tmp_path, env=env)
    try:
        term.wait_for(r"Quit the server with CONTROL-C\. Press h for help, r to reload, "
                      r"o to open the browser, c to clear, q to quit\.")
        port = int(term.wait_for(r"Starting development server at http://127\.0\.0\.1:(\d+)/")
                   .group(1))
        term.press("r")
        term.wait_for(r"Reloading on request")
        term.press("h")
        term.wait_for(r"r  reload now")
        term.press("o")
        deadline = time.monotonic() + TIMEOUT
        while not (opened.exists() and opened.read_text()):
            assert time.monotonic() < deadline, term.text
            time.sleep(0.05)
        assert opened.read_text().strip() == f"http://127.0.0.1:{port}/"
        term.press("q")
        assert term.proc.wait(TIMEOUT) == 0
        assert "Traceback" not in term.text
    finally:
        term.close()


def test_open_flag_opens_the_browser_once_serving(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" >> {opened}\n")
    browser.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncdev", "--port", "0", "--open"], cwd=tmp_path,
        env=child_env(BROWSER=str(browser)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (opened.exists() and opened.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\n", opened.read_text())
    finally:
        os.killpg(proc.pid, 2)
        proc.communicate(timeout=TIMEOUT)


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal session semantics")
def test_keys_without_reload(tmp_path: Path) -> None:
    write_app(tmp_path / "main.py", "hello")
    term = Terminal(tmp_path, "--no-reload", env=child_env(NO_COLOR="1"))
    try:
        term.wait_for(r"Quit the server with CONTROL-C\. Press h for help, o to open the "
                      r"browser, c to clear, q to quit\.")
        term.press("h")
        term.wait_for(r"o  open the browser")
        assert "reload now" not in term.text
        term.press("q")
        assert term.proc.wait(TIMEOUT) == 0
        assert "Traceback" not in term.text
    finally:
        term.close()
