"""Finding the app without APP: the search order read from sources (unit), and bare
``asyncdev`` serving real FastAPI, Flask, factory and pinned projects (processes)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from asyncdev._cli import CLIError, build
from asyncdev._discovery import Discovery, discover, django_settings_of, scan_source
from reload_helpers import Supervised


def write(root: Path, relative: str, source: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


# --- the search, read from sources --------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("app = object()\n", ("app", False)),
        ("from .factory import application\n", ("application", False)),
        ("api: object = make()\n", ("api", False)),
        ("from fastapi import FastAPI\nserver = FastAPI()\n", ("server", False)),
        ("import flask\nweb = flask.Flask(__name__)\n", ("web", False)),
        ("import flask\na = flask.Flask('a')\nb = flask.Flask('b')\n", None),
        ("def create_app():\n    pass\n", ("create_app", True)),
        ("def make_app(config=None):\n    pass\n", ("make_app", True)),
        ("def helper():\n    pass\nvalue = 3\n", None),
        ("async def app(scope, receive, send):\n    pass\n", ("app", False)),
        ("app = (\n", ("app", False)),  # does not parse: the import will say why
    ],
)
def test_scan_source(tmp_path, source, expected):
    assert scan_source(str(write(tmp_path, "main.py", source))) == expected


def test_search_order(tmp_path):
    assert not discover(str(tmp_path), {}).found
    write(tmp_path, "wsgi.py", "application = object()\n")
    assert discover(str(tmp_path), {}).app == "wsgi:application"
    write(tmp_path, "app.py", "def create_app():\n    pass\n")
    found = discover(str(tmp_path), {})
    assert (found.app, found.factory, found.how) == ("app:create_app", True, "app.py")
    write(tmp_path, "main.py", "print('no app here')\n")  # skipped: holds no app
    assert discover(str(tmp_path), {}).app == "app:create_app"
    write(tmp_path, ".flaskenv", "FLASK_APP=hello:web\n")
    found = discover(str(tmp_path), {})
    assert (found.app, found.how) == ("hello:web", "FLASK_APP in .flaskenv")
    write(tmp_path, "other.py", "from flask import Flask\nsite = Flask(__name__)\n")
    assert discover(str(tmp_path), {"FLASK_APP": "other.py"}).app == "other:site"
    write(tmp_path, "manage.py", """
        import os
        def main():
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    """)
    found = discover(str(tmp_path), {})
    assert (found.app, found.django_settings, found.how) == (None, "mysite.settings",
                                                              "manage.py")
    write(tmp_path, "pyproject.toml", '[tool.asyncdev]\napp = "pinned:app"\n')
    found = discover(str(tmp_path), {})
    assert (found.app, found.how) == ("pinned:app", "[tool.asyncdev] in pyproject.toml")
    assert discover(str(tmp_path), {"ASYNCDEV_APP": "env:app"}).app == "env:app"


def test_subdirectories_and_flask_app_forms(tmp_path):
    write(tmp_path, "src/shop/__init__.py", "")
    write(tmp_path, "src/shop/main.py", "app = object()\n")
    assert discover(str(tmp_path), {}).app == "src/shop/main.py:app"
    write(tmp_path, "app/api.py", "api = object()\n")
    assert discover(str(tmp_path), {}).app == "app/api.py:api"
    write(tmp_path, "hello.py", "def create_app():\n    pass\n")
    found = discover(str(tmp_path), {"FLASK_APP": "hello"})
    assert (found.app, found.factory) == ("hello:create_app", True)
    found = discover(str(tmp_path), {"FLASK_APP": "hello:create_app()"})
    assert (found.app, found.factory) == ("hello:create_app", True)


def test_django_settings_from_manage_py(tmp_path):
    manage = write(tmp_path, "manage.py", """
        import os, sys
        if __name__ == "__main__":
            os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings.dev')
    """)
    assert django_settings_of(str(manage)) == "proj.settings.dev"
    config, found = build([], {}, cwd=str(tmp_path))
    assert config.app is None and config.django_settings == "proj.settings.dev"
    assert found is not None and "--settings proj.settings.dev" in found.pin_hint()


def test_pin_hint():
    assert Discovery(app="main:app", how="main.py").pin_hint() == (
        'pin it with: asyncdev main:app, or app = "main:app" under [tool.asyncdev] '
        "in pyproject.toml"
    )
    assert "--factory" in Discovery(app="m:create_app", factory=True).pin_hint()


def test_every_option_may_come_from_pyproject(tmp_path):
    write(tmp_path, "pyproject.toml", """
        [project]
        name = "x"

        [tool.asyncdev]
        app = "pinned:make"
        factory = true
        port = 9100
        reload-dir = ["src"]
        reload_delay = 0.3
        no-access-log = true
        log-level = "debug"
    """)
    (tmp_path / "sub").mkdir()
    config, found = build([], {}, cwd=str(tmp_path / "sub"))  # the nearest pyproject.toml
    assert (config.app, config.factory, config.port, config.reload_dirs) == (
        "pinned:make", True, 9100, ("src",))
    assert config.app_dir == str(tmp_path)  # imported from the project's directory
    assert (config.reload_delay, config.access_log, config.log_level) == (0.3, False, "debug")
    assert config.port_fallback is False
    # The command line, then the environment, win over the file.
    config, found = build(["other:app", "--log-level", "info"], {"ASYNCDEV_PORT": "9200"},
                          cwd=str(tmp_path))
    assert (config.app, config.log_level, config.port, found) == ("other:app", "info", 9200,
                                                                   None)
    assert config.factory is False and config.app_dir is None  # they went with app
    write(tmp_path, "pyproject.toml", "[tool.asyncdev]\nno-such-option = 1\n")
    with pytest.raises(CLIError, match=r"\[tool.asyncdev\] no-such-option: unknown option"):
        build([], {}, cwd=str(tmp_path))


def test_port_sources(tmp_path):
    assert build([], {}, cwd=str(tmp_path))[0].port_fallback is True
    config = build([], {"PORT": "9300"}, cwd=str(tmp_path))[0]
    assert (config.port, config.port_fallback) == (9300, False)
    assert build([], {"PORT": "9300", "ASYNCDEV_PORT": "9400"}, cwd=str(tmp_path))[0].port == 9400
    assert build(["--port", "9500"], {"PORT": "9300"}, cwd=str(tmp_path))[0].port == 9500
    with pytest.raises(CLIError, match="PORT: 'http' is not a port number"):
        build([], {"PORT": "http"}, cwd=str(tmp_path))


# --- bare asyncdev, for real ----------------------------------------------------------------

FASTAPI_MAIN = """
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    def root():
        return {"hello": "fastapi"}
"""

FLASK_APP = """
    from flask import Flask, render_template

    app = Flask(__name__)

    @app.get("/")
    def index():
        return render_template("index.html")

    @app.get("/boom")
    def boom():
        raise ValueError("boom from the view")
"""


def test_bare_asyncdev_serves_a_fastapi_main_py(tmp_path):
    pytest.importorskip("fastapi")
    write(tmp_path, "main.py", FASTAPI_MAIN)
    with Supervised.cli(tmp_path) as server:
        server.wait_ready()
        assert server.get("/")[2] == b'{"hello":"fastapi"}'
        server.wait_line(r"Found main:app in main\.py; pin it with: asyncdev main:app")
        server.wait_line(r"^Using FastAPI \d")
        server.wait_line(rf"^API docs at http://127\.0\.0\.1:{server.port}/docs$")
        server.wait_line(r"run uvicorn main:app\.")


def test_bare_asyncdev_serves_flask_in_debug_mode(tmp_path):
    write(tmp_path, "app.py", FLASK_APP)
    template = write(tmp_path, "templates/index.html", "first version")
    with Supervised.cli(tmp_path) as server:
        server.wait_ready()
        server.wait_line(r"Found app:app in app\.py")
        server.wait_line(r"^Using Flask \d")
        server.wait_line(r"^debug on \(turn it off with FLASK_DEBUG=0 or --no-dev-mode\)")
        assert server.get("/")[2] == b"first version"
        # Jinja's auto-reload: served at once, no .py changed, no reload.
        template.write_text("second version")
        server.wait_body(b"second version")
        assert server.count("reloading") == 0
        # The view's exception reaches asyncdev's error page (not Flask's bare 500).
        status, headers, body = server.get("/boom", headers={"accept": "text/html"})
        assert status == 500 and headers["content-type"].startswith("text/html")
        assert b"boom from the view" in body and b"ValueError" in body


def test_flask_debug_stays_as_the_user_set_it(tmp_path):
    write(tmp_path, "app.py", FLASK_APP)
    write(tmp_path, "templates/index.html", "page")
    write(tmp_path, ".flaskenv", "FLASK_DEBUG=0\n")
    with Supervised.cli(tmp_path) as server:
        server.wait_ready()
        server.wait_line(r"^debug off \(FLASK_DEBUG is set\)")
        status, _, body = server.get("/boom", headers={"accept": "text/html"})
        assert status == 500 and b"ValueError" not in body


def test_bare_asyncdev_calls_a_create_app_factory(tmp_path):
    write(tmp_path, "app/__init__.py", "")
    write(tmp_path, "app/main.py", """
        from flask import Flask

        def create_app():
            made = Flask(__name__)
            made.add_url_rule("/", "index", lambda: "made by the factory")
            return made
    """)
    with Supervised.cli(tmp_path) as server:
        server.wait_ready()
        assert server.get("/")[2] == b"made by the factory"
        server.wait_line(r"Found app/main\.py:create_app in app/main\.py; pin it with: "
                         r"asyncdev app/main\.py:create_app --factory")
        server.wait_line(r"gunicorn 'app\.main:create_app\(\)'")


def test_bare_asyncdev_serves_the_pyproject_pin(tmp_path):
    write(tmp_path, "main.py", "async def app(scope, receive, send):\n    raise RuntimeError\n")
    write(tmp_path, "service/__init__.py", "")
    write(tmp_path, "service/web.py", """
        async def handler(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"pinned"})
    """)
    write(tmp_path, "pyproject.toml", '[tool.asyncdev]\napp = "service.web:handler"\n')
    with Supervised.cli(tmp_path) as server:
        server.wait_ready()
        assert server.get("/")[2] == b"pinned"
        server.wait_line(r"^Serving service\.web:handler as set in \[tool\.asyncdev\] in "
                         r"pyproject\.toml$")


def test_an_empty_directory_still_gets_the_welcome_page(tmp_path):
    with Supervised.cli(tmp_path) as server:
        server.wait_ready()
        status, _, body = server.get("/")
        assert status == 200 and f"asyncdev looked in {tmp_path},".encode() in body
        assert server.count("^Found ") == 0


def test_bare_asyncdev_serves_a_django_project(tmp_path):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)],
                   check=True, timeout=60)
    with Supervised.cli(tmp_path) as server:
        server.wait_ready()
        status, _, body = server.get("/")
        assert status == 200 and b"The install worked successfully" in body
        server.wait_line(r"Found the Django project of mysite\.settings in manage\.py; pin it "
                         r"with --settings mysite\.settings")
        # The Django integration says it as runserver does.
        server.wait_line(r"^Django version \d[^,]*, using settings 'mysite\.settings'$")
        server.wait_line(r"run gunicorn mysite\.wsgi or uvicorn mysite\.asgi:application\.")
