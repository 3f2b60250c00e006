"""The command line: ADDRPORT, options and environment variables, user-facing errors,
and the real ``python -m asyncdev`` serving, logging and stopping."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest

from asyncdev import _cli
from asyncdev._cli import OPTIONS, CLIError, build_config, parse_addrport
from asyncdev._config import Config
from asyncdev._errors import ConfigError, StartupError

README = Path(__file__).resolve().parent.parent / "README.rst"
SRC = Path(__file__).resolve().parent.parent / "src"
TIMEOUT = 60


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCDEV_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "asyncdev", *args], cwd=cwd, env=env or clean_env(),
        capture_output=True, text=True, timeout=TIMEOUT,
    )


def assert_one_error(result, *fragments: str) -> str:
    """Exit code 1, no traceback, an ``Error:`` line of at most two lines with fragments."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    message = result.stderr[result.stderr.index("Error: "):].strip()
    assert len(message.splitlines()) <= 2, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- ADDRPORT ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8080", (None, 8080)),
        ("0", (None, 0)),
        ("0.0.0.0:9000", ("0.0.0.0", 9000)),
        ("0:8000", ("0.0.0.0", 8000)),
        ("127.0.0.1:8001", ("127.0.0.1", 8001)),
        ("localhost:8000", ("localhost", 8000)),
        ("dev.example.test:80", ("dev.example.test", 80)),
        ("[::1]:8000", ("::1", 8000)),
        ("[::]:8000", ("::", 8000)),
        ("[fe80::1]:65535", ("fe80::1", 65535)),
    ],
)
def test_addrport_accepted(text, expected):
    assert parse_addrport(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "is not a valid port or address:port"),
        ("localhost:", "is not a valid port or address:port"),
        (":8000", "is not a valid port or address:port"),
        ("70000", "port 70000 is out of range"),
        ("0.0.0.0:99999", "port 99999 is out of range"),
        ("::1:8000", "write IPv6 addresses in brackets"),
        ("[nothex]:8000", "is not an IPv6 address"),
        ("999.1.1.1:80", "is not an IPv4 address"),
        ("bad_host!:80", "is not a valid host name"),
        ("-x:80", "is not a valid host name"),
    ],
)
def test_addrport_refused(text, message):
    with pytest.raises(CLIError, match=re.escape(message)):
        parse_addrport(text)


# --- building the Config ----------------------------------------------------------------


def config_of(*argv: str, **environ: str) -> Config:
    return build_config(list(argv), environ)


def test_positionals():
    config = config_of("main:app", "0:9000")
    assert (config.app, config.host, config.port) == ("main:app", "0.0.0.0", 9000)
    config = config_of("main:app")
    assert (config.app, config.host, config.port) == ("main:app", "127.0.0.1", 8000)


@pytest.mark.parametrize("addrport", ["9000", "0.0.0.0:9000", "[::1]:9000"])
def test_single_positional_that_looks_like_addrport_serves_the_welcome_page(addrport):
    config = config_of(addrport)
    assert config.app is None
    assert config.port == 9000


def test_options_may_come_before_or_after_positionals():
    config = config_of("--no-reload", "main:app", "--log-level", "debug", "9000", "--factory")
    assert (config.app, config.port, config.reload, config.factory) == ("main:app", 9000,
                                                                        False, True)


def test_reload_is_on_by_default_and_can_be_turned_off():
    assert config_of().reload is True
    assert config_of("--no-reload").reload is False
    assert config_of("--noreload").reload is False
    assert config_of("--reload").reload is True


def test_every_option_maps_to_its_config_field(tmp_path):
    (tmp_path / ".env").write_text("")
    (tmp_path / "more.env").write_text("")
    config = config_of(
        "--host", "0.0.0.0", "--port", "9001", "--backlog", "64",
        "--interface", "wsgi", "--factory", "--app-dir", "src", "--env-file",
        str(tmp_path / ".env"), "--env-file", str(tmp_path / "more.env"), "--no-dev-mode",
        "--root-path", "/api", "--lifespan", "off", "--threads", "3", "--open",
        "--no-reload", "--reload-dir", "a", "--reload-dir", "b", "--reload-include", "*.html",
        "--reload-exclude", "tmp/*", "--reload-delay", "0.2", "--reload-grace", "2.5",
        "--log-level", "warning",
        "--no-access-log", "--no-color", "--loop", "asyncio",
        "--timeout-keep-alive", "7", "--timeout-graceful-shutdown", "2",
        "--timeout-request-head", "9", "--timeout-body", "11", "--limit-concurrency", "5",
        "--limit-request-line", "100", "--limit-request-field-size", "101",
        "--limit-request-head", "102", "--limit-request-fields", "10",
        "--limit-request-body", "103", "--ws", "none", "--ws-max-size", "104",
        "--ws-ping-interval", "0", "--ws-ping-timeout", "3",
        "--no-ws-per-message-deflate", "--no-debug-errors", "--browser-reload",
        "--allowed-host", "a.test", "--allowed-host", "b.test", "--static", "/s=./static",
        "--proxy-headers", "--forwarded-allow-ips", "10.0.0.1,10.0.0.0/8",
        "--no-server-header", "--no-date-header",
    )
    assert config == Config(
        host="0.0.0.0", port=9001, backlog=64, interface="wsgi", factory=True, app_dir="src",
        env_file=(str(tmp_path / ".env"), str(tmp_path / "more.env")), dotenv=True,
        dev_mode=False, open_browser=True, reload_grace=2.5, root_path="/api",
        lifespan="off", threads=3,
        reload=False, reload_dirs=("a", "b"), reload_includes=("*.html",),
        reload_excludes=("tmp/*",), reload_delay=0.2, log_level="warning", access_log=False,
        use_colors=False, loop="asyncio", timeout_keep_alive=7, timeout_graceful_shutdown=2,
        timeout_request_head=9, timeout_body=11, limit_concurrency=5, limit_request_line=100,
        limit_request_field_size=101, limit_request_head=102, limit_request_fields=10,
        limit_request_body=103, ws="none", ws_max_size=104, ws_ping_interval=None,
        ws_ping_timeout=3, ws_per_message_deflate=False, debug_errors=False,
        browser_reload=True, allowed_hosts=("a.test", "b.test"), static=(("/s", "./static"),),
        proxy_headers=True, forwarded_allow_ips=("10.0.0.1", "10.0.0.0/8"),
        server_header=False, date_header=False,
    )


def test_tls_and_socket_options():
    config = config_of("--ssl-certfile", "c.pem", "--ssl-keyfile", "k.pem",
                       "--ssl-keyfile-password", "pw", "--uds", "/tmp/x.sock")
    assert (config.ssl_certfile, config.ssl_keyfile, config.ssl_keyfile_password,
            config.uds) == ("c.pem", "k.pem", "pw", "/tmp/x.sock")
    assert config_of("--https").https is True
    assert config_of("--fd", "3").fd == 3
    assert config_of("--color").use_colors is True
    assert config_of().use_colors is None
    assert config_of().debug_errors is None


def test_option_table_covers_every_config_field_and_the_readme():
    readme = README.read_text()
    # django_settings comes from discovery (manage.py) and --settings; port_fallback is
    # set when no port was given anywhere.
    internal = {"app", "install_signal_handlers", "django_settings", "port_fallback"}
    fields = {o.field for o in OPTIONS}
    assert fields | internal == set(Config.option_names())
    assert not (fields & internal) - {"django_settings"}
    for option in OPTIONS:
        flags = ([option.flag] if option.kind != "bool" or option.positive else [])
        flags += list(option.negative)
        for flag in flags:
            assert f"``{flag}" in readme, flag
        assert f"``{option.env}``" in readme, option.env


def test_environment_variables():
    config = config_of(
        ASYNCDEV_APP="env:app", ASYNCDEV_PORT="9000", ASYNCDEV_RELOAD="false",
        ASYNCDEV_ACCESS_LOG="0", ASYNCDEV_RELOAD_DIR="src, templates",
        ASYNCDEV_FORWARDED_ALLOW_IPS="10.0.0.1,10.0.0.2", ASYNCDEV_WS_PING_INTERVAL="none",
        ASYNCDEV_TIMEOUT_KEEP_ALIVE="2.5", ASYNCDEV_LOG_LEVEL="debug", ASYNCDEV_FACTORY="yes",
        ASYNCDEV_COLOR="off",
    )
    assert config.app == "env:app"
    assert (config.port, config.reload, config.access_log) == (9000, False, False)
    assert config.reload_dirs == ("src", "templates")
    assert config.forwarded_allow_ips == ("10.0.0.1", "10.0.0.2")
    assert config.ws_ping_interval is None
    assert (config.timeout_keep_alive, config.log_level) == (2.5, "debug")
    assert (config.factory, config.use_colors) == (True, False)


def test_command_line_beats_environment():
    config = config_of("cli:app", "9001", "--reload", ASYNCDEV_APP="env:app",
                       ASYNCDEV_PORT="9000", ASYNCDEV_HOST="0.0.0.0", ASYNCDEV_RELOAD="false")
    assert (config.app, config.host, config.port, config.reload) == (
        "cli:app", "127.0.0.1", 9001, True)


def test_env_file_may_hold_options_but_the_environment_wins(tmp_path):
    env_file = tmp_path / "dev.env"
    env_file.write_text("ASYNCDEV_PORT=9100\nASYNCDEV_LOG_LEVEL=debug\nOTHER=1\n")
    config = config_of("--env-file", str(env_file), ASYNCDEV_LOG_LEVEL="warning")
    assert (config.port, config.log_level) == (9100, "warning")
    assert "OTHER" not in os.environ  # each server process loads the file itself


def test_bad_environment_value_names_the_variable():
    with pytest.raises(CLIError, match="ASYNCDEV_RELOAD: 'maybe' is not a boolean"):
        config_of(ASYNCDEV_RELOAD="maybe")
    with pytest.raises(CLIError, match="ASYNCDEV_PORT: invalid literal"):
        config_of(ASYNCDEV_PORT="http")
    with pytest.raises(CLIError, match="ASYNCDEV_LOOP: 'tokio' is not one of"):
        config_of(ASYNCDEV_LOOP="tokio")


def test_bad_option_value_names_the_flag():
    with pytest.raises(ConfigError, match=r"^--timeout-keep-alive: -1\.0 is not valid"):
        config_of("--timeout-keep-alive", "-1")
    with pytest.raises(ConfigError, match=r"^--root-path: 'api' is not valid"):
        config_of("--root-path", "api")


def test_conflicting_address_forms():
    with pytest.raises(CLIError, match=r"either as ADDRPORT \(9000\) or with --host, not both"):
        config_of("main:app", "9000", "--host", "0.0.0.0")
    with pytest.raises(CLIError, match="Give APP first, then ADDRPORT"):
        config_of("9000", "main:app")
    with pytest.raises(CLIError, match="looks like an address without a port"):
        config_of("0.0.0.0")


# --- user-facing errors, through the real command -----------------------------------------


@pytest.fixture
def project(tmp_path):
    def write(relative: str, source: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write


def test_version(tmp_path):
    import h11

    from asyncdev import __version__

    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    python = ".".join(map(str, sys.version_info[:3]))
    assert result.stdout.startswith(
        f"asyncdev {__version__} (Python {python}, h11 {h11.__version__}, uvloop "
    )


def test_error_module_not_found(tmp_path):
    result = run_cli("--no-reload", "nosuchmodule:app", cwd=tmp_path)
    assert_one_error(result, f'Could not import module "nosuchmodule" (cwd: {tmp_path}).',
                     "Did you mean --app-dir?")


def test_error_attribute_missing_with_suggestions(tmp_path, project):
    project("main.py", """
        def application(environ, start_response):
            return []
        async def api(scope, receive, send):
            pass
    """)
    result = run_cli("--no-reload", "main:app", cwd=tmp_path)
    assert_one_error(result, 'Module "main" has no attribute "app". Found: application, api')


def test_error_not_callable(tmp_path, project):
    project("main.py", "app = 42\n")
    result = run_cli("--no-reload", "main:app", cwd=tmp_path)
    assert_one_error(result, '"main:app" is not callable (it is a int)')


def test_error_syntax_error_in_app_file(tmp_path, project):
    path = project("main.py", "async def app(scope, receive, send)\n    pass\n")
    result = run_cli("--no-reload", "main.py", cwd=tmp_path)
    assert_one_error(result, f"Syntax error in {path}, line 1")


def test_exception_at_import_shows_the_traceback_and_one_error_line(tmp_path, project):
    path = project("main.py", "import os\nraise KeyError('SECRET_KEY')\n")
    result = run_cli("--no-reload", "main:app", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and f"({path}, line 2)" in last
    assert "KeyError: 'SECRET_KEY'" in last


def test_error_bad_addrport(tmp_path):
    assert_one_error(run_cli("main:app", "localhost:http", cwd=tmp_path),
                     '"localhost:http" is not a valid port or address:port')


def test_error_addrport_and_host(tmp_path):
    assert_one_error(run_cli("main:app", "9000", "--host", "0.0.0.0", cwd=tmp_path),
                     "not both")


def test_error_bad_option_value(tmp_path):
    assert_one_error(run_cli("--port", "70000", cwd=tmp_path), "--port: 70000 is not valid")
    assert_one_error(run_cli("--no-reload", "--loop", "uvloop", "--env-file", "missing.env",
                             cwd=tmp_path), "--env-file: 'missing.env' does not exist")


def test_usage_error_exits_2(tmp_path):
    result = run_cli("--no-such-option", cwd=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr
    result = run_cli("--port", "http", cwd=tmp_path)
    assert result.returncode == 2


@pytest.fixture
def busy_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def test_error_port_in_use(tmp_path, busy_port):
    result = run_cli("--no-reload", f"127.0.0.1:{busy_port}", cwd=tmp_path)
    assert_one_error(result, f"Port {busy_port} is already in use")


def test_port_from_environment_reaches_the_server(tmp_path, busy_port):
    env = clean_env(ASYNCDEV_PORT=str(busy_port), ASYNCDEV_RELOAD="false")
    assert_one_error(run_cli(cwd=tmp_path, env=env), f"Port {busy_port} is already in use")


def test_error_permission_denied_on_a_low_port(tmp_path):
    if os.geteuid() != 0:
        result = run_cli("--no-reload", "127.0.0.1:1", cwd=tmp_path)
    else:
        # root may bind any port: make bind() fail the way it does for everybody else.
        script = textwrap.dedent("""
            import errno, socket, sys
            def bind(self, address):
                if address[1] == 1:
                    raise PermissionError(errno.EACCES, "Permission denied")
                return socket.socket._real_bind(self, address)
            socket.socket._real_bind = socket.socket.bind
            socket.socket.bind = bind
            from asyncdev._cli import main
            sys.exit(main(["--no-reload", "127.0.0.1:1"]))
        """)
        result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=clean_env(),
                                capture_output=True, text=True, timeout=TIMEOUT)
    assert_one_error(result, "Permission denied", "127.0.0.1:1", "8000")


# --- serving for real -------------------------------------------------------------------


class Running:
    """A ``python -m asyncdev`` subprocess whose output is read by threads."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "asyncdev", *args], cwd=cwd, env=env or clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self.stdout: queue.Queue[str | None] = queue.Queue()
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._collect, args=(self.proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, pipe, sink) -> None:
        for line in pipe:
            sink.put(line)
        sink.put(None)

    def _collect(self, pipe) -> None:
        for line in pipe:
            self.stderr_lines.append(line)

    def wait_for_url(self) -> str:
        """Read the banner until the ``Starting development server at`` line."""
        while True:
            try:
                line = self.stdout.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no banner; stderr: {''.join(self.stderr_lines)}") from None
            if line is None:
                raise AssertionError(f"exited early; stderr: {''.join(self.stderr_lines)}")
            self.stdout_lines.append(line)
            match = re.search(r"Starting development server at (\S+)", line)
            if match:
                return match.group(1)

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=TIMEOUT)
        finally:
            for thread in self._threads:
                thread.join(timeout=TIMEOUT)
        while True:
            line = self.stdout.get_nowait() if not self.stdout.empty() else None
            if line is None:
                break
            self.stdout_lines.append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)


@pytest.fixture
def running():
    procs: list[Running] = []

    def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Running:
        proc = Running(*args, cwd=cwd, env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()


def test_welcome_page_on_all_interfaces(tmp_path, running):
    server = running("--no-reload", "0:0", cwd=tmp_path)
    url = server.wait_for_url()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), url
    with httpx.Client(timeout=TIMEOUT) as client:
        html = client.get(url, headers={"accept": "text/html,*/*"})
        text = client.get(url, headers={"accept": "*/*"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "asyncdev main:app" in html.text and "<!doctype html>" in html.text
    assert text.headers["content-type"].startswith("text/plain")
    assert "asyncdev myproject.wsgi" in text.text and "<" not in text.text
    assert server.stop() == 0
    banner = "".join(server.stdout_lines)
    assert "asyncdev " in banner and "the welcome page" in banner
    assert f"asyncdev looked in {tmp_path}, in this order, for:" in text.text
    assert "manage.py" in text.text
    assert "<li>a Django project: manage.py</li>" in html.text
    assert "Quit the server with CONTROL-C." in banner
    assert "Listening on all interfaces" in banner
    assert "anyone on your network can reach this server" in banner
    assert '"GET / HTTP/1.1" 200' in server.stderr


def test_serves_an_app_and_escapes_the_access_log(tmp_path, project, running):
    project("main.py", """
        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hello from main"})
    """)
    server = running("main:app", "127.0.0.1:0", "--no-reload", cwd=tmp_path)
    url = server.wait_for_url()
    port = int(url.rstrip("/").rsplit(":", 1)[1])

    def exchange(target: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(
                b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        return response

    # The HTTP layer refuses control bytes in the target outright; whatever reaches
    # the log is escaped, the backslash included, so a line cannot be forged.
    exchange(b"/\x1b[2J\x1b]0;owned\x07")
    response = exchange(b"/a\\x1b[31m")
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"hello from main")
    assert server.stop(signal.SIGTERM) == 0
    assert "app main:app (ASGI 3)" in "".join(server.stdout_lines)
    assert "Listening on all interfaces" not in "".join(server.stdout_lines)
    assert "\x1b" not in server.stderr and "\x07" not in server.stderr
    assert '"GET /a\\\\x1b[31m HTTP/1.1" 200' in server.stderr


def test_cli_main_returns_the_exit_code(monkeypatch):
    calls = []
    monkeypatch.setattr("asyncdev._api.run", lambda config, **kw: calls.append(config) or 3)
    assert _cli.main(["--no-reload", "main:app", "9000"]) == 3
    assert calls[0].app == "main:app" and calls[0].port == 9000


# --- ports --------------------------------------------------------------------------------


def test_busy_port_error_shows_the_users_own_command(tmp_path, busy_port):
    (tmp_path / "main.py").write_text("async def app(scope, receive, send):\n    pass\n")
    result = run_cli("--no-reload", "main:app", f"127.0.0.1:{busy_port}", "--log-level",
                     "info", cwd=tmp_path)
    assert_one_error(result, f"python -m asyncdev --no-reload main:app 127.0.0.1:{busy_port + 1}"
                     " --log-level info")
    env = clean_env(ASYNCDEV_RELOAD="false")
    result = run_cli("--port", str(busy_port), cwd=tmp_path, env=env)
    assert_one_error(result, f"python -m asyncdev --port {busy_port + 1}")


def test_suggested_command_forms():
    from asyncdev._sockets import suggested_command

    assert suggested_command(8001, ["/venv/bin/asyncdev", "main:app"]) == (
        "asyncdev main:app --port 8001")
    assert suggested_command(9001, ["asyncdev", "--threads", "4", "--port=9000"]) == (
        "asyncdev --threads 4 --port=9001")
    assert suggested_command(8001, ["app.py"]) == "serve(..., port=8001)"


def test_default_port_moves_on_when_8000_is_busy(tmp_path, running):
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        try:
            holder.bind(("127.0.0.1", 8000))
            holder.listen(1)
        except OSError:
            # Held by another program, which may let it go at any moment.
            pytest.skip("port 8000 is held by another program")
        server = running("--no-reload", cwd=tmp_path)
        url = server.wait_for_url()
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert port > 8000
        with httpx.Client(timeout=TIMEOUT) as client:
            assert client.get(url).status_code == 200
        server.stop()
        assert f"Port 8000 is in use; serving on port {port} instead." in server.stderr
    finally:
        holder.close()


def test_port_environment_variable_reaches_the_server(tmp_path, running):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    server = running("--no-reload", cwd=tmp_path, env=clean_env(PORT=str(free)))
    assert server.wait_for_url() == f"http://127.0.0.1:{free}/"
    server.stop()


def test_bind_moves_on_from_a_busy_default_port(busy_port):
    from asyncdev._sockets import bind_sockets

    sockets = bind_sockets(Config(port=busy_port, port_fallback=True))
    try:
        assert sockets[0].getsockname()[1] > busy_port
    finally:
        for sock in sockets:
            sock.close()
    with pytest.raises(StartupError, match=f"Port {busy_port} is already in use"):
        bind_sockets(Config(port=busy_port))


def test_django_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manage.py").write_text(
        "import os\n\ndef main():\n"
        "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n"
    )
    config = config_of()
    assert (config.app, config.django_settings) == (None, "shop.settings")
    assert config_of("--settings", "shop.test").django_settings == "shop.test"
    assert config_of("--django-static", "on").django_static == "on"
    assert config_of("--skip-checks").django_checks is False
    assert config_of().django_checks is True


def test_manage_py_is_not_an_app():
    with pytest.raises(CLIError, match="manage.py is Django's command line"):
        config_of("manage.py")
    with pytest.raises(CLIError, match="manage.py is Django's command line"):
        config_of("./manage.py:main")
