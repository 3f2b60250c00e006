"""The Django admin, served by ``manage.py runserver`` on asyncdev, is styled in a real
headless Chromium: a computed style that only the admin's stylesheet gives."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import websockets

from django_helpers import env, make_project
from test_browser_reload_e2e import (
    DEADLINE,
    NAVIGATING,
    DevTools,
    DevToolsError,
    Lines,
    find_chromium,
    stop,
)

pytestmark = pytest.mark.browser

# The admin's base.css: #header { background: var(--header-bg) } with #417690.
ADMIN_HEADER_BACKGROUND = "rgb(65, 118, 144)"
HEADER_STYLE = """(() => {
    const header = document.getElementById('header');
    return header ? getComputedStyle(header).backgroundColor : null;
})()"""


async def header_background(page: DevTools) -> str | None:
    try:
        result = await page.call("Runtime.evaluate", expression=HEADER_STYLE,
                                 returnByValue=True)
    except DevToolsError as exc:
        if any(text in str(exc) for text in NAVIGATING):
            return None
        raise
    return result["result"].get("value")


async def styled_header(devtools_url: str, url: str) -> str | None:
    async with websockets.connect(devtools_url, max_size=None, open_timeout=DEADLINE) as ws:
        target = await DevTools(ws).call("Target.createTarget", url="about:blank")
    page_url = devtools_url.split("/devtools/")[0] + "/devtools/page/" + target["targetId"]
    async with websockets.connect(page_url, max_size=None, open_timeout=DEADLINE) as ws:
        page = DevTools(ws)
        await page.call("Page.enable")
        await page.call("Page.navigate", url=url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        last = None
        while loop.time() < deadline:
            last = await header_background(page)
            if last == ADMIN_HEADER_BACKGROUND:
                return last
            try:  # wake on a page event (the load), else look again soon
                await asyncio.wait_for(ws.recv(), 0.25)
            except asyncio.TimeoutError:
                pass
        return last


def test_admin_login_is_styled_in_a_browser(tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    project = tmp_path / "project"
    make_project(project)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "0", "--noreload"], cwd=project, env=env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    browser = None
    server_lines = Lines(server.stdout)
    try:
        url = server_lines.wait_for(r"(http://127\.0\.0\.1:\d+)/").group(1)
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        devtools_url = Lines(browser.stderr).wait_for(r"DevTools listening on (ws://\S+)").group(1)
        background = asyncio.run(styled_header(devtools_url, url + "/admin/login/"))
        assert background == ADMIN_HEADER_BACKGROUND
        assert any("/static/admin/css/base.css" in line and " 200 " in line
                   for line in server_lines.lines)
    except BaseException:
        print("\n".join(server_lines.lines))
        raise
    finally:
        if browser is not None:
            stop(browser)
        stop(server)
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
