"""load_app: import strings, files, factories, interface detection, errors; .env files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asyncdev._config import Config
from asyncdev._envfile import apply_env_file, parse_env_file
from asyncdev._errors import AppImportError, ConfigError
from asyncdev._importer import detect_interface, load_app

ASGI3_SOURCE = """
async def app(scope, receive, send):
    pass
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project directory as cwd; sys.path and new modules are undone after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)

    def write(relative: str, source: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


def load(app, **options):
    return load_app(Config(app=app, **options))


# --- what can be loaded -----------------------------------------------------------------


def test_no_app_is_for_the_server_to_decide():
    # The welcome page is the server's choice; the loader only loads what it is given.
    with pytest.raises(AppImportError, match="No app was given"):
        load(None)


def test_module_and_attribute(project):
    project("imp_main.py", ASGI3_SOURCE + "api = app\n")
    loaded = load("imp_main:api")
    assert loaded.description == "imp_main:api"
    assert loaded.interface == "asgi3"


def test_module_alone_defaults_to_app(project):
    project("imp_default.py", ASGI3_SOURCE)
    loaded = load("imp_default")
    assert loaded.description == "imp_default:app"


def test_module_alone_falls_back_to_application_like_django(project):
    project("imp_proj/__init__.py", "")
    project("imp_proj/wsgi.py", "def application(environ, start_response):\n    return []\n")
    loaded = load("imp_proj.wsgi")
    assert loaded.description == "imp_proj.wsgi:application"
    assert loaded.interface == "wsgi"


def test_dotted_attribute(project):
    project("imp_dotted.py", """
        class Holder:
            async def asgi(self, scope, receive, send):
                pass
        holder = Holder()
    """)
    loaded = load("imp_dotted:holder.asgi")
    assert loaded.app.__name__ == "asgi"


def test_file_path_with_and_without_attribute(project):
    project("sub/dir/imp_file.py", ASGI3_SOURCE + "other = app\n")
    assert load("sub/dir/imp_file.py").description == "sub/dir/imp_file.py:app"
    assert load("sub/dir/imp_file.py:other").description == "sub/dir/imp_file.py:other"


def test_file_inside_a_package_keeps_relative_imports_working(project):
    project("pkgroot/imp_pkg/__init__.py", "")
    project("pkgroot/imp_pkg/helpers.py", ASGI3_SOURCE)
    project("pkgroot/imp_pkg/main.py", "from .helpers import app\n")
    loaded = load("pkgroot/imp_pkg/main.py")
    assert loaded.app.__module__ == "imp_pkg.helpers"


def test_app_dir_is_searched_first(project):
    project("src/imp_appdir.py", ASGI3_SOURCE)
    assert load("imp_appdir:app", app_dir="src").interface == "asgi3"


def test_factory_is_called(project):
    project("imp_factory.py", """
        def create_app():
            async def app(scope, receive, send):
                pass
            return app
    """)
    loaded = load("imp_factory:create_app", factory=True)
    assert loaded.app.__name__ == "app"
    assert loaded.interface == "asgi3"


def test_callable_given_directly():
    def wsgi(environ, start_response):
        return []

    loaded = load(wsgi)
    assert loaded.app is wsgi
    assert loaded.interface == "wsgi"
    assert loaded.description.endswith(":test_callable_given_directly.<locals>.wsgi")


def test_explicit_interface_wins_over_detection():
    async def app(scope, receive, send):
        pass

    assert load(app, interface="wsgi").interface == "wsgi"


# --- interface detection ----------------------------------------------------------------


async def _asgi3(scope, receive, send):
    pass


class _ASGI3Instance:
    async def __call__(self, scope, receive, send):
        pass


class _ASGI2:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        pass


class _ASGI3Awaitable:
    def __init__(self, scope, receive, send):
        pass

    def __await__(self):
        yield


def _wsgi(environ, start_response):
    return []


class _WSGIInstance:
    def __call__(self, environ, start_response):
        return []


class _SyncASGI3:
    def __call__(self, scope, receive, send):  # returns an awaitable, not a coroutine fn
        return _asgi3(scope, receive, send)


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (_asgi3, "asgi3"),
        (_ASGI3Instance(), "asgi3"),
        (_ASGI2, "asgi2"),
        (_ASGI3Awaitable, "asgi3"),
        (_wsgi, "wsgi"),
        (_WSGIInstance(), "wsgi"),
        (_SyncASGI3(), "asgi3"),
        (lambda scope: _ASGI2(scope), "asgi2"),
    ],
    ids=["asgi3-function", "asgi3-instance", "asgi2-class", "asgi3-awaitable-class",
         "wsgi-function", "wsgi-instance", "asgi3-sync-call", "asgi2-function"],
)
def test_detect_interface(app, expected):
    assert detect_interface(app) == expected


def test_flask_is_wsgi_and_starlette_is_asgi3():
    flask = pytest.importorskip("flask")
    starlette_app = pytest.importorskip("starlette.applications")
    assert detect_interface(flask.Flask("x")) == "wsgi"
    assert detect_interface(starlette_app.Starlette()) == "asgi3"


def test_django_handlers(tmp_path):
    pytest.importorskip("django")
    # Django's settings are process-global: configure them in a child process.
    script = textwrap.dedent("""
        import django
        from django.conf import settings
        settings.configure(DEBUG=True, SECRET_KEY="x", ROOT_URLCONF=__name__,
                           ALLOWED_HOSTS=["*"])
        urlpatterns = []
        from django.core.asgi import get_asgi_application
        from django.core.wsgi import get_wsgi_application
        from asyncdev._importer import detect_interface
        print(detect_interface(get_wsgi_application()), detect_interface(get_asgi_application()))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wsgi", "asgi3"]


def test_ambiguous_signature_assumes_asgi3_with_a_warning(caplog):
    def wrapper(*args, **kwargs):
        pass

    with caplog.at_level("WARNING", logger="asyncdev.error"):
        assert detect_interface(wrapper, description="m:wrapper") == "asgi3"
    assert "--interface wsgi" in caplog.text


def test_zero_argument_function_hints_at_factory():
    def create_app():
        pass

    with pytest.raises(AppImportError, match="--factory"):
        detect_interface(create_app, description="m:create_app")


# --- errors that say what to do ---------------------------------------------------------


def test_module_not_found(project, tmp_path):
    with pytest.raises(AppImportError) as info:
        load("imp_missing:app")
    assert str(info.value) == (
        f'Could not import module "imp_missing" (cwd: {tmp_path}). Did you mean --app-dir?'
    )


def test_module_not_found_suggests_the_src_directory(project):
    project("src/imp_insrc.py", ASGI3_SOURCE)
    with pytest.raises(AppImportError, match="Did you mean --app-dir src"):
        load("imp_insrc:app")


def test_missing_dependency_is_not_reported_as_the_app_missing(project):
    project("imp_dep.py", "import imp_no_such_dependency\n")
    with pytest.raises(AppImportError) as info:
        load("imp_dep:app")
    message = str(info.value)
    assert "imp_no_such_dependency" in message
    assert "imp_dep.py, line 1" in message
    assert "Is it installed" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_attribute_missing_lists_what_was_found(project):
    project("imp_attrs.py", """
        from os import getenv
        def application(environ, start_response):
            return []
        async def api(scope, receive, send):
            pass
        def _private(environ, start_response):
            return []
        class Model:
            pass
        NUMBER = 3
    """)
    with pytest.raises(AppImportError) as info:
        load("imp_attrs:app")
    assert str(info.value) == 'Module "imp_attrs" has no attribute "app". Found: application, api'


def test_module_without_default_attribute(project):
    project("imp_noattr.py", "async def api(scope, receive, send):\n    pass\n")
    with pytest.raises(AppImportError, match=r'no attribute "app" or "application"\. Found: api'):
        load("imp_noattr")


def test_dotted_attribute_missing(project):
    project("imp_dmissing.py", "class A:\n    pass\nholder = A()\n")
    with pytest.raises(AppImportError, match='"imp_dmissing:holder" has no attribute "app"'):
        load("imp_dmissing:holder.app")


def test_not_callable(project):
    project("imp_notcallable.py", "app = 'hello'\n")
    with pytest.raises(AppImportError) as info:
        load("imp_notcallable:app")
    assert str(info.value).startswith('"imp_notcallable:app" is not callable (it is a str)')


def test_syntax_error_names_file_and_line_and_chains(project):
    path = project("imp_syntax.py", "x = 1\ndef broken(:\n    pass\n")
    with pytest.raises(AppImportError) as info:
        load("imp_syntax:app")
    assert f"Syntax error in {path}, line 2" in str(info.value)
    assert isinstance(info.value.__cause__, SyntaxError)


def test_exception_during_import_names_file_and_line_and_chains(project):
    path = project("imp_raises.py", "x = 1\n\nraise RuntimeError('database is down')\n")
    with pytest.raises(AppImportError) as info:
        load("imp_raises:app")
    message = str(info.value)
    assert f"({path}, line 3)" in message
    assert "RuntimeError: database is down" in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_factory_that_raises(project):
    project("imp_badfactory.py", "def create():\n    raise ValueError('no config')\n")
    with pytest.raises(AppImportError, match="ValueError.*no config"):
        load("imp_badfactory:create", factory=True)


def test_file_that_does_not_exist(project, tmp_path):
    with pytest.raises(AppImportError, match=r'File "nope\.py" does not exist'):
        load("nope.py")


def test_path_without_py_is_explained(project):
    with pytest.raises(AppImportError, match="neither a module nor a .py file"):
        load("some/dir:app")


def test_bad_app_dir(project):
    with pytest.raises(AppImportError, match="--app-dir"):
        load("x:app", app_dir="no-such-dir")


# --- .env files -------------------------------------------------------------------------


def test_parse_env_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text(textwrap.dedent(r"""
        # a comment
        PLAIN=value
        export EXPORTED=yes
        SPACED = around  # trailing comment
        HASH=a#b
        SINGLE='keep \n $raw # not a comment'
        DOUBLE="line1\nline2 \"q\" \\"
        MULTI="first
        second"
        EMPTY=
        URL=postgres://u:p@h:5432/db?x=1
    """))
    assert parse_env_file(str(env)) == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "around",
        "HASH": "a#b",
        "SINGLE": r"keep \n $raw # not a comment",
        "DOUBLE": 'line1\nline2 "q" \\',
        "MULTI": "first\nsecond",
        "EMPTY": "",
        "URL": "postgres://u:p@h:5432/db?x=1",
    }


def test_apply_env_file_keeps_existing_variables_unless_override(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text("ASYNCDEV_TEST_A=file\nASYNCDEV_TEST_B=file\n")
    monkeypatch.setenv("ASYNCDEV_TEST_A", "shell")
    monkeypatch.delenv("ASYNCDEV_TEST_B", raising=False)
    assert apply_env_file(str(env)) == {"ASYNCDEV_TEST_B": "file"}
    assert os.environ["ASYNCDEV_TEST_A"] == "shell"
    assert os.environ["ASYNCDEV_TEST_B"] == "file"
    apply_env_file(str(env), override=True)
    assert os.environ["ASYNCDEV_TEST_A"] == "file"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("GOOD=1\nnot a pair\n", "line 2: expected KEY=VALUE"),
        ('A="never closed\n', "line 1: the double quote is never closed"),
        ("A='x' junk\n", "line 1: unexpected text"),
    ],
)
def test_malformed_env_file(tmp_path, text, match):
    env = tmp_path / ".env"
    env.write_text(text)
    with pytest.raises(ConfigError, match=match):
        parse_env_file(str(env))


def test_missing_env_file(tmp_path):
    with pytest.raises(ConfigError, match="env_file: .* does not exist"):
        parse_env_file(str(tmp_path / "missing.env"))
