"""The debug error page: what a developer sees when the app fails.

``error_renderer`` answers a request whose app raised before responding;
``startup_error_app`` serves every request while the app cannot be imported or started.
Both show the failing line first (see ``respond``); the page is in ``page``.
"""

from __future__ import annotations

from .respond import error_renderer, is_local_client, startup_error_app, wants_html

__all__ = ["error_renderer", "is_local_client", "startup_error_app", "wants_html"]
