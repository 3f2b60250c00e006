"""Which responses get the browser reload script, and how it is put in.

``document_kind(scope)`` says whether a request is a top-level page (True), a fragment
or subresource (False) or unknown (None: no Fetch Metadata). ``Injector`` is the ``send``
of one such request: it adds ``script_tag()`` before ``</body>`` of uncompressed HTML
(fixing Content-Length, keeping the app's other headers), and turns a non-HTML 5xx
answer to a page navigation into a small HTML page carrying the script.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..._types import Message, Scope, Send

__all__ = ["PREFIX", "SCRIPT_PATH", "STATE_PATH", "WS_PATH", "Injector", "document_kind",
           "script_tag"]

logger = logging.getLogger("asyncdev.error")

PREFIX = "/__asyncdev__/"
SCRIPT_PATH = PREFIX + "reload.js"
WS_PATH = PREFIX + "ws"
STATE_PATH = PREFIX + "state"

# Requests that ask for a piece of a page, never a whole document: htmx, Turbo frames,
# and the X-Requested-With convention of jQuery and its kin (only its XMLHttpRequest
# value: Android's WebView sends the app's package name on every request).
_FRAGMENT_HEADERS = frozenset({b"hx-request", b"turbo-frame"})
_END = b"</body"
# A page of unknown kind with a Content-Length is held this long to look for </body>
# (the tag may only go where the document ends); anything bigger is passed on as is.
_HOLD_LIMIT = 1 << 20
# Logged once per path: a page reloaded in a loop must not flood the terminal.
_MAX_LOGGED = 256

_PASS, _INJECT, _HOLD, _WRAP = range(4)


def script_tag(
    root_path: str = "", *, method: str = "GET", nonce: str | None = None, broken: bool = False,
) -> str:
    """The markup that loads the reload script. The same for every process (the page
    learns the process id from its connection), so a revalidated copy stays right;
    ``method`` marks a page answered to a non-GET request, never to be reloaded, and
    ``broken`` one served while the app could not start, to reload once it can."""
    src = html.escape(root_path + SCRIPT_PATH)
    extra = "" if method in ("GET", "HEAD") else f' data-asyncdev-method="{html.escape(method)}"'
    if broken:
        extra += " data-asyncdev-broken"
    if nonce is not None:
        extra += f' nonce="{html.escape(nonce)}"'
    return f'<script src="{src}"{extra}></script>\n'


def document_kind(scope: Scope) -> bool | None:
    """True for a top-level page navigation, False for a fragment, a frame or a
    subresource, None when the client sends no Fetch Metadata (Sec-Fetch-Dest)."""
    dest: bytes | None = None
    for name, value in scope["headers"]:
        if name in _FRAGMENT_HEADERS or (
            name == b"x-requested-with" and value.lower() == b"xmlhttprequest"
        ):
            return False
        if name == b"sec-fetch-dest":
            dest = value
    if dest is None:
        return None
    return dest == b"document"


class Injector:
    """The ``send`` of one request that may get the script."""

    __slots__ = ("broken", "document", "held", "logged", "mode", "parts", "root_path",
                 "scope", "send_next", "size", "start", "tag", "wrap")

    def __init__(self, scope: Scope, send: Send, *, root_path: str,
                 document: bool | None, logged: set[str], broken: bool = False) -> None:
        self.scope = scope
        self.broken = broken
        self.logged = logged
        self.send_next = send
        self.root_path = root_path
        self.document = document
        self.mode = _PASS
        self.tag = b""
        self.held = b""
        self.parts: list[bytes] = []
        self.size = 0
        self.start: Message | None = None
        self.wrap = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            message = self._decide(message)
            if self.mode in (_HOLD, _WRAP):
                self.start = message
                return
        elif kind == "http.response.body" and self.mode != _PASS:
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            if self.mode == _INJECT:
                message = {**message, "body": self._stream(body, more)}
            else:
                self.parts.append(body)
                self.size += len(body)
                if more and self.size <= _HOLD_LIMIT:
                    return
                await self._flush(message, more)
                return
        await self.send_next(message)

    def _stream(self, body: bytes, more: bool) -> bytes:
        data = self.held + body if self.held else body
        self.held = b""
        at = data.lower().find(_END)
        if at >= 0:
            self.mode = _PASS
            return data[:at] + self.tag + data[at:]
        if not more:
            self.mode = _PASS
            # A page without </body> (or a streamed one that never closes it) still gets
            # the script after its end: the HTML parser moves it into the body.
            return data + self.tag if self.document else data
        # "</body" may be split across two parts: keep the tail for the next one.
        keep = len(_END) - 1
        self.held = data[-keep:]
        return data[:-keep]

    async def _flush(self, message: Message, more: bool) -> None:
        start = self.start
        assert start is not None
        data = b"".join(self.parts)
        self.parts = []
        self.mode = _PASS
        if more:  # too big to hold: the app's response, untouched
            await self.send_next(start)
            await self.send_next({**message, "body": data})
            return
        headers = [(n, v) for n, v in start["headers"] if n.lower() != b"content-length"]
        if self.wrap:
            data = _error_page(start["status"], data, self.tag)
            headers = [(n, v) for n, v in headers if n.lower() != b"content-type"]
            headers.append((b"content-type", b"text/html; charset=utf-8"))
        else:
            at = data.lower().rfind(_END)
            if at >= 0:
                data = data[:at] + self.tag + data[at:]
        headers.append((b"content-length", b"%d" % len(data)))
        await self.send_next({**start, "headers": headers})
        await self.send_next({**message, "body": data, "more_body": False})

    def _decide(self, message: Message) -> Message:
        status = message["status"]
        if not 200 <= status < 600 or status in (204, 206, 304):
            return message  # no body, or a byte range the tag would shift
        ctype = b""
        length: int | None = None
        policies: list[bytes] = []
        for name, value in message.get("headers") or ():
            lname = name.lower()
            if lname == b"content-type":
                ctype = value.lower()
            elif lname == b"content-encoding":
                if value.strip().lower() not in (b"", b"identity"):
                    if self.document:
                        _log_once(self.logged, self.scope, "it is compressed (the app "
                                  "ignored the request's Accept-Encoding)")
                    return message
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
            elif lname == b"content-security-policy":
                policies.append(value)
        html_type = ctype.startswith(b"text/html") and b"utf-16" not in ctype
        allowed, nonce = csp_allows(policies)
        if not allowed:
            _log_once(self.logged, self.scope, "its Content-Security-Policy forbids "
                      "same-origin scripts or connections (allow 'self' in script-src and "
                      "connect-src, or use a nonce)")
            return message
        method = self.scope["method"]
        self.tag = script_tag(self.root_path, method=method, nonce=nonce,
                              broken=self.broken).encode("utf-8")
        if not html_type:
            if (status >= 500 and self.document
                    and (not ctype or ctype.startswith(b"text/plain"))):
                # The app's own plain 500 for a page: the tab gets a page that can
                # recover by itself once the code is fixed.
                self.mode = _WRAP
                self.wrap = True
            return message
        if self.document or length is None:
            self.mode = _INJECT
            if length is not None:
                headers = [(n, v) for n, v in message.get("headers") or ()
                           if n.lower() != b"content-length"]
                headers.append((b"content-length", b"%d" % (length + len(self.tag))))
                return {**message, "headers": headers}
            return message
        # Unknown kind with a length: held until it is known whether it ends a document.
        self.mode = _HOLD if length <= _HOLD_LIMIT else _PASS
        return message


def _error_page(status: int, text: bytes, tag: bytes) -> bytes:
    escaped = html.escape(text.decode("utf-8", "replace"))
    return (
        f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{status}</title>"
        f"</head>\n<body><pre>{escaped}</pre>\n"
    ).encode() + tag + b"</body></html>\n"


def csp_allows(policies: list[bytes]) -> tuple[bool, str | None]:
    """Whether every policy lets the page load the script and open a WebSocket to its
    own origin (CSP Level 3: script-src-elem/script-src/default-src and
    connect-src/default-src), and the nonce to give the script tag, if any. Only
    'self', '*', scheme sources and nonces count: anything subtler is left alone."""
    nonce: str | None = None
    for header in policies:
        for policy in header.decode("latin-1").split(","):
            directives: dict[str, list[str]] = {}
            for directive in policy.split(";"):
                parts = directive.split()
                if parts and parts[0].lower() not in directives:
                    directives[parts[0].lower()] = parts[1:]
            default = directives.get("default-src")
            script = directives.get("script-src-elem", directives.get("script-src", default))
            connect = directives.get("connect-src", default)
            if script is not None:
                nonces = [s[7:-1] for s in script if s.lower().startswith("'nonce-")
                          and s.endswith("'") and len(s) > 8]
                lowered = [s.lower() for s in script]
                # CSP3 section 8.2: with 'strict-dynamic', 'self' is ignored.
                by_source = "'strict-dynamic'" not in lowered and any(
                    s in ("'self'", "*", "http:", "https:") for s in lowered)
                if not by_source:
                    if not nonces or (nonce is not None and nonce not in nonces):
                        return False, None
                    nonce = nonces[0] if nonce is None else nonce
            if connect is not None and not any(
                s.lower() in ("'self'", "*", "ws:", "wss:") for s in connect
            ):
                return False, None
    return True, nonce


def _log_once(logged: set[str], scope: Scope, reason: str) -> None:
    path = scope["path"]
    if path in logged or len(logged) >= _MAX_LOGGED:
        return
    logged.add(path)
    logger.info("Browser reload: %s left without the reload script, because %s",
                path.encode("unicode_escape").decode("ascii"), reason)
