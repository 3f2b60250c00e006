"""The debug error page sent when the app fails before it starts its response.

``error_renderer(config, fallback)`` renders it for the server to frame: loopback
clients (everyone with ``debug_errors=True``) get the exception, the escaped traceback
and the request line, as HTML when they accept it and plain text otherwise; other
clients get the fallback, a bare 500. It is a page, never a console.
``render_traceback_page`` is the shared renderer, also used by ``startup_error_app``,
the page served while the app cannot be imported or started.
"""

from __future__ import annotations

import html
import ipaddress
import linecache
import traceback
from typing import TYPE_CHECKING

from .._types import ErrorResponse
from .._usercode import is_library_file, is_own_file

if TYPE_CHECKING:
    from .._config import Config
    from .._types import ASGIApp, ErrorRenderer, Receive, Scope, Send

__all__ = [
    "error_renderer",
    "is_local_client",
    "render_traceback_page",
    "startup_error_app",
    "wants_html",
]

# The page needs only its inline style (and the reload script, same-origin).
_PAGE_POLICY = (
    b"default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'"
)
# Source lines shown around the failing line of the user's frames.
_CONTEXT_LINES = 2
# A page for a recursion error would otherwise list thousands of identical frames.
_MAX_FRAMES = 200

_CSS = """\
:root { color-scheme: light dark; --accent: #c0392b; --muted: #6b7280;
        --box: rgba(127, 127, 127, .12); }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 70rem; margin: 0 auto; padding: 2rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; color: var(--accent); word-break: break-word; }
.request { font: 14px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted);
           margin: 0 0 1.5rem; word-break: break-all; }
h2 { font-size: 1rem; margin: 2rem 0 .6rem; }
.chain { color: var(--muted); font-style: italic; margin: 1.6rem 0 .4rem; }
.frame { background: var(--box); border-radius: 6px; margin: .45rem 0; padding: .5rem .8rem; }
.frame.lib { opacity: .6; }
.where { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.where b { font-weight: 600; }
pre { margin: .3rem 0 0; font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace;
      overflow-x: auto; white-space: pre; }
pre .hit { background: rgba(192, 57, 43, .22); display: block; }
details { margin-top: 2rem; }
summary { cursor: pointer; color: var(--muted); }
.note { color: var(--muted); font-size: 13px; margin-top: 2rem; }
"""


def render_traceback_page(
    exc: BaseException | None,
    *,
    title: str,
    request_line: str | None = None,
    html: bool,
    reload_script: str = "",
) -> bytes:
    """The UTF-8 body of an error page for ``exc`` (an HTML document or plain text).

    ``title`` heads the page; ``request_line`` (e.g. ``GET /x HTTP/1.1``) is shown under
    it. ``reload_script`` is markup placed before ``</body>`` (the browser reload tag).
    """
    text = "".join(traceback.format_exception(exc)) if exc is not None else ""
    if not html:
        parts = [title, "\n"]
        if request_line:
            parts += [request_line, "\n"]
        if text:
            parts += ["\n", text]
        return "".join(parts).encode("utf-8", "replace")
    return _html_page(exc, title, request_line, text, reload_script).encode("utf-8", "replace")


def wants_html(scope: Scope) -> bool:
    """True when the request's Accept field asks for HTML (a browser navigation)."""
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value.lower()
    return False


def error_renderer(config: Config, fallback: ErrorRenderer) -> ErrorRenderer:
    """The renderer of the debug page for ``config.debug_errors``: everyone sees it when
    True, loopback clients when None; the others get ``fallback`` (a bare 500)."""
    everyone = config.debug_errors is True
    reload_tag = ""
    if config.browser_reload:
        from .browser_reload import script_tag

        reload_tag = script_tag(config.root_path)

    def render_error(scope: Scope, exc: BaseException | None) -> ErrorResponse:
        if not everyone and not is_local_client(scope):
            return fallback(scope, exc)
        return _response(scope, exc, reload_tag)

    return render_error


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


# --- the app that could not start ----------------------------------------------------


def startup_error_app(exc: BaseException, *, debug: bool | None = None) -> ASGIApp:
    """An ASGI app answering every request with a 500 page about ``exc``, an app that
    could not be imported or started (the server runs no lifespan with it).

    The traceback is shown (HTML-escaped for browsers, plain text otherwise) when
    ``debug`` is true or, when it is None, to clients on this machine only.
    """
    summary = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
    title = f"The application could not start: {summary}"
    hint = "Fix the code and save: the server reloads by itself.\n"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server refuse the handshake (403).
            await send({"type": "websocket.close", "code": 1011})
            return
        show = debug if debug is not None else is_local_client(scope)
        as_html = wants_html(scope)
        body = render_traceback_page(
            exc if show else None,
            title=title if show else "Internal Server Error",
            request_line=hint if show else None,
            html=as_html,
        )
        content_type = b"text/html" if as_html else b"text/plain"
        await send({
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", content_type + b"; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"vary", b"Accept"),
            ],
        })
        await send({"type": "http.response.body", "body": body})

    return app


# --- internals ---------------------------------------------------------------------------


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


def _response(scope: Scope, exc: BaseException | None, reload_tag: str) -> ErrorResponse:
    as_html = wants_html(scope)
    if exc is None:
        title = "The application did not send a response"
    else:
        message = str(exc)
        title = type(exc).__qualname__ + (f": {message}" if message else "")
    body = render_traceback_page(
        exc, title=title, request_line=_request_line(scope), html=as_html,
        reload_script=reload_tag,
    )
    content_type = b"text/html; charset=utf-8" if as_html else b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"vary", b"Accept"),
    ]
    if as_html:
        headers.append((b"content-security-policy", _PAGE_POLICY))
    return ErrorResponse(500, headers, body)


def _html_page(
    exc: BaseException | None,
    title: str,
    request_line: str | None,
    text: str,
    reload_script: str,
) -> str:
    esc = html.escape
    out = [
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{esc(_shorten(title, 120))}</title>\n<style>\n{_CSS}</style>\n</head>\n",
        "<body>\n<main>\n",
        f"<h1>{esc(title)}</h1>\n",
    ]
    if request_line:
        out.append(f'<p class="request">{esc(request_line)}</p>\n')
    if exc is not None:
        chain = _chain(exc)
        for index, (error, link) in enumerate(chain):
            if index:
                out.append(f'<p class="chain">{esc(link)}</p>\n')
            if len(chain) == 1:
                out.append("<h2>Traceback (most recent call last)</h2>\n")
            else:
                message = str(error)
                out.append(
                    f"<h2>{esc(type(error).__qualname__)}"
                    f"{': ' + esc(message) if message else ''}</h2>\n"
                )
            out.extend(_frames_html(error))
        out.append(
            "<details><summary>Plain-text traceback</summary>\n"
            f"<pre>{esc(text)}</pre>\n</details>\n"
        )
    out.append(
        '<p class="note">asyncdev shows this page to local clients only, because '
        "it reveals source code. Turn it off with --no-debug-errors.</p>\n"
    )
    out.append(f"</main>\n{reload_script}</body>\n</html>\n")
    return "".join(out)


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """The exception and its causes, outermost first, each with the sentence linking it."""
    items: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        items.append((current, link))
        if current.__cause__ is not None:
            link = "The above exception was the direct cause of the following one:"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link = "During handling of the above exception, another exception occurred:"
            current = current.__context__
        else:
            current = None
    # Python prints the root cause first; so does the page. Each item keeps the link
    # sentence that introduces the next one.
    items.reverse()
    links = [link for _, link in items]
    return [(error, links[i - 1] if i else "") for i, (error, _) in enumerate(items)]


def _frames_html(exc: BaseException) -> list[str]:
    esc = html.escape
    out: list[str] = []
    frames = traceback.extract_tb(exc.__traceback__)
    skipped = 0
    if len(frames) > _MAX_FRAMES:
        skipped = len(frames) - _MAX_FRAMES
        frames = traceback.StackSummary.from_list(
            frames[: _MAX_FRAMES // 2] + frames[-_MAX_FRAMES // 2 :]
        )
    for index, frame in enumerate(frames):
        if skipped and index == _MAX_FRAMES // 2:
            out.append(f'<p class="chain">... {skipped} more frames ...</p>\n')
        filename = frame.filename
        if is_own_file(filename):
            continue  # the server's own frames say nothing about the user's bug
        library = is_library_file(filename)
        css = "frame lib" if library else "frame"
        lineno = frame.lineno or 0
        out.append(
            f'<div class="{css}"><div class="where">{esc(filename)}, line {lineno}, '
            f"in <b>{esc(frame.name)}</b></div>"
        )
        out.append(_source_html(filename, lineno, frame.line or "", context=not library))
        out.append("</div>\n")
    return out


def _source_html(filename: str, lineno: int, line: str, *, context: bool) -> str:
    esc = html.escape
    if not context or lineno <= 0:
        return f"<pre>{esc(line.strip())}</pre>" if line.strip() else ""
    first = max(1, lineno - _CONTEXT_LINES)
    rows = []
    for number in range(first, lineno + _CONTEXT_LINES + 1):
        source = linecache.getline(filename, number)
        if not source and number > lineno:
            break
        source = esc(source.rstrip("\r\n"))
        if number == lineno:
            rows.append(f'<span class="hit">{number:>5}  {source}</span>')
        else:
            rows.append(f"{number:>5}  {source}\n")
    if not rows:
        return f"<pre>{esc(line.strip())}</pre>" if line.strip() else ""
    return "<pre>" + "".join(rows) + "</pre>"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"

