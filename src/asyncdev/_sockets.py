"""Listening sockets: bind host/port, a Unix socket path, or adopt an inherited fd.

``bind_sockets(config)`` returns non-blocking listening sockets or raises
``StartupError`` with a message that says what to do (busy port, low port, unknown
host). ``format_url`` gives the URL a browser on this machine uses. No asyncio here:
the reload supervisor binds with this module without importing the HTTP stack.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import socket
import stat
import sys
from typing import TYPE_CHECKING, Any

from ._errors import StartupError

if TYPE_CHECKING:
    from ._config import Config

__all__ = ["bind_sockets", "format_url", "suggested_command"]

logger = logging.getLogger("asyncdev.error")

# With no port chosen, a busy 8000 moves on to the next free port, as Vite does, up to:
_FALLBACK_TRIES = 100


def bind_sockets(config: Config) -> list[socket.socket]:
    """Listening sockets for ``config`` (non-blocking), or StartupError saying what to do."""
    if config.fd is not None:
        try:
            sock = socket.socket(fileno=config.fd)
        except OSError as exc:
            raise StartupError(f"Cannot use file descriptor {config.fd}: {exc.strerror}") from exc
        sock.setblocking(False)
        return [sock]
    if config.uds is not None:
        return [_bind_unix(config.uds, config.backlog)]
    if config.port_fallback and config.port:
        for port in range(config.port, min(config.port + _FALLBACK_TRIES, 65536)):
            try:
                sockets = _bind_address(config.host, port, config.backlog)
            except _PortInUse:
                continue
            if port != config.port:
                logger.warning("Port %d is in use; serving on port %d instead.",
                               config.port, port)
            return sockets
    try:
        return _bind_address(config.host, config.port, config.backlog)
    except _PortInUse as exc:
        raise StartupError(_bind_error_message(exc.error, config.host, config.port)) from exc


class _PortInUse(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _bind_address(host: str, port: int, backlog: int) -> list[socket.socket]:
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(
            f"Cannot resolve host {host!r} ({exc.strerror}). Use an IP address such as "
            "127.0.0.1 or 0.0.0.0."
        ) from exc
    seen: set[tuple[int, str]] = set()
    sockets: list[socket.socket] = []
    first_error: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        addr: tuple[Any, ...] = tuple(sockaddr)
        key = (int(family), str(addr[0]))
        if key in seen or family not in (socket.AF_INET, socket.AF_INET6):
            continue
        seen.add(key)
        if sockets and port == 0:
            # "localhost" with port 0: the second family must share the first's port.
            addr = (addr[0], sockets[0].getsockname()[1], *addr[2:])
        try:
            sockets.append(_bind_inet(family, type_, proto, addr, backlog))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                for sock in sockets:
                    sock.close()
                raise _PortInUse(exc) from exc
            # A name with several addresses (localhost: ::1 and 127.0.0.1) is served on
            # those that work; it fails only when none does.
            first_error = first_error or exc
    if not sockets:
        if first_error is not None:
            raise StartupError(_bind_error_message(first_error, host, port)) from first_error
        raise StartupError(f"No usable address for host {host!r}.")
    return sockets


def _bind_inet(family: int, type_: int, proto: int, addr: Any, backlog: int) -> socket.socket:
    sock = socket.socket(family, type_, proto)
    try:
        if os.name != "nt":
            # Rebinding right after a restart must not fail on TIME_WAIT connections.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "::" serves IPv4 too, as people expect of "all interfaces".
            with contextlib.suppress(OSError):
                dual_stack = addr[0] == "::"
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_unix(path: str, backlog: int) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # a stale socket file left by a crashed server
            else:
                probe.close()
                raise StartupError(f"Another server is listening on {path}.")
            finally:
                probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise StartupError(f"Cannot listen on {path}: {exc.strerror}.") from exc
    return sock


def _bind_error_message(exc: OSError, host: str, port: int) -> str:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Port {port} is already in use on {host}. Stop the other server, or pick "
            f"another port: {suggested_command(port + 1 if port else 8001)}"
        )
    if exc.errno == errno.EACCES:
        return (
            f"Permission denied to listen on {where}: ports below 1024 need extra "
            "privileges. Use a port such as 8000."
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"Cannot listen on {where}: this machine has no address {host}."
    return f"Cannot listen on {where}: {exc.strerror or exc}."


def suggested_command(port: int, argv: list[str] | None = None) -> str:
    """The command that started this process, with ``port`` in place of its own."""
    args = list(sys.argv if argv is None else argv)
    program = os.path.basename(args[0]) if args and args[0] else "asyncdev"
    if program == "__main__.py":
        program = "python -m asyncdev"
    elif program != "asyncdev":
        return f"serve(..., port={port})"
    rest = args[1:]
    for index, arg in enumerate(rest):
        if arg == "--port" and index + 1 < len(rest):
            rest[index + 1] = str(port)
            break
        if arg.startswith("--port="):
            rest[index] = f"--port={port}"
            break
        if not arg.startswith("-") and re.fullmatch(r"(?:.*:)?\d{1,5}", arg) and (
            index == 0 or not rest[index - 1].startswith("--")
        ):
            rest[index] = re.sub(r"\d{1,5}$", str(port), arg)
            break
    else:
        rest.append(f"--port {port}")
    return " ".join([program, *rest])


def format_url(address: Any, scheme: str = "http") -> str:
    """The URL a browser on this machine uses to reach ``address`` (a sockname)."""
    if isinstance(address, str):
        return f"unix:{address}"
    host, port = address[0], address[1]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
