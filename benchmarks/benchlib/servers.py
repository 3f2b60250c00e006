"""The servers under test and the apps they run: how to launch each one on a port.

Every server is run as its users run it, with its access log off where it allows that
and on uvloop where it can choose its loop. A server whose package is missing is
reported as skipped, never as a failure.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PY = sys.executable
BENCH_DIR = Path(__file__).resolve().parent.parent
APPS = BENCH_DIR / "apps"
DJANGO_DIR = APPS / "djproject"
DJANGO_FULL_DIR = APPS / "djfull"


@dataclass(frozen=True)
class App:
    """An app as an import string run from ``cwd``; ``edit_file`` is what reload edits."""

    target: str
    kind: str  # "asgi", "wsgi", "flask" or "django"
    cwd: Path = APPS
    asgi_target: str | None = None  # Django's ASGI entry point, for ASGI-only servers
    edit_file: str | None = None


ASGI_HELLO = App("asgi_hello:app", "asgi")
ASGI_64K = App("asgi_64k:app", "asgi")
ASGI_UPLOAD = App("asgi_upload:app", "asgi")
ASGI_ECHO = App("asgi_echo:app", "asgi")
WSGI_HELLO = App("wsgi_hello:app", "wsgi")
FLASK_HELLO = App("flask_hello:app", "flask")
FASTAPI_HELLO = App("fastapi_hello:app", "asgi")
WS_ECHO = App("ws_echo:app", "asgi")
DJANGO = App("benchproject.wsgi:application", "django", DJANGO_DIR,
             asgi_target="benchproject.asgi:application", edit_file="benchproject/views.py")
DJANGO_FULL = App("fullproject.wsgi:application", "django", DJANGO_FULL_DIR,
                  asgi_target="fullproject.asgi:application", edit_file="catalog/views.py")
RELOAD_ASGI = App("reload_app:app", "asgi", edit_file="reload_app.py")
RELOAD_FLASK = App("reload_flask:app", "flask", edit_file="reload_flask.py")
RELOAD_FASTAPI = App("reload_fastapi:app", "asgi", edit_file="reload_fastapi.py")

Launch = tuple[list[str], dict[str, str]]


@dataclass(frozen=True)
class Server:
    name: str
    family: str
    requires: tuple[str, ...]  # importable module names
    launch: Callable[[App, int], Launch]
    app: App | None = None  # a server that can only run one kind of app (runserver)
    note: str = ""

    def missing(self) -> str | None:
        """Why this server cannot run here, or None."""
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return f"not installed ({module})"
        return None


def _addr(port: int) -> str:
    return f"127.0.0.1:{port}"


def _asgi(app: App) -> str:
    return app.asgi_target or app.target


# -- launchers -------------------------------------------------------------------


def _asyncdev(*, reload: bool) -> Callable[[App, int], Launch]:
    def launch(app: App, port: int) -> Launch:
        cmd = [PY, "-m", "asyncdev", app.target, _addr(port), "--no-access-log",
               "--loop", "uvloop", "--log-level", "warning"]
        if not reload:
            cmd.append("--no-reload")  # reload is on by default, as with runserver
        return cmd, {}
    return launch


def _uvicorn(*, http: str | None = "h11", interface: str | None = None,
             ws: str | None = None, reload: bool = False) -> Callable[[App, int], Launch]:
    def launch(app: App, port: int) -> Launch:
        target = app.target if interface == "wsgi" else _asgi(app)
        cmd = [PY, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
               "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
        if http:
            cmd += ["--http", http]
        if interface:
            cmd += ["--interface", interface]
        if ws:
            cmd += ["--ws", ws]
        if reload:
            cmd += ["--reload", "--reload-dir", str(app.cwd)]
        return cmd, {}
    return launch


def _uvicorn_a2wsgi(app: App, port: int) -> Launch:
    cmd, _ = _uvicorn()(App("a2wsgi_wrap:app", "asgi"), port)
    return cmd, {"BENCH_WSGI_TARGET": app.target,
                 "PYTHONPATH": f"{app.cwd}:{APPS}"}


def _hypercorn(*, reload: bool = False) -> Callable[[App, int], Launch]:
    def launch(app: App, port: int) -> Launch:
        cmd = [PY, "-m", "hypercorn", _asgi(app), "-b", _addr(port), "-k", "uvloop",
               "--log-level", "warning"]
        if reload:
            cmd.append("--reload")
        return cmd, {}
    return launch


def _granian(*, interface: str = "asgi", reload: bool = False) -> Callable[[App, int], Launch]:
    def launch(app: App, port: int) -> Launch:
        exe = shutil.which("granian", path=str(Path(PY).parent)) or "granian"
        target = app.target if interface == "wsgi" else _asgi(app)
        cmd = [exe, "--interface", interface, "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--no-access-log", "--log-level", "warning"]
        if interface != "wsgi":
            cmd += ["--loop", "uvloop"]
        if reload:
            cmd += ["--reload", "--reload-paths", str(app.cwd)]
        return [*cmd, target], {}
    return launch


def _daphne(app: App, port: int) -> Launch:
    return [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", _asgi(app)], {}


def _gunicorn(app: App, port: int) -> Launch:
    return [PY, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", _addr(port),
            "--log-level", "warning", app.target], {}


def _werkzeug(app: App, port: int) -> Launch:
    return [PY, str(APPS / "werkzeug_serve.py"), app.target, str(port)], {}


def _runserver(*, reload: bool) -> Callable[[App, int], Launch]:
    def launch(app: App, port: int) -> Launch:
        cmd = [PY, "manage.py", "runserver", _addr(port)]
        if not reload:
            cmd.append("--noreload")
        return cmd, {}
    return launch


def _asyncdev_runserver(app: App, port: int) -> Launch:
    # "asyncdev" first in INSTALLED_APPS: Django's manage.py runserver runs asyncdev.
    cmd = [PY, "manage.py", "runserver", _addr(port), "--no-access-log",
           "--loop", "uvloop", "--log-level", "warning"]
    return cmd, {"BENCH_ASYNCDEV_APP": "1"}


def _flask_run(app: App, port: int) -> Launch:
    return ([PY, "-m", "flask", "run", "--reload", "--host", "127.0.0.1", "--port", str(port)],
            {"FLASK_APP": app.target})


def _flask_command(*, debug: bool) -> Callable[[App, int], Launch]:
    def launch(app: App, port: int) -> Launch:
        cmd = [PY, "-m", "flask", "run", "--host", "127.0.0.1", "--port", str(port)]
        if debug:
            cmd.insert(3, "--debug")  # what people type: reload and debugger on
        return cmd, {"FLASK_APP": app.target}
    return launch


def _fastapi(command: str) -> Callable[[App, int], Launch]:
    def launch(app: App, port: int) -> Launch:
        module = app.target.partition(":")[0]
        return [PY, "-m", "fastapi", command, f"{module}.py", "--host", "127.0.0.1",
                "--port", str(port)], {}
    return launch


# -- the tables --------------------------------------------------------------------

_ASYNCDEV = ("asyncdev._cli",)
_UVICORN = ("uvicorn", "uvloop")

ASGI_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=False)),
    Server("uvicorn-h11", "uvicorn", _UVICORN, _uvicorn(http="h11")),
    Server("uvicorn-httptools", "uvicorn", (*_UVICORN, "httptools"), _uvicorn(http="httptools")),
    Server("hypercorn", "hypercorn", ("hypercorn", "uvloop"), _hypercorn()),
    Server("granian", "granian", ("granian",), _granian()),
    Server("daphne", "daphne", ("daphne",), _daphne,
           note="Twisted's asyncio reactor; no uvloop option"),
]

WSGI_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=False)),
    Server("uvicorn-wsgi", "uvicorn", _UVICORN, _uvicorn(interface="wsgi"),
           note="uvicorn --interface wsgi (its own bridge)"),
    Server("uvicorn-a2wsgi", "uvicorn", (*_UVICORN, "a2wsgi"), _uvicorn_a2wsgi,
           note="uvicorn-h11 serving a2wsgi.WSGIMiddleware(app): asyncdev's adapter"),
    Server("gunicorn-sync", "gunicorn", ("gunicorn",), _gunicorn),
    Server("werkzeug-threaded", "werkzeug", ("werkzeug",), _werkzeug),
    Server("granian-wsgi", "granian", ("granian",), _granian(interface="wsgi")),
]

DJANGO_SERVERS = [
    *WSGI_SERVERS,
    Server("django-runserver", "django", ("django",), _runserver(reload=False), app=DJANGO,
           note="threaded, --noreload"),
]

STARTUP_SERVERS = [
    *ASGI_SERVERS,
    Server("asyncdev-reload", "asyncdev", (*_ASYNCDEV, "watchfiles"), _asyncdev(reload=True)),
    Server("uvicorn-reload", "uvicorn", (*_UVICORN, "watchfiles"), _uvicorn(reload=True)),
]

# Spawn to first response of a framework's app, reload off and on, beside the framework's
# own command and uvicorn (the "startup-*" cells).
STARTUP_FLASK_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=False)),
    Server("asyncdev-reload", "asyncdev", (*_ASYNCDEV, "watchfiles"), _asyncdev(reload=True)),
    Server("flask-run", "flask", ("flask",), _flask_command(debug=False),
           note="flask run: no reload"),
    Server("flask-run-debug", "flask", ("flask",), _flask_command(debug=True),
           note="flask run --debug: reload and debugger"),
    Server("uvicorn-wsgi", "uvicorn", _UVICORN, _uvicorn(interface="wsgi")),
    Server("uvicorn-wsgi-reload", "uvicorn", (*_UVICORN, "watchfiles"),
           _uvicorn(interface="wsgi", reload=True)),
]

STARTUP_FASTAPI_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=False)),
    Server("asyncdev-reload", "asyncdev", (*_ASYNCDEV, "watchfiles"), _asyncdev(reload=True)),
    Server("fastapi-run", "fastapi", ("fastapi_cli",), _fastapi("run"),
           note="fastapi run: no reload"),
    Server("fastapi-dev", "fastapi", ("fastapi_cli", "watchfiles"), _fastapi("dev"),
           note="fastapi dev: reload"),
    Server("uvicorn", "uvicorn", _UVICORN, _uvicorn(http=None)),
    Server("uvicorn-reload", "uvicorn", (*_UVICORN, "watchfiles"), _uvicorn(http=None,
                                                                           reload=True)),
]

STARTUP_DJANGO_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=False), note="WSGI entry point"),
    Server("asyncdev-reload", "asyncdev", (*_ASYNCDEV, "watchfiles"), _asyncdev(reload=True),
           note="WSGI entry point"),
    Server("django-runserver", "django", ("django",), _runserver(reload=False),
           note="--noreload"),
    Server("django-runserver-reload", "django", ("django",), _runserver(reload=True)),
    Server("uvicorn", "uvicorn", _UVICORN, _uvicorn(http=None), note="ASGI entry point"),
    Server("uvicorn-reload", "uvicorn", (*_UVICORN, "watchfiles"),
           _uvicorn(http=None, reload=True), note="ASGI entry point"),
]

RELOAD_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=True)),
    Server("uvicorn", "uvicorn", (*_UVICORN, "watchfiles"), _uvicorn(http=None, reload=True)),
    Server("granian", "granian", ("granian", "watchfiles"), _granian(reload=True)),
    Server("hypercorn", "hypercorn", ("hypercorn", "uvloop"), _hypercorn(reload=True)),
    Server("flask-run", "flask", ("flask",), _flask_run, app=RELOAD_FLASK,
           note="trivial Flask app (flask run --reload)"),
    Server("django-runserver", "django", ("django",), _runserver(reload=True), app=DJANGO,
           note="the minimal Django project"),
]

RELOAD_DJANGO_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=True), note="WSGI entry point"),
    Server("uvicorn", "uvicorn", (*_UVICORN, "watchfiles"), _uvicorn(http=None, reload=True),
           note="ASGI entry point"),
    Server("granian", "granian", ("granian", "watchfiles"),
           _granian(interface="wsgi", reload=True), note="WSGI entry point"),
    Server("django-runserver", "django", ("django",), _runserver(reload=True)),
]

RELOAD_FASTAPI_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=True)),
    Server("uvicorn", "uvicorn", (*_UVICORN, "watchfiles"), _uvicorn(http=None, reload=True)),
    Server("fastapi-dev", "fastapi", ("fastapi_cli", "uvicorn", "watchfiles"), _fastapi("dev"),
           note="fastapi dev (uvicorn --reload underneath)"),
    Server("granian", "granian", ("granian", "watchfiles"), _granian(reload=True)),
]

RELOAD_DJANGO_FULL_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=True), note="WSGI entry point"),
    Server("asyncdev-runserver", "asyncdev", (*_ASYNCDEV, "django"), _asyncdev_runserver,
           note='manage.py runserver with "asyncdev" in INSTALLED_APPS'),
    Server("uvicorn", "uvicorn", (*_UVICORN, "watchfiles"), _uvicorn(http=None, reload=True),
           note="ASGI entry point"),
    Server("granian", "granian", ("granian", "watchfiles"),
           _granian(interface="wsgi", reload=True), note="WSGI entry point"),
    Server("django-runserver", "django", ("django",), _runserver(reload=True), app=DJANGO_FULL),
]

WS_SERVERS = [
    Server("asyncdev", "asyncdev", _ASYNCDEV, _asyncdev(reload=False)),
    Server("uvicorn-wsproto", "uvicorn", (*_UVICORN, "wsproto"), _uvicorn(ws="wsproto")),
    Server("uvicorn-websockets", "uvicorn", (*_UVICORN, "websockets"), _uvicorn(ws="websockets")),
    Server("hypercorn", "hypercorn", ("hypercorn", "uvloop"), _hypercorn()),
    Server("granian", "granian", ("granian",), _granian()),
    Server("daphne", "daphne", ("daphne",), _daphne),
]
