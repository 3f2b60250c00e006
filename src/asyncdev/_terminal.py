"""The terminal as an input: single-key commands and opening the browser.

``KeyReader(on_key)`` puts an interactive stdin in cbreak mode (keys arrive one at a
time, unechoed; Ctrl+C still sends SIGINT) and calls ``on_key`` from a thread for each
key; ``close()`` restores the terminal. ``key_handler`` says what each key does, with
or without reload. ``open_browser(url)`` never blocks the caller.
No asyncio here: the reload supervisor uses both.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable

__all__ = [
    "CLEAR", "HELP", "KeyReader", "help_text", "key_handler", "keys_available", "open_browser",
]

logger = logging.getLogger("asyncdev.error")

HELP = """\
  r  reload now
  o  open the browser
  c  clear the terminal
  q  quit
  h  show this help"""
CLEAR = "\x1b[2J\x1b[3J\x1b[H"  # erase the screen and the scrollback, cursor home


def help_text(*, reload: bool) -> str:
    """The key list; without reload, r is left out."""
    lines = HELP.splitlines()
    return "\n".join(lines if reload else lines[1:])


def key_handler(
    *, quit: Callable[[], object], url: Callable[[], str | None],
    reload: Callable[[], object] | None = None,
) -> Callable[[str], None]:
    """What each key does: r reloads (only with ``reload``), o opens the browser at
    ``url()`` (when there is one), c clears the terminal, q quits, h or ? shows help."""

    def on_key(key: str) -> None:
        key = key.lower()
        if key == "r" and reload is not None:
            reload()
        elif key == "o":
            address = url()
            if address is not None:
                open_browser(address)
        elif key == "q":
            quit()
        elif key in ("c", "h", "?"):
            sys.stdout.write(CLEAR if key == "c" else help_text(reload=reload is not None) + "\n")
            sys.stdout.flush()

    return on_key


def keys_available() -> bool:
    """Whether stdin is a terminal this process may read: in the foreground (a
    background job reading its terminal is stopped by SIGTTIN)."""
    stdin = sys.stdin
    if stdin is None or os.name != "posix":
        return False
    try:
        fd = stdin.fileno()
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


class KeyReader:
    """Reads single keys from the terminal on a daemon thread."""

    def __init__(self, on_key: Callable[[str], None]) -> None:
        import termios
        import tty

        self.fd = sys.stdin.fileno()
        self.on_key = on_key
        self.saved = termios.tcgetattr(self.fd)
        self.closed = False
        tty.setcbreak(self.fd)
        # Restored however the process ends (an exception, sys.exit, a signal handler).
        atexit.register(self.close)
        threading.Thread(target=self._read, name="asyncdev-keys", daemon=True).start()

    def _read(self) -> None:
        while not self.closed:
            try:
                data = os.read(self.fd, 32)
            except OSError:
                return
            if not data:
                return
            for char in data.decode(errors="replace"):
                self.on_key(char)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        import termios

        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def open_browser(url: str) -> None:
    """Open ``url`` in the user's browser (``BROWSER`` is honoured), off this thread:
    a text browser or a slow launcher must never hold the server up."""

    def run() -> None:
        import webbrowser

        try:
            opened = webbrowser.open(url)
        except Exception as exc:  # webbrowser raises what its launchers raise
            logger.warning("Could not open the browser: %s", exc)
            return
        if not opened:
            logger.warning("No browser found to open %s (set BROWSER to choose one).", url)

    threading.Thread(target=run, name="asyncdev-browser", daemon=True).start()
