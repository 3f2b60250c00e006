"""What the terminal shows when a server starts: the banner, in the spirit of runserver.

``format_banner`` builds the text (pure); ``print_banner`` finds the LAN address when
the server listens on every interface and prints it to stdout. ``announce`` is what
the entry points hand to whoever learns first that the server is up (the server itself
or the reload supervisor). This is the only place that prints.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from ._logging import BOLD, BOLD_MAGENTA, DIM, YELLOW, paint, should_use_colour
from ._sockets import format_url
from ._version import __version__

if TYPE_CHECKING:
    import datetime

    from ._config import Config

__all__ = ["announce", "format_banner", "lan_address", "print_banner"]

_INTERFACE_LABELS = {"asgi3": "ASGI 3", "asgi2": "ASGI 2", "wsgi": "WSGI"}


def lan_address() -> str | None:
    """This machine's LAN IPv4 address, or None. Sends no traffic.

    ``connect()`` on a UDP socket only picks the route and source address; no packet
    leaves. 10.255.255.255 is a private broadcast address that is never answered.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = str(probe.getsockname()[0])
        if not address.startswith(("127.", "0.")):
            return address
    except OSError:
        pass
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    return None if address.startswith(("127.", "0.")) else address


def _display_url(url: str) -> str:
    if url.startswith(("http://", "https://")) and url.count("/") == 2:
        return url + "/"
    return url


def format_banner(
    *,
    version: str,
    app_description: str,
    interface: str,
    loop_name: str,
    urls: Sequence[str],
    reload: bool,
    bound_all_interfaces: bool,
    lan_url: str | None,
    colour: bool,
    reload_dirs: Sequence[str] = (),
    now: datetime.datetime | None = None,
    framework: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The startup text, in the spirit of Django's runserver. Ends with a newline."""
    stamp_format = "%B %d, %Y - %H:%M:%S"
    stamp = now.strftime(stamp_format) if now is not None else time.strftime(stamp_format)
    kind = _INTERFACE_LABELS.get(interface, interface)
    shown = [paint(_display_url(u), BOLD, colour) for u in urls] or ["(no address)"]
    if app_description == "welcome page":
        app_part = "the welcome page (no APP given)"
        production_app = "your module:app"
    else:
        app_part = f"app {app_description} ({kind})"
        production_app = (
            f"the same {app_description}" if ":" in app_description else "the same app"
        )
    lines = [paint(stamp, DIM, colour)]
    if framework:
        # As runserver says it: "Django version 5.2.1, using settings 'mysite.settings'".
        name, _, framework_version = framework.rpartition(" ")
        lines.append(", ".join([f"{name} version {framework_version}", *notes]))
    lines.append(f"asyncdev {version}, {app_part}, loop {loop_name}")
    if reload:
        where = ", ".join(reload_dirs) if reload_dirs else os.getcwd()
        lines.append(f"Watching for file changes in {where}")
    lines.append("Starting development server at " + " and ".join(shown))
    lines.append("Quit the server with CONTROL-C.")
    lines.append(paint(
        "This is a development server. Do not use it in production: run "
        f"{production_app} with uvicorn, gunicorn or granian.",
        YELLOW,
        colour,
    ))
    if bound_all_interfaces:
        reach = (
            f"at {_display_url(lan_url)}" if lan_url
            else "on this port (the LAN address could not be found)"
        )
        lines.append(paint(
            f"!! Listening on all interfaces: anyone on your network can reach this server "
            f"{reach}.\n!! Bind to 127.0.0.1 (the default) unless you mean to share it.",
            BOLD_MAGENTA,
            colour,
        ))
    return "\n".join(lines) + "\n"


def print_banner(
    *,
    version: str,
    app_description: str,
    interface: str,
    loop_name: str,
    urls: Sequence[str],
    reload: bool,
    bound_all_interfaces: bool,
    lan_url: str | None = None,
    port: int | None = None,
    scheme: str = "http",
    colour: bool | None = None,
    reload_dirs: Sequence[str] = (),
    stream: IO[str] | None = None,
    framework: str | None = None,
    notes: Sequence[str] = (),
) -> None:
    """Print the banner to stdout (or ``stream``), finding the LAN URL when needed."""
    out = stream if stream is not None else sys.stdout
    if bound_all_interfaces and lan_url is None and port is not None:
        address = lan_address()
        if address is not None:
            lan_url = f"{scheme}://{address}:{port}/"
    text = format_banner(
        version=version,
        app_description=app_description,
        interface=interface,
        loop_name=loop_name,
        urls=urls,
        reload=reload,
        bound_all_interfaces=bound_all_interfaces,
        lan_url=lan_url,
        colour=should_use_colour(colour, out),
        reload_dirs=reload_dirs,
        framework=framework,
        notes=notes,
    )
    out.write(text)
    out.flush()


def announce(
    config: Config,
    *,
    description: str,
    interface: str,
    loop_name: str,
    addresses: Sequence[Any],
    reload_dirs: Sequence[str] | None = None,
    framework: str | None = None,
    notes: Sequence[str] = (),
) -> None:
    """Print the banner for a server of ``config`` listening on ``addresses``;
    ``reload_dirs`` (when reloading) are the watched directories."""
    first = addresses[0] if addresses else None
    print_banner(
        version=__version__,
        app_description=description,
        interface=interface,
        loop_name=loop_name,
        urls=[format_url(address, config.scheme) for address in addresses],
        reload=reload_dirs is not None,
        bound_all_interfaces=config.uds is None and config.host in ("0.0.0.0", "::", ""),
        port=first[1] if isinstance(first, tuple) else None,
        scheme=config.scheme,
        colour=config.use_colors,
        reload_dirs=reload_dirs or (),
        framework=framework,
        notes=notes,
    )
