"""The pytest plugin (entry point ``pytest11``): ``asyncdev_server``, ``asyncdev_live_server``.

``asyncdev_server(app, **options)`` starts ``app`` with ``asyncdev.testing.run_in_thread``
and returns its ``RunningServer``; every server a test started is stopped when the test
ends, passed or failed. ``asyncdev_live_server`` serves the Django project of a
pytest-django run. Importing this module costs nothing until a fixture is used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from ._config import AppLike
    from .testing import RunningServer

__all__ = ["ServerFactory", "asyncdev_live_server", "asyncdev_server"]


class ServerFactory(Protocol):
    def __call__(self, app: AppLike = ..., /, **options: Any) -> RunningServer: ...


@pytest.fixture
def asyncdev_server() -> Iterator[ServerFactory]:
    """Start a real server for this test: ``server = asyncdev_server(app, root_path="/api")``.

    ``app`` is an ASGI or WSGI callable or an import string; options are those of
    ``asyncdev.testing.run_in_thread``. The server listens on 127.0.0.1 with a free port
    (``server.url``) and is stopped at the end of the test.
    """
    from .testing import run_in_thread

    with contextlib.ExitStack() as stack:

        def start(app: AppLike = None, /, **options: Any) -> RunningServer:
            return stack.enter_context(run_in_thread(app, **options))

        yield start


@pytest.fixture
def asyncdev_live_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The Django project served for this test (pytest-django): ``asyncdev_live_server.url``.

    Static files, ALLOWED_HOSTS and the test database as with Django's
    StaticLiveServerTestCase; use it with ``db`` or ``transactional_db`` (``db`` works
    with SQLite's in-memory test database, whose connection the server shares). The
    app is ASGI_APPLICATION when set, else WSGI_APPLICATION; parametrize the fixture
    indirectly with ``"wsgi"`` or ``"asgi"`` to choose.
    """
    from .testing import django_live_server

    with contextlib.suppress(pytest.FixtureLookupError):
        # pytest-django's test databases exist before the server reads its settings.
        request.getfixturevalue("django_db_setup")
    interface = getattr(request, "param", "auto")
    with django_live_server(interface=interface) as server:
        yield server
