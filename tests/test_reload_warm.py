"""Warm reloads with real processes and real edits: the waiting process runs the app's
start-up ahead, and is never used when it holds a file that changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reload_helpers import Supervised

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="reload needs POSIX")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


WAITING = "A server process is waiting"


class Reloads:
    """Follows the debug log: the waiting processes, and the path each reload took."""

    def __init__(self, server: Supervised) -> None:
        self.server = server
        self.reloads = 0

    def waiting(self) -> str:
        """Until a process waits for the next reload (one ready since the last reload
        began; earlier ones were used or replaced): how warm it is."""
        while True:
            events = [line for line in self.server.output.splitlines()
                      if WAITING in line or "Reload path: " in line]
            if events and WAITING in events[-1]:
                return events[-1].split("waiting, ", 1)[1]
            seen = sum(WAITING in line for line in events)
            self.server.wait_line(WAITING, count=seen + 1)

    def edit(self, path: Path, old: str, new: str, *, expect: bytes) -> str:
        """Edit ``path``, wait for ``expect`` to be served: the path the reload took."""
        edit(path, old, new)
        self.server.wait_body(expect)
        self.reloads += 1
        line = self.server.wait_line(r"Reload path: ", count=self.reloads)
        return line.split("Reload path: ", 1)[1]


APP = textwrap.dedent('''\
    import importlib

    import helper


    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        views = importlib.import_module("views")  # on first use, as URLconfs do
        body = f"{helper.GREETING}|{helper.DATA}|{views.PAGE}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
''')


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_an_edit_to_what_start_up_imported_is_always_served_new(
    tmp_path: Path, loop: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "helper.py").write_text(textwrap.dedent('''\
        import pathlib

        GREETING = "hello-1"
        DATA = pathlib.Path(__file__).with_name("data.txt").read_text().strip()
    '''))
    (tmp_path / "data.txt").write_text("data-1\n")
    (tmp_path / "views.py").write_text('PAGE = "page-1"\n')
    views, helper, data = tmp_path / "views.py", tmp_path / "helper.py", tmp_path / "data.txt"
    with Supervised.cli(tmp_path, "app:app", "--log-level", "debug", "--loop", loop,
                        "--reload-include", "*.txt") as server:
        server.wait_ready()
        assert server.get()[2] == b"hello-1|data-1|page-1"
        reloads = Reloads(server)
        for n in (2, 3):
            # views.py is imported on first use, after serving: the waiting process,
            # which imported helper.py (and read data.txt), takes over.
            assert reloads.waiting().startswith("warm"), server.output
            path = reloads.edit(views, f"page-{n - 1}", f"page-{n}",
                                expect=f"hello-{n - 1}|data-{n - 1}|page-{n}".encode())
            assert path.startswith("warm"), path
            # The waiting process imported helper.py: never used for an edit of it.
            assert reloads.waiting().startswith("warm"), server.output
            path = reloads.edit(helper, f"hello-{n - 1}", f"hello-{n}",
                                expect=f"hello-{n}|data-{n - 1}|page-{n}".encode())
            assert path.startswith("cold"), path
            # Nor for a watched data file it read at import.
            reloads.edit(views, f"page-{n}", f"page-{n}b",
                         expect=f"hello-{n}|data-{n - 1}|page-{n}b".encode())
            assert reloads.waiting().startswith("warm"), server.output
            path = reloads.edit(data, f"data-{n - 1}", f"data-{n}",
                                expect=f"hello-{n}|data-{n}|page-{n}b".encode())
            assert path.startswith("cold"), path
            edit(views, f"page-{n}b", f"page-{n - 1}")
            reloads.edit(views, f"page-{n - 1}", f"page-{n}",
                         expect=f"hello-{n}|data-{n}|page-{n}".encode())
        # The app's own module is never imported ahead: editing it takes the warm path.
        assert reloads.waiting().startswith("warm"), server.output
        (tmp_path / "app.py").write_text(APP.replace('f"{helper', 'b"app-2|" + f"{helper'))
        server.wait_body(b"app-2|hello-3|data-3|page-3")
        reloads.reloads += 1
        assert "warm" in server.wait_line(r"Reload path: ", count=reloads.reloads)
        # Each phase of a reload is in the debug log: detection, the path, the import
        # and start of the new process, its first response.
        for phase in (r"Change seen \d+ ms after the write", r"Reloaded in \d+ ms",
                      r"First response \d+ ms after the change was seen"):
            server.wait_line(phase, count=reloads.reloads)


pytest.importorskip("django")

SETTINGS_TAIL = '''
INSTALLED_APPS += ["polls"]
GREETING = "settings-1"
'''


def django_project(root: Path) -> None:
    # In a subprocess: Django's settings in this process belong to other tests.
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(root)],
                   check=True, timeout=60)
    polls = root / "polls"
    polls.mkdir()
    (polls / "__init__.py").write_text("")
    (polls / "models.py").write_text(textwrap.dedent('''\
        from django.db import models


        class Question(models.Model):
            LABEL = "model-1"
            text = models.CharField(max_length=200)
    '''))
    (polls / "admin.py").write_text(textwrap.dedent('''\
        from django.contrib import admin

        from .models import Question

        admin.site.register(Question)
    '''))
    (polls / "views.py").write_text(textwrap.dedent('''\
        from django.conf import settings
        from django.http import HttpResponse

        from .models import Question


        def index(request):
            return HttpResponse(f"view-1|{Question.LABEL}|{settings.GREETING}")
    '''))
    with (root / "mysite" / "settings.py").open("a") as handle:
        handle.write(SETTINGS_TAIL)
    (root / "mysite" / "urls.py").write_text(textwrap.dedent('''\
        from django.contrib import admin
        from django.urls import path

        from polls import views

        urlpatterns = [path("admin/", admin.site.urls), path("", views.index)]
    '''))


def test_django_views_reload_warm_models_and_settings_never(tmp_path: Path) -> None:
    django_project(tmp_path)
    views = tmp_path / "polls" / "views.py"
    settings = tmp_path / "mysite" / "settings.py"
    models = tmp_path / "polls" / "models.py"
    with Supervised.cli(tmp_path, "mysite.wsgi", "--log-level", "debug") as server:
        server.wait_ready()
        assert server.get()[2] == b"view-1|model-1|settings-1"
        reloads = Reloads(server)
        # The waiting process ran django.setup(): settings, app registry, models, admin.
        assert reloads.waiting().startswith("warm"), server.output
        path = reloads.edit(views, "view-1", "view-2", expect=b"view-2|model-1|settings-1")
        assert path.startswith("warm"), path
        # The settings, then a model: held by the warm process, so never served old.
        assert reloads.waiting().startswith("warm"), server.output
        path = reloads.edit(settings, "settings-1", "settings-2",
                            expect=b"view-2|model-1|settings-2")
        assert path.startswith("cold"), path
        reloads.edit(views, "view-2", "view-3", expect=b"view-3|model-1|settings-2")
        assert reloads.waiting().startswith("warm"), server.output
        path = reloads.edit(models, "model-1", "model-2", expect=b"view-3|model-2|settings-2")
        assert path.startswith("cold"), path
        # Views again: warm once a waiting process holds the new model.
        reloads.edit(views, "view-3", "view-4", expect=b"view-4|model-2|settings-2")
        assert reloads.waiting().startswith("warm"), server.output
        path = reloads.edit(views, "view-4", "view-5", expect=b"view-5|model-2|settings-2")
        assert path.startswith("warm"), path
        assert server.get("/admin/login/")[0] == 200
