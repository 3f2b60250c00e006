"""The WSGI bridge with a raw WSGI app (checked by wsgiref's validator) on real sockets."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import socket
import threading
from wsgiref.validate import validator

import httpx
import pytest

from asyncdev.testing import run_in_thread
from wsgi_helpers import WAIT, capture_log, thread_is_waiting_on_condition, wait_until

# Any complaint of the validator fails the request, and so the test.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

CHUNK = 64 * 1024


class Probe:
    """What the app saw, for the test thread to inspect."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.first_read = threading.Event()
        self.proceed = threading.Event()
        self.release = threading.Event()
        self.errors: list[BaseException] = []
        self.reads: list[int] = []
        self.produced = 0
        self.finished = False
        self.thread = 0
        self.entered = 0
        self.lock = threading.Lock()


PROBE = Probe()


class Tracked:
    """An app iterable that records ``close()``; ``source`` is a generator."""

    def __init__(self, source):
        self.source = source

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.source)

    def close(self):
        self.source.close()
        PROBE.closed.set()


def _json(start_response, data, status="200 OK"):
    body = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def _read_all(stream, record=False):
    digest, size = hashlib.sha256(), 0
    while True:
        data = stream.read(CHUNK)
        if not data:
            return size, digest.hexdigest()
        if record:
            PROBE.reads.append(len(data))
            PROBE.first_read.set()
        digest.update(data)
        size += len(data)


def raw_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/environ"):
        return _json(start_response, {k: v for k, v in environ.items()
                                      if isinstance(v, (str, bool, int, tuple))})
    if path == "/echo":
        size, digest = _read_all(environ["wsgi.input"])
        return _json(start_response, {"size": size, "sha256": digest,
                                      "content_length": environ.get("CONTENT_LENGTH")})
    if path == "/errors":
        errors = environ["wsgi.errors"]
        errors.write("first line\nsecond \x1b[31mline\n")
        errors.writelines(["third ", "line\n"])
        errors.flush()
        return _json(start_response, {"ok": True})
    if path == "/boom":
        raise RuntimeError("failed before start_response")
    if path == "/boom-late":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def fail_first():
            raise RuntimeError("failed before the first chunk")
            yield b""  # pragma: no cover

        return Tracked(fail_first())
    if path == "/boom-mid":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def fail_later():
            yield b"partial"
            raise RuntimeError("failed after the first chunk")

        return Tracked(fail_later())
    if path == "/produce":
        total = int(environ["QUERY_STRING"])
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def produce():
            PROBE.thread = threading.get_ident()
            chunk = b"x" * CHUNK
            for _ in range(total // CHUNK):
                PROBE.produced += CHUNK
                yield chunk
            PROBE.finished = True

        return Tracked(produce())
    if path == "/upload":
        def consume():
            try:
                first = environ["wsgi.input"].read(CHUNK)
                PROBE.first_read.set()
                PROBE.proceed.wait(WAIT)
                size, digest = _read_all(environ["wsgi.input"])
                size += len(first)
            except BaseException as exc:
                PROBE.errors.append(exc)
                raise
            body = json.dumps({"size": size}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            yield body

        return Tracked(consume())
    if path == "/stream-upload":
        size, digest = _read_all(environ["wsgi.input"], record=True)
        return _json(start_response, {"size": size, "sha256": digest})
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@pytest.fixture(scope="module")
def server():
    with run_in_thread(validator(raw_app), interface="wsgi", root_path="/api") as running:
        yield running


@pytest.fixture(autouse=True)
def probe():
    global PROBE
    PROBE = Probe()
    yield PROBE
    PROBE.release.set()
    PROBE.proceed.set()


def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def json_body(response: bytes) -> dict:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return json.loads(body)


# --- environ ---------------------------------------------------------------------------


def test_environ_is_complete_and_valid(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        local_port = sock.getsockname()[1]
        sock.sendall(b"GET /environ/caf%C3%A9%2Fx%FF?a=1&b=%20 HTTP/1.1\r\nHost: example.test\r\n"
                     b"X-Custom: yes\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    environ = json_body(data)
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SCRIPT_NAME"] == "/api"
    # PEP 3333: the request's bytes, percent-decoded, as latin-1 (even if not UTF-8).
    assert environ["PATH_INFO"] == "/environ/caf\xc3\xa9/x\xff"
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(server.port)
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"] == str(local_port)
    assert environ["HTTP_HOST"] == "example.test"
    assert environ["HTTP_X_CUSTOM"] == "yes"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is False
    assert "CONTENT_LENGTH" not in environ


def test_content_length_only_when_the_request_has_one(server):
    body = b"0123456789" * 5000
    sized = json_body(raw_request(
        server.port, f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n",
        body))
    assert sized == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                     "content_length": str(len(body))}
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7000]), body[i:i + 7000])
                      for i in range(0, len(body), 7000))
    chunked = json_body(raw_request(
        server.port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n",
        chunks + b"0\r\n\r\n"))
    # No CONTENT_LENGTH for a chunked body, which is still read to its end.
    assert chunked == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                       "content_length": None}


def test_header_names_with_underscores_are_dropped(server):
    environ = json_body(raw_request(
        server.port,
        "GET /environ HTTP/1.1\r\nHost: x\r\nX-Auth-User: alice\r\nX-Auth_User: mallory\r\n"
        "Only_Underscores: 1\r\nConnection: close\r\n\r\n"))
    assert environ["HTTP_X_AUTH_USER"] == "alice"
    assert "HTTP_ONLY_UNDERSCORES" not in environ


def test_wsgi_errors_go_to_the_error_log(server):
    with capture_log() as log:
        response = httpx.get(server.url + "/errors", timeout=WAIT)
        assert response.status_code == 200
        log.wait_for("third line")
    messages = log.messages(logging.ERROR)
    assert "first line" in messages
    assert "second \\x1b[31mline" in messages  # control characters escaped


# --- errors ----------------------------------------------------------------------------


def test_app_exception_is_a_500_and_the_server_keeps_serving(server, probe):
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        assert client.get("/boom").status_code == 500
        # start_response was called but no byte was produced: still a clean 500,
        # and the iterable was closed.
        assert client.get("/boom-late").status_code == 500
        assert probe.closed.wait(WAIT)
        assert client.get("/environ").status_code == 200


def test_exception_after_the_body_started_ends_the_connection(server, probe, raw_client):
    client = raw_client(server.port)
    client.send(b"GET /boom-mid HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = client.read_head()
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert client.is_closed()
    assert b"partial" in client.buffer
    assert not client.buffer.endswith(b"0\r\n\r\n")  # never a falsely complete body
    assert probe.closed.wait(WAIT)


# --- streaming -------------------------------------------------------------------------


def test_large_upload_reaches_the_app_while_it_is_still_being_sent(server, probe):
    body = bytes(range(256)) * (8 * 4096)  # 8 MiB
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(f"POST /stream-upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
                     "\r\nConnection: close\r\n\r\n".encode() + body[:1024 * 1024])
        # The app reads before the client has sent the rest: nothing buffers it all.
        assert probe.first_read.wait(WAIT)
        sock.sendall(body[1024 * 1024:])
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert json_body(data) == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert max(probe.reads) <= CHUNK


def test_streamed_response_is_bounded_by_a_slow_client(server, probe):
    total = 64 * 1024 * 1024
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(WAIT)
    try:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(f"GET /produce?{total} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = sock.recv(1024)
        assert received.startswith(b"HTTP/1.1 200 ")
        # The client reads nothing more: the producing thread must end up waiting.
        wait_until(lambda: probe.finished or (
            probe.thread and thread_is_waiting_on_condition(probe.thread)),
            "the producer blocks on backpressure")
        assert not probe.finished
        assert probe.produced <= 16 * 1024 * 1024  # socket buffers plus a bounded queue
        size, tail = len(received), received[-16:]
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(1 << 20)
            assert chunk
            size, tail = size + len(chunk), (tail + chunk)[-16:]
        assert size > total
    finally:
        sock.close()
    assert probe.finished
    assert probe.closed.wait(WAIT)


def test_client_leaving_a_streamed_response_closes_the_iterable(server, probe):
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(f"GET /produce?{1 << 40} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while len(data) < 4 * CHUNK:
            data += sock.recv(65536)
    # The endless generator is closed instead of feeding nobody forever.
    assert probe.closed.wait(WAIT)
    assert not probe.finished


def test_client_disconnect_mid_body_makes_read_raise(server, probe):
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                     + b"a" * 100_000)
        assert probe.first_read.wait(WAIT)
    probe.proceed.set()
    assert probe.closed.wait(WAIT)
    assert len(probe.errors) == 1
    assert isinstance(probe.errors[0], OSError)  # never a silently truncated body


# --- thread pool -----------------------------------------------------------------------


def test_saturated_pool_queues_requests_and_warns():
    entered = threading.Semaphore(0)
    release = threading.Event()
    count = [0]

    def hold_app(environ, start_response):
        count[0] += 1
        entered.release()
        release.wait(WAIT)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    with capture_log() as log, \
            run_in_thread(hold_app, interface="wsgi", threads=2) as server, \
            concurrent.futures.ThreadPoolExecutor(3) as clients:
        try:
            first = [clients.submit(httpx.get, server.url, timeout=WAIT) for _ in range(2)]
            assert entered.acquire(timeout=WAIT) and entered.acquire(timeout=WAIT)
            third = clients.submit(httpx.get, server.url, timeout=WAIT)
            record = log.wait_for("WSGI threads are busy")
            assert record.levelno == logging.WARNING
            assert count[0] == 2  # the third request waits for a free thread
        finally:
            release.set()
        assert [f.result().status_code for f in (*first, third)] == [200, 200, 200]
        assert count[0] == 3


@pytest.mark.parametrize("lifespan", ["auto", "on"])
def test_a_wsgi_app_has_no_lifespan_to_run(lifespan):
    # A WSGI app has no startup or shutdown hooks: the server runs no lifespan with it,
    # even when asked to, and never calls the app outside a request.
    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with run_in_thread(app, lifespan=lifespan) as server:
        assert httpx.get(server.url + "/x").text == "ok"
    assert calls == ["/x"]
