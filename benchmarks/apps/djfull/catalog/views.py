"""The catalog's views; the reload benchmark rewrites ``MARKER`` in a copy."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from .models import Product

MARKER = "edit-0"


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("reload-app " + MARKER, content_type="text/plain")


def products(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"products": list(Product.objects.values("name", "price"))})
