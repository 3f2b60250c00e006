"""Django's side of a live server for tests, as Django's LiveServerTestCase sets one up.

``live_app(interface)`` yields the project's app (``"wsgi"``, ``"asgi"`` or ``"auto"``:
ASGI_APPLICATION when set) while the server's request threads share the test's
in-memory SQLite connections (so data a test wrote, even inside pytest-django's ``db``
transaction, is what the server reads) and ALLOWED_HOSTS accepts the test server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["live_app"]

# Names a client of a server bound on the loopback address may send as Host.
_HOSTS = ["127.0.0.1", "localhost", "[::1]"]


@contextlib.contextmanager
def live_app(interface: str = "auto") -> Iterator[Callable[..., Any]]:
    from django.core.signals import request_started
    from django.db import connections
    from django.test.utils import modify_settings

    app = _project_app(interface)
    # As LiveServerTestCase: an in-memory database exists once per connection, so the
    # server's threads must use the test's connection object itself.
    shared = {
        conn.alias: conn for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }

    def share_connections(**kwargs: Any) -> None:
        # request_started is sent in the thread that runs the view, WSGI or ASGI
        # (Django's ASGI handler runs sync code in one thread per request).
        for alias, conn in shared.items():
            connections[alias] = conn

    for conn in shared.values():
        conn.inc_thread_sharing()
    request_started.connect(share_connections, weak=False, dispatch_uid=id(share_connections))
    hosts = modify_settings(ALLOWED_HOSTS={"append": _HOSTS})
    hosts.enable()
    try:
        yield app
    finally:
        hosts.disable()
        request_started.disconnect(dispatch_uid=id(share_connections))
        for conn in shared.values():
            conn.dec_thread_sharing()


def _project_app(interface: str) -> Callable[..., Any]:
    from django.conf import settings

    if interface not in ("auto", "wsgi", "asgi"):
        raise ValueError(f"interface: {interface!r} is not one of auto, wsgi, asgi")
    asgi_path = getattr(settings, "ASGI_APPLICATION", None)
    if interface == "asgi" or (interface == "auto" and asgi_path):
        if asgi_path:
            from django.utils.module_loading import import_string

            app: Callable[..., Any] = import_string(asgi_path)
            return app
        from django.core.asgi import get_asgi_application

        return get_asgi_application()  # type: ignore[no-any-return]
    from django.core.servers.basehttp import get_internal_wsgi_application

    return get_internal_wsgi_application()  # type: ignore[no-any-return]
