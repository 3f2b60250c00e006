"""Django's part of one serving process: checks, banner lines and its middleware.

``DjangoIntegration(config)`` is made once Django is set up. ``start()`` (a worker
thread, before the process reports serving) prints what ``runserver`` prints before its
banner: the system checks and the unapplied-migrations notice; a failing check raises
Django's ``SystemCheckError``. ``wrap(app)`` adds ``DjangoFeatures``: static files
through the staticfiles finders and template/translation changes without a restart.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from ..._types import NoEvents
from ..static import plain_response
from .reloading import files_changed, watch_paths
from .staticfiles import serve_static, static_prefix

if TYPE_CHECKING:
    from ..._config import Config
    from ..._types import ASGIApp, Receive, Scope, Send, WatchRequest

__all__ = ["DjangoFeatures", "DjangoIntegration"]


class DjangoIntegration:
    """What asyncdev does for a Django project in the process that serves it."""

    def __init__(self, config: Config) -> None:
        import django
        from django.conf import settings

        self.config = config
        self.framework = f"Django {django.get_version()}"
        self.notes: tuple[str, ...] = (f"using settings {settings.SETTINGS_MODULE!r}",)
        # A name the project accepts (a *.test host in /etc/hosts, say) is no DNS
        # rebinding victim of ours: Django validates it.
        self.allowed_hosts = tuple(str(host) for host in settings.ALLOWED_HOSTS)

    def start(self) -> None:
        """runserver's pre-banner output; raises ``SystemCheckError`` on a failing check."""
        if not self.config.django_checks:
            return
        from django.core.management.base import BaseCommand
        from django.db import connections

        # Django's own command methods, so that the text is exactly runserver's.
        command = BaseCommand(stdout=sys.stdout, stderr=sys.stderr)
        try:
            command.stdout.write("Performing system checks...\n\n")
            command.check(display_num_errors=True)
            command.check_migrations()
        finally:
            # As runserver: the migrations check's connections are not for serving
            # (and this worker thread serves no request).
            for connection in connections.all(initialized_only=True):
                connection.close()
            sys.stdout.flush()
            sys.stderr.flush()

    def wrap(self, app: ASGIApp) -> DjangoFeatures:
        return DjangoFeatures(app, config=self.config)


class DjangoFeatures(NoEvents):
    """ASGI middleware: STATIC_URL through the finders; template and ``.mo`` changes
    handled in place (a listener of server events, CONTRACTS section 2)."""

    def __init__(self, app: ASGIApp, *, config: Config) -> None:
        self.app = app
        self.root_path = config.root_path
        self.static_prefix = static_prefix(config)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        prefix = self.static_prefix
        if prefix is not None and scope["type"] == "http":
            path: str = scope["path"]
            if self.root_path and path.startswith(self.root_path):
                path = path[len(self.root_path):]
            if path.startswith(prefix):
                return self._static(scope, send, path[len(prefix):])
        return self.app(scope, receive, send)

    async def _static(self, scope: Scope, send: Send, rel: str) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await plain_response(send, 405, "Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        await serve_static(scope, send, rel)

    # -- server events ------------------------------------------------------------------

    def watch_paths(self) -> Sequence[WatchRequest]:
        return watch_paths()

    def files_changed(self, paths: Sequence[str]) -> None:
        files_changed(paths)
