"""The error page and the terminal for failures met through the real CLI: a syntax
error in the app module (the reload child's start-up page) and one in a module that
Django imports at request time through its URLconf."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from errorpage_helpers import check_forms, source_line
from reload_helpers import Supervised, write_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="reload needs POSIX")

BROKEN_MAIN = "".join(f"# line {n}\n" for n in range(1, 39)) + textwrap.dedent('''\
    async def app(scope, receive, send):
        def handler(request)
            return None
''')


def test_syntax_error_in_the_app_module_heads_the_startup_page(tmp_path: Path) -> None:
    main = tmp_path / "main.py"
    write_app(main, "good")
    with Supervised.cli(tmp_path, "main:app") as server:
        server.wait_ready()
        main.write_text(BROKEN_MAIN)
        server.wait_body(b"SyntaxError")
        number, line = source_line("def handler", main)
        assert number == 40
        heading = "SyntaxError: expected ':' (main.py, line 40)"
        page, text, data = check_forms(
            lambda accept: server.get(headers={"Accept": accept}), line=line, heading=heading
        )
        # Which file to fix, before anything else; the caret under the missing colon.
        assert "Fix main.py, line 40, then save: the server reloads by itself." in page
        assert '<span class="caret">' in page
        assert text.splitlines()[1:4] == [
            f'  File "{main}", line 40', "    def handler(request)",
            "                        ^",  # after the ")", where Python puts it
        ]
        assert data["location"] == {"file": str(main), "line": 40, "column": 25,
                                    "end_column": 26, "source": line}
        assert "AppImportError" not in page and "AppImportError" not in text
        # The terminal: once, the user's line with its caret, no importer frames.
        server.wait_line(r"could not start")
        assert server.count(r"could not start") == 1
        assert server.count(r"Traceback \(most recent call last\)") == 1
        output = server.output
        assert f"> File \"{main}\", line 40\n    def handler(request)\n" in output
        assert "_importer.py" not in output and "asyncdev._" not in output


SETTINGS = '''\
SECRET_KEY = "test-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.messages", "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
STATIC_URL = "static/"
USE_TZ = True
'''
URLS = '''\
from django.urls import path

from . import views

urlpatterns = [path("", views.index)]
'''
VIEWS = '''\
from django.http import HttpResponse

def index(request)
    return HttpResponse("hello")
'''
WSGI = '''\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
'''


def test_syntax_error_in_a_module_django_imports_at_request_time(tmp_path: Path) -> None:
    pytest.importorskip("django")
    site = tmp_path / "mysite"
    site.mkdir()
    for name, text in (("__init__.py", ""), ("settings.py", SETTINGS), ("urls.py", URLS),
                       ("views.py", VIEWS), ("wsgi.py", WSGI)):
        (site / name).write_text(text)
    views = site / "views.py"
    number, line = source_line("def index", views)
    # Django's system checks would import the URLconf at start (as runserver's do) and
    # show the error as the start-up failure: skipped, the import happens per request.
    with Supervised.cli(tmp_path, "mysite.wsgi", "--skip-checks") as server:
        server.wait_ready()
        heading = f"SyntaxError: expected ':' (views.py, line {number})"
        page, text, data = check_forms(
            lambda accept: server.get(headers={"Accept": accept}), line=line, heading=heading
        )
        # Django imports the URLconf again in each middleware's error handling: the
        # same SyntaxError, chained once per layer, is one exception on the page.
        assert "During handling" not in text and "During handling" not in page
        assert "more times while it was being handled" in page
        (failure,) = data["chain"]
        assert failure["repeats"] >= 2
        assert failure["syntax"]["file"] == str(views)
        # The terminal: one traceback for three failed requests, the repeats counted.
        server.wait_line(r"the same failure as above, 3 times now")
        assert server.count(r"Traceback \(most recent call last\)") == 1
        assert server.count(r"the same failure as above") == 2
        assert server.count(r"^SyntaxError: expected ':'") == 1
        assert f"> File \"{views}\", line {number}\n    def index(request)\n" in server.output
