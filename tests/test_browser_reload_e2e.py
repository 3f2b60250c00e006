"""Browser reload in a real headless Chromium: edit the app, the open page updates itself.

Runs the real CLI (``python -m asyncdev app:app 0 --browser-reload``, reload on) and a
headless Chromium driven over the DevTools protocol. Needs the Debian packages
``chromium`` (and ``chromium-driver`` for other browser tests); skipped without them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import websockets

pytestmark = pytest.mark.browser

APP = """\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b"<!doctype html><html><body><h1 id='v'>{version}</h1></body></html>"
    await send({{"type": "http.response.start", "status": 200,
                 "headers": [(b"content-type", b"text/html; charset=utf-8")]}})
    await send({{"type": "http.response.body", "body": body}})
"""
DEADLINE = 60.0  # a loaded 2-core machine may be slow; the loop ends much sooner when it works


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Lines:
    """Drains a subprocess pipe in a thread; waits for a line matching a pattern."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream) -> None:
        for raw in stream:
            with self.changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
                self.changed.notify_all()
        with self.changed:
            self.lines.append("<EOF>")
            self.changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        regex = re.compile(pattern)
        with self.changed:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                    if line == "<EOF>":
                        raise AssertionError("process ended:\n" + "\n".join(self.lines))
                seen = len(self.lines)
                if not self.changed.wait(timeout):
                    raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines))


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class DevToolsError(AssertionError):
    """An error answer from the browser."""


# Answers Runtime.evaluate may give while the page is between two documents, which is
# exactly what a reload does: they mean "not yet", not failure.
NAVIGATING = ("navigated or closed", "Cannot find context", "Execution context was destroyed")


class DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params):
        self.next_id += 1
        call_id = self.next_id
        await self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), DEADLINE))
            if message.get("id") == call_id:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                return message["result"]

    async def heading(self) -> str | None:
        try:
            result = await self.call(
                "Runtime.evaluate",
                expression="(document.getElementById('v') || {}).textContent || null",
                returnByValue=True,
            )
        except DevToolsError as exc:
            if any(text in str(exc) for text in NAVIGATING):
                return None
            raise
        return result["result"].get("value")

    async def wait_for_heading(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        last = None
        while loop.time() < deadline:
            last = await self.heading()
            if last == text:
                return
            # Wake on any page event (the reload's load event), else look again soon.
            try:
                await asyncio.wait_for(self.ws.recv(), 0.25)
            except asyncio.TimeoutError:
                pass
        raise AssertionError(f"the page shows {last!r}, not {text!r}")


def test_open_page_reloads_itself_after_the_app_file_changes(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    project = tmp_path / "project"
    project.mkdir()
    app_file = project / "app.py"
    app_file.write_text(APP.format(version="version one"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "asyncdev", "app:app", "0", "--browser-reload"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
        asyncio.run(drive(devtools_url, url, app_file))
    except BaseException:
        print("\n".join(server_lines.lines))  # the server's log, shown with the failure
        raise
    finally:
        if browser is not None:
            stop(browser)
        stop(server)


async def drive(devtools_url: str, url: str, app_file: Path) -> None:
    async with websockets.connect(devtools_url, max_size=None, open_timeout=DEADLINE) as ws:
        browser = DevTools(ws)
        target = await browser.call("Target.createTarget", url="about:blank")
    page_url = devtools_url.split("/devtools/")[0] + "/devtools/page/" + target["targetId"]
    async with websockets.connect(page_url, max_size=None, open_timeout=DEADLINE) as ws:
        page = DevTools(ws)
        await page.call("Page.enable")
        await page.call("Page.navigate", url=url + "/")
        await page.wait_for_heading("version one")
        app_file.write_text(APP.format(version="version two"))
        await page.wait_for_heading("version two")  # no navigation from this side
