"""Answers with the error page: HTML, plain text or JSON, as the client accepts.

``error_renderer(config, fallback)`` renders for the server to frame: loopback clients
(everyone with ``debug_errors=True``) get the failure, others ``fallback`` (a bare 500);
local variables are shown to loopback clients only. ``startup_error_app(exc)`` is the
app served while the app cannot be imported or started. A page, never a console.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from typing import TYPE_CHECKING, Literal

from ..._traceback import Failure, Report, capture, type_name
from ..._tracetext import format_text, report_dict, where
from ..._types import ErrorResponse
from .page import render_page

if TYPE_CHECKING:
    from ..._config import Config
    from ..._types import ASGIApp, ErrorRenderer, Headers, Receive, Scope, Send

__all__ = ["error_renderer", "is_local_client", "startup_error_app", "wants_html"]

Form = Literal["html", "json", "text"]
RELOAD_HINT = "Fix it and save: the server reloads by itself."


def wants_html(scope: Scope) -> bool:
    """True when the request's Accept field asks for HTML (a browser navigation)."""
    return _form(scope) == "html"


def _form(scope: Scope) -> Form:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"accept":
            accept = value.lower()
            if b"text/html" in accept:
                return "html"
            if b"application/json" in accept or b"+json" in accept:
                return "json"
            return "text"
    return "text"


def is_local_client(scope: Scope) -> bool:
    """A loopback peer that is not relaying for someone else (a tunnel, a proxy)."""
    for name, _ in scope.get("headers", ()):
        if name in (b"x-forwarded-for", b"forwarded", b"x-real-ip"):
            # A local tunnel (ngrok, cloudflared, ssh -R) connects from loopback on
            # behalf of the internet: its clients must not see tracebacks.
            return False
    client = scope.get("client")
    if client is None:
        return True  # a Unix socket: only local processes can connect
    try:
        address = ipaddress.ip_address(str(client[0]).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def error_renderer(config: Config, fallback: ErrorRenderer) -> ErrorRenderer:
    """The renderer of the debug page for ``config.debug_errors``: everyone sees it when
    True, loopback clients when None; the others get ``fallback`` (a bare 500)."""
    everyone = config.debug_errors is True
    reload_tag = ""
    if config.browser_reload:
        from ..browser_reload import script_tag

        reload_tag = script_tag(config.root_path)

    def render_error(scope: Scope, exc: BaseException | None) -> ErrorResponse:
        local = is_local_client(scope)
        if not everyone and not local:
            return fallback(scope, exc)
        request = _request_line(scope)
        if exc is None:
            title = "The application did not send a response"
            body, content_type = _body(scope, None, kicker=request, title=title, lead="",
                                       extra=(request,), reload_tag=reload_tag)
        else:
            # Captured now, while the frames exist; the report keeps only strings.
            report = capture(exc, with_locals=local)
            body, content_type = _body(
                scope, report, kicker=f"500 Internal Server Error \u00b7 {request}",
                title=report.primary.headline, lead="", extra=(request,),
                reload_tag=reload_tag,
            )
        return ErrorResponse(500, _headers(content_type, body.nonce), body.data)

    return render_error


class _Body:
    __slots__ = ("data", "nonce")

    def __init__(self, data: bytes, nonce: str) -> None:
        self.data, self.nonce = data, nonce


def _body(
    scope: Scope, report: Report | None, *, kicker: str, title: str, lead: str,
    extra: tuple[str, ...], reload_tag: str = "",
) -> tuple[_Body, bytes]:
    form = _form(scope)
    lines = tuple(line for line in (lead, *extra) if line)
    text = format_text(report, extra=lines) if report is not None else (
        "\n".join((title, *lines)) + "\n")
    if form == "json":
        data = report_dict(report, title=title, request=_request_line(scope)) if report \
            else {"title": title, "request": _request_line(scope)}
        return _Body(json.dumps(data, indent=1).encode(), ""), b"application/json"
    if form == "text":
        return _Body(text.encode("utf-8", "replace"), ""), b"text/plain; charset=utf-8"
    nonce = secrets.token_urlsafe(16)
    page = render_page(report, kicker=kicker, title=title, lead=lead, text=text,
                       nonce=nonce, reload_script=reload_tag)
    return _Body(page.encode("utf-8", "replace"), nonce), b"text/html; charset=utf-8"


def _headers(content_type: bytes, nonce: str) -> Headers:
    headers = [
        (b"content-type", content_type),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"vary", b"Accept"),
    ]
    if nonce:
        # Only this response's own style and copy script run (a nonce, not
        # 'unsafe-inline'); 'self' is for the browser reload script.
        policy = (f"default-src 'none'; style-src 'nonce-{nonce}'; "
                  f"script-src 'nonce-{nonce}' 'self'; connect-src 'self'")
        headers.append((b"content-security-policy", policy.encode()))
    return headers


def _request_line(scope: Scope) -> str:
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
    target = path.decode("latin-1") if isinstance(path, bytes) else str(path)
    query = scope.get("query_string") or b""
    if query:
        target += "?" + query.decode("latin-1")
    method = scope.get("method") or "GET"
    # Escape control characters the request may carry (the log rule applies here too).
    target = target.encode("unicode_escape").decode("ascii")
    return f"{method} {target} HTTP/{scope.get('http_version', '1.1')}"


# --- the app that could not start ----------------------------------------------------


def startup_error_app(exc: BaseException, *, debug: bool | None = None) -> ASGIApp:
    """An ASGI app answering every request with a 500 page about ``exc``, an app that
    could not be imported or started (the server runs no lifespan with it).

    The failure is shown when ``debug`` is true or, when it is None, to clients on this
    machine only (with local variables for those only). It is captured here, once: the
    app keeps strings, not the exception's frames.
    """
    try:
        reports = (capture(exc, with_locals=True), capture(exc, with_locals=False))
    except Exception:  # pragma: no cover - the page must come up whatever the failure
        bare = Report([Failure(type_name(type(exc)), str(exc))])
        reports = (bare, bare)
    del exc
    place = where(reports[1])
    lead = f"Fix {place}, then save: the server reloads by itself." if place else RELOAD_HINT
    kicker = "The application could not start"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server refuse the handshake (403).
            await send({"type": "websocket.close", "code": 1011})
            return
        local = is_local_client(scope)
        if debug if debug is not None else local:
            report = reports[0] if local else reports[1]
            body, content_type = _body(scope, report, kicker=kicker,
                                       title=report.primary.headline, lead=lead,
                                       extra=(kicker + ".",))
        else:
            body = _Body(b"Internal Server Error\n", "")
            content_type = b"text/plain; charset=utf-8"
        headers = _headers(content_type, body.nonce)
        headers.append((b"content-length", str(len(body.data)).encode()))
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": body.data})

    return app
