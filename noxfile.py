"""Development tasks: ``nox`` runs the tests; ``nox -s lint typecheck bench`` the rest.

Every session runs on the Python that runs nox (3.11 in CI) and reuses its virtual
environment between runs; dependencies come from ``[dependency-groups]`` in
pyproject.toml, so there is one list of them.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *groups: str, package: str | None = ".") -> None:
    requirements = nox.project.dependency_groups(PYPROJECT, *groups)
    if package is not None:
        session.install("-e", package, *requirements)
    else:
        session.install(*requirements)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (arguments go to pytest, e.g. ``nox -- -k cli -x``)."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=["3.10", "3.12", "3.13"])
def compat(session: nox.Session) -> None:
    """The test suite on the other supported Pythons (``nox -s compat-3.10``); each
    interpreter must be on PATH as ``python3.X``."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the sources, the tests, the benchmarks and this file."""
    _install(session, "lint", package=None)
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/asyncdev (configured in pyproject.toml)."""
    # The optional extras too, so that the code using them is checked against them.
    _install(session, "typecheck", package=".[https]")
    session.run("mypy", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the peers (arguments go to benchmarks/run.py)."""
    _install(session, "bench")
    session.run("python", "benchmarks/run.py", *session.posargs)
