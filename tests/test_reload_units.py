"""Reload building blocks: the watch filter, argv parsing, the error page, the dispatcher."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from asyncdev._features.errorpage import startup_error_app as error_app
from asyncdev._reload.dispatcher import Dispatcher
from asyncdev._reload.entry import EntryPlan, entry_plan
from asyncdev._reload.process import invalidate_bytecode as _invalidate_bytecode
from asyncdev._reload.watch import ReloadFilter, default_reload_dirs, glob_to_regex
from asyncdev._types import WatchRequest

# --- globs and the filter ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "app.py", True),
        ("*.py", "pkg/app.py", False),
        ("templates/**/*.html", "templates/a.html", True),
        ("templates/**/*.html", "templates/x/y/a.html", True),
        ("templates/**/*.html", "other/templates/a.html", False),
        ("**/*.html", "a/b/c.html", True),
        ("src/[ab].py", "src/a.py", True),
        ("src/[!ab].py", "src/a.py", False),
        ("file?.txt", "file1.txt", True),
        ("a+b.py", "a+b.py", True),
    ],
)
def test_glob_to_regex(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(pattern).match(path)) is matches


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("app.py", "pkg/views.py", "templates/index.html", "notes.txt", "app.log",
                 "db.sqlite3", "db.sqlite3-journal", ".git/config.py", "node_modules/x/y.py",
                 "__pycache__/app.cpython-311.pyc", ".mypy_cache/a.py", "venv/lib/site.py",
                 "migrations/0001.py", "src/legacy/old.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    return tmp_path


def triggers(project: Path, **options: object) -> set[str]:
    watch = ReloadFilter(roots=[str(project)], cwd=str(project), **options)  # type: ignore[arg-type]
    found = set()
    for root, _, files in os.walk(project):
        for name in files:
            path = os.path.join(root, name)
            if watch(None, path):
                found.add(os.path.relpath(path, project))
    return found


def test_default_filter_watches_python_sources_only(project: Path) -> None:
    assert triggers(project) == {
        "app.py", "pkg/views.py", "migrations/0001.py", "src/legacy/old.py"
    }


def test_includes_and_excludes(project: Path) -> None:
    found = triggers(
        project,
        includes=["templates/**/*.html", "*.txt"],
        excludes=["migrations", "./src/legacy/**"],
    )
    assert found == {"app.py", "pkg/views.py", "templates/index.html", "notes.txt"}


def test_a_venv_is_recognised_by_its_pyvenv_cfg_whatever_its_name(project: Path) -> None:
    watch = ReloadFilter(roots=[str(project)], cwd=str(project))
    assert watch.in_environment(str(project / "venv" / "lib" / "site.py"))
    assert not watch.in_environment(str(project / "pkg" / "views.py"))


def test_a_deleted_venv_stays_ignored_once_scanned(project: Path) -> None:
    watch = ReloadFilter(roots=[str(project)], cwd=str(project))
    watch.scan_environments()
    (project / "venv" / "pyvenv.cfg").unlink()
    assert not watch(None, str(project / "venv" / "lib" / "site.py"))


def test_a_root_that_is_itself_a_venv_is_still_watched(tmp_path: Path) -> None:
    (tmp_path / "pyvenv.cfg").write_text("")
    (tmp_path / "app.py").write_text("")
    watch = ReloadFilter(roots=[str(tmp_path)], cwd=str(tmp_path))
    assert watch(None, str(tmp_path / "app.py"))


def test_extra_files_trigger_even_when_not_included(project: Path) -> None:
    watch = ReloadFilter(roots=[str(project)], cwd=str(project))
    target = str(project / "notes.txt")
    assert not watch(None, target)
    watch.extra_files.add(target)
    assert watch(None, target)


def test_listened_paths_pass_the_filter_without_reloading(project: Path) -> None:
    watch = ReloadFilter(roots=[str(project)], cwd=str(project), excludes=["migrations"])
    html = str(project / "templates" / "index.html")
    assert not watch(None, html)
    watch.listen([WatchRequest(str(project / "templates"), ("*.html",)),
                  WatchRequest(str(project), ("notes.*", "migrations/*.sql"))])
    assert watch(None, html) and not watch.reloads(html)
    assert watch(None, str(project / "notes.txt"))
    # Outside the requested directory, or excluded, or in a venv: still nothing.
    assert not watch(None, str(project / "index.html"))
    assert not watch(None, str(project / "migrations" / "0002.sql"))
    assert not watch(None, str(project / "venv" / "lib" / "notes.txt"))
    # A Python source listened to still reloads.
    assert watch.reloads(str(project / "app.py"))
    # Each serving process says what it wants: the next request replaces the last.
    watch.listen([])
    assert not watch(None, html)


def test_default_reload_dirs(tmp_path: Path) -> None:
    inner, outer = tmp_path / "cwd" / "app", tmp_path / "elsewhere"
    inner.mkdir(parents=True)
    outer.mkdir()
    cwd = str(tmp_path / "cwd")
    assert default_reload_dirs(None, cwd) == [os.path.realpath(cwd)]
    assert default_reload_dirs(str(inner), cwd) == [os.path.realpath(cwd)]
    assert default_reload_dirs(str(outer), cwd) == [os.path.realpath(outer)]


# --- the command line to run again -----------------------------------------------------------


def test_entry_plan_for_a_script(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    plan = entry_plan(["python", "-X", "dev", "-Wd", "-u", "main.py", "--flag"], str(tmp_path))
    assert plan == EntryPlan(("-X", "dev", "-W", "d", "-u"), "script", "main.py",
                             ("--flag",), str(tmp_path.resolve()))


def test_entry_plan_on_python_3_10_which_has_no_safe_path_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "flags", types.SimpleNamespace())  # no sys.flags.safe_path
    plan = entry_plan(["python", "-m", "asyncdev", "app:app"], str(tmp_path))
    assert isinstance(plan, EntryPlan) and plan.path0 == str(tmp_path)


def test_entry_plan_for_a_module_drops_the_interactive_flag(tmp_path: Path) -> None:
    plan = entry_plan(["python", "-iBm", "asyncdev", "app:app", "8001"], str(tmp_path))
    assert isinstance(plan, EntryPlan)
    assert plan.flags == ("-B",)
    assert (plan.kind, plan.target, plan.args) == ("module", "asyncdev", ("app:app", "8001"))
    assert plan.path0 == str(tmp_path)
    assert entry_plan(["python", "-I", "-m", "pkg"], str(tmp_path)).path0 is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["python", "-c", "pass"], "python -c"),
        (["python", "-uc", "pass"], "python -c"),
        (["python"], "typed in"),
        (["python", "-"], "typed in"),
        (["python", "missing.py"], "cannot be found"),
    ],
)
def test_entry_plan_refuses_what_cannot_run_again(tmp_path: Path, argv: list[str],
                                                  reason: str) -> None:
    result = entry_plan(argv, str(tmp_path))
    assert isinstance(result, str) and reason in result


# --- stale bytecode ----------------------------------------------------------------------


def test_invalidate_bytecode_removes_the_cached_pyc(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("x = 1\n")
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.parent.mkdir()
    cached.write_bytes(b"stale")
    _invalidate_bytecode([str(source), str(tmp_path / "page.html")])
    assert not cached.exists()


# --- the error page ----------------------------------------------------------------------


def call(
    app: object, headers: list[tuple[bytes, bytes]], client: object
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers,
             "client": client}
    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]  # type: ignore[arg-type,return-value]


def broken() -> BaseException:
    try:
        compile("x = <script>", "app.py", "exec")
    except SyntaxError as exc:
        return exc
    raise AssertionError


def test_error_page_escapes_the_traceback_for_browsers() -> None:
    status, headers, body = call(error_app(broken()), [(b"accept", b"text/html")],
                                 ("127.0.0.1", 1))
    assert status == 500
    assert headers[b"content-type"].startswith(b"text/html")
    assert b"&lt;script&gt;" in body and b"<script>" not in body
    assert headers[b"cache-control"] == b"no-store"


def test_error_page_is_plain_text_for_other_clients() -> None:
    status, headers, body = call(error_app(broken()), [(b"accept", b"*/*")], ("::1", 1))
    assert status == 500
    assert headers[b"content-type"].startswith(b"text/plain")
    assert b"x = <script>" in body and b"SyntaxError" in body


def test_error_page_hides_the_traceback_from_remote_clients() -> None:
    _, _, body = call(error_app(broken()), [(b"accept", b"text/html")], ("192.0.2.7", 1))
    assert b"SyntaxError" not in body and b"Internal Server Error" in body
    _, _, body = call(error_app(broken(), debug=True), [], ("192.0.2.7", 1))
    assert b"SyntaxError" in body


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")
def _dispatcher() -> tuple[Dispatcher, list[BaseException]]:
    errors: list[BaseException] = []
    return Dispatcher(errors.append), errors


def test_dispatcher_runs_timers_in_order_and_skips_cancelled_ones() -> None:
    dispatcher, errors = _dispatcher()
    seen: list[str] = []
    dispatcher.call_later(0.02, lambda: seen.append("second"))
    dispatcher.call_later(0.0, lambda: seen.append("first"))
    dispatcher.call_later(0.01, lambda: seen.append("cancelled")).cancel()
    assert dispatcher.run_until(lambda: len(seen) == 2, timeout=10)
    assert seen == ["first", "second"] and not errors


def test_dispatcher_runs_what_other_threads_post_on_its_own_thread() -> None:
    dispatcher, _ = _dispatcher()
    ran_on: list[threading.Thread] = []
    poster = threading.Thread(
        target=dispatcher.post, args=(lambda: ran_on.append(threading.current_thread()),)
    )
    poster.start()
    assert dispatcher.run_until(lambda: bool(ran_on), timeout=10)
    poster.join()
    assert ran_on == [threading.current_thread()]


def test_dispatcher_times_out_and_nests() -> None:
    dispatcher, _ = _dispatcher()
    assert dispatcher.run_until(lambda: False, timeout=0.05) is False
    inner: list[bool] = []
    # A handler that waits (as a reload waits for a spare) still sees later events.
    flag: list[int] = []
    dispatcher.post(lambda: inner.append(dispatcher.run_until(lambda: bool(flag), timeout=10)))
    dispatcher.post(lambda: flag.append(1))
    assert dispatcher.run_until(lambda: bool(inner), timeout=10)
    assert inner == [True]


def test_dispatcher_reports_a_failing_callback_and_goes_on() -> None:
    dispatcher, errors = _dispatcher()
    done: list[int] = []
    dispatcher.post(lambda: 1 / 0)
    dispatcher.post(lambda: done.append(1))
    assert dispatcher.run_until(lambda: bool(done), timeout=10)
    assert [type(e) for e in errors] == [ZeroDivisionError]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_signal_wakes_the_dispatcher() -> None:
    dispatcher, _ = _dispatcher()
    got: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda s, f: dispatcher.post(got.append, s))
    try:
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        # Blocks in the queue with no timer and no timeout: only the signal ends it.
        dispatcher.run_until(lambda: bool(got))
        timer.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert got == [signal.SIGUSR1]


def test_the_supervisor_imports_neither_asyncio_nor_the_http_layers() -> None:
    """It lives as long as the session: asyncio and ssl would double its memory."""
    code = (
        "import sys\n"
        "import asyncdev, asyncdev.__main__, asyncdev._api, asyncdev._reload.supervisor\n"
        "print(sorted({'asyncio', 'ssl', 'h11', 'uvloop', 'asyncdev._server.server'}"
        " & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
    )
    assert result.stdout.strip() == "[]", result.stderr
