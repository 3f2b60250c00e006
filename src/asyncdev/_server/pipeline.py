"""The application pipeline: the app to serve, adapted to ASGI 3, with the features
the config asks for stacked around it.

``load(config)`` picks the app (the user's, a Django project's, or the welcome page);
``build_app(loaded, config)`` adapts it (WSGI bridge, ASGI 2) and wraps it in the
feature middleware, returning a ``Pipeline`` with the listeners and cleanups the
server owes it. Features are imported only when the config turns them on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .._config import Config
    from .._importer import LoadedApp
    from .._types import ASGIApp, Receive, Scope, Send, ServerListener

__all__ = ["Pipeline", "build_app", "load"]


class Pipeline(NamedTuple):
    """The app as connections call it, and what the server owes its parts."""

    app: ASGIApp
    # The features that hear about server events, innermost first.
    listeners: list[ServerListener]
    # Cleanups for when the server has stopped (the WSGI thread pool): each is called
    # with a timeout in seconds and returns True once fully closed.
    on_close: list[Callable[[float], bool]]
    # Path prefixes (under root_path) whose WebSocket upgrades the features answer
    # themselves, even in front of a WSGI app (the browser reload connection).
    websocket_prefixes: tuple[str, ...] = ()


def build_app(loaded: LoadedApp, config: Config) -> Pipeline:
    """The ASGI 3 callable that connections call, whatever the app's interface, with
    the features the config asks for stacked around it."""
    app: Any = loaded.app
    on_close: list[Callable[[float], bool]] = []
    listeners: list[ServerListener] = []
    if loaded.interface == "wsgi":
        from .wsgi import wrap_wsgi

        app = bridge = wrap_wsgi(app, config)
        on_close.append(bridge.close)
    elif loaded.interface == "asgi2":
        asgi2 = app

        async def asgi2_adapter(scope: Scope, receive: Receive, send: Send) -> None:
            # The ASGI spec: an ASGI 2 app sees "version": "2.0" (uvicorn does the same).
            scope = {**scope, "asgi": {**scope.get("asgi", {}), "version": "2.0"}}
            await asgi2(scope)(receive, send)

        app = asgi2_adapter
    # Middlewares, innermost first: the framework's own (Django's static files and
    # templates), static files, browser reload (outside them, so static HTML pages
    # reload too), Host check (on by default, nothing when off), proxy headers
    # outermost so that the others see the real client.
    if loaded.integration is not None:
        framework = loaded.integration.wrap(app)
        listeners.append(framework)
        app = framework
    if config.static:
        from .._features.static import StaticFiles

        app = StaticFiles(app, config=config)
    websocket_prefixes: tuple[str, ...] = ()
    if config.browser_reload:
        from .._features.browser_reload import PREFIX, BrowserReload

        # The error page served while the app cannot start says so: open pages then
        # keep their content under an overlay instead of loading the error.
        failure = getattr(loaded.app, "startup_report", None)
        if failure is not None:
            from .._traceback import Report

            failure = failure if isinstance(failure, Report) else None
        app = BrowserReload(app, config=config, startup_failure=failure)
        listeners.append(app)
        websocket_prefixes = (config.root_path + PREFIX,)
    from .._features.hostcheck import host_check

    extra_hosts = loaded.integration.allowed_hosts if loaded.integration is not None else ()
    # Host names the framework itself answers (Django's ALLOWED_HOSTS) pass the check.
    app = host_check(app, config.replace(allowed_hosts=(*config.allowed_hosts, *extra_hosts))
                     if extra_hosts else config)
    if config.proxy_headers:
        from .._features.proxy import ProxyHeaders

        app = ProxyHeaders(app, config=config)
    return Pipeline(app, listeners, on_close, websocket_prefixes)


def load(config: Config) -> LoadedApp:
    """The app to serve: the user's, a Django project's, or the welcome page."""
    from .._importer import LoadedApp, load_app

    if config.app is None:
        if config.django_settings is not None:
            from .._features.django import load_project

            return load_project(config)
        from .._features.welcome import welcome_app

        return LoadedApp(welcome_app, "asgi3", "welcome page", lifespan=False)
    if config.django_settings is not None:
        # ``asyncdev mysite.wsgi --settings mysite.dev``: before the module's setdefault.
        os.environ["DJANGO_SETTINGS_MODULE"] = config.django_settings
    loaded = load_app(config)
    if "django.apps" in sys.modules:
        # The app set Django up (``asyncdev mysite.wsgi``): it gets the same integration
        # as a project served by its settings. Django is never imported otherwise.
        from .._features.django import recognise

        loaded = recognise(loaded, config)
    return loaded
