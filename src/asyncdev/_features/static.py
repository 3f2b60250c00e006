"""Static files: serve directories mounted at URL prefixes (``--static /static=./static``).

``StaticFiles`` answers GET and HEAD under each prefix with the file's type, ETag and
Last-Modified (304 on a match), single byte ranges (206/416), streaming the file in
64 KiB chunks read in a thread. Nothing outside the directory is reachable: dot
segments, dotfiles, backslashes, NUL and symlinks leading out all give 404. Several
directories mounted at one prefix are searched in the order given. A miss under a
prefix is a 404, except for a mount at ``/``, which falls through to the app.
``send_file`` and ``plain_response`` are shared with Django's static files.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
import stat
from collections.abc import Awaitable
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

if TYPE_CHECKING:
    from .._config import Config
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["StaticFiles", "plain_response", "send_file"]

logger = logging.getLogger("asyncdev.error")

CHUNK_SIZE = 64 * 1024
# Types mimetypes does not know everywhere (its tables come from the OS).
_EXTRA_TYPES = {
    ".js": "text/javascript",  # RFC 9239
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}
_TEXT_TYPES = ("text/", "application/json", "application/manifest+json", "image/svg+xml")
_ALLOWED_DOT_NAMES = frozenset({".well-known"})  # RFC 8615


class StaticFiles:
    """ASGI middleware serving ``config.static`` mounts in front of the app."""

    def __init__(self, app: ASGIApp, *, config: Config) -> None:
        self.app = app
        self.root_path = config.root_path
        # Directories mounted at one prefix are searched in the order given, as Django's
        # STATICFILES_DIRS are: the first that holds the file serves it.
        mounts: dict[str, list[str]] = {}
        for prefix, directory in config.static:
            root = os.path.realpath(directory)
            if not os.path.isdir(root):
                logger.warning("Static directory %s (for %s) does not exist yet", root, prefix)
            mounts.setdefault(prefix.rstrip("/"), []).append(root)
        # Longest prefix first, so /static/img can be mounted apart from /static.
        self.mounts = tuple(
            (prefix, tuple(roots))
            for prefix, roots in sorted(mounts.items(), key=lambda item: -len(item[0]))
        )

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        path: str = scope["path"]
        root_path = self.root_path
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        for prefix, directories in self.mounts:
            if not prefix or path == prefix or path.startswith(prefix + "/"):
                return self._serve(
                    scope, receive, send,
                    rel=path[len(prefix) :], directories=directories, fall_through=not prefix,
                )
        return self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send,
        *, rel: str, directories: tuple[str, ...], fall_through: bool,
    ) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            if fall_through:
                await self.app(scope, receive, send)
            else:
                await plain_response(send, 405, "Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        found = None
        for directory in directories:
            found = _resolve(directory, rel)
            if found is not None:
                break
        if found is None:
            if fall_through:
                await self.app(scope, receive, send)
            else:
                await plain_response(send, 404, "Not Found")
            return
        filename, info = found
        if stat.S_ISDIR(info.st_mode):
            if not rel.endswith("/"):
                # Relative links in the index page need the trailing slash. A relative
                # Location (RFC 9110 section 10.2.2) stays right under any root path.
                last = quote(scope["path"].rsplit("/", 1)[-1])
                query = scope.get("query_string") or b""
                target = last.encode("ascii") + b"/" + (b"?" + query if query else b"")
                await plain_response(send, 301, "Moved Permanently", [(b"location", target)])
                return
            index = _resolve(directory, rel + "index.html")
            if index is None or not stat.S_ISREG(index[1].st_mode):
                if fall_through:
                    await self.app(scope, receive, send)
                else:
                    await plain_response(send, 404, "Not Found")
                return
            filename, info = index
        await send_file(filename, info, scope, send)


def _resolve(directory: str, rel: str) -> tuple[str, os.stat_result] | None:
    """The file under ``directory`` that the decoded URL path ``rel`` names, or None."""
    if "\\" in rel or "\x00" in rel:
        return None  # a Windows separator or a C string end: never a file of ours
    parts = []
    for part in rel.split("/"):
        if not part:
            continue  # "//etc/passwd" stays inside: empty segments are dropped
        if part.startswith(".") and part not in _ALLOWED_DOT_NAMES:
            return None  # ".", "..", ".env", ".git", any other hidden file
        if ":" in part:
            return None  # a drive ("C:") or an NTFS stream ("file::$DATA")
        parts.append(part)
    candidate = os.path.join(directory, *parts)
    real = os.path.realpath(candidate)
    # A symlink may point anywhere: what counts is where it lands.
    if real != directory and not real.startswith(directory.rstrip(os.sep) + os.sep):
        return None
    try:
        info = os.stat(real)
    except (OSError, ValueError):
        return None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return None  # FIFOs, devices and sockets would block or leak
    return real, info


def _content_type(filename: str) -> bytes:
    ext = os.path.splitext(filename)[1].lower()
    ctype = _EXTRA_TYPES.get(ext) or mimetypes.guess_type(filename)[0]
    if ctype is None:
        return b"application/octet-stream"
    if ctype.startswith(_TEXT_TYPES):
        ctype += "; charset=utf-8"
    return ctype.encode("ascii")


def _etag(info: os.stat_result) -> bytes:
    return b'"%x-%x"' % (info.st_mtime_ns, info.st_size)


async def send_file(filename: str, info: os.stat_result, scope: Scope, send: Send) -> None:
    """Answer a GET or HEAD with the file: validators, 304, one byte range, streamed."""
    size = info.st_size
    etag = _etag(info)
    modified = int(info.st_mtime)
    headers = [
        (b"content-type", _content_type(filename)),
        (b"etag", etag),
        (b"last-modified", formatdate(modified, usegmt=True).encode("ascii")),
        (b"accept-ranges", b"bytes"),
        # Always revalidate: a file saved a second ago must show on the next load,
        # and the 304 keeps that cheap.
        (b"cache-control", b"no-cache"),
    ]
    fields = dict(scope["headers"])
    if _not_modified(fields, etag, modified):
        await send({"type": "http.response.start", "status": 304, "headers": headers[1:]})
        await send({"type": "http.response.body", "body": b""})
        return
    start, end, status = 0, size, 200
    wanted = fields.get(b"range")
    if wanted is not None and _if_range_holds(fields.get(b"if-range"), etag, modified):
        span = _parse_range(wanted, size)
        if isinstance(span, str):  # unsatisfiable
            await plain_response(send, 416, "Range Not Satisfiable",
                         [(b"content-range", b"bytes */%d" % size)])
            return
        if span is not None:
            start, end = span
            status = 206
            headers.append((b"content-range", b"bytes %d-%d/%d" % (start, end - 1, size)))
    headers.append((b"content-length", b"%d" % (end - start)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if scope["method"] == "HEAD" or start == end:
        await send({"type": "http.response.body", "body": b""})
        return
    loop = asyncio.get_running_loop()
    file: BinaryIO = await loop.run_in_executor(None, open, filename, "rb")
    try:
        if start:
            await loop.run_in_executor(None, file.seek, start)
        remaining = end - start
        while remaining > 0:
            # One chunk in memory at a time; send() waits while the client is slow.
            chunk = await loop.run_in_executor(None, file.read, min(CHUNK_SIZE, remaining))
            if not chunk:
                raise OSError(f"{filename} shrank while being sent")
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
    finally:
        file.close()


def _etag_list(value: bytes) -> list[bytes]:
    return [tag.strip() for tag in value.split(b",")]


def _not_modified(fields: dict[bytes, bytes], etag: bytes, modified: int) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match (weak comparison) wins over If-Modified-Since."""
    none_match = fields.get(b"if-none-match")
    if none_match is not None:
        if none_match.strip() == b"*":
            return True
        return any(tag.removeprefix(b"W/") == etag for tag in _etag_list(none_match))
    since = fields.get(b"if-modified-since")
    if since is not None:
        try:
            when = parsedate_to_datetime(since.decode("latin-1")).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False  # an invalid date is ignored (RFC 9110 section 13.1.3)
        return modified <= when
    return False


def _if_range_holds(value: bytes | None, etag: bytes, modified: int) -> bool:
    """RFC 9110 section 13.1.5: a stale If-Range turns the range request into a full one."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith((b'"', b"W/")):
        return value == etag  # strong comparison only
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp() == modified
    except (TypeError, ValueError, IndexError, OverflowError):
        return False


def _parse_range(value: bytes, size: int) -> tuple[int, int] | str | None:
    """A half-open (start, end) for one satisfiable range, "unsatisfiable", or None to
    ignore the field (RFC 9110 section 14.2: several ranges or bad syntax)."""
    unit, _, spec = value.partition(b"=")
    if unit.strip().lower() != b"bytes" or b"," in spec:
        return None
    first, dash, last = spec.strip().partition(b"-")
    if not dash or not (first or last):
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size
    start = int(first)
    if last and int(last) < start:
        return None  # last < first is invalid syntax, ignored
    if start >= size:
        return "unsatisfiable"
    end = int(last) + 1 if last else size
    return start, min(end, size)


async def plain_response(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A short text/plain response (errors of the file-serving middlewares)."""
    body = (text + "\n").encode("utf-8")
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            *(headers or ()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
