"""The reload conversation: everything both processes must agree on lives in this file.

The supervisor builds ``Channels`` (which inherited descriptors are what; in
``channels.py``, light enough to start a process before anything else is imported) into
an environment variable that the server process parses; then they talk in ``Message``s,
one JSON line each, over the control socket. ``Lifecycle`` is a server process's life
as the supervisor sees it, with the table of the only transitions allowed. Both sides
import it, so it stays light: no asyncio, no HTTP layers, no user code.
"""

from __future__ import annotations

import enum
import inspect
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._types import WatchRequest
from .channels import CHILD_ENV_VAR, Channels

__all__ = [
    "CHILD_ENV_VAR",
    "RELOAD_GRACE",
    "Announced",
    "Answered",
    "Changed",
    "Channels",
    "Event",
    "Failed",
    "Go",
    "Lifecycle",
    "LifecycleError",
    "Message",
    "Modules",
    "Plan",
    "Ready",
    "Reloads",
    "Serving",
    "Started",
    "Startup",
    "Stop",
    "Watch",
    "decode",
    "encode",
    "next_state",
]

# The old process only finishes what it already accepted (the new one serves everything
# else at once), so a reload cuts a request still running after this long, much as
# werkzeug's reloader cuts every request at once.
RELOAD_GRACE = 1.0

_T = TypeVar("_T")
_M = TypeVar("_M", bound="Message")


# --- messages ---------------------------------------------------------------------------


if TYPE_CHECKING:
    from typing import dataclass_transform
else:
    def dataclass_transform(**_: object) -> Callable[[_T], _T]:
        return lambda cls: cls


@dataclass_transform(frozen_default=True, eq_default=True)
class Message:
    """A message on the control socket; ``kind`` is its name on the wire.

    Each subclass is a frozen record of its annotated fields, as with
    ``@dataclass(frozen=True)``, but made without generating code: fifteen dataclasses
    cost a server process 6 ms of its start, before its first response."""

    kind: ClassVar[str]
    _types: ClassVar[dict[str, type[Message]]] = {}
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        annotations = inspect.get_annotations(cls)
        cls._fields = tuple(
            name for name, hint in annotations.items()
            if not str(hint).startswith(("ClassVar", "typing.ClassVar"))
        )
        cls._defaults = {name: cls.__dict__[name] for name in cls._fields
                         if name in cls.__dict__}
        Message._types[cls.kind] = cls

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self._fields
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated {name!r}")
            values[name] = value
        for name in names:
            if name in values:
                value = values[name]
            elif name in self._defaults:
                value = self._defaults[name]
            else:
                raise TypeError(f"{type(self).__name__}: missing {name!r}")
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, a nested message as a dict too."""
        return {name: value.as_dict() if isinstance(value, Message) else value
                for name in self._fields for value in (getattr(self, name),)}

    def replace(self: _M, **changes: Any) -> _M:
        """A copy with ``changes``."""
        return type(self)(**{**dict(zip(self._fields, self._values(), strict=True)), **changes})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Message)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in
                           zip(self._fields, self._values(), strict=True))
        return f"{type(self).__name__}({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")


# Supervisor -> server process.


class Plan(Message):
    """First message to every new process: what to run once told to go."""

    kind: ClassVar[str] = "plan"
    entry: str  # "script" or "module"
    target: str
    args: tuple[str, ...]
    path0: str | None
    orig_argv: tuple[str, ...]
    config: dict[str, Any]  # the options, for an error page before the app's config exists
    warm: tuple[str, ...] = ()  # modules to import while waiting, in order
    # The user's own start-up, as the last server process had it when it began to
    # serve (see Startup): imported too while waiting, when there is one.
    startup: Startup | None = None


class Go(Message):
    """Become the server: with ``error``, serve only the error page saying it.

    ``banner``: the supervisor prints the banner once this process serves; it answers
    nothing before ``Announced`` (or a short wait), so that no access line comes first."""

    kind: ClassVar[str] = "go"
    env: dict[str, str]
    error: str | None = None
    banner: bool = False


class Announced(Message):
    """The banner is out (see ``Go.banner``)."""

    kind: ClassVar[str] = "announced"


class Stop(Message):
    """Stop accepting and drain; ``handoff``: a reload, idle connections go to the next."""

    kind: ClassVar[str] = "stop"
    handoff: bool = False


class Changed(Message):
    """Files that only listeners asked to watch changed: no restart (CONTRACTS 2)."""

    kind: ClassVar[str] = "changed"
    paths: tuple[str, ...]


# Server process -> supervisor.


class Ready(Message):
    """Warmed up and waiting; ``files``: every file it imported (never run if changed).

    ``user``: it also ran the user's start-up (``Plan.startup``); ``user_failed``: that
    failed, and the process is not to be used; ``user_refused``: because a module
    imports one the process had to avoid (no fault of the start-up)."""

    kind: ClassVar[str] = "ready"
    files: tuple[str, ...]
    warm_ms: float
    user: bool = False
    user_failed: bool = False
    user_refused: bool = False


class Started(Message):
    """Told to go: now running the user's entry point."""

    kind: ClassVar[str] = "started"


class Serving(Message):
    """The app is loaded and served; what the banner needs."""

    kind: ClassVar[str] = "serving"
    description: str | None = None
    interface: str | None = None
    loop: str | None = None
    framework: str | None = None  # e.g. "Flask 3.1.0", for the banner
    notes: tuple[str, ...] = ()  # banner lines; "{url}" stands for the server's URL


class Failed(Message):
    """The app could not start: the error page is served; ``files`` are worth watching."""

    kind: ClassVar[str] = "failed"
    files: tuple[str, ...]
    loop: str | None = None


class Reloads(Message):
    """The last reloads with their timings, newest last (for the dev state endpoint)."""

    kind: ClassVar[str] = "reloads"
    entries: tuple[dict[str, Any], ...] = ()


class Answered(Message):
    """The first response went out (the last phase of a reload, for the debug log)."""

    kind: ClassVar[str] = "answered"


class Modules(Message):
    """What it imported: user ``files`` to watch, ``warm`` modules for the next spare."""

    kind: ClassVar[str] = "modules"
    files: tuple[str, ...]
    warm: tuple[str, ...]


class Startup(Message):
    """What the user's start-up imported before serving, sent once serving: the
    next waiting processes import the same (the modules themselves, as they are then)."""

    kind: ClassVar[str] = "startup"
    modules: tuple[str, ...]  # the user's modules, in import order
    path: tuple[str, ...]  # sys.path then (the app loader may have added to it)
    django_settings: str | None = None  # Django's settings module, when set up
    # Set by the supervisor for a spare: files not to import ahead (changed lately, or
    # the app's own module, which most edits touch), nor any module that imports one.
    avoid: tuple[str, ...] = ()


class Watch(Message):
    """The listeners' watch requests, sent once serving (CONTRACTS 2)."""

    kind: ClassVar[str] = "watch"
    requests: tuple[WatchRequest, ...] = ()


def encode(message: Message) -> bytes:
    """One line of JSON, ``t`` naming the message."""
    fields = message.as_dict()
    fields["t"] = message.kind
    return json.dumps(fields).encode() + b"\n"


def decode(line: bytes | str) -> Message:
    """The message on one line; ValueError for anything not made by ``encode``."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("a control message is a JSON object")
    cls = Message._types.get(data.pop("t", None))
    if cls is None:
        raise ValueError(f"unknown control message {line!r}")
    values = {name: _frozen(value) for name, value in data.items()}
    if cls is Plan and isinstance(values.get("startup"), dict):
        values["startup"] = Startup(**{k: _frozen(v) for k, v in values["startup"].items()})
    if cls is Watch:
        values["requests"] = tuple(
            WatchRequest(str(directory), tuple(patterns))
            for directory, patterns in values.get("requests", ())
        )
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValueError(f"malformed control message {line!r}: {exc}") from None


def _frozen(value: Any) -> Any:
    # JSON gives lists where the messages hold tuples (mappings stay as they are).
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


# --- a server process's life --------------------------------------------------------------


class Lifecycle(enum.Enum):
    """Where a server process is, as the supervisor sees it."""

    STARTING = "starting"  # importing asyncdev and what the last process used
    READY = "ready"  # waiting, as the spare
    RUNNING = "running"  # told to go: running the user's entry point
    SERVING = "serving"  # the app is served
    FAILED = "failed"  # the app failed to start: the error page is served
    BROKEN = "broken"  # told to serve only the error page (its predecessor died early)
    STOPPING = "stopping"  # told to stop: drains, then exits
    KILLED = "killed"  # sent SIGKILL
    EXITED = "exited"


class Event(enum.Enum):
    READY = "ready"  # it said Ready
    GO = "go"  # we said Go
    GO_BROKEN = "go-broken"  # we said Go with an error
    SERVING = "serving"  # it said Serving
    FAILED = "failed"  # it said Failed
    STOP = "stop"  # we said Stop
    KILL = "kill"  # we sent SIGKILL
    EXIT = "exit"  # it exited


class LifecycleError(RuntimeError):
    """A transition the table does not allow: a bug in the supervisor."""


S, E = Lifecycle, Event
_ALIVE = (S.STARTING, S.READY, S.RUNNING, S.SERVING, S.FAILED, S.BROKEN, S.STOPPING, S.KILLED)
TRANSITIONS: Mapping[tuple[Lifecycle, Event], Lifecycle] = {
    (S.STARTING, E.READY): S.READY,
    (S.STARTING, E.GO): S.RUNNING,  # the first process, or no spare was ready in time
    (S.READY, E.GO): S.RUNNING,
    (S.STARTING, E.GO_BROKEN): S.BROKEN,
    (S.READY, E.GO_BROKEN): S.BROKEN,
    (S.RUNNING, E.SERVING): S.SERVING,
    (S.RUNNING, E.FAILED): S.FAILED,
    (S.BROKEN, E.FAILED): S.BROKEN,
    (S.RUNNING, E.STOP): S.STOPPING,  # it exits at once, or drains if already listening
    (S.SERVING, E.STOP): S.STOPPING,
    (S.FAILED, E.STOP): S.STOPPING,
    (S.BROKEN, E.STOP): S.STOPPING,
    **{(state, E.KILL): S.KILLED for state in _ALIVE},
    **{(state, E.EXIT): S.EXITED for state in _ALIVE},
}
del S, E

# Processes that say what they are doing (Ready, Serving, Failed) may say it after the
# supervisor decided otherwise (told it to stop, killed it): those messages are stale.
# Any other transition missing from the table is a bug.
_REPORTED = frozenset({Event.READY, Event.SERVING, Event.FAILED})


def next_state(state: Lifecycle, event: Event) -> Lifecycle | None:
    """The state after ``event``; None for a stale report (ignore it).

    Raises ``LifecycleError`` for a transition the supervisor must never make."""
    new = TRANSITIONS.get((state, event))
    if new is not None:
        return new
    if event in _REPORTED:
        return None
    raise LifecycleError(f"a {state.value} server process cannot take {event.value!r}")
