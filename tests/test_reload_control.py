"""The reload conversation without processes: channels, messages, the lifecycle table."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from asyncdev._reload import control
from asyncdev._reload.control import Event, Lifecycle, LifecycleError, next_state
from asyncdev._types import WatchRequest

MESSAGES = [
    control.Plan(
        entry="module", target="asyncdev", args=("app:app", "--reload"), path0="/srv",
        orig_argv=("python", "-m", "asyncdev", "app:app"), config={"port": 0, "reload_dirs": ["a"]},
        warm=("asyncdev._cli", "h11"),
    ),
    control.Plan(entry="script", target="run.py", args=(), path0=None, orig_argv=("python",),
                 config={}),
    control.Plan(entry="module", target="asyncdev", args=("mysite.wsgi",), path0=None,
                 orig_argv=("python", "-m", "asyncdev", "mysite.wsgi"), config={},
                 startup=control.Startup(modules=("mysite", "polls.models"), path=("/srv",),
                                         django_settings="mysite.settings",
                                         avoid=("/srv/polls/views.py",))),
    control.Startup(modules=("helper",), path=("/srv", "/usr/lib/python3")),
    control.Ready(files=(), warm_ms=1.0, user=True),
    control.Ready(files=(), warm_ms=1.0, user_failed=True, user_refused=True),
    control.Go(env={"PATH": "/bin", "EMPTY": ""}),
    control.Go(env={}, error="The server process exited (exit code 1) before serving."),
    control.Stop(),
    control.Stop(handoff=True),
    control.Changed(paths=("/srv/static/site.css", "/srv/templates/index.html")),
    control.Ready(files=("/srv/app.py",), warm_ms=12.5),
    control.Started(),
    control.Answered(),
    control.Reloads(entries=({"at": 1.5, "files": ["app.py"], "path": "warm"},)),
    control.Serving(description="app:app", interface="asgi3", loop="uvloop"),
    control.Serving(),
    control.Failed(files=("/srv/app.py",), loop="asyncio"),
    control.Modules(files=("/elsewhere/helper.py",), warm=("asyncdev._server.wsgi", "a2wsgi")),
    control.Watch(requests=(WatchRequest("/srv/static", ("*.css",)),
                            WatchRequest("/srv/templates", ("**/*.html", "*.txt")))),
    control.Watch(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_wire(message: control.Message) -> None:
    line = control.encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["t"] == message.kind
    decoded = control.decode(line)
    assert decoded == message and type(decoded) is type(message)


def test_watch_requests_come_back_as_watch_requests() -> None:
    decoded = control.decode(control.encode(control.Watch(requests=(WatchRequest("/d", ("*",)),))))
    assert isinstance(decoded, control.Watch)
    assert isinstance(decoded.requests[0], WatchRequest)


def test_every_message_kind_is_distinct() -> None:
    kinds = {type(m).kind for m in MESSAGES}
    assert kinds == {"plan", "go", "stop", "changed", "ready", "started", "serving", "failed",
                     "modules", "watch", "startup", "answered", "reloads"}


@pytest.mark.parametrize("line", [
    b"", b"not json\n", b"[1, 2]\n", b'{"t": "launch"}\n', b'{"files": []}\n',
    b'{"t": "ready", "files": []}\n',  # a field missing
    b'{"t": "stop", "handoff": true, "extra": 1}\n',  # a field unknown
])
def test_anything_else_is_a_value_error(line: bytes) -> None:
    with pytest.raises(ValueError):
        control.decode(line)


def test_channels_round_trip_and_leave_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    channels = control.Channels(control=7, listeners=(3, 4), parent=1234, handoff=(5, 6))
    assert control.Channels.decode(channels.encode()) == channels
    assert channels.fds == (7, 3, 4, 5, 6)
    bare = control.Channels(control=3, listeners=(), parent=1, handoff=())
    assert control.Channels.decode(bare.encode()) == bare
    monkeypatch.setenv(control.CHILD_ENV_VAR, channels.encode())
    assert control.Channels.pop_from_environment() == channels
    assert control.CHILD_ENV_VAR not in __import__("os").environ
    assert control.Channels.pop_from_environment() is None
    with pytest.raises(ValueError):
        control.Channels.decode("3:4")


# --- the lifecycle ------------------------------------------------------------------------

# The lives a server process may have, event by event.
LIVES = [
    # The spare: warmed, told to go, serves, replaced on a change.
    [Event.READY, Event.GO, Event.SERVING, Event.STOP, Event.EXIT],
    # The first process: told to go before it is ready; its app fails to start.
    [Event.GO, Event.FAILED, Event.STOP, Event.EXIT],
    # Its predecessor died before serving: it shows only the error page.
    [Event.READY, Event.GO_BROKEN, Event.FAILED, Event.STOP, Event.EXIT],
    # Stopped while importing the old code; killed while it drained for too long.
    [Event.GO, Event.STOP, Event.EXIT],
    [Event.GO, Event.KILL, Event.EXIT],
    [Event.READY, Event.GO, Event.SERVING, Event.STOP, Event.KILL, Event.KILL, Event.EXIT],
    # Crashed while serving.
    [Event.READY, Event.GO, Event.SERVING, Event.EXIT],
]


@pytest.mark.parametrize("life", LIVES)
def test_the_lives_a_process_may_have(life: list[Event]) -> None:
    state = Lifecycle.STARTING
    for event in life:
        new = next_state(state, event)
        assert new is not None, (state, event)
        state = new
    assert state is Lifecycle.EXITED


@pytest.mark.parametrize(("state", "event"), [
    (Lifecycle.STARTING, Event.STOP),  # nothing to drain: a starting process is killed
    (Lifecycle.RUNNING, Event.GO),  # told to go twice
    (Lifecycle.SERVING, Event.GO),
    (Lifecycle.STOPPING, Event.GO),  # a stopping process never serves again
    (Lifecycle.KILLED, Event.GO_BROKEN),
    (Lifecycle.STOPPING, Event.STOP),
    (Lifecycle.EXITED, Event.KILL),  # nothing happens to a process after its exit
    (Lifecycle.EXITED, Event.EXIT),
])
def test_the_table_refuses_what_the_supervisor_must_never_do(
    state: Lifecycle, event: Event
) -> None:
    with pytest.raises(LifecycleError):
        next_state(state, event)


@pytest.mark.parametrize(("state", "event"), [
    (Lifecycle.STOPPING, Event.SERVING),  # told to stop while its app was starting
    (Lifecycle.KILLED, Event.READY),
    (Lifecycle.RUNNING, Event.READY),  # went before it was ready
    (Lifecycle.SERVING, Event.FAILED),
    (Lifecycle.EXITED, Event.SERVING),
])
def test_late_reports_are_stale_not_errors(state: Lifecycle, event: Event) -> None:
    assert next_state(state, event) is None


def test_every_state_but_exited_can_be_killed_and_can_exit() -> None:
    for state, event in itertools.product(Lifecycle, (Event.KILL, Event.EXIT)):
        if state is Lifecycle.EXITED:
            continue
        assert next_state(state, event) is (
            Lifecycle.KILLED if event is Event.KILL else Lifecycle.EXITED
        )


def test_the_control_module_stays_light() -> None:
    """Both processes import it, the supervisor and the entry points included."""
    code = (
        "import sys\n"
        "import asyncdev._reload.control, asyncdev._reload.child.session\n"
        "print(sorted({'asyncio', 'ssl', 'h11', 'asyncdev._server.server'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
    )
    assert result.stdout.strip() == "[]", result.stderr
