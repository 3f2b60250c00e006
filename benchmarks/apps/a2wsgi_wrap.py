"""The WSGI app named by ``BENCH_WSGI_TARGET`` wrapped in a2wsgi, served as ASGI.

Lets uvicorn run WSGI apps through the same adapter asyncdev uses (like for like).
"""

from __future__ import annotations

import importlib
import os

from a2wsgi import WSGIMiddleware

_module, _, _attr = os.environ["BENCH_WSGI_TARGET"].partition(":")
app = WSGIMiddleware(getattr(importlib.import_module(_module), _attr or "app"))
