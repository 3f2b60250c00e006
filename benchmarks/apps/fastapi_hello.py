"""FastAPI hello world: one route returning a small JSON body.

The startup cells measure spawn-to-first-response on it beside ``fastapi dev``.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def hello() -> dict[str, str]:
    return {"hello": "world"}
