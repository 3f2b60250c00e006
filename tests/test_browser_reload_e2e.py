"""Browser reload in a real headless Chromium: what a user sees in open tabs.

One Chromium for the module. The plain ASGI and the Django tests run the real CLI
(reload on, browser reload on by default) and edit real files; the Starlette and Flask
tests serve in this process (``asyncdev.testing.serving``) and call
``Server.files_changed`` as the reload child does when the supervisor reports a
stylesheet or an asset. Needs the Debian package ``chromium``; skipped without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys

import httpx
import pytest

from asyncdev.testing import serving
from cdp_helpers import DEADLINE, Browser, Lines, chromium_process, stop, wait_all

pytestmark = pytest.mark.browser

TABS = 20
HEADING = "(document.getElementById('v') || {}).textContent || null"
CONNECTED = "!!(window.__asyncdevReload && window.__asyncdevReload.id)"
OVERLAY = "(document.getElementById('__asyncdev_overlay') || {}).textContent || null"

APP = """\
VERSION = "VERSION_HERE"
PAGE = '''<!doctype html><html><head><title>t</title></head><body>
<h1 id="v">%s</h1><form method="post" action="/submit"><input name="x" value="1"></form>
<div style="height: 5000px">tall</div></body></html>'''


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    status, content_type = 200, b"text/html; charset=utf-8"
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
        print("POST seen", flush=True)
        body = PAGE % ("posted " + VERSION)
    elif scope["path"] == "/fail" and VERSION != "version three":
        status, content_type, body = 500, b"text/plain; charset=utf-8", "Internal Server Error"
    else:
        body = PAGE % VERSION
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": body.encode()})
"""


@contextlib.contextmanager
def cli_server(directory, target):
    """``asyncdev TARGET`` run from ``directory`` as a user runs it (reload on): its URL
    and its log, printed when the test fails."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    server = subprocess.Popen([sys.executable, "-m", "asyncdev", target, "0"], cwd=directory,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = Lines(server.stdout)
    try:
        yield log.wait_for(r"(http://127\.0\.0\.1:\d+)/").group(1), log
    except BaseException:
        print("\n".join(log.lines))  # the server's log, shown with the failure
        raise
    finally:
        stop(server)


@pytest.fixture(scope="module")
def devtools(tmp_path_factory):
    with chromium_process(tmp_path_factory.mktemp("profile")) as url:
        yield url


async def state_of(url):
    async with httpx.AsyncClient() as client:
        return (await client.get(url + "/__asyncdev__/state")).json()


async def wait_logged(caplog, text):
    """Wait for a record of the server served in this process that contains ``text``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not any(text in message for message in caplog.messages):
        if loop.time() > deadline:
            raise AssertionError(f"no log record with {text!r}: {caplog.messages}")
        await asyncio.sleep(0.1)  # polling a condition, bounded by the deadline


# --- the real CLI, a real file edited ----------------------------------------------------


async def test_tabs_follow_edits_safely_and_a_broken_save_shows_an_overlay(devtools, tmp_path):
    app_file = tmp_path / "app.py"
    app_file.write_text(APP.replace("VERSION_HERE", "version one"))
    with cli_server(tmp_path, "app:app") as (url, log):
        log.wait_for(r"^Browser reload is on")  # on by default, said in the banner
        async with Browser.connect(devtools) as browser:
            tabs = [await browser.open(url + "/") for _ in range(TABS)]
            await wait_all(tabs, HEADING, "version one")
            await wait_all(tabs, CONNECTED)
            assert (await state_of(url))["pages"] == 1  # one connection for 20 tabs

            posted, scrolled, other = tabs[0], tabs[1], tabs[2]
            await posted.eval("document.forms[0].submit()")
            await posted.wait_for(HEADING, "posted version one")
            await posted.wait_for(CONNECTED)
            await scrolled.eval("window.scrollTo(0, 1234)")
            await scrolled.wait_for("window.scrollY", 1234)
            failed = await browser.open(url + "/fail")  # the app's own plain-text 500
            await failed.wait_for(CONNECTED)
            assert await failed.eval("document.body.innerText") == "Internal Server Error"
            await other.eval("console.error('page says', '<hi>\\n')")
            log.wait_for(r"Browser console\.error: page says <hi>\\n \(")
            await other.eval("setTimeout(function () { throw new Error('thrown') })")
            log.wait_for(r"Browser uncaught: Uncaught Error: thrown \(")

            app_file.write_text(APP.replace("VERSION_HERE", "version two"))
            await wait_all(tabs[1:], HEADING, "version two")
            await scrolled.wait_for("window.scrollY", 1234)
            # The POST page stays, offers a GET, and the form is not sent again.
            await posted.wait_for("!!document.getElementById('__asyncdev_notice')")
            assert await posted.eval(HEADING) == "posted version one"
            assert log.count("POST seen") == 1

            await other.eval("window.marker = 7")
            app_file.write_text("def broken(:\n")
            await other.wait_for(f"({OVERLAY} || '').includes('SyntaxError')")
            assert "app.py:1" in await other.eval(OVERLAY)
            assert await other.eval("[window.marker, " + HEADING + "]") == [7, "version two"]

            app_file.write_text(APP.replace("VERSION_HERE", "version three"))
            await other.wait_for(HEADING, "version three")  # no action from here
            assert await other.eval(OVERLAY) is None
            await failed.wait_for(HEADING, "version three")
            assert log.count("POST seen") == 1


# --- stylesheets, fragments, CSP, compression: an ASGI app served in this process ---------


def starlette_app(static_dir):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    padding = "<!--" + "x" * 1000 + "-->"  # over GZipMiddleware's minimum size

    async def home(request):
        return HTMLResponse(
            "<!doctype html><html><head><link rel=stylesheet href=/static/site.css>"
            "<style>@import url(/static/imported.css);</style></head><body>"
            f"<h1 id=v>home</h1><p id=p>text</p><input id=i>{padding}</body></html>")

    async def csp(request):
        return HTMLResponse(
            "<!doctype html><html><body><h1 id=v>csp</h1></body></html>",
            headers={"content-security-policy":
                     "default-src 'none'; script-src 'nonce-abc123'; connect-src 'self'"})

    async def fragment(request):
        return HTMLResponse("<li>one</li><li>two</li>")

    async def api(request):
        {}["missing"]  # the line the overlay shows

    return Starlette(routes=[Route("/", home), Route("/csp", csp), Route("/fragment", fragment),
                             Route("/api", api)],
                     middleware=[Middleware(GZipMiddleware, minimum_size=500)])


async def test_stylesheets_swap_in_place_and_fragments_stay_the_apps(devtools, tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    static = tmp_path / "static"
    static.mkdir()
    (static / "site.css").write_text("h1 { color: rgb(0, 0, 255) }")
    (static / "imported.css").write_text("p { color: rgb(0, 128, 0) }")
    async with serving(starlette_app(static), browser_reload=True,
                       static=[f"/static={static}"]) as server, \
            Browser.connect(devtools) as browser:
        page = await browser.open(server.url + "/")
        await page.wait_for(CONNECTED)  # the script got in, through GZipMiddleware
        async with httpx.AsyncClient() as client:
            answer = await client.get(server.url + "/", headers={"accept-encoding": "gzip"})
            assert answer.headers["content-encoding"] == "gzip"
        await page.eval("window.marker = 42; document.getElementById('i').value = 'typed';"
                        "window.scrollTo(0, 10)")
        color = "getComputedStyle(document.getElementById('%s')).color"

        (static / "site.css").write_text("h1 { color: rgb(255, 0, 0) }")
        server.server.files_changed([str(static / "site.css")])
        await page.wait_for(color % "v", "rgb(255, 0, 0)")
        (static / "imported.css").write_text("p { color: rgb(128, 0, 128) }")
        server.server.files_changed([str(static / "imported.css")])
        await page.wait_for(color % "p", "rgb(128, 0, 128)")
        assert await page.eval("[window.marker, document.getElementById('i').value]") == [
            42, "typed"]

        fragment = await page.eval(
            "fetch('/fragment', {headers: {'HX-Request': 'true'}}).then(r => r.text())")
        assert fragment == "<li>one</li><li>two</li>"

        assert await page.eval("fetch('/api').then(r => r.status)") == 500
        await page.wait_for(f"({OVERLAY} || '').includes('KeyError')")
        assert "{}[\"missing\"]  # the line the overlay shows" in await page.eval(OVERLAY)
        assert await page.eval("window.marker") == 42

        # A strict policy with a nonce: the script runs (with the nonce) and connects.
        strict = await browser.open(server.url + "/csp")
        await strict.wait_for(CONNECTED)
        await strict.eval("window.marker = 1")
        server.server.files_changed([str(static / "logo.png")])  # an asset: pages refresh
        await strict.wait_for("window.marker === undefined && " + CONNECTED)
        await page.wait_for("window.marker === undefined && " + CONNECTED)


# --- a Flask page ----------------------------------------------------------------------------


def flask_app(static_dir):
    from flask import Flask

    app = Flask("flaskpage", static_folder=str(static_dir))

    posts = []

    @app.get("/")
    def home():
        return ("<!doctype html><html><head><link rel=stylesheet href=/static/site.css></head>"
                "<body><h1 id=v>flask</h1><form method=post action=/save>"
                "<input name=q value=1></form></body></html>")

    @app.post("/save")
    def save():
        posts.append(1)
        return f"<!doctype html><html><body><h1 id=v>saved {len(posts)}</h1></body></html>"

    app.config["POSTS"] = posts

    @app.get("/part")
    def part():
        return "<tr><td>row</td></tr>"

    @app.get("/api")
    def api():
        raise RuntimeError("flask handler failed")

    return app


async def test_flask_tabs_share_one_connection_and_refresh(devtools, tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    static = tmp_path / "static"
    static.mkdir()
    (static / "site.css").write_text("h1 { color: rgb(0, 0, 255) }")
    app = flask_app(static)
    async with serving(app, browser_reload=True) as server, \
            Browser.connect(devtools) as browser:
        tabs = [await browser.open(server.url + "/") for _ in range(TABS)]
        await wait_all(tabs, HEADING, "flask")
        await wait_all(tabs, CONNECTED)
        assert (await state_of(server.url))["pages"] == 1
        # A page rendered from a POST: a refresh must not post the form again.
        posted, tabs = tabs[-1], tabs[:-1]
        await posted.eval("document.forms[0].submit()")
        await posted.wait_for(HEADING, "saved 1")
        await posted.wait_for(CONNECTED)
        await asyncio.gather(*(tab.eval("window.marker = 1") for tab in tabs))
        server.server.files_changed([str(tmp_path / "logo.svg")])
        await wait_all(tabs, "window.marker === undefined && " + CONNECTED)
        await posted.wait_for("!!document.getElementById('__asyncdev_notice')")
        assert app.config["POSTS"] == [1]
        page = tabs[0]
        part = await page.eval("fetch('/part', {headers: {'HX-Request': 'true'}})"
                               ".then(r => r.text())")
        assert part == "<tr><td>row</td></tr>"

        # Flask's own static view serves the sheet; it is matched by its file name.
        color = "getComputedStyle(document.getElementById('v')).color"
        await page.wait_for(color, "rgb(0, 0, 255)")
        await page.eval("window.marker = 3")
        (static / "site.css").write_text("h1 { color: rgb(255, 0, 0) }")
        server.server.files_changed([str(static / "site.css")])
        await page.wait_for(color, "rgb(255, 0, 0)")
        assert await page.eval("window.marker") == 3

        await page.eval("console.error('flask page says', 'hi')")
        await wait_logged(caplog, "Browser console.error: flask page says hi (")

        assert await page.eval("fetch('/api').then(r => r.status)") == 500
        await page.wait_for(f"({OVERLAY} || '').includes('GET /api answered 500')")
        assert await page.eval("window.marker") == 3


FLASK_FILE = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def home():
    return "<!doctype html><html><body><h1 id=v>VERSION_HERE</h1></body></html>"
"""


async def test_a_flask_page_survives_a_broken_save(devtools, tmp_path):
    # Through the CLI, with real edits: the overlay over the last good page, gone on the fix.
    app_file = tmp_path / "app.py"
    app_file.write_text(FLASK_FILE.replace("VERSION_HERE", "flask one"))
    with cli_server(tmp_path, "app:app") as (url, log):
        async with Browser.connect(devtools) as browser:
            page = await browser.open(url + "/")
            await page.wait_for(HEADING, "flask one")
            await page.wait_for(CONNECTED)
            await page.eval("window.marker = 9")
            app_file.write_text("from flask import Flask\n\ndef broken(:\n")
            await page.wait_for(f"({OVERLAY} || '').includes('SyntaxError')")
            assert "app.py:3" in await page.eval(OVERLAY)
            assert await page.eval("[window.marker, " + HEADING + "]") == [9, "flask one"]
            app_file.write_text(FLASK_FILE.replace("VERSION_HERE", "flask two"))
            await page.wait_for(HEADING, "flask two")  # no action from here
            assert await page.eval(OVERLAY) is None


# --- a Django project, through the CLI --------------------------------------------------------

DJANGO_FILES = {
    "mysite/__init__.py": "",
    "mysite/settings.py": """\
SECRET_KEY = "test-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {}
USE_TZ = True
""",
    "mysite/wsgi.py": """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
""",
    "mysite/urls.py": """\
from django.urls import path

from . import views

urlpatterns = [path("", views.page), path("rows", views.rows), path("save", views.save),
               path("static/site.css", views.css)]
""",
    "mysite/views.py": """\
from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

TEXT = "VERSION_HERE"
PAGE = ('<!doctype html><html><head><link rel="stylesheet" href="/static/site.css"></head>'
        '<body><h1 id="v">%s</h1>'
        '<form method="post" action="/save"><input name="x"></form></body></html>')


def page(request):
    return HttpResponse(PAGE % TEXT)


def rows(request):
    return HttpResponse("<tr><td>django row</td></tr>")


@csrf_exempt
def save(request):
    print("POST seen", flush=True)
    return HttpResponse(PAGE % ("saved " + TEXT))


def css(request):
    sheet = Path(__file__).with_name("site.css").read_text()
    return HttpResponse(sheet, content_type="text/css")
""",
    "mysite/site.css": "h1 { color: rgb(0, 0, 255) }",
}


async def test_django_pages_follow_edits_and_a_broken_save(devtools, tmp_path):
    for name, text in DJANGO_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text.replace("VERSION_HERE", "django one"))
    views = tmp_path / "mysite" / "views.py"
    with cli_server(tmp_path, "mysite.wsgi:application") as (url, log):
        async with Browser.connect(devtools) as browser:
            tabs = [await browser.open(url + "/") for _ in range(TABS)]
            await wait_all(tabs, HEADING, "django one")
            await wait_all(tabs, CONNECTED)
            assert (await state_of(url))["pages"] == 1  # one connection for 20 tabs
            posted = tabs[0]
            await posted.eval("document.forms[0].submit()")
            await posted.wait_for(HEADING, "saved django one")
            await posted.wait_for(CONNECTED)
            part = await tabs[1].eval("fetch('/rows', {headers: {'HX-Request': 'true'}})"
                                      ".then(r => r.text())")
            assert part == "<tr><td>django row</td></tr>"
            views.write_text(DJANGO_FILES["mysite/views.py"].replace("VERSION_HERE",
                                                                     "django two"))
            await wait_all(tabs[1:], HEADING, "django two")
            await posted.wait_for("!!document.getElementById('__asyncdev_notice')")
            assert log.count("POST seen") == 1

            # A stylesheet edit is swapped in: the page (and its marker) stays.
            page = tabs[1]
            color = "getComputedStyle(document.getElementById('v')).color"
            await page.wait_for(CONNECTED)
            await page.wait_for(color, "rgb(0, 0, 255)")  # the sheet loads after the text
            await page.eval("window.marker = 5")
            (tmp_path / "mysite" / "site.css").write_text("h1 { color: rgb(255, 0, 0) }")
            await page.wait_for(color, "rgb(255, 0, 0)")
            assert await page.eval("window.marker") == 5

            await page.eval("console.error('django page says', 'hi')")
            log.wait_for(r"Browser console\.error: django page says hi \(")

            # A broken save: the overlay over the last good page, then the fix shows.
            views.write_text("def broken(:\n")
            await page.wait_for(f"({OVERLAY} || '').includes('SyntaxError')")
            assert "views.py:1" in await page.eval(OVERLAY)
            assert await page.eval("[window.marker, " + HEADING + "]") == [5, "django two"]
            views.write_text(DJANGO_FILES["mysite/views.py"].replace("VERSION_HERE",
                                                                     "django three"))
            await page.wait_for(HEADING, "django three")  # no action from here
            assert await page.eval(OVERLAY) is None
            assert log.count("POST seen") == 1
