"""The reload child: a fresh interpreter that serves until the supervisor replaces it.

``main()`` is what the supervisor starts. It adopts the control socket and listening
socket(s) named in ``_ASYNCDEV_RELOAD_CHILD`` (then deletes it), arranges to die with
the supervisor, imports asyncdev and its dependencies but no user code, and waits as
the spare. Told to go, it runs the user's entry point as ``sys.orig_argv`` would; the
``serve()`` or CLI call in it reaches ``run_child``. An app that fails to import or
start is replaced by the error page (``_features.errorpage.startup_error_app``) until
the next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from .._usercode import is_library_file, is_own_file, is_user_file
from .entry import CHILD_ENV_VAR, RELOAD_GRACE, interpreter_safe_path

if TYPE_CHECKING:
    from .._config import Config
    from .._server.server import Server

__all__ = ["in_reload_child", "main", "run_child"]

logger = logging.getLogger("asyncdev.error")

# What every spare imports before it is needed: the path every entry point takes
# (``python -m asyncdev`` and ``serve()``), from the command line to the HTTP server.
# What else an app uses (the WSGI bridge, static files, WebSockets, its libraries) is
# in the list of modules its previous process imported (see _send_modules).
WARM_MODULES = (
    "asyncdev._cli", "asyncdev._api", "asyncdev._logging", "asyncdev._importer",
    "asyncdev._loops", "asyncdev._server.run", "asyncdev._server.server",
    "asyncdev._features.hostcheck", "asyncdev._reload.handoff", "runpy",
)


class _State:
    """What this process learnt from the supervisor; guarded by ``lock`` across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ctrl: socket.socket | None = None
        self.received = b""  # bytes read from ctrl past the last whole message
        self.listen_fds: list[int] = []
        self.adopted = False  # a server took the sockets (only the first serve() may)
        self.served = False
        self.stopping = False
        self.server: Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.base_config: dict[str, Any] = {}
        self.exiting = False  # main() is done: the lifeline must not act on EOF


_state = _State()


def in_reload_child() -> bool:
    """True in a process started by the reload supervisor that has not served yet."""
    return bool(_state.listen_fds) and not _state.adopted


# --- talking to the supervisor ----------------------------------------------------------


def _send(message_type: str, /, **fields: Any) -> None:
    ctrl = _state.ctrl
    if ctrl is None:
        return
    fields["t"] = message_type
    with contextlib.suppress(OSError):
        ctrl.sendall(json.dumps(fields).encode() + b"\n")


def _receive() -> dict[str, Any] | None:
    """The next message from the supervisor, or None once it has gone.

    Read straight from the socket (no ``makefile``): closing it at exit then never
    waits for the thread blocked here."""
    ctrl, data = _state.ctrl, _state.received
    while b"\n" not in data:
        try:
            chunk = ctrl.recv(65536) if ctrl is not None else b""
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    line, _, _state.received = data.partition(b"\n")
    message: dict[str, Any] = json.loads(line)
    return message


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills us the moment the supervisor dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return
    # The supervisor may have died before prctl took effect.
    if os.getppid() != parent:
        os._exit(1)


def _lifeline() -> None:
    """Thread: obey "stop"; when the supervisor vanishes, stop and never linger."""
    while True:
        message = _receive()
        if message is None or message.get("t") == "stop":
            break
    with _state.lock:
        if _state.exiting:
            return
        _state.stopping = True
        server, loop = _state.server, _state.loop
    if server is None or loop is None:
        # Not serving: nothing in flight worth a grace period.
        os._exit(0)
    handoff = bool(message and message.get("handoff"))
    if handoff:
        # Reloading: what loaded on first use since the start (the WebSocket layer,
        # the error page) is worth having in the spares to come. Said first: once
        # stopped, the process may be gone at once.
        _send_modules()
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_stop_serving, server, loop, handoff)
    if message is None:
        # Without PR_SET_PDEATHSIG (or an app that blocks its loop) nobody would kill us.
        time.sleep(RELOAD_GRACE + 3.0)
        os._exit(1)


# --- the spare ------------------------------------------------------------------------


def main() -> None:
    """Entry of a reload child (``python -c`` from the supervisor). Exits the process."""
    try:
        try:
            code = _main()
        except KeyboardInterrupt:
            # Ctrl+C reaches the whole process group; the supervisor reports what matters.
            code = 130
        sys.stdout.flush()
        sys.exit(code)
    finally:
        # Also when the app's own entry point ends with sys.exit().
        _close_channels()


def _close_channels() -> None:
    """Close what the supervisor passed in, rather than leave it to the finalizers
    (which warn about every unclosed socket under ``python -X dev``)."""
    with _state.lock:
        _state.exiting = True
    if _state.ctrl is not None:
        with contextlib.suppress(OSError):
            _state.ctrl.shutdown(socket.SHUT_RDWR)  # the lifeline's read returns at once
        _state.ctrl.close()
    handoff = sys.modules.get("asyncdev._reload.handoff")
    if handoff is not None:
        handoff.close_sockets()


def _main() -> int:
    value = os.environ.pop(CHILD_ENV_VAR, None)
    if value is None:
        sys.stderr.write("asyncdev._reload.child is started by the reload supervisor only.\n")
        return 2
    ctrl_text, fds_text, parent_text, handoff_text = value.split(":")
    ctrl = socket.socket(fileno=int(ctrl_text))
    ctrl.set_inheritable(False)
    _state.ctrl = ctrl
    _die_with_parent(int(parent_text))
    listen_fds = [int(fd) for fd in fds_text.split(",") if fd]
    handoff_fds = [int(fd) for fd in handoff_text.split(",") if fd]
    for fd in (*listen_fds, *handoff_fds):
        # Processes the app starts must not keep the port open after we are gone.
        os.set_inheritable(fd, False)
    if len(handoff_fds) == 2:
        from . import handoff as _handoff

        _handoff.set_sockets(*handoff_fds)

    plan = _receive()
    if plan is None:
        return 0
    _state.base_config = plan["config"]
    _set_path0(plan["path0"])
    started = time.monotonic()
    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            __import__(name)
    if plan["config"].get("loop") != "asyncio":
        with contextlib.suppress(ImportError):
            __import__("uvloop")
    _warm_libraries(plan.get("warm", []))
    _send("ready", files=_module_files(), warm_ms=(time.monotonic() - started) * 1000)

    go = _receive()
    if go is None:
        return 0
    _send("started")
    _apply_env(go["env"])
    _state.listen_fds = listen_fds
    threading.Thread(target=_lifeline, name="asyncdev-lifeline", daemon=True).start()
    if go.get("error"):
        return _serve_failure(RuntimeError(go["error"]))

    sys.orig_argv = list(plan["orig_argv"])
    try:
        _run_entry(plan["kind"], plan["target"], plan["args"])
    except SystemExit as exc:
        if _state.served or _state.stopping:
            raise
        return _serve_failure(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        if _state.served or _state.stopping:
            raise
        return _serve_failure(exc)
    if not _state.served and not _state.stopping:
        return _serve_failure(RuntimeError(
            "The program ran to its end without starting the server: does it call "
            "asyncdev.serve() (for example under `if __name__ == \"__main__\":`)?"
        ))
    return 0


def _set_path0(path0: str | None) -> None:
    # The spare runs as ``python -c``, which puts "" first on sys.path; the user's
    # command would have put the script's directory (or the cwd for -m) there instead.
    if interpreter_safe_path():
        return
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    if path0 is not None:
        sys.path.insert(0, path0)


def _apply_env(env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _run_entry(kind: str, target: str, args: list[str]) -> None:
    """Run the user's command line as the interpreter itself would."""
    import runpy

    if kind == "module":
        sys.argv = ["-m", *args]
        # What ``python -m`` itself calls: __main__ stays replaced, argv[0] is the file.
        run_as_main = getattr(runpy, "_run_module_as_main", None)
        if run_as_main is not None:
            run_as_main(target, True)
        else:  # pragma: no cover - a runpy without the private helper
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        return
    sys.argv = [target, *args]
    path = os.path.abspath(target)
    if os.path.isdir(path) or (not path.endswith(".py") and _is_archive(path)):
        runpy.run_path(target, run_name="__main__")
        return
    import builtins
    import importlib.machinery
    import types

    # Like ``python script.py``: __main__ is the script for good (not runpy's
    # temporary module), __file__ is absolute, __spec__ is None.
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    with open(path, "rb") as handle:
        source = handle.read()
    code = module.__loader__.source_to_code(source, path)
    exec(code, module.__dict__)


def _is_archive(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


# --- serving --------------------------------------------------------------------------


def run_child(config: Config) -> int:
    """Serve ``config`` on the inherited socket(s); an app that fails gets the error page."""
    _state.adopted = True
    # Stopping (Ctrl+C) drains for timeout_graceful_shutdown; a reload for reload_grace
    # (see _stop_serving).
    config = config.replace(reload=False, fd=None)
    return _serve(config, None)


def _serve_failure(exc: BaseException) -> int:
    """Serve the error page for ``exc`` with the options the supervisor was given."""
    if _state.stopping:
        return 0
    from .._config import Config

    _state.adopted = True
    options = dict(_state.base_config)
    options["timeout_graceful_shutdown"] = min(
        options.get("timeout_graceful_shutdown", RELOAD_GRACE), RELOAD_GRACE
    )
    config = Config(**options)
    return _serve(config, exc)


def _sockets() -> list[socket.socket]:
    # Each server gets duplicates: a server that fails half-way closes its sockets,
    # and the error page still needs them.
    return [socket.socket(fileno=os.dup(fd)) for fd in _state.listen_fds]


def _serve(config: Config, failure: BaseException | None) -> int:
    from .._loops import current_loop

    with current_loop(config.loop) as (loop, loop_name):
        try:
            return _serve_on(loop, loop_name, config, failure)
        finally:
            with _state.lock:
                _state.server = None


def _serve_on(
    loop: asyncio.AbstractEventLoop, loop_name: str, config: Config,
    failure: BaseException | None,
) -> int:
    from .._server.run import serve_until_signal
    from .._server.server import Server

    server: Server | None = None
    if failure is None:
        server = Server(config, sockets=_sockets())
        try:
            loop.run_until_complete(server.start())
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if _state.stopping:
                return 0
            failure, server = exc, None
    if server is None:
        assert failure is not None
        _report_failure(failure, loop_name)
        from .._features.errorpage import startup_error_app

        error_config = config.replace(
            app=startup_error_app(failure, debug=config.debug_errors),
            interface="asgi3", factory=False, lifespan="off", app_dir=None,
        )
        server = Server(error_config, sockets=_sockets())
        loop.run_until_complete(server.start())
    else:
        loaded = server.loaded
        from .._envfile import loaded_notes

        _send(
            "serving",
            description=loaded.description if loaded else None,
            interface=loaded.interface if loaded else None,
            loop=loop_name,
            framework=loaded.framework if loaded else None,
            notes=[*(loaded.notes if loaded else ()), *loaded_notes()],
        )
        loop.call_later(0.2, _send_modules)
    for fd in _state.listen_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    from . import handoff as _handoff

    _handoff.adopt(server, loop)
    with _state.lock:
        _state.served = True
        _state.server, _state.loop = server, loop
        stopping = _state.stopping
    if stopping:
        server.request_shutdown()
    serve_until_signal(loop, server)
    return 0


def _stop_serving(server: Server, loop: asyncio.AbstractEventLoop, handoff: bool) -> None:
    from . import handoff as _handoff

    _handoff.stop_adopting(loop)
    if handoff:
        _handoff.hand_over_when_idle(server)
        # A reload: the next process serves everything new, this one only finishes
        # what it has, for --reload-grace.
        server.config = server.config.replace(
            timeout_graceful_shutdown=server.config.reload_grace
        )
    server.request_shutdown()


def _report_failure(exc: BaseException, loop_name: str) -> None:
    """The traceback once on the terminal; the files involved to the supervisor."""
    logger.error(
        "The application could not start; fix the error and save, it reloads by itself.",
        exc_info=exc,
    )
    files: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SyntaxError) and current.filename:
            files.append(current.filename)
        files.extend(frame.filename for frame in traceback.extract_tb(current.__traceback__))
        current = current.__cause__ or current.__context__
    _send("failed", files=_user_files(files), loop=loop_name)


def _user_files(candidates: list[str]) -> list[str]:
    """Existing files outside the standard library, site-packages and asyncdev itself."""
    result: list[str] = []
    for name in candidates:
        path = os.path.abspath(name)
        if not is_user_file(path) or not os.path.isfile(path):
            continue
        path = os.path.realpath(path)
        if path not in result:
            result.append(path)
    return result


def _module_files() -> list[str]:
    return [
        os.path.realpath(name) for module in list(sys.modules.values())
        if isinstance(name := getattr(module, "__file__", None), str)
    ]


def _send_modules() -> None:
    """Tell the supervisor what this process imported.

    The app's own modules outside the watched directories get watched too (as Django's
    autoreloader watches every imported module). asyncdev's modules, then the library
    modules, each in import order, are what the next spare imports ahead of time: the
    features this app uses (the WSGI bridge, static files, ...) and its libraries.
    asyncdev's come first, as they never depend on the app's setup.
    """
    files: list[str] = []
    own: list[str] = []
    warm: list[str] = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name == "__main__" or not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        if is_own_file(path):
            own.append(name)
        elif is_library_file(path):
            warm.append(name)
        else:
            files.append(path)
    _send("modules", files=_user_files(files)[:1000], warm=(own + warm)[:5000])


def _warm_libraries(names: list[str]) -> None:
    """Import the libraries the previous process used, in its order, stopping at the
    first that fails (it may need the app's setup, like Django models)."""
    import importlib

    deadline = time.monotonic() + 5.0
    for name in names:
        if name in sys.modules:
            continue
        if time.monotonic() > deadline:
            return
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):
            return
