"""The benchmark project's view; the reload benchmark rewrites ``MARKER`` in a copy."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

MARKER = "edit-0"


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("reload-app " + MARKER, content_type="text/plain")
