"""Browser reload: open pages refresh themselves once the server has been reloaded.

``BrowserReload`` (ASGI middleware) adds ``script_tag()`` before ``</body>`` of
uncompressed ``text/html`` responses, fixing Content-Length, unless the response's
Content-Security-Policy forbids it. It answers ``/__asyncdev__/reload.js`` and the
server-sent events stream ``/__asyncdev__/events``, which sends this process's id; the
script reloads the page when the id differs from the one the page was rendered with.
"""

from __future__ import annotations

import asyncio
import html
import logging
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from .._types import NoEvents

if TYPE_CHECKING:
    from .._config import Config
    from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["EVENTS_PATH", "PROCESS_ID", "SCRIPT_PATH", "BrowserReload", "script_tag"]

logger = logging.getLogger("asyncdev.error")

PREFIX = "/__asyncdev__/"
SCRIPT_PATH = PREFIX + "reload.js"
EVENTS_PATH = PREFIX + "events"
# Every reload is a fresh process, so an id drawn at import tells old from new.
PROCESS_ID = uuid.uuid4().hex

# The EventSource reconnects on its own when the old process closes the stream; the
# retry field (WHATWG HTML, server-sent events) keeps that wait short.
_SCRIPT = b"""\
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__asyncdevReload) return;
  window.__asyncdevReload = true;
  var id = me.getAttribute("data-asyncdev-id");
  var url = new URL("events", me.src).href;
  function connect() {
    var source = new EventSource(url);
    source.onmessage = function (event) {
      if (!id) { id = event.data; return; }
      if (event.data === id) return;
      // A page that comes back from a cache with the old id must not loop.
      if (sessionStorage.getItem("asyncdev-reloaded-for") === event.data) {
        id = event.data;
        return;
      }
      sessionStorage.setItem("asyncdev-reloaded-for", event.data);
      source.close();
      location.reload();
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 500);
    };
  }
  connect();
})();
"""
_EVENT = b"retry: 250\ndata: " + PROCESS_ID.encode("ascii") + b"\n\n"
# Dropped from pages that get the script (see _Injector._start).
_VALIDATORS = frozenset({b"etag", b"last-modified", b"cache-control", b"expires"})
# Logged once per path: a page reloaded in a loop must not flood the terminal.
_MAX_LOGGED = 256


def script_tag(root_path: str = "") -> str:
    """The markup that loads the reload script, for pages rendered by this process."""
    src = html.escape(root_path + SCRIPT_PATH)
    return f'<script src="{src}" data-asyncdev-id="{PROCESS_ID}"></script>\n'


class BrowserReload(NoEvents):
    """ASGI middleware: inject the reload script, serve the internal endpoints."""

    def __init__(self, app: ASGIApp, *, config: Config) -> None:
        self.app = app
        self.root_path = config.root_path
        self.tag = script_tag(config.root_path).encode("utf-8")
        self._logged: set[str] = set()
        # Set when the server starts stopping: open event streams end then, so pages
        # reconnect to the next process at once.
        self._stopping: asyncio.Event | None = None
        self._stopped = False

    def server_stopping(self) -> None:
        self._stopped = True
        if self._stopping is not None:
            self._stopping.set()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        path: str = scope["path"]
        root = self.root_path
        if root and path.startswith(root):
            path = path[len(root) :]
        if path.startswith(PREFIX):
            return self._internal(path, scope, receive, send)
        if scope["method"] == "HEAD":
            return self.app(scope, receive, send)
        return self.app(scope, receive, _Injector(self, scope, send).send)

    # -- the internal endpoints ---------------------------------------------------------

    async def _internal(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        if not _same_origin(scope):
            await _respond(send, 403, b"The asyncdev reload endpoints are same-origin only.\n")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"Method Not Allowed\n", [(b"allow", b"GET, HEAD")])
            return
        head = scope["method"] == "HEAD"
        if path == SCRIPT_PATH:
            await _respond(
                send, 200, _SCRIPT,
                [(b"content-type", b"text/javascript; charset=utf-8"),
                 (b"cache-control", b"no-cache")],
                head=head,
            )
        elif path == EVENTS_PATH:
            await self._events(receive, send, head=head)
        else:
            await _respond(send, 404, b"Not Found\n")

    async def _events(self, receive: Receive, send: Send, *, head: bool) -> None:
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
            ],
        })
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": _EVENT, "more_body": True})
        # Nothing more to say: the id changes only with the process. The stream ends
        # when the page goes away or when this server starts stopping: then the page
        # reconnects to the next process at once, instead of after the grace period a
        # long-lived response would otherwise hold the old process for.
        if self._stopping is None:
            self._stopping = asyncio.Event()
            if self._stopped:
                self._stopping.set()
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(receive())
                await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():
                    receiving.cancel()
                    break
                if receiving.result().get("type") == "http.disconnect":
                    break
        finally:
            stopping.cancel()
        # On a closed connection this raises ClientDisconnected, which the server
        # treats as the quiet end of a stream whose reader left.
        await send({"type": "http.response.body", "body": b""})

    def log_skipped(self, scope: Scope) -> None:
        path = scope["path"]
        if path in self._logged or len(self._logged) >= _MAX_LOGGED:
            return
        self._logged.add(path)
        logger.info(
            "Browser reload: %s left without the reload script, because its "
            "Content-Security-Policy forbids same-origin scripts or connections "
            "(allow 'self' in script-src and connect-src to enable it)",
            path.encode("unicode_escape").decode("ascii"),
        )


class _Injector:
    """The ``send`` of one HTML-bearing request: rewrites the head, then one body part."""

    __slots__ = ("active", "middleware", "scope", "send_next")

    def __init__(self, middleware: BrowserReload, scope: Scope, send: Send) -> None:
        self.middleware = middleware
        self.scope = scope
        self.send_next = send
        self.active = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            message = self._start(message)
        elif kind == "http.response.body" and self.active:
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            at = body.lower().rfind(b"</body")
            if at >= 0:
                body = body[:at] + self.middleware.tag + body[at:]
            elif not more:
                # No </body> seen (or split across parts): a script after the
                # document's end still runs, the parser moves it into the body.
                body += self.middleware.tag
            if at >= 0 or not more:
                self.active = False
                message = {**message, "body": body}
        await self.send_next(message)

    def _start(self, message: Message) -> Message:
        status = message["status"]
        if not 200 <= status < 600 or status in (204, 206, 304):
            return message  # no body, or a byte range the tag would shift
        html_type = False
        length: int | None = None
        policies: list[bytes] = []
        kept: list[tuple[bytes, bytes]] = []
        for name, value in message.get("headers") or ():
            lname = name.lower()
            if lname == b"content-type":
                ctype = value.lower()
                html_type = ctype.startswith(b"text/html") and b"utf-16" not in ctype
            elif lname == b"content-encoding":
                if value.strip().lower() not in (b"", b"identity"):
                    return message  # compressed: the tag cannot be spliced in
            elif lname == b"content-disposition":
                if value.lower().startswith(b"attachment"):
                    return message
            elif lname == b"content-range":
                return message
            elif lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return message  # the server refuses it anyway; do not touch it
                continue
            elif lname == b"content-security-policy":
                policies.append(value)
            elif lname in _VALIDATORS:
                continue
            kept.append((name, value))
        if not html_type:
            return message
        if policies and not _csp_allows(policies):
            self.middleware.log_skipped(self.scope)
            return message
        # The page now carries this process's id: a copy revalidated later (a 304
        # for the app's ETag or Last-Modified) would hold a stale id and reload the
        # page again and again. Without validators the browser fetches it anew.
        kept.append((b"cache-control", b"no-cache"))
        if length is not None:
            kept.append((b"content-length", b"%d" % (length + len(self.middleware.tag))))
        self.active = True
        return {**message, "headers": kept}


def _csp_allows(policies: list[bytes]) -> bool:
    """Whether every policy lets the page load a same-origin script and open an
    EventSource to its own origin (CSP Level 3: script-src-elem/script-src/default-src
    and connect-src/default-src). Only 'self', '*' and scheme sources count as allowing
    it: anything subtler is left alone rather than guessed."""
    for header in policies:
        for policy in header.decode("latin-1").lower().split(","):
            directives: dict[str, list[str]] = {}
            for directive in policy.split(";"):
                parts = directive.split()
                if parts and parts[0] not in directives:
                    directives[parts[0]] = parts[1:]
            default = directives.get("default-src")
            script = directives.get(
                "script-src-elem", directives.get("script-src", default)
            )
            connect = directives.get("connect-src", default)
            for sources in (script, connect):
                if sources is not None and not _allows_self(sources):
                    return False
    return True


def _allows_self(sources: list[str]) -> bool:
    if "'strict-dynamic'" in sources:  # CSP3 section 8.2: 'self' is then ignored
        return False
    return any(s in ("'self'", "*", "http:", "https:") for s in sources)


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
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    all_headers = list(headers or ())
    if not any(name == b"content-type" for name, _ in all_headers):
        all_headers.append((b"content-type", b"text/plain; charset=utf-8"))
    all_headers += [
        (b"content-length", b"%d" % len(body)),
        (b"x-content-type-options", b"nosniff"),
        # Other sites cannot even embed these responses (Fetch, CORP).
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
