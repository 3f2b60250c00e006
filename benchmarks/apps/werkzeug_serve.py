"""Launch a WSGI app on werkzeug's threaded development server, access log off.

Usage: ``python werkzeug_serve.py MODULE:ATTR PORT`` (binds 127.0.0.1, no reloader).
"""

from __future__ import annotations

import importlib
import logging
import sys

from werkzeug.serving import run_simple


def main() -> None:
    target, port = sys.argv[1], int(sys.argv[2])
    module_name, _, attr = target.partition(":")
    sys.path.insert(0, ".")
    app = getattr(importlib.import_module(module_name), attr or "app")
    # werkzeug writes one access line per request through this logger.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
