"""Env files in real server processes: .env and .flaskenv loaded by default, read again on
every reload, several --env-file in order, never over the real environment."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from reload_helpers import Supervised, child_env

ECHO_APP = textwrap.dedent('''\
    import os

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        names = ("A", "B", "C", "SHELL_SET")
        body = " ".join(f"{n}={os.environ.get(n, '-')}" for n in names).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
''')


def test_dotenv_and_flaskenv_reach_the_app_and_change_on_reload(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    (tmp_path / ".flaskenv").write_text("A=flaskenv\nB=flaskenv\n")
    (tmp_path / ".env").write_text("A=dotenv\nSHELL_SET=from-file\n")
    env = child_env(SHELL_SET="from-shell")
    args = [sys.executable, "-m", "asyncdev", "--port", "0"]
    with Supervised(args, tmp_path, env) as server:
        server.wait_ready()
        # .env wins over .flaskenv; the real environment over both.
        assert server.get()[2] == b"A=dotenv B=flaskenv C=- SHELL_SET=from-shell"
        server.wait_line(r"^Loaded 1 variable from \.flaskenv$")
        server.wait_line(r"^Loaded 1 variable from \.env$")
        (tmp_path / ".env").write_text("C=new\n")
        server.wait_body(b"A=flaskenv B=flaskenv C=new SHELL_SET=from-shell")


def test_several_env_files_all_apply_in_order(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    (tmp_path / ".env").write_text("C=dotenv\n")
    (tmp_path / "one.env").write_text("A=one\nB=one\n")
    (tmp_path / "two.env").write_text("B=two\n")
    with Supervised.cli(tmp_path, "--env-file", "one.env", "--env-file", "two.env") as server:
        server.wait_ready()
        assert server.get()[2] == b"A=one B=two C=dotenv SHELL_SET=-"
    with Supervised.cli(tmp_path, "--no-env-file") as server:
        server.wait_ready()
        assert server.get()[2] == b"A=- B=- C=- SHELL_SET=-"
