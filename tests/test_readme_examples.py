"""The README's testing examples run as they are written, so they cannot rot.

Every ``.. code-block:: python`` whose first line is ``# test: readme-example`` (in
README.rst, and in docs/*.inc until those are merged into it) is written to a test file
and run by pytest. An example that uses Playwright's ``page`` fixture runs against a
stand-in page that fetches over real HTTP when pytest-playwright is not installed; the
``browser`` variant runs it in a real browser when it is.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path

import pytest

from testing_helpers import INNER_PYTEST_ARGS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
MARKER = "# test: readme-example"
DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block:: python\s*$")

STAND_IN_PAGE = '''
"""A stand-in for pytest-playwright's ``page``: real HTTP requests, no browser."""
import re

import httpx
import pytest


class Response:
    def __init__(self, response):
        self.status = response.status_code
        self.ok = response.is_success


class Page:
    html = ""

    def goto(self, url):
        response = httpx.get(url, follow_redirects=True)
        self.html = response.text
        return Response(response)

    def title(self):
        match = re.search(r"<title>(.*?)</title>", self.html, re.S | re.I)
        return match.group(1).strip() if match else ""

    def content(self):
        return self.html


@pytest.fixture
def page():
    return Page()
'''

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def code_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, code) of each python code block of an RST file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = DIRECTIVE.match(lines[index])
        index += 1
        if match is None:
            continue
        start = index
        indent = len(match.group("indent").expandtabs())
        body: list[str] = []
        while index < len(lines):
            line = lines[index]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
            index += 1
        # Directive options (":caption: ...") come before the first blank line.
        while body and body[0].strip().startswith(":"):
            body.pop(0)
        blocks.append((start, textwrap.dedent("\n".join(body)).strip("\n") + "\n"))
    return blocks


def examples() -> list[tuple[str, str]]:
    """(id, code) of every marked example, each once even if it appears in two files."""
    sources = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.inc"))]
    found: dict[str, str] = {}
    for path in sources:
        if not path.is_file():
            continue
        for line, code in code_blocks(path):
            if code.lstrip().startswith(MARKER + "\n") and code not in found:
                found[code] = f"{path.name}:{line}"
    return [(name, code) for code, name in found.items()]


def uses_page(code: str) -> bool:
    """Whether a test in ``code`` takes Playwright's ``page`` fixture."""
    return re.search(r"^def test_\w+\([^)]*\bpage\b", code, re.M) is not None


EXAMPLES = examples()
PAGE_EXAMPLES = [(name, code) for name, code in EXAMPLES if uses_page(code)]


def run_example(pytester: pytest.Pytester, code: str, *, stand_in: bool) -> None:
    pytester.makeini(INI)
    if stand_in:
        pytester.makeconftest(STAND_IN_PAGE)
    pytester.makepyfile(test_readme_example=code)
    result = pytester.runpytest(*INNER_PYTEST_ARGS)
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes.get("passed", 0) >= 1
    assert set(outcomes) <= {"passed", "warnings", "warning"}, outcomes


def test_the_examples_are_found():
    # The testing section has three examples: the fixture, Playwright and async.
    assert len(EXAMPLES) >= 3, [name for name, _ in EXAMPLES]
    assert any(uses_page(code) for _, code in EXAMPLES)


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example(pytester, name, code):
    run_example(pytester, code, stand_in=uses_page(code))


@pytest.mark.browser
@pytest.mark.parametrize(("name", "code"), PAGE_EXAMPLES, ids=[n for n, _ in PAGE_EXAMPLES])
def test_example_in_a_real_browser(pytester, name, code):
    if importlib.util.find_spec("pytest_playwright") is None:
        pytest.skip("pytest-playwright is not installed")
    run_example(pytester, code, stand_in=False)
