"""The Django admin, served by ``manage.py runserver`` on asyncdev, is styled in a real
headless Chromium: a computed style that only the admin's stylesheet gives."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_helpers import Browser, Lines, chromium_process, stop
from django_helpers import env, make_project

pytestmark = pytest.mark.browser

# The admin's base.css: #header { background: var(--header-bg) } with #417690.
ADMIN_HEADER_BACKGROUND = "rgb(65, 118, 144)"
HEADER_STYLE = """(() => {
    const header = document.getElementById('header');
    return header ? getComputedStyle(header).backgroundColor : null;
})()"""


async def styled_header(devtools_url: str, url: str) -> str:
    async with Browser.connect(devtools_url) as browser:
        page = await browser.open(url)
        return await page.wait_for(HEADER_STYLE, ADMIN_HEADER_BACKGROUND)


def test_admin_login_is_styled_in_a_browser(tmp_path: Path) -> None:
    project = tmp_path / "project"
    make_project(project)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "0", "--noreload"], cwd=project, env=env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    server_lines = Lines(server.stdout)
    try:
        url = server_lines.wait_for(r"(http://127\.0\.0\.1:\d+)/").group(1)
        with chromium_process(tmp_path / "profile") as devtools_url:
            background = asyncio.run(styled_header(devtools_url, url + "/admin/login/"))
        assert background == ADMIN_HEADER_BACKGROUND
        assert any("/static/admin/css/base.css" in line and " 200 " in line
                   for line in server_lines.lines)
    except BaseException:
        print("\n".join(server_lines.lines))
        raise
    finally:
        stop(server)
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
