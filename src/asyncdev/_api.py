"""Entry points that run a server to completion: ``serve()`` and ``run(config)``.

``run`` is what the CLI calls: it configures logging, then either becomes the reload
supervisor, serves as a reload child, or runs one server until a signal
(``_server.run``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._config import AppLike, Config

if TYPE_CHECKING:
    from ._discovery import Discovery
    from ._server.server import Server

__all__ = ["run", "serve"]


def serve(
    app: AppLike, host: str = "127.0.0.1", port: int = 8000, *, reload: bool = False,
    **options: Any,
) -> None:
    """Serve ``app`` (an ASGI/WSGI callable or an import string) until Ctrl+C or SIGTERM.

    Options are the CLI flags in snake_case, for example ``root_path="/api"`` or
    ``reload_dirs=["src"]``. With ``reload=True`` the calling script is run again in a
    fresh process on every change, so the app may be a plain object.
    """
    config = Config(app=app, host=host, port=port, reload=reload, **options)
    code = run(config)
    if code:
        raise SystemExit(code)


def run(config: Config, *, found: Discovery | None = None) -> int:
    """Run ``config`` to completion and return the process exit code; ``found`` says how
    the app was discovered (for the banner)."""
    from ._envfile import load_env_files
    from ._logging import configure_logging

    configure_logging(config)
    if config.reload:
        # A reload child runs from _reload.child.main; anywhere else this process becomes
        # the supervisor, which stays clear of asyncio and the HTTP layers (the session
        # module imports neither).
        from ._reload.child.session import in_reload_child

        if not in_reload_child():
            from ._reload.supervisor import reload_unavailable, supervise

            reason = reload_unavailable()
            if reason is None:
                # The env file is left to each server process, so that every reload
                # reads it afresh (values inherited from here would win over it).
                return supervise(
                    config, functools.partial(_banner_announce, config, found=found)
                )
            logging.getLogger("asyncdev.error").warning(
                "Reload is off: %s. Run the program as a script or with python -m.", reason
            )
            config = config.replace(reload=False)
    # Not the supervisor: a server process the command line started early is not needed.
    from ._reload.early import discard

    discard()
    load_env_files(config)
    if config.reload:
        from ._reload.child.serving import run_child

        return run_child(config)
    from ._server.run import run_server

    return run_server(config, announce=_announce(config, found))


def _banner_announce(config: Config, **details: Any) -> None:
    from ._banner import announce

    announce(config, **details)


def _announce(config: Config, found: Discovery | None) -> Callable[[Server, str], None]:
    def announce(server: Server, loop_name: str) -> None:
        from ._envfile import loaded_notes

        loaded = server.loaded
        assert loaded is not None
        _banner_announce(config, description=loaded.description, interface=loaded.interface,
                         loop_name=loop_name, addresses=server.addresses, found=found,
                         framework=loaded.framework,
                         notes=[*loaded.notes, *loaded_notes()],
                         keys=config.install_signal_handlers and _listen_to_keys(server))

    return announce


def _listen_to_keys(server: Server) -> bool:
    """Without reload, the terminal's keys act on this process's server (no r)."""
    from ._terminal import KeyReader, key_handler, keys_available

    if not keys_available():
        return False
    import asyncio

    loop = asyncio.get_event_loop()
    KeyReader(key_handler(  # restores the terminal at exit
        quit=lambda: loop.call_soon_threadsafe(server.request_shutdown),
        url=lambda: server.url + "/" if server.port is not None else None,
    ))
    return True
