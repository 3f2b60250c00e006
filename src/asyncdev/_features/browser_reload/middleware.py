"""``BrowserReload``: the ASGI middleware behind browser reload, and the pages' hub.

It injects the script into pages (``inject``), serves it, and keeps one WebSocket per
browser (the script shares it between tabs through a SharedWorker) on which it tells
the pages this process's id (a new id: refresh), whether the app is broken, stylesheet
and asset changes (``files_changed``), and the errors of their own requests; pages send
back their uncaught errors for the log. ``/__asyncdev__/state`` tells tools the same.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..._errors import ClientDisconnected
from ..._types import NoEvents, WatchRequest
from ..._version import __version__
from .inject import PREFIX, SCRIPT_PATH, STATE_PATH, WS_PATH, Injector, document_kind
from .report import failure_of, log_browser_message, summarize

if TYPE_CHECKING:
    from ..._config import Config
    from ..._traceback import Report
    from ..._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PROCESS_ID", "BrowserReload"]

logger = logging.getLogger("asyncdev.error")

# Every reload is a fresh process, so an id drawn at import tells old from new.
PROCESS_ID = os.urandom(16).hex()

def _read_script() -> bytes:
    # A plain file read: importlib.resources would load zipfile in every server process.
    try:
        with open(os.path.join(os.path.dirname(__file__), "reload.js"), "rb") as file:
            return file.read()
    except OSError:  # pragma: no cover - installed in a zip archive
        from importlib.resources import files

        return files(__package__).joinpath("reload.js").read_bytes()


_SCRIPT = _read_script()

# Assets under --static whose change refreshes the open pages with no restart (a
# stylesheet is swapped in place); a stylesheet anywhere under the watched directories.
ASSET_PATTERNS = ("*.css", "*.js", "*.mjs", "*.map", "*.png", "*.jpg", "*.jpeg", "*.gif",
                  "*.svg", "*.webp", "*.avif", "*.ico", "*.woff", "*.woff2", "*.ttf",
                  "*.html", "*.json")
# What a subresource is: a copy of one without caching headers is fresh in the browser's
# heuristic cache (RFC 9111 section 4.2.2) and would outlive its edit.
_SUBRESOURCES = frozenset({b"style", b"script", b"image", b"font"})
# Requests a page makes itself whose failure it shows (fetch and XHR are "empty").
_PAGE_REQUESTS = frozenset({b"empty", b"script", b"style"})
# A page that reports an error in a loop must not flood the terminal (per connection).
_LOG_BURST = 20
_LOG_WINDOW = 10.0
# Messages a slow page has not read yet: beyond this it misses some, then refreshes.
_QUEUE_SIZE = 64
_HISTORY = 20


class BrowserReload(NoEvents):
    """ASGI middleware: inject the reload script, serve the internal endpoints."""

    def __init__(
        self, app: ASGIApp, *, config: Config, startup_failure: Report | None = None,
    ) -> None:
        self.app = app
        self.root_path = config.root_path
        self.config = config
        self.started = time.time()
        self.browser_errors = config.browser_errors
        # The app that could not start: pages keep their content under an overlay.
        self.failure = summarize(startup_failure) if startup_failure is not None else None
        self.last_error: dict[str, Any] | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=_HISTORY)
        self.history.append(_startup_entry(self.started, self.failure is None))
        # The reloads before this process, as the supervisor timed them.
        self.reloads: list[dict[str, Any]] = []
        self._pages: set[asyncio.Queue[str | None]] = set()
        self._logged: set[str] = set()  # pages left without the script, said once each
        if config.ws == "none":
            logger.warning("Browser reload needs WebSockets, which --ws none turns off: open "
                           "pages will not follow changes (or pass --no-browser-reload)")

    # -- server events -------------------------------------------------------------------

    def server_stopping(self) -> None:
        # The server closes the sockets with 1012 too; this only ends ours first.
        for queue in list(self._pages):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def watch_paths(self) -> Sequence[WatchRequest]:
        directories = self.config.reload_dirs or (os.getcwd(),)
        requests = [WatchRequest(os.path.abspath(d), ("*.css",)) for d in directories]
        requests += [WatchRequest(os.path.abspath(d), ASSET_PATTERNS)
                     for _, d in self.config.static]
        return requests

    def files_changed(self, paths: Sequence[str]) -> None:
        sheets = [self._describe(p) for p in paths if p.endswith(".css")]
        others = [self._describe(p) for p in paths if not p.endswith(".css")]
        if others:
            self._broadcast({"type": "reload", "files": others})
            kind = "asset"
        elif sheets:
            self._broadcast({"type": "css", "files": sheets})
            kind = "css"
        else:
            return
        names = ", ".join(f["name"] for f in sheets + others)
        logger.info("Browser reload: %s changed, %s %d open page(s)", names,
                    "refreshing" if others else "swapping it in", len(self._pages))
        self.history.append({"kind": kind, "files": [f["name"] for f in sheets + others],
                             "at": time.time(), "pages": len(self._pages)})

    def _describe(self, path: str) -> dict[str, Any]:
        """A changed file as the pages match it: its name, and its URL when it is under
        a --static directory."""
        url = None
        full = os.path.abspath(path)
        for prefix, directory in self.config.static:
            base = os.path.join(os.path.abspath(directory), "")
            if full.startswith(base):
                relative = full[len(base):].replace(os.sep, "/")
                url = self.root_path + prefix.rstrip("/") + "/" + relative
                break
        return {"name": os.path.basename(path), "url": url}

    def _broadcast(self, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        for queue in list(self._pages):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                # A page that reads nothing for this long refreshes when it wakes.
                self._pages.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    # -- requests ----------------------------------------------------------------------

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return self.app(scope, receive, send)
        path: str = scope["path"]
        root = self.root_path
        if root and path.startswith(root):
            path = path[len(root):]
        if path.startswith(PREFIX):
            if kind == "websocket":
                return self._socket(path, scope, receive, send)
            return self._internal(path, scope, receive, send)
        if kind == "websocket":
            return self.app(scope, receive, send)
        return self._page(scope, receive, send)

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        document = None if scope["method"] == "HEAD" else document_kind(scope)
        if document:
            # The page is to be edited: ask the app for it uncompressed.
            scope = {**scope, "headers": [(n, v) for n, v in scope["headers"]
                                          if n != b"accept-encoding"]}
        if document is False or scope["method"] == "HEAD":
            watcher = _Watcher(scope, send)
        else:
            injector = Injector(scope, send, root_path=self.root_path, document=document,
                                logged=self._logged, broken=self.failure is not None)
            watcher = _Watcher(scope, injector.send)
        try:
            await self.app(scope, receive, watcher.send)
        except (asyncio.CancelledError, ClientDisconnected):
            raise
        except BaseException as exc:
            # Frameworks often answer 500 first and raise after (Starlette): the
            # exception says more than the status.
            self._request_failed(scope, failure_of(exc))
            raise
        if watcher.status >= 500:
            title = f"{scope['method']} {scope['path']} answered {watcher.status}"
            self._request_failed(scope, summarize(None, title=title))

    def _request_failed(self, scope: Scope, error: dict[str, Any]) -> None:
        error["request"] = f"{scope['method']} {scope['path']}"
        self.last_error = error
        dest = referer = None
        for name, value in scope["headers"]:
            if name == b"sec-fetch-dest":
                dest = value
            elif name == b"referer":
                referer = value.decode("latin-1")
        # A page's own request (fetch, htmx, a script or stylesheet): the page shows it
        # over its content. A failed navigation shows the error page itself, and the
        # browser's own requests (the favicon) are not the page's. While the app cannot
        # start every request fails, and the pages already show why.
        if dest in _PAGE_REQUESTS and self.failure is None:
            self._broadcast({"type": "error", "error": error, "page": referer})

    # -- the internal endpoints ----------------------------------------------------------

    async def _internal(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        if not _same_origin(scope):
            await _respond(send, 403, b"The asyncdev endpoints are same-origin only.\n")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"Method Not Allowed\n", [(b"allow", b"GET, HEAD")])
            return
        head = scope["method"] == "HEAD"
        if path == SCRIPT_PATH:
            # The same script in every process: the browser may keep it (no-cache makes
            # it ask, and the ETag makes the answer a 304).
            await _respond(send, 200, _SCRIPT, [
                (b"content-type", b"text/javascript; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"etag", _SCRIPT_ETAG),
            ], head=head, scope=scope)
        elif path == STATE_PATH:
            from ..loopback import is_local_client

            if not is_local_client(scope):
                await _respond(send, 403, b"The state endpoint answers this machine only.\n")
                return
            body = json.dumps(self.state(), indent=1).encode("utf-8")
            await _respond(send, 200, body, [(b"content-type", b"application/json"),
                                             (b"cache-control", b"no-store")], head=head)
        else:
            await _respond(send, 404, b"Not Found\n")

    def reloads_reported(self, reloads: Sequence[Mapping[str, Any]]) -> None:
        self.reloads = [{"kind": "reload", **entry} for entry in reloads]

    def state(self) -> dict[str, Any]:
        """What the state endpoint answers: is the app serving, its errors, the last
        reloads (process starts with their timings, hot updates)."""
        return {
            "server": "asyncdev", "version": __version__, "pid": os.getpid(),
            "id": PROCESS_ID,
            "state": "broken" if self.failure is not None else "serving",
            "error": self.failure, "last_request_error": self.last_error,
            "pages": len(self._pages),
            "reloads": sorted([*self.reloads, *self.history], key=lambda r: r.get("at", 0)),
        }

    def _hello(self) -> str:
        return json.dumps({
            "type": "hello", "id": PROCESS_ID, "started": int(self.started * 1000),
            "broken": self.failure is not None, "error": self.failure,
            "log": self.browser_errors,
        })

    async def _socket(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if path != WS_PATH or not _same_origin(scope):
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        queue: asyncio.Queue[str | None] = asyncio.Queue(_QUEUE_SIZE)
        self._pages.add(queue)
        budget = _LogBudget()
        receiving: asyncio.Future[Message] | None = None
        getting: asyncio.Future[str | None] | None = None
        try:
            await send({"type": "websocket.send", "text": self._hello()})
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(receive())
                if getting is None:
                    getting = asyncio.ensure_future(queue.get())
                pending: set[asyncio.Future[Any]] = {receiving, getting}
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if receiving.done():
                    incoming = receiving.result()
                    receiving = None
                    if incoming["type"] == "websocket.disconnect":
                        return
                    self._from_page(incoming.get("text"), budget)
                if getting.done():
                    text = getting.result()
                    getting = None
                    if text is None:
                        await send({"type": "websocket.close", "code": 1012})
                        return
                    await send({"type": "websocket.send", "text": text})
        except ClientDisconnected:
            return
        finally:
            self._pages.discard(queue)
            for future in (receiving, getting):
                if future is not None:
                    future.cancel()

    def _from_page(self, text: str | None, budget: _LogBudget) -> None:
        if not self.browser_errors or not text or len(text) > 65536:
            return
        try:
            data = json.loads(text)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("type") == "log" and budget.take():
            log_browser_message(data)


class _Watcher:
    """The ``send`` that notes the status (a 5xx is told to the pages) and lets pages
    and their assets be revalidated."""

    __slots__ = ("scope", "send_next", "status")

    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self.send_next = send
        self.status = 0

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = status = message["status"]
            if 200 <= status < 300:
                message = _no_heuristic_cache(self.scope, message)
        await self.send_next(message)


def _no_heuristic_cache(scope: Scope, message: Message) -> Message:
    """Pages and their subresources without caching headers get ``no-cache``: the
    browser asks again (a 304 when unchanged) instead of using a stale copy."""
    dest = next((v for n, v in scope["headers"] if n == b"sec-fetch-dest"), None)
    if dest is None or (dest != b"document" and dest not in _SUBRESOURCES):
        return message
    headers = message.get("headers") or []
    if any(n.lower() in (b"cache-control", b"expires") for n, _ in headers):
        return message
    return {**message, "headers": [*headers, (b"cache-control", b"no-cache")]}


class _LogBudget:
    """At most _LOG_BURST lines per _LOG_WINDOW seconds from one page connection."""

    __slots__ = ("count", "since", "skipped")

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.count = 0
        self.skipped = 0

    def take(self) -> bool:
        now = time.monotonic()
        if now - self.since > _LOG_WINDOW:
            if self.skipped:
                logger.error("Browser: %d more error(s) not shown", self.skipped)
            self.since, self.count, self.skipped = now, 0, 0
        self.count += 1
        if self.count > _LOG_BURST:
            self.skipped += 1
            return False
        return True


def _startup_entry(started: float, serving: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": "start" if serving else "failed start", "at": started}
    process_start = _process_start_time()
    if process_start is not None:
        entry["seconds"] = round(max(0.0, started - process_start), 3)
    return entry


def _process_start_time() -> float | None:
    """When this process began (Linux /proc), to time a reload's start-up."""
    try:
        with open("/proc/self/stat", "rb") as stat, open("/proc/stat", "rb") as system:
            fields = stat.read().rsplit(b")", 1)[1].split()
            boot = next(int(line.split()[1]) for line in system if line.startswith(b"btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


# A checksum is enough to tell one version of the script from another (and, unlike
# hashlib or uuid, loads nothing more into every server process).
_SCRIPT_ETAG = b'"%08x-%x"' % (binascii.crc32(_SCRIPT), len(_SCRIPT))


def _same_origin(scope: Scope) -> bool:
    """Fetch Metadata first (Sec-Fetch-Site); else an Origin, if any, must match Host."""
    host = origin = None
    for name, value in scope["headers"]:
        if name == b"sec-fetch-site":
            if value not in (b"same-origin", b"none"):
                return False
        elif name == b"origin":
            origin = value
        elif name == b"host":
            host = value
    if origin is None:
        return True
    _, sep, authority = origin.partition(b"://")
    return bool(sep) and host is not None and authority.lower() == host.lower()


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None,
    *, head: bool = False, scope: Scope | None = None,
) -> None:
    all_headers = list(headers or ())
    etag = next((v for n, v in all_headers if n == b"etag"), None)
    if etag is not None and scope is not None and any(
        n == b"if-none-match" and v == etag for n, v in scope["headers"]
    ):
        status, body, head = 304, b"", True
        all_headers = [(n, v) for n, v in all_headers if n != b"content-type"]
    if not any(name == b"content-type" for name, _ in all_headers) and status != 304:
        all_headers.append((b"content-type", b"text/plain; charset=utf-8"))
    if status != 304:
        all_headers.append((b"content-length", b"%d" % len(body)))
    all_headers += [
        (b"x-content-type-options", b"nosniff"),
        # Other sites cannot even embed these responses (Fetch, CORP).
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
