"""The benchmark cells: what each one measures, on which app, against which servers.

Each cell names its baseline (measured in the same run, never taken from an earlier
one) and the servers it runs by default; ``--servers`` picks others by name or family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import servers as S

_UNPINNED = " (on every CPU, as on a developer's machine, unless --pin-startup)"


@dataclass(frozen=True)
class Cell:
    name: str
    kind: str  # throughput, startup, idle-memory, reload, ws-echo, soak
    description: str
    app: S.App
    servers: Sequence[S.Server]
    baseline: str
    default: tuple[str, ...]
    extra: bool = False  # left out of the default run
    # Request shape for throughput cells.
    method: str = "GET"
    body_size: int = 0
    close: bool = False
    connections: int = 32
    notes: tuple[str, ...] = field(default=())
    # The server's processes on CPU 0 only (when the run pins). Startup cells time a
    # whole command the way a developer's machine runs it, every CPU available: a
    # reloader's two processes overlap there.
    pinned: bool = True

    def server(self, name: str) -> S.Server:
        return next(s for s in self.servers if s.name == name)

    def select(self, requested: Sequence[str] | None) -> list[S.Server]:
        """The servers to run, in table order; the baseline is always included."""
        if requested is None:
            wanted = set(self.default)
        elif "all" in requested:
            wanted = {s.name for s in self.servers}
        else:
            wanted = {s.name for s in self.servers
                      if s.name in requested or s.family in requested}
        wanted.add(self.baseline)
        return [s for s in self.servers if s.name in wanted]


_ASGI_MAIN = ("asyncdev", "uvicorn-h11", "uvicorn-httptools")
_WSGI_MAIN = ("asyncdev", "uvicorn-wsgi", "gunicorn-sync", "werkzeug-threaded")

CELLS: dict[str, Cell] = {cell.name: cell for cell in [
    Cell("asgi-hello", "throughput", "ASGI hello world, keep-alive", S.ASGI_HELLO,
         S.ASGI_SERVERS, "uvicorn-h11", tuple(s.name for s in S.ASGI_SERVERS)),
    Cell("asgi-hello-close", "throughput", "ASGI hello world, `Connection: close` "
         "(a new connection per request)", S.ASGI_HELLO, S.ASGI_SERVERS, "uvicorn-h11",
         _ASGI_MAIN, close=True),
    Cell("asgi-64k", "throughput", "ASGI 64 KiB response, keep-alive", S.ASGI_64K,
         S.ASGI_SERVERS, "uvicorn-h11", _ASGI_MAIN),
    Cell("asgi-upload-1m", "throughput", "ASGI 1 MiB POST, the app reads it all and "
         "answers its length", S.ASGI_UPLOAD, S.ASGI_SERVERS, "uvicorn-h11", _ASGI_MAIN,
         method="POST", body_size=1 << 20, connections=8),
    Cell("asgi-echo-1m", "throughput", "ASGI 1 MiB POST echoed back in one message",
         S.ASGI_ECHO, S.ASGI_SERVERS, "uvicorn-h11", _ASGI_MAIN,
         method="POST", body_size=1 << 20, connections=8),
    Cell("wsgi-hello", "throughput", "WSGI hello world, keep-alive", S.WSGI_HELLO,
         S.WSGI_SERVERS, "uvicorn-wsgi", _WSGI_MAIN),
    Cell("flask-hello", "throughput", "Flask hello world, keep-alive", S.FLASK_HELLO,
         S.WSGI_SERVERS, "uvicorn-wsgi", _WSGI_MAIN),
    Cell("django-hello", "throughput", "Django view (minimal project, WSGI entry point)",
         S.DJANGO, S.DJANGO_SERVERS, "uvicorn-wsgi", (*_WSGI_MAIN, "django-runserver"),
         extra=True),
    Cell("startup", "startup", "spawn to first 200 response (ASGI hello)" + _UNPINNED,
         S.ASGI_HELLO, S.STARTUP_SERVERS, "uvicorn-h11",
         ("asyncdev", "uvicorn-h11", "asyncdev-reload", "uvicorn-reload"), pinned=False),
    Cell("startup-flask", "startup", "spawn to first 200 response, Flask hello world"
         + _UNPINNED, S.FLASK_HELLO, S.STARTUP_FLASK_SERVERS, "flask-run",
         tuple(s.name for s in S.STARTUP_FLASK_SERVERS), pinned=False),
    Cell("startup-fastapi", "startup", "spawn to first 200 response, FastAPI hello world"
         + _UNPINNED, S.FASTAPI_HELLO, S.STARTUP_FASTAPI_SERVERS, "fastapi-dev",
         tuple(s.name for s in S.STARTUP_FASTAPI_SERVERS), pinned=False),
    Cell("startup-django", "startup", "spawn to first 200 response, the minimal Django project"
         + _UNPINNED, S.DJANGO, S.STARTUP_DJANGO_SERVERS, "django-runserver-reload",
         tuple(s.name for s in S.STARTUP_DJANGO_SERVERS), pinned=False),
    Cell("idle-memory", "idle-memory", "reload on, whole process tree 2 s after the first "
         "response (trivial ASGI app)", S.RELOAD_ASGI, S.RELOAD_SERVERS[:4], "uvicorn",
         ("asyncdev", "uvicorn")),
    Cell("idle-memory-django", "idle-memory", "the same on the full Django project (WSGI "
         "entry point; uvicorn: ASGI)", S.DJANGO_FULL,
         [s for s in S.RELOAD_DJANGO_FULL_SERVERS if s.name in ("asyncdev", "uvicorn",
                                                                 "asyncdev-runserver")],
         "uvicorn", ("asyncdev", "uvicorn")),
    Cell("reload", "reload", "file write to first response with the new code, trivial app; "
         "failed requests meanwhile", S.RELOAD_ASGI, S.RELOAD_SERVERS, "uvicorn",
         tuple(s.name for s in S.RELOAD_SERVERS)),
    Cell("reload-django", "reload", "the same on the minimal Django project (views.py edited)",
         S.DJANGO, S.RELOAD_DJANGO_SERVERS, "uvicorn",
         tuple(s.name for s in S.RELOAD_DJANGO_SERVERS)),
    Cell("reload-fastapi", "reload", "the same on a one-file FastAPI app (pydantic models, "
         "a SQLAlchemy engine and mapped class, two routes)", S.RELOAD_FASTAPI,
         S.RELOAD_FASTAPI_SERVERS, "uvicorn", tuple(s.name for s in S.RELOAD_FASTAPI_SERVERS)),
    Cell("reload-django-full", "reload", "the same on a full Django project (startproject's "
         "INSTALLED_APPS, SQLite, an app with models and admin; views.py edited)",
         S.DJANGO_FULL, S.RELOAD_DJANGO_FULL_SERVERS, "uvicorn",
         tuple(s.name for s in S.RELOAD_DJANGO_FULL_SERVERS)),
    Cell("ws-echo", "ws-echo", "WebSocket echo of 32-byte text messages, one in flight "
         "per connection", S.WS_ECHO, S.WS_SERVERS, "uvicorn-wsproto",
         ("asyncdev", "uvicorn-wsproto", "uvicorn-websockets"), connections=16),
    Cell("soak", "soak", "200 keep-alive connections x 50 requests per round (ASGI hello)",
         S.ASGI_HELLO, S.ASGI_SERVERS, "uvicorn-h11", ("asyncdev", "uvicorn-h11"),
         connections=200),
]}


def resolve(names: Sequence[str] | None) -> list[Cell]:
    if not names:
        return [c for c in CELLS.values() if not c.extra]
    if "all" in names:
        return list(CELLS.values())
    unknown = [n for n in names if n not in CELLS]
    if unknown:
        raise SystemExit(f"unknown cell(s): {', '.join(unknown)}; "
                         f"choose from {', '.join(CELLS)} or all")
    return [CELLS[n] for n in names]
