"""A Flask app exercising forms, JSON, uploads, chunked bodies and streaming."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from flask import Flask, Response, request

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "hello from flask"


@app.post("/form")
def form() -> str:
    return f"name={request.form['name']}"


@app.post("/json")
def echo_json() -> dict[str, object]:
    return {"got": request.get_json()}


@app.post("/upload")
def upload() -> dict[str, object]:
    uploaded = request.files["file"]
    digest = hashlib.sha256()
    size = 0
    while chunk := uploaded.stream.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return {"name": uploaded.filename, "size": size, "sha256": digest.hexdigest(),
            "note": request.form.get("note")}


@app.post("/raw")
def raw() -> dict[str, object]:
    data = request.get_data()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "content_length": request.environ.get("CONTENT_LENGTH")}


@app.get("/stream")
def stream() -> Response:
    def lines() -> Iterator[str]:
        for i in range(200):
            yield f"line {i}\n"

    return Response(lines(), mimetype="text/plain")


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("flask view failed on purpose")
