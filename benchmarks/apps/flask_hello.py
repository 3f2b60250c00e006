"""Flask hello world: one route returning a short text body.

Measures the server under a real WSGI framework's per-request work.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, world!"
