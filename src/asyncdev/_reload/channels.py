"""The descriptors a server process starts with, named in one environment variable.

Part of the reload conversation (``control`` re-exports it), kept apart because the
command line starts its first server process before anything else is imported
(``early``): this module imports nothing the interpreter has not loaded at start.
"""

from __future__ import annotations

import os

__all__ = ["CHILD_ENV_VAR", "Channels"]

# How the reload supervisor hands a server process its sockets (not ASYNCDEV_RELOAD:
# that name is the --reload option read from the environment).
CHILD_ENV_VAR = "_ASYNCDEV_RELOAD_CHILD"


class Channels:
    """What the supervisor passes to a server process, by descriptor number.

    ``listeners`` is None for a process started before the supervisor bound them: they
    come first on its control socket (one byte carrying the descriptors)."""

    __slots__ = ("control", "handoff", "listeners", "parent")

    def __init__(self, control: int, listeners: tuple[int, ...] | None, parent: int,
                 handoff: tuple[int, ...]) -> None:
        self.control = control  # this process's end of its control socket
        self.listeners = listeners  # the listening socket(s), bound once by the supervisor
        self.parent = parent  # the supervisor's pid: the process dies with it
        self.handoff = handoff  # the pair idle keep-alive connections travel through

    def _key(self) -> tuple[object, ...]:
        return (self.control, self.listeners, self.parent, self.handoff)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Channels) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Channels(control={self.control}, listeners={self.listeners}, "
                f"parent={self.parent}, handoff={self.handoff})")

    def with_listeners(self, listeners: tuple[int, ...]) -> Channels:
        return Channels(self.control, listeners, self.parent, self.handoff)

    def encode(self) -> str:
        listeners = "-" if self.listeners is None else ",".join(map(str, self.listeners))
        return ":".join((
            str(self.control), listeners, str(self.parent), ",".join(map(str, self.handoff)),
        ))

    @classmethod
    def decode(cls, value: str) -> Channels:
        """Parse what ``encode`` built; ValueError for anything else."""
        control, listeners, parent, handoff = value.split(":")
        return cls(int(control), None if listeners == "-" else _ints(listeners), int(parent),
                   _ints(handoff))

    @property
    def fds(self) -> tuple[int, ...]:
        return (self.control, *(self.listeners or ()), *self.handoff)

    @classmethod
    def pop_from_environment(cls) -> Channels | None:
        """The channels of this process, removing the variable (the app's own child
        processes must not take themselves for server processes)."""
        value = os.environ.pop(CHILD_ENV_VAR, None)
        return None if value is None else cls.decode(value)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)
