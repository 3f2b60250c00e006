"""``asyncdev.testing.LiveServerTestCase``: Django's StaticLiveServerTestCase on asyncdev.

A ``TransactionTestCase`` whose class starts ``django_live_server`` once and exposes
``live_server_url``; ``interface`` (``"auto"``, ``"wsgi"``, ``"asgi"``) picks the app.
Imported only on first use, so that ``asyncdev.testing`` never imports Django itself.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

from django.test import TransactionTestCase

from .testing import RunningServer, django_live_server

__all__ = ["LiveServerTestCase"]


class LiveServerTestCase(TransactionTestCase):  # type: ignore[misc]
    interface: ClassVar[str] = "auto"
    server: ClassVar[RunningServer]
    live_server_url: ClassVar[str]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        stack = contextlib.ExitStack()
        cls.addClassCleanup(stack.close)
        cls.server = stack.enter_context(django_live_server(interface=cls.interface))
        cls.live_server_url = cls.server.url
