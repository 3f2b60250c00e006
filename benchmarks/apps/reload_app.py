"""Trivial ASGI app for the reload benchmark; the harness rewrites ``MARKER``.

A copy lives in a temporary directory during the run; this file is only the template.
"""

from __future__ import annotations

from typing import Any

MARKER = "edit-0"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = ("reload-app " + MARKER).encode()
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
