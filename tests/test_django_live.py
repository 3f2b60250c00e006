"""The live server for Django tests: the README's pytest-django and unittest examples run
as a real pytest-django suite (``db`` and ``transactional_db``, WSGI and ASGI, admin
static files) in a fresh ``startproject`` project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from django_helpers import env, make_project
from test_readme_examples import ROOT, code_blocks

MARKER = "# test: django-example"
PYTEST_INI = "[pytest]\nDJANGO_SETTINGS_MODULE = mysite.settings\n"


def django_examples() -> list[str]:
    return [code for _, code in code_blocks(ROOT / "README.rst")
            if code.lstrip().startswith(MARKER + "\n")]


def test_readme_live_server_examples_pass_under_pytest_django(tmp_path: Path) -> None:
    pytest.importorskip("pytest_django")
    examples = django_examples()
    assert len(examples) == 2  # the pytest fixture and the unittest class
    project = tmp_path / "project"
    make_project(project)
    (project / "pytest.ini").write_text(PYTEST_INI)
    (project / "tests").mkdir()
    for number, code in enumerate(examples):
        (project / "tests" / f"test_readme_django_{number}.py").write_text(code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "no:hypothesispytest", "-p", "no:randomly", "tests"],
        cwd=project, env=env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # One styled-admin test, four log-ins (db and transactional_db, WSGI and ASGI),
    # one unittest LiveServerTestCase.
    assert "6 passed" in result.stdout, result.stdout
