"""The built-in welcome app, served when no APP is given on the command line.

An ASGI 3 callable that answers every HTTP request with a short page explaining how to
point asyncdev at your own application: HTML for browsers, plain text for other
clients (curl, scripts); WebSockets are refused.
"""

from __future__ import annotations

import html
import os

from .._discovery import SEARCH_ORDER
from .._types import Receive, Scope, Send

__all__ = ["welcome_app"]

_TEXT = """\
asyncdev is running.

You are seeing this page because no application was given or found.
asyncdev looked in {cwd}, in this order, for:

{looked}

Point asyncdev at your own app:

  asyncdev main:app               an ASGI or WSGI app named "app" in main.py
  asyncdev myproject.wsgi         a Django project (or myproject.asgi)
  asyncdev path/to/file.py:api    an app object in a file
  asyncdev main:app 0.0.0.0:9000  on another address and port

or from Python:

  import asyncdev
  asyncdev.serve(app, reload=True)

This is a development server. Do not use it in production: run your app
with uvicorn, gunicorn or granian.
""".replace("{looked}", "\n".join(f"  - {item}" for item in SEARCH_ORDER)).replace(
    "{cwd}", os.getcwd())

_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>asyncdev is running</title>
<style>
  :root { color-scheme: light dark; --accent: #2f7d5b; --muted: #6b7280; }
  body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; }
  main { max-width: 44rem; margin: 0 auto; padding: 3rem 1.5rem; }
  h1 { font-size: 1.9rem; margin: 0 0 .25rem; }
  h1 span { color: var(--accent); }
  .lead { color: var(--muted); margin-top: 0; }
  h2 { font-size: 1.05rem; margin-top: 2rem; }
  pre { background: rgba(127, 127, 127, .12); padding: .9rem 1rem; border-radius: 8px;
        overflow-x: auto; font: 14px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  .note { border-left: 4px solid #d97706; padding: .25rem 1rem; margin-top: 2rem; }
</style>
</head>
<body>
<main>
  <h1><span>&#10003;</span> asyncdev is running</h1>
  <p class="lead">You are seeing this page because no application was given or found.</p>

  <h2>Where asyncdev looked in <code>{cwd}</code>, in this order</h2>
  <ol>
{looked}
  </ol>

  <h2>Serve your ASGI or WSGI app</h2>
  <pre>asyncdev main:app               # "app" in main.py (FastAPI, Starlette, Flask...)
asyncdev myproject.wsgi         # a Django project (or myproject.asgi)
asyncdev path/to/file.py:api    # an app object in a file
asyncdev main:app 0.0.0.0:9000  # another address and port</pre>
  <p>The server reloads itself when you save a file: no restart needed.</p>

  <h2>Or from Python</h2>
  <pre>import asyncdev

asyncdev.serve(app, reload=True)</pre>

  <p class="note">This is a development server. Do not use it in production: run your
  app with uvicorn, gunicorn or granian.</p>
</main>
</body>
</html>
""".replace("{looked}", "\n".join(f"    <li>{html.escape(item)}</li>" for item in SEARCH_ORDER))
_HTML = _HTML.replace("{cwd}", html.escape(os.getcwd()))

_HTML_BODY = _HTML.encode("utf-8")
_TEXT_BODY = _TEXT.encode("utf-8")


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"accept":
            return b"text/html" in value.lower()
    return False


async def welcome_app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI 3: the welcome page for ``http``; WebSockets are refused. The server runs
    no lifespan with it."""
    kind = scope["type"]
    if kind == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1000})
        return
    if kind != "http":
        return
    # Drain the request body so the connection stays usable for keep-alive.
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = bool(message.get("more_body", False))
    if _wants_html(scope):
        body, content_type = _HTML_BODY, b"text/html; charset=utf-8"
    else:
        body, content_type = _TEXT_BODY, b"text/plain; charset=utf-8"
    status = 404 if scope.get("path", "/") not in ("/", "") else 200
    body_to_send = b"" if scope.get("method") == "HEAD" else body
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"vary", b"Accept"),
            (b"cache-control", b"no-store"),
        ],
    })
    await send({"type": "http.response.body", "body": body_to_send})
