"""URL configuration of the full benchmark project: the admin, and the one view at ``/``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [path("admin/", admin.site.urls), path("", views.index)]
