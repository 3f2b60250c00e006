"""Plain WSGI hello world (PEP 3333): a 13-byte text body.

The WSGI counterpart of ``asgi_hello``; measures the server plus its WSGI bridge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, world!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "13")]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
