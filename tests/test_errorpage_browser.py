"""The error page in a real headless Chromium: its CSP lets the copy button's script
run (and nothing else inline), and the button copies the same text curl gets."""

from __future__ import annotations

import asyncio
import http.client
import subprocess

import pytest
import websockets

import errorpage_app
from asyncdev.testing import run_in_thread
from errorpage_helpers import source_line
from test_browser_reload_e2e import DEADLINE, DevTools, Lines, find_chromium, stop

pytestmark = pytest.mark.browser


def plain_text(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", "/keyerror", headers={"Accept": "*/*"})
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_copy_button_runs_under_the_csp_and_copies_the_plain_text(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    with run_in_thread(errorpage_app.app) as server:
        url = f"http://127.0.0.1:{server.port}"
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            devtools_url = Lines(browser.stderr).wait_for(
                r"DevTools listening on (ws://\S+)").group(1)
            seen = asyncio.run(drive(devtools_url, url))
        finally:
            stop(browser)
        expected = plain_text(server.port)
    _, line = source_line("KEYERROR-LINE")
    assert line in seen["failing"]
    assert seen["button"] == "Copied"  # the nonce'd script ran and the copy succeeded
    assert seen["clipboard"] == expected
    assert seen["violations"] == []


async def drive(devtools_url: str, url: str) -> dict[str, object]:
    async with websockets.connect(devtools_url, max_size=None, open_timeout=DEADLINE) as ws:
        browser = DevTools(ws)
        target = await browser.call("Target.createTarget", url="about:blank")
        await browser.call("Browser.grantPermissions", origin=url,
                           permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
    page_url = devtools_url.split("/devtools/")[0] + "/devtools/page/" + target["targetId"]
    async with websockets.connect(page_url, max_size=None, open_timeout=DEADLINE) as ws:
        page = DevTools(ws)
        await page.call("Page.enable")
        await page.call("Emulation.setFocusEmulationEnabled", enabled=True)
        # Any CSP violation (an inline style or script without the nonce) is recorded.
        # What the page hands to the clipboard is recorded on its way there.
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
            "if (navigator.clipboard) { const write = navigator.clipboard.writeText.bind("
            "navigator.clipboard); navigator.clipboard.writeText = text => {"
            " window.__copied = text; return write(text); }; }"
        ))
        await page.call("Page.navigate", url=url + "/keyerror")
        await wait_for(page, "document.readyState === 'complete' && !!document.getElementById("
                             "'copy')")
        seen: dict[str, object] = {
            "failing": await evaluate(page, "document.querySelector('.failing .hit').textContent"),
        }
        await evaluate(page, "document.getElementById('copy').click(), true", gesture=True)
        await wait_for(page, "document.getElementById('copy').textContent !== 'Copy as text'")
        seen["button"] = await evaluate(page, "document.getElementById('copy').textContent")
        seen["clipboard"] = await evaluate(page, "window.__copied")
        seen["violations"] = await evaluate(page, "window.__violations")
        return seen


async def evaluate(page: DevTools, expression: str, *, gesture: bool = False) -> object:
    # userGesture: a click the clipboard accepts, as a person's would be.
    result = await page.call("Runtime.evaluate", expression=expression, returnByValue=True,
                             userGesture=gesture)
    if "exceptionDetails" in result:
        raise AssertionError(f"{expression}: {result['exceptionDetails']}")
    return result["result"].get("value")


async def wait_for(page: DevTools, expression: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while loop.time() < deadline:
        try:
            if await evaluate(page, expression):
                return
        except AssertionError:
            pass  # between documents
        await asyncio.sleep(0.05)  # polling interval, not a readiness wait
    raise AssertionError(f"never true: {expression}")

