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
        names = ("ENVT_A", "ENVT_B", "ENVT_C", "ENVT_SHELL")
        body = " ".join(f"{n}={os.environ.get(n, '-')}" for n in names).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
''')


def test_dotenv_and_flaskenv_reach_the_app_and_change_on_reload(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    (tmp_path / ".flaskenv").write_text("ENVT_A=flaskenv\nENVT_B=flaskenv\n")
    (tmp_path / ".env").write_text("ENVT_A=dotenv\nENVT_SHELL=from-file\n")
    env = child_env(ENVT_SHELL="from-shell")
    args = [sys.executable, "-m", "asyncdev", "--port", "0"]
    with Supervised(args, tmp_path, env) as server:
        server.wait_ready()
        # .env wins over .flaskenv; the real environment over both.
        assert server.get()[2] == b"ENVT_A=dotenv ENVT_B=flaskenv ENVT_C=- ENVT_SHELL=from-shell"
        server.wait_line(r"^Loaded 1 variable from \.flaskenv$")
        server.wait_line(r"^Loaded 1 variable from \.env$")
        (tmp_path / ".env").write_text("ENVT_C=new\n")
        server.wait_body(b"ENVT_A=flaskenv ENVT_B=flaskenv ENVT_C=new ENVT_SHELL=from-shell")


def test_several_env_files_all_apply_in_order(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    (tmp_path / ".env").write_text("ENVT_C=dotenv\n")
    (tmp_path / "one.env").write_text("ENVT_A=one\nENVT_B=one\n")
    (tmp_path / "two.env").write_text("ENVT_B=two\n")
    with Supervised.cli(tmp_path, "--env-file", "one.env", "--env-file", "two.env") as server:
        server.wait_ready()
        assert server.get()[2] == b"ENVT_A=one ENVT_B=two ENVT_C=dotenv ENVT_SHELL=-"
    with Supervised.cli(tmp_path, "--no-env-file") as server:
        server.wait_ready()
        assert server.get()[2] == b"ENVT_A=- ENVT_B=- ENVT_C=- ENVT_SHELL=-"
