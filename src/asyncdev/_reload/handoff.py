"""Keep-alive connections that survive a reload: the old process hands them to the new one.

Closing an idle persistent connection races with the request its client may already
be sending on it (RFC 9112 section 9.6), and that request fails. On reload the old
process instead sends each idle connection's socket (SCM_RIGHTS) into a datagram
socket pair that every reload child inherits; the serving process adopts them and
answers the client's next request with the new code. TLS connections just close.
"""

from __future__ import annotations

import array
import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._server.server import Server

__all__ = ["adopt", "close_sockets", "hand_over_when_idle", "set_sockets", "stop_adopting"]

logger = logging.getLogger("asyncdev.error")

_RECV_FLAGS = getattr(socket, "MSG_DONTWAIT", 0) | getattr(socket, "MSG_CMSG_CLOEXEC", 0)
_SEND_FLAGS = getattr(socket, "MSG_DONTWAIT", 0)
# SCM_RIGHTS carries at most 253 descriptors per message on Linux (SCM_MAX_FD).
_FDS_PER_MESSAGE = 200

_outgoing: socket.socket | None = None
_incoming: socket.socket | None = None


def set_sockets(outgoing_fd: int, incoming_fd: int) -> None:
    """The two ends of the supervisor's pair: send on one, receive from the other."""
    global _outgoing, _incoming
    _outgoing = socket.socket(fileno=outgoing_fd)
    _incoming = socket.socket(fileno=incoming_fd)


def close_sockets() -> None:
    """This process's copies of the pair, at exit (the supervisor keeps its own)."""
    global _outgoing, _incoming
    for sock in (_outgoing, _incoming):
        if sock is not None:
            sock.close()
    _outgoing = _incoming = None


def hand_over_when_idle(server: Server) -> None:
    """From now on, idle keep-alive connections of ``server`` go to the next process."""
    if server.state is not None and not server.config.is_ssl and _outgoing is not None:
        server.state.hand_over = _hand_over


def _hand_over(transport: asyncio.BaseTransport) -> None:
    # The connection then closes its own copy without a FIN: the duplicate in flight
    # keeps the TCP connection open until the next process adopts it.
    raw = transport.get_extra_info("socket")
    if _outgoing is None or raw is None:
        return
    try:
        fd = os.dup(raw.fileno())
    except OSError:
        return
    try:
        socket.send_fds(_outgoing, [b"c"], [fd], _SEND_FLAGS)
    except OSError:
        pass  # the queue is full: the connection closes as it would have
    finally:
        os.close(fd)


def _receive_fds(sock: socket.socket) -> list[int]:
    # Not socket.recv_fds: before Python 3.12 it drops its flags (MSG_DONTWAIT).
    size = socket.CMSG_LEN(_FDS_PER_MESSAGE * array.array("i").itemsize)
    _, ancillary, _, _ = sock.recvmsg(1, size, _RECV_FLAGS)
    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)


def adopt(server: Server, loop: asyncio.AbstractEventLoop) -> None:
    """Serve the connections handed over by previous processes, now and later."""
    incoming, state = _incoming, server.state
    if incoming is None or state is None or server.config.is_ssl:
        return
    from .._server.connection import HTTPConnection

    tasks: set[asyncio.Task[Any]] = set()

    async def serve(sock: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(lambda: HTTPConnection(state, loop), sock=sock)
        except OSError as exc:  # the client left meanwhile
            logger.debug("Could not adopt a connection: %s", exc)
            sock.close()

    def readable() -> None:
        while True:
            try:
                fds = _receive_fds(incoming)
            except BlockingIOError:
                return
            except OSError:
                loop.remove_reader(incoming.fileno())
                return
            logger.debug("Adopting %d connection(s) from the previous process", len(fds))
            for fd in fds:
                sock = socket.socket(fileno=fd)
                sock.set_inheritable(False)
                task = loop.create_task(serve(sock))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    loop.add_reader(incoming.fileno(), readable)


def stop_adopting(loop: asyncio.AbstractEventLoop) -> None:
    """A stopping process must leave what is handed over to the next one."""
    if _incoming is not None:
        loop.remove_reader(_incoming.fileno())
