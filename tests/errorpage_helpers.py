"""Checks shared by the error page tests: every form of a failure opens with the
user's line, and none names asyncdev's internals or shows a secret."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import errorpage_app

APP_FILE = Path(errorpage_app.__file__)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SECRETS = ("tok-LOCAL-SECRET-1", "dj-DICT-SECRET-2", "hunter2-LOCAL-SECRET-3")


def source_line(marker: str, path: Path = APP_FILE) -> tuple[int, str]:
    """The number and stripped text of the line holding ``marker``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if marker in line:
            return number, line.strip()
    raise AssertionError(marker)


def first_hit(page: str) -> str:
    """The text of the first highlighted source line of the page."""
    match = re.search(r'<span class="hit">(.*?)</span>', page, re.S)
    assert match, page
    return html.unescape(re.sub(r"^\s*\d+\s\s", "", match.group(1))).strip()


def check_forms(fetch, *, line: str, heading: str) -> tuple[str, str, dict]:
    """The HTML, text and JSON forms of one failure: each opens with ``line``; none
    names asyncdev's internals or shows a secret."""
    status, headers, body = fetch(BROWSER)
    assert status == 500 and headers["content-type"].startswith("text/html")
    page = body.decode()
    policy = headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "script-src 'nonce-" in policy
    assert f"<title>{html.escape(heading)}</title>" in page
    # The first highlighted block is the user's line, in the "failing" block at the top.
    assert page.index('<section class="failing">') < page.index('class="hit"')
    assert first_hit(page) == line
    assert "asyncdev._" not in page

    status, headers, body = fetch("*/*")
    assert status == 500 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert "asyncdev._" not in text
    first = text.splitlines()
    assert first[0] == heading
    # Then the notes, if any, and the user's 'File "...", line N' with its line.
    at = next(i for i, text_line in enumerate(first) if text_line.startswith('  File "'))
    assert all(text_line.startswith("Note: ") for text_line in first[1:at])
    assert line in first[at + 1]

    status, headers, body = fetch("application/json")
    assert headers["content-type"].startswith("application/json")
    data = json.loads(body)
    assert f"{data['type']}: {data['message']}" == heading
    assert data["location"]["source"] == line
    assert "asyncdev._" not in body.decode()
    for secret in SECRETS:
        assert secret not in page and secret not in text and secret not in body.decode()
    return page, text, data
