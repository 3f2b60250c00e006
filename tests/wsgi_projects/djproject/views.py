"""Views exercising the request body and response streaming paths."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello from django {request.method} {request.path}")


def form(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"name={request.POST['name']}")


def echo_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"got": json.loads(request.body)})


def upload(request: HttpRequest) -> JsonResponse:
    uploaded = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in uploaded.chunks():
        digest.update(chunk)
    return JsonResponse({"name": uploaded.name, "size": uploaded.size,
                         "sha256": digest.hexdigest(), "note": request.POST.get("note")})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def lines() -> Iterator[bytes]:
        for i in range(200):
            yield f"line {i}\n".encode()

    return StreamingHttpResponse(lines(), content_type="text/plain")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("django view failed on purpose")
