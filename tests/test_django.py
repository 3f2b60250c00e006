"""Django, first-class: ``manage.py runserver`` on asyncdev, the asyncdev command on a
Django project, static files through the finders, system checks, templates in place.

Every test runs a real ``django-admin startproject`` project (with "asyncdev" first in
INSTALLED_APPS and a small app) in a subprocess, and talks to it over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from django_helpers import (
    ADMIN_PASSWORD,
    env,
    make_project,
    migrate,
    mo_file,
    use_channels,
    use_french,
)
from reload_helpers import Supervised

BROKEN_MODEL = '''\
from django.db import models


class Note(models.Model):
    owner = models.ForeignKey("Nope", on_delete=models.CASCADE)
'''
FIXED_MODEL = "from django.db import models  # noqa: F401\n"

LAUNCHERS = {
    "manage.py runserver": ["manage.py", "runserver", "0"],
    "asyncdev": ["-m", "asyncdev", "0"],
    "asyncdev --settings": ["-m", "asyncdev", "--settings", "mysite.settings", "0"],
    "asyncdev mysite.wsgi": ["-m", "asyncdev", "mysite.wsgi", "0"],
    "asyncdev mysite.asgi": ["-m", "asyncdev", "mysite.asgi", "0"],
}


@pytest.fixture(scope="session")
def fresh_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("django") / "fresh"
    make_project(project)
    return project


@pytest.fixture(scope="session")
def migrated_project(fresh_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("django") / "migrated"
    shutil.copytree(fresh_project, project)
    migrate(project)
    return project


def copy_of(template: Path, tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(template, project)
    return project


def start(project: Path, *args: str) -> Supervised:
    return Supervised([sys.executable, *args], project, env())


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def check_admin_and_static(client: httpx.Client) -> None:
    css = client.get("/static/admin/css/base.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "no-cache"
    assert b"--body-fg" in css.content or len(css.content) > 1000
    again = client.get("/static/admin/css/base.css",
                       headers={"If-Modified-Since": css.headers["last-modified"]})
    assert again.status_code == 304
    # An app's static/ folder and STATICFILES_DIRS, without collectstatic.
    assert client.get("/static/shop/site.css").text == "body { color: rebeccapurple; }\n"
    hello = client.get("/static/hello.txt")
    assert (hello.status_code, hello.headers["content-type"]) == (
        200, "text/plain; charset=utf-8")
    assert client.get("/static/admin/css/missing.css").status_code == 404
    assert client.get("/static/../manage.py").status_code == 404


def check_login_csrf_sessions_upload(client: httpx.Client) -> None:
    login = client.get("/admin/login/?next=/admin/")
    assert login.status_code == 200
    assert 'href="/static/admin/css/base.css"' in login.text
    # Without the token Django's CSRF protection refuses the form.
    assert client.post("/admin/login/", data={"username": "admin"}).status_code == 403
    answer = client.post("/admin/login/?next=/admin/", data={
        "csrfmiddlewaretoken": csrf_token(login.text), "username": "admin",
        "password": ADMIN_PASSWORD, "next": "/admin/",
    })
    assert answer.status_code == 302, answer.text[:2000]
    assert answer.headers["location"] == "/admin/"
    assert "sessionid" in client.cookies
    home = client.get("/admin/")
    assert home.status_code == 200 and "Site administration" in home.text
    upload = client.post(
        "/upload/", files={"file": ("notes.txt", b"hello upload " * 1000)},
        data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
    )
    assert upload.text == "13000 bytes, starts hello"


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_project_served_with_checks_static_admin_and_recovery(
    launcher: str, migrated_project: Path, tmp_path: Path
) -> None:
    project = copy_of(migrated_project, tmp_path)
    with start(project, *LAUNCHERS[launcher]) as server:
        port = server.wait_ready()
        banner = server.output
        assert "Performing system checks..." in banner
        assert "System check identified no issues (0 silenced)." in banner
        assert re.search(r"Django version \d+\.\d+.*, using settings 'mysite\.settings'", banner)
        assert "unapplied migration" not in banner
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            check_admin_and_static(client)
            check_login_csrf_sessions_upload(client)
            first = client.get("/page/").text
            assert "Version 1" in first
        # A template edit: the same process serves it on the next request (its loaders
        # reset), no reload.
        template = project / "shop" / "templates" / "shop" / "page.html"
        template.write_text("<p>Version 2 from {{ pid }}</p>\n")
        _, _, body = server.wait_body(b"Version 2", path="/page/")
        assert body.decode().split()[-1] == first.split()[-1]  # the pid: no new process
        assert server.count(r"Detected change") == 0

        # A model with a relation to a missing model: Django's check error, in the
        # terminal and on the page; the server keeps watching and recovers.
        (project / "shop" / "models.py").write_text(BROKEN_MODEL)
        status, _, body = server.wait_body(b"fields.E300", path="/page/")
        assert status == 500 and b"SystemCheckError" in body
        server.wait_line(r"fields\.E300")
        (project / "shop" / "models.py").write_text(FIXED_MODEL)
        server.wait_body(b"Version 2", path="/page/")
        assert server.count(r"^Performing system checks") >= 2
        assert server.stop() == 0


def test_runserver_import_error_after_a_reload_shows_error_page_and_recovers(
    migrated_project: Path, tmp_path: Path
) -> None:
    # Each server process runs ``manage.py runserver`` again: an exception in
    # django.setup() there must reach asyncdev's error page, not Django's fallback.
    project = copy_of(migrated_project, tmp_path)
    with start(project, "manage.py", "runserver", "0") as server:
        server.wait_ready()
        models = project / "shop" / "models.py"
        models.write_text("raise RuntimeError('models exploded')\n")
        status, _, _ = server.wait_body(b"models exploded", path="/page/")
        assert status == 500
        models.write_text(FIXED_MODEL)
        server.wait_body(b"Version 1", path="/page/")
        assert server.count(r"Starting development server") == 1
        assert server.stop() == 0


def test_runserver_warns_of_unapplied_migrations(fresh_project: Path, tmp_path: Path) -> None:
    project = copy_of(fresh_project, tmp_path)
    with start(project, "manage.py", "runserver", "0", "--noreload") as server:
        server.wait_ready()
        assert re.search(r"You have \d+ unapplied migration\(s\)\. Your project may not work "
                         r"properly until you apply the migrations for app\(s\): admin, auth",
                         server.output)
        assert "Run 'python manage.py migrate' to apply them." in server.output
        assert server.stop() == 0


def test_runserver_static_switches(fresh_project: Path, tmp_path: Path) -> None:
    project = copy_of(fresh_project, tmp_path)
    css = "/static/admin/css/base.css"
    with start(project, "manage.py", "runserver", "0", "--noreload", "--nostatic") as server:
        server.wait_ready()
        assert server.get(css)[0] == 404
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace("DEBUG = True", "DEBUG = False")
                        .replace("ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = ["127.0.0.1"]'))
    with start(project, "manage.py", "runserver", "0", "--noreload", "--skip-checks") as server:
        server.wait_ready()
        assert server.get(css)[0] == 404  # as runserver: no static files without DEBUG
        assert "Performing system checks" not in server.output
    with start(project, "manage.py", "runserver", "0", "--noreload", "--insecure") as server:
        server.wait_ready()
        status, head, _ = server.get(css)
        assert (status, head["content-type"]) == (200, "text/css; charset=utf-8")


def test_django_allowed_hosts_pass_the_host_check(fresh_project: Path, tmp_path: Path) -> None:
    project = copy_of(fresh_project, tmp_path)
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace(
        "ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = ["shop.test", "localhost"]'))
    with start(project, "manage.py", "runserver", "0", "--noreload") as server:
        server.wait_ready()
        assert server.get("/page/", headers={"Host": "shop.test"})[0] == 200
        assert server.get("/page/", headers={"Host": "evil.example"})[0] == 400


def test_runserver_keeps_django_addrport_errors(fresh_project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "runserver", "not a port"], cwd=fresh_project,
        env=env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert '"not a port" is not a valid port number or address:port pair.' in result.stderr


def test_channels_websocket_through_runserver(fresh_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("channels")
    import websockets

    project = copy_of(fresh_project, tmp_path)
    use_channels(project)
    with start(project, "manage.py", "runserver", "0") as server:
        port = server.wait_ready()
        assert "mysite.asgi:application (ASGI 3)" in server.output

        async def talk() -> str:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo/") as ws:
                await ws.send("hello")
                return str(await asyncio.wait_for(ws.recv(), 20))

        assert asyncio.run(talk()) == "echo: hello"
        assert "Version 1" in server.get("/page/")[2].decode()
        assert server.stop() == 0


TEMPLATE_SERVER = '''\
import asyncio, json, sys

from asyncdev.testing import serving


async def main():
    async with serving(None, django_settings="mysite.settings", django_checks=False) as s:
        watched = [[directory, list(patterns)] for directory, patterns in s.server.watch_requests()]
        print(json.dumps({"url": s.url, "watched": watched}), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            s.server.files_changed([line.strip()])
            print("changed", flush=True)


asyncio.run(main())
'''


def test_template_change_is_served_by_the_same_process(
    fresh_project: Path, tmp_path: Path
) -> None:
    project = copy_of(fresh_project, tmp_path)
    (project / "template_server.py").write_text(TEMPLATE_SERVER)
    template = project / "shop" / "templates" / "shop" / "page.html"
    proc = subprocess.Popen(
        [sys.executable, "template_server.py"], cwd=project, env=env(),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        info = json.loads(proc.stdout.readline())
        assert [str(template.parent.parent), ["*"]] in info["watched"]
        with httpx.Client(base_url=info["url"], timeout=20) as client:
            first = client.get("/page/").text
            assert "Version 1" in first
            template.write_text("<p>Version 2 from {{ pid }}</p>\n")
            # Django caches compiled templates even with DEBUG on: still the old one.
            assert "Version 1" in client.get("/page/").text
            proc.stdin.write(f"{template}\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "changed"
            second = client.get("/page/").text
            assert "Version 2" in second
            assert first.split("from ")[1] == second.split("from ")[1]  # the same process
    finally:
        proc.kill()
        proc.wait(10)


def test_translation_change_is_served_by_the_same_process(
    fresh_project: Path, tmp_path: Path
) -> None:
    project = copy_of(fresh_project, tmp_path)
    catalog = use_french(project, "Bonjour")
    (project / "template_server.py").write_text(TEMPLATE_SERVER)
    proc = subprocess.Popen(
        [sys.executable, "template_server.py"], cwd=project, env=env(),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        info = json.loads(proc.stdout.readline())
        assert [str(project / "locale"), ["*.mo"]] in info["watched"]
        with httpx.Client(base_url=info["url"], timeout=20) as client:
            assert client.get("/hello/").text == "Bonjour"
            catalog.write_bytes(mo_file({"Hello": "Salut"}))
            assert client.get("/hello/").text == "Bonjour"  # catalogs are cached
            proc.stdin.write(f"{catalog}\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "changed"
            assert client.get("/hello/").text == "Salut"
    finally:
        proc.kill()
        proc.wait(10)


def test_asyncdev_manage_py_says_what_to_type(fresh_project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asyncdev", "manage.py"], cwd=fresh_project, env=env(),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "run asyncdev with no APP in the directory holding manage.py" in result.stderr


def test_sigterm_ends_runserver_with_exit_code_0(migrated_project: Path,
                                                  tmp_path: Path) -> None:
    # SIGTERM (as from a process manager) also ends runserver cleanly.
    project = copy_of(migrated_project, tmp_path)
    with start(project, "manage.py", "runserver", "0") as server:
        server.wait_ready()
        server.signal_group(signal.SIGTERM)
        assert server.proc.wait(20) == 0


def test_failing_check_names_no_compiled_frame_as_the_users(
    fresh_project: Path, tmp_path: Path
) -> None:
    # A check failure has no frame of the project's: the page must not send the user to
    # fix uvloop's loop.pyx, through which the start-up ran.
    project = copy_of(fresh_project, tmp_path)
    (project / "shop" / "models.py").write_text(BROKEN_MODEL)
    with start(project, "manage.py", "runserver", "0", "--loop", "uvloop") as server:
        server.wait_ready()
        status, _, body = server.get("/page/")
        assert status == 500 and b"fields.E300" in body
        assert b"Fix uvloop" not in body and b".pyx" not in body.split(b"\n\n")[0]
