"""A minimal Chrome DevTools protocol client for the browser tests: one headless
Chromium per test module, many tabs on one WebSocket (flattened sessions).

Waits are bounded and wait on a condition in the page, never on a fixed delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websockets

DEADLINE = 60.0  # a loaded 2-core machine may be slow; the waits end much sooner when it works
# Answers Runtime.evaluate may give while a page is between two documents, which is
# exactly what a reload does, or has none yet (just opened): they mean "not yet", not
# failure.
NAVIGATING = ("navigated or closed", "Cannot find context", "Execution context was destroyed",
              "Inspected target navigated", "uniqueContextId",
              "Cannot find default execution context")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Lines:
    """Drains a subprocess pipe in a thread; waits for a line matching a pattern."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream: Any) -> None:
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

    def count(self, pattern: str) -> int:
        with self.changed:
            return sum(1 for line in self.lines if re.search(pattern, line))


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def chromium_process(profile: Path) -> Iterator[str]:
    """A headless Chromium; yields its DevTools WebSocket URL."""
    chromium = find_chromium()
    if chromium is None:
        import pytest

        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-background-timer-throttling",
         "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield Lines(browser.stderr).wait_for(r"DevTools listening on (ws://\S+)").group(1)
    finally:
        stop(browser)


class DevToolsError(AssertionError):
    """An error answer from the browser."""


class Browser:
    """One DevTools connection to the browser; pages are flattened sessions on it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())
        self.pages: list[Page] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str) -> Any:
        async with websockets.connect(url, max_size=None, open_timeout=DEADLINE) as ws:
            browser = cls(ws)
            try:
                yield browser
            finally:
                for page in browser.pages:
                    with contextlib.suppress(Exception):
                        await browser.call("Target.closeTarget", targetId=page.target)
                browser.reader.cancel()

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        self.next_id += 1
        call_id = self.next_id
        future = self.pending[call_id] = asyncio.get_running_loop().create_future()
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        answer = await asyncio.wait_for(future, DEADLINE)
        if "error" in answer:
            raise DevToolsError(f"{method}: {answer['error']}")
        return answer["result"]

    async def open(self, url: str) -> Page:
        target = (await self.call("Target.createTarget", url=url))["targetId"]
        session = (await self.call("Target.attachToTarget", targetId=target,
                                   flatten=True))["sessionId"]
        page = Page(self, target, session)
        self.pages.append(page)
        return page


# One DevTools socket's calls: the browser's, or a page's own (/devtools/page/ID).
DevTools = Browser


class Page:
    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session

    async def call(self, method: str, **params: Any) -> Any:
        return await self.browser.call(method, self.session, **params)

    async def eval(self, expression: str) -> Any:
        """The value of ``expression`` (awaited if a promise); None while navigating."""
        try:
            result = await self.call("Runtime.evaluate", expression=expression,
                                     returnByValue=True, awaitPromise=True)
        except DevToolsError as exc:
            if any(text in str(exc) for text in NAVIGATING):
                return None
            raise
        if "exceptionDetails" in result:
            return None
        return result["result"].get("value")

    async def wait_for(self, expression: str, expected: Any = True,
                       timeout: float = DEADLINE) -> Any:
        """Evaluate until the value equals ``expected``; the last value in the error."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = None
        while loop.time() < deadline:
            last = await self.eval(expression)
            if last == expected:
                return last
            await asyncio.sleep(0.1)  # polling a condition, bounded by the deadline
        raise AssertionError(f"{expression} is {last!r}, not {expected!r}")

    async def navigate(self, url: str) -> None:
        await self.call("Page.navigate", url=url)


async def wait_all(pages: list[Page], expression: str, expected: Any = True) -> None:
    await asyncio.gather(*(page.wait_for(expression, expected) for page in pages))
