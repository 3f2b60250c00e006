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

from ._frameworks import URL_PLACEHOLDER
from ._logging import BOLD, BOLD_MAGENTA, DIM, YELLOW, paint, should_use_colour
from ._sockets import format_url
from ._version import __version__

if TYPE_CHECKING:
    import datetime

    from ._config import Config
    from ._discovery import Discovery

__all__ = ["KEYS_LINE", "announce", "format_banner", "lan_address", "print_banner",
           "production_command"]

KEYS_LINE = "Press h for help, r to reload, o to open the browser, c to clear, q to quit."
# Without reload there is nothing for r to do.
KEYS_LINE_NO_RELOAD = "Press h for help, o to open the browser, c to clear, q to quit."

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


def _module_target(description: str) -> str:
    """``pkg.main:app`` for ``src/pkg/main.py:app`` (the top package's parent is where
    the production server must run from); import strings stay as they are."""
    path, sep, attr = description.rpartition(":")
    if not path.endswith(".py"):
        return description
    directory, filename = os.path.split(os.path.abspath(path))
    parts = [] if filename == "__init__.py" else [filename[:-3]]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    return ".".join(parts) + sep + attr


def production_command(description: str, interface: str, framework: str | None,
                       *, factory: bool = False) -> str:
    """A command that serves the same app in production, as it would be typed."""
    target = _module_target(description)
    if framework is not None and framework.startswith("Django"):
        project = target.partition(":")[0].rpartition(".")[0] or "mysite"
        return f"gunicorn {project}.wsgi or uvicorn {project}.asgi:application"
    if interface == "wsgi":
        return f"gunicorn '{target}()'" if factory else f"gunicorn {target}"
    return f"uvicorn {target}" + (" --factory" if factory else "")


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
    found: str | None = None,
    keys: bool = False,
    factory: bool = False,
    browser_reload: bool = False,
) -> str:
    """The startup text, in the spirit of Django's runserver. Ends with a newline."""
    stamp_format = "%B %d, %Y - %H:%M:%S"
    stamp = now.strftime(stamp_format) if now is not None else time.strftime(stamp_format)
    kind = _INTERFACE_LABELS.get(interface, interface)
    shown = [paint(_display_url(u), BOLD, colour) for u in urls] or ["(no address)"]
    if app_description == "welcome page":
        app_part = "the welcome page (no app found; the page says where it looked)"
        production = "your app with uvicorn, gunicorn or granian"
    else:
        app_part = f"app {app_description} ({kind})"
        production = production_command(app_description, interface, framework,
                                        factory=factory)
    lines = [
        paint(stamp, DIM, colour),
        f"asyncdev {version}, {app_part}, loop {loop_name}",
    ]
    if found:
        lines.append(found)
    base_url = _display_url(urls[0]).rstrip("/") if urls else ""
    shown_notes = [note.replace(URL_PLACEHOLDER, base_url) for note in notes]
    if framework:
        name, _, framework_version = framework.rpartition(" ")
        if name == "Django" and shown_notes and shown_notes[0].startswith("using settings"):
            # runserver's own line: "Django version 5.2.1, using settings 'mysite.settings'"
            lines.append(f"Django version {framework_version}, {shown_notes.pop(0)}")
        else:
            lines.append(f"Using {framework}")
    lines.extend(shown_notes)
    if reload:
        where = ", ".join(reload_dirs) if reload_dirs else os.getcwd()
        lines.append(f"Watching for file changes in {where}")
    if browser_reload:
        lines.append("Browser reload is on: open pages follow your changes "
                     "(--no-browser-reload turns it off)")
    lines.append("Starting development server at " + " and ".join(shown))
    keys_line = f" {KEYS_LINE if reload else KEYS_LINE_NO_RELOAD}" if keys else ""
    lines.append("Quit the server with CONTROL-C." + keys_line)
    lines.append(paint(
        f"This is a development server. Do not use it in production: run {production}.",
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
    **extra: Any,
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
        **extra,
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
    found: Discovery | None = None,
    framework: str | None = None,
    notes: Sequence[str] = (),
    keys: bool = False,
) -> None:
    """Print the banner for a server of ``config`` listening on ``addresses``;
    ``reload_dirs`` (when reloading) are the watched directories, ``found`` how the app
    was discovered, ``framework`` and ``notes`` what the serving process reported,
    ``keys`` whether the terminal's single-key commands are on. Opens the browser if
    ``config.open_browser``."""
    first = addresses[0] if addresses else None
    urls = [format_url(address, config.scheme) for address in addresses]
    found_line = found.banner_line() if found is not None and found.found else None
    print_banner(
        version=__version__,
        app_description=description,
        interface=interface,
        loop_name=loop_name,
        urls=urls,
        reload=reload_dirs is not None,
        bound_all_interfaces=config.uds is None and config.host in ("0.0.0.0", "::", ""),
        port=first[1] if isinstance(first, tuple) else None,
        scheme=config.scheme,
        colour=config.use_colors,
        reload_dirs=reload_dirs or (),
        framework=framework,
        notes=notes,
        found=found_line,
        keys=keys,
        factory=config.factory,
        browser_reload=bool(config.browser_reload),
    )
    if config.open_browser and urls and urls[0].startswith("http"):
        from ._terminal import open_browser

        open_browser(_display_url(urls[0]))
