"""The full benchmark project's URLs: the admin and the catalog's views."""

from __future__ import annotations

from catalog import views
from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", views.index),
    path("products/", views.products),
]
