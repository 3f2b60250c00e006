"""Browser reload: open pages follow the server without the user pressing F5.

The middleware (``middleware.BrowserReload``) injects ``reload.js`` into pages
(``inject``), keeps one WebSocket per browser on which pages learn of a new process
(refresh), a broken app (an overlay over the last good page), a changed stylesheet
(swapped in place) and the errors of their own requests, and reports what pages send
back (``report``). Nothing here imports the server: it hears it as a ServerListener.
"""

from __future__ import annotations

from .inject import PREFIX, SCRIPT_PATH, STATE_PATH, WS_PATH, script_tag
from .middleware import PROCESS_ID, BrowserReload

__all__ = ["PREFIX", "PROCESS_ID", "SCRIPT_PATH", "STATE_PATH", "WS_PATH", "BrowserReload",
           "script_tag"]
