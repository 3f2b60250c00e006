"""URL configuration of the benchmark project: the one view at ``/``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [path("", views.index)]
