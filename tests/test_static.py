"""Static file mounts (--static), over real sockets."""

from __future__ import annotations

import hashlib
import os
import socket
import tracemalloc
from email.utils import formatdate

import pytest

from asyncdev.testing import run_in_thread

SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"from the app"})


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("static")
    (base / "secret.txt").write_bytes(SECRET)
    root = base / "public"
    root.mkdir()
    (root / "style.css").write_text("body { color: red }\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (root / ".env").write_bytes(SECRET)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(SECRET)
    (root / ".well-known").mkdir()
    (root / ".well-known" / "security.txt").write_text("Contact: x\n")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_text("inner")
    os.symlink(base / "secret.txt", root / "link-out.txt")
    os.symlink(base, root / "dir-out")
    os.symlink(root / "sub" / "inner.txt", root / "link-in.txt")
    with open(root / "big.bin", "wb") as file:
        file.truncate(8 * 1024 * 1024)  # sparse: costs no disk
    return root


@pytest.fixture(scope="module")
def server(tree):
    with run_in_thread(app, static=[f"/static={tree}"]) as running:
        yield running


def get(client, target: str, *extra: str, method: str = "GET"):
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", *extra]
    client.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    return client.read_response(head_request=method == "HEAD")


def test_serves_a_file_with_type_validators_and_length(raw_client, server):
    status, headers, body = get(raw_client(server.port), "/static/style.css")
    assert status == 200
    assert body == b"body { color: red }\n"
    assert headers["content-type"] == "text/css; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    assert headers["etag"].startswith('"')
    assert headers["last-modified"].endswith("GMT")
    assert headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("name", "ctype"),
    [("app.js", "text/javascript; charset=utf-8"), ("data.bin", "application/octet-stream"),
     ("docs/index.html", "text/html; charset=utf-8")],
)
def test_content_types(raw_client, server, name, ctype):
    status, headers, _ = get(raw_client(server.port), f"/static/{name}")
    assert (status, headers["content-type"]) == (200, ctype)


def test_head_has_the_headers_and_no_body(raw_client, server):
    client = raw_client(server.port)
    status, headers, _ = get(client, "/static/data.bin", method="HEAD")
    assert status == 200 and headers["content-length"] == "1024"
    status, _, body = get(client, "/static/style.css")  # nothing left over in between
    assert status == 200 and body.startswith(b"body")


def test_conditional_requests_get_304(raw_client, server):
    client = raw_client(server.port)
    _, headers, _ = get(client, "/static/style.css")
    etag, modified = headers["etag"], headers["last-modified"]
    assert get(client, "/static/style.css", f"If-None-Match: {etag}")[0] == 304
    assert get(client, "/static/style.css", f'If-None-Match: "x", W/{etag}')[0] == 304
    assert get(client, "/static/style.css", 'If-None-Match: "other"')[0] == 200
    assert get(client, "/static/style.css", f"If-Modified-Since: {modified}")[0] == 304
    old = formatdate(0, usegmt=True)
    assert get(client, "/static/style.css", f"If-Modified-Since: {old}")[0] == 200
    assert get(client, "/static/style.css", "If-Modified-Since: not a date")[0] == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 section 13.2.2).
    assert get(client, "/static/style.css", 'If-None-Match: "other"',
               f"If-Modified-Since: {modified}")[0] == 200


DATA = bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("bytes=0-9", 0, 10), ("bytes=1000-", 1000, 1024), ("bytes=-24", 1000, 1024),
     ("bytes=1020-5000", 1020, 1024), ("bytes=-5000", 0, 1024)],
)
def test_single_range_gets_206(raw_client, server, spec, start, end):
    status, headers, body = get(raw_client(server.port), "/static/data.bin", f"Range: {spec}")
    assert status == 206
    assert body == DATA[start:end]
    assert headers["content-range"] == f"bytes {start}-{end - 1}/1024"


@pytest.mark.parametrize("spec", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range_gets_416(raw_client, server, spec):
    status, headers, _ = get(raw_client(server.port), "/static/data.bin", f"Range: {spec}")
    assert status == 416
    assert headers["content-range"] == "bytes */1024"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=x-"])
def test_other_ranges_are_ignored(raw_client, server, spec):
    status, _, body = get(raw_client(server.port), "/static/data.bin", f"Range: {spec}")
    assert (status, body) == (200, DATA)


def test_stale_if_range_gives_the_whole_file(raw_client, server):
    client = raw_client(server.port)
    etag = get(client, "/static/data.bin")[1]["etag"]
    assert get(client, "/static/data.bin", "Range: bytes=0-1", f"If-Range: {etag}")[0] == 206
    status, _, body = get(client, "/static/data.bin", "Range: bytes=0-1", 'If-Range: "old"')
    assert (status, body) == (200, DATA)


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub/..%2f..%2fsecret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/..%5csecret.txt",
    "/static/%5c..%5csecret.txt",
    "/static/sub\\..\\..\\secret.txt",
    "/static//secret.txt",
    "/static/%2f..%2fsecret.txt",
    "/static/link-out.txt",
    "/static/dir-out/secret.txt",
    "/static/.env",
    "/static/%2eenv",
    "/static/.git/config",
    "/static/%2egit/config",
    "/static/style.css%00.txt",
    "/static/C:/secret.txt",
    "/static/./style.css",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_way_out_of_the_directory(raw_client, server, target):
    status, _, body = get(raw_client(server.port), target)
    assert status in (400, 404)
    assert SECRET not in body


def test_absolute_filesystem_path_stays_inside(raw_client, server, tree):
    secret = tree.parent / "secret.txt"
    for target in (f"/static/{secret}", f"/static/%2f{str(secret).lstrip('/')}"):
        status, _, body = get(raw_client(server.port), target)
        assert status == 404 and SECRET not in body


def test_symlink_inside_the_root_is_served(raw_client, server):
    assert get(raw_client(server.port), "/static/link-in.txt")[2] == b"inner"


def test_well_known_is_not_a_hidden_file(raw_client, server):
    assert get(raw_client(server.port), "/static/.well-known/security.txt")[0] == 200


def test_directory_redirects_then_serves_its_index(raw_client, server):
    client = raw_client(server.port)
    status, headers, _ = get(client, "/static/docs?v=1")
    assert (status, headers["location"]) == (301, "docs/?v=1")
    status, _, body = get(client, "/static/docs/")
    assert (status, body) == (200, b"<h1>docs</h1>")
    assert get(client, "/static/sub/")[0] == 404  # no index, no listing


def test_misses_and_methods_under_a_prefix(raw_client, server):
    client = raw_client(server.port)
    assert get(client, "/static/missing.css")[0] == 404
    status, headers, _ = get(client, "/static/style.css", "Content-Length: 0", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert get(client, "/staticfile")[2] == b"from the app"  # not under the prefix
    assert get(client, "/other")[2] == b"from the app"


def test_mount_at_root_falls_through_to_the_app(raw_client, tree):
    with run_in_thread(app, static=[("/", str(tree))]) as running:
        client = raw_client(running.port)
        assert get(client, "/style.css")[2] == b"body { color: red }\n"
        assert get(client, "/api/items")[2] == b"from the app"
        assert get(client, "/.env")[2] == b"from the app"


def test_mounts_on_one_prefix_are_searched_in_order(raw_client, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "both.txt").write_text("from first\n")
    (second / "both.txt").write_text("from second\n")
    (second / "only.txt").write_text("only in second\n")
    (second / "sub").mkdir()
    (second / "sub" / "index.html").write_text("second's index\n")
    static = [("/s", str(first)), ("/s/", str(second))]
    with run_in_thread(app, static=static) as running:
        client = raw_client(running.port)
        assert get(client, "/s/both.txt")[2] == b"from first\n"
        assert get(client, "/s/only.txt")[2] == b"only in second\n"
        assert get(client, "/s/sub/")[2] == b"second's index\n"
        assert get(client, "/s/none.txt")[0] == 404


def test_large_file_is_streamed_not_loaded(server, tree):
    expected = hashlib.sha256((tree / "big.bin").read_bytes()).hexdigest()
    tracemalloc.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\n"
                         b"Connection: close\r\n\r\n")
            digest = hashlib.sha256()
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            head, rest = head.split(b"\r\n\r\n", 1)
            digest.update(rest)
            received = len(rest)
            while chunk := sock.recv(65536):
                digest.update(chunk)
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert b"content-length: 8388608" in head.lower()
    assert received == 8 * 1024 * 1024
    assert digest.hexdigest() == expected
    assert peak < 4 * 1024 * 1024  # a file read whole would need 8 MiB at once
