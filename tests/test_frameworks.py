"""Development modes, set as each framework's own dev command sets them, with real Flask and
FastAPI apps loaded in this process."""

from __future__ import annotations

import os
import textwrap

import pytest

from asyncdev._config import Config
from asyncdev._importer import load_app


@pytest.fixture
def module(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    names: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield write
    import sys

    for name in names:
        sys.modules.pop(name, None)


def test_flask_gets_debug_as_flask_run_debug_sets_it(module):
    name = module("fl_plain", "from flask import Flask\napp = Flask(__name__)\n")
    loaded = load_app(Config(app=f"{name}:app", dev_mode=True))
    assert loaded.app.debug is True and loaded.app.jinja_env.auto_reload is True
    assert loaded.framework is not None and loaded.framework.startswith("Flask ")
    assert loaded.notes == ("debug on (turn it off with FLASK_DEBUG=0 or --no-dev-mode)",)
    assert os.environ["FLASK_DEBUG"] == "1"  # left for the app, as flask run leaves it


def test_the_apps_own_configuration_wins(module):
    name = module("fl_configured", """
        from flask import Flask
        app = Flask(__name__)
        app.config["DEBUG"] = False
    """)
    loaded = load_app(Config(app=f"{name}:app", dev_mode=True))
    assert loaded.app.debug is False
    assert loaded.notes == ("debug off (the app's configuration turns it off)",)


def test_no_dev_mode_and_user_variable_leave_flask_alone(module, monkeypatch):
    name = module("fl_alone", "from flask import Flask\napp = Flask(__name__)\n")
    assert load_app(Config(app=f"{name}:app", dev_mode=False)).app.debug is False
    assert "FLASK_DEBUG" not in os.environ
    monkeypatch.setenv("FLASK_DEBUG", "0")
    name = module("fl_env", "from flask import Flask\napp = Flask(__name__)\n")
    loaded = load_app(Config(app=f"{name}:app", dev_mode=True))
    assert loaded.app.debug is False and loaded.notes == ("debug off (FLASK_DEBUG is set)",)


def test_other_frameworks_never_see_the_flask_variable(module):
    pytest.importorskip("fastapi")
    name = module("fa_app", """
        import os
        from fastapi import FastAPI
        app = FastAPI(docs_url="/api-docs")
        seen = os.environ.get("FLASK_DEBUG")
    """)
    loaded = load_app(Config(app=f"{name}:app", dev_mode=True))
    assert "FLASK_DEBUG" not in os.environ  # taken back once the app was not Flask
    assert loaded.notes == ("API docs at {url}/api-docs",)
    assert loaded.framework is not None and loaded.framework.startswith("FastAPI ")


def test_framework_versions_are_read_without_importlib_metadata(tmp_path) -> None:
    # importlib.metadata costs a server process milliseconds of its start: the banner's
    # version comes from the module's own string, else the dist-info beside it.
    import subprocess
    import sys

    site = tmp_path / "site"
    (site / "bottle").mkdir(parents=True)
    (site / "bottle" / "__init__.py").write_text("class Bottle: pass\n")
    (site / "bottle-9.8.7.dist-info").mkdir()
    code = textwrap.dedent("""
        import sys
        import django, bottle
        from asyncdev._frameworks import _version
        print(_version("Django") == django.__version__, _version("Bottle"),
              "importlib.metadata" in sys.modules)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.split() == ["True", "9.8.7", "False"]
