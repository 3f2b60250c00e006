"""Property tests: generated, mostly valid but mutated requests.

Against a live server: every response parses, a protocol error is the last answer on
its connection, what the app served is exactly what h11 (an independent parser) reads
from the same bytes, so nothing can be smuggled past a second parser, a canary is
served afterwards, and log lines carry no raw control characters. Sans-IO: the
parser gives the same result however the bytes are split into reads.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncdev._logging import AccessFormatter, DefaultFormatter
from asyncdev._protocol.events import Body, EndOfBody, Paused, ProtocolError, Request
from asyncdev._protocol.parser import RequestParser
from asyncdev.testing import RunningServer, run_in_thread
from hostile_helpers import closed_by_peer, connect, get, read_response, send_all

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- generation ---------------------------------------------------------------------------

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~"
VALUE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 ,;=/:\t\"()-_.*"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~%/=&+"
# Bytes that matter to HTTP framing, favoured by the mutations.
INTERESTING = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b",", b";", b":", b"0", b"9",
               b"#", b"\x7f", b"\xff", b"\x1b", b"-", b"\"", b"\x0b"]
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
TERMINATOR = b"\x00" * 8192

names = st.text(TOKEN_CHARS, min_size=1, max_size=12).map(lambda s: "X-" + s)
values = st.text(VALUE_CHARS, max_size=24).map(str.strip)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS"]))
    path = draw(st.text(PATH_CHARS, max_size=16))
    query = draw(st.one_of(st.just(""), st.text(PATH_CHARS, max_size=12).map(lambda q: "?" + q)))
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.1", b"1.0"]))
    lines = [b"%s /fuzz/%s%s HTTP/%s" % (method, path.encode(), query.encode(), version)]
    fields = [(b"Host", b"localhost")]
    fields += [(n.encode(), v.encode()) for n, v in draw(st.lists(st.tuples(names, values),
                                                                 max_size=5))]
    if version == b"1.0":
        fields.append((b"Connection", b"keep-alive"))
    framing = draw(st.sampled_from(["none", "length", "chunked", "chunked"] if version == b"1.1"
                                   else ["none", "length"]))
    body = draw(st.binary(max_size=40)) + draw(st.sampled_from([b"", SMUGGLED]))
    if framing == "length":
        fields.append((b"Content-Length", b"%d" % len(body)))
        payload = body
    elif framing == "chunked":
        fields.append((b"Transfer-Encoding", b"chunked"))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)]) if b > a]
        payload = b""
        for piece in pieces:
            ext = draw(st.sampled_from([b"", b";a=b", b';n="v"']))
            payload += b"%x%s\r\n%s\r\n" % (len(piece), ext, piece)
        payload += b"0\r\n\r\n"
    else:
        payload = b""
    order = draw(st.permutations(fields))
    lines += [name + b": " + value for name, value in order]
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(requests())
    if draw(st.booleans()):
        data += b"GET /pipelined HTTP/1.1\r\nHost: localhost\r\n\r\n"
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["insert", "replace", "delete", "header", "crlf"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "crlf":
            # Line ends carry the framing: damage one of them.
            ends = [m.start() for m in re.finditer(b"\r\n", data)]
            if ends:
                at = draw(st.sampled_from(ends))
                damage = draw(st.sampled_from([b"\n", b"\r", b"XX", b"", b"\r\r\n", b" \r\n"]))
                data = data[:at] + damage + data[at + 2:]
        elif kind == "insert":
            data = data[:pos] + draw(st.sampled_from(INTERESTING)) + data[pos:]
        elif kind == "replace":
            data = data[:pos] + draw(st.sampled_from(INTERESTING)) + data[pos + 1:]
        elif kind == "delete":
            data = data[:pos] + data[pos + 1:]
        else:
            line = draw(st.sampled_from([
                b"Content-Length: 0", b"Content-Length: 5", b"Transfer-Encoding: chunked",
                b"Transfer-Encoding: identity", b"Host: localhost", b"Expect: 100-continue",
                b"Connection: close", b" folded",
            ]))
            at = data.find(b"\r\n") + 2
            data = data[:at] + line + b"\r\n" + data[at:]
    return data


# --- the oracles --------------------------------------------------------------------------

_FRAMING_CTL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")


def must_refuse_first(data: bytes) -> bool:
    """The first request breaks a rule that a strict server must refuse it for.

    Stated from RFC 9112 independently of the parser: control characters or a bare
    CR/LF in the head (2.2), obs-fold (5.2), Content-Length with Transfer-Encoding or
    twice (6.1, 6.3).
    """
    while data.startswith(b"\r\n"):
        data = data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = data[:end].lower()
    if _FRAMING_CTL.search(head) or b"\n " in head or b"\n\t" in head:
        return True
    lengths = head.count(b"\ncontent-length:")
    return lengths > 1 or (lengths == 1 and b"\ntransfer-encoding:" in head)



@dataclass(frozen=True)
class Message:
    method: bytes
    path: bytes
    query: bytes
    body: bytes


def h11_reading(data: bytes) -> list[Message]:
    """The requests h11 reads from ``data``, one fresh connection state per request."""
    messages: list[Message] = []
    while data:
        while data.startswith(b"\r\n"):  # RFC 9112 2.2, which h11 does not do
            data = data[2:]
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        conn.receive_data(b"")
        request: h11.Request | None = None
        body = b""
        try:
            while True:
                event = conn.next_event()
                if type(event) is h11.Request:
                    request = event
                elif type(event) is h11.Data:
                    body += bytes(event.data)
                elif type(event) is h11.EndOfMessage:
                    break
                else:
                    return messages
        except h11.RemoteProtocolError:
            return messages
        assert request is not None
        target = bytes(request.target)
        path, _, query = target.partition(b"?")
        messages.append(Message(bytes(request.method), path, query, body))
        data = bytes(conn.trailing_data[0])
    return messages


# --- live server --------------------------------------------------------------------------


class Transcript:
    """The requests the app served, keyed by the client's port."""

    def __init__(self) -> None:
        self.served: dict[int, list[Message]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        record = Message(scope["method"].encode(), scope["raw_path"], scope["query_string"], body)
        self.served.setdefault(scope["client"][1], []).append(record)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handlers = []
    for name, formatter in (("asyncdev.error", DefaultFormatter()),
                            ("asyncdev.access", AccessFormatter())):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger = logging.getLogger(name)
        handlers.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield stream
    for logger, handler, level in handlers:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def transcript() -> Transcript:
    return Transcript()


@pytest.fixture(scope="module")
def server(transcript: Transcript, log_stream: io.StringIO) -> Iterator[RunningServer]:
    with run_in_thread(transcript, access_log=True, limit_request_body=1000,
                       limit_request_head=4096, limit_request_line=2048) as running:
        yield running


@SETTINGS
@given(data=mutated())
def test_live_server_invariants(
    data: bytes, server: RunningServer, transcript: Transcript, log_stream: io.StringIO
) -> None:
    statuses: list[int] = []
    with connect(server.port) as sock:
        port = sock.getsockname()[1]
        # An earlier example's canary may have come from this same (reused) port.
        transcript.served.pop(port, None)
        # The terminator ends whatever request is left incomplete with an error (a
        # body is at most limit_request_body long, then the NULs are an invalid head
        # or chunk), so every exchange ends without waiting for a timeout.
        send_all(sock, data + TERMINATOR)
        buffer = bytearray()
        while True:
            response = read_response(sock, buffer)  # asserts each response parses
            if response is None:
                break
            if response.status == 100:
                continue
            statuses.append(response.status)
            if response.status >= 400:
                assert response.headers.get("connection") == "close"
                assert closed_by_peer(sock)
                break
    served = transcript.served.pop(port, [])
    oracle = h11_reading(data + TERMINATOR)
    # No smuggling: the app saw what an independent parser sees, in order; each
    # request served got its 200, and a protocol error ends the connection.
    assert served == oracle[: len(served)], (served, oracle)
    assert statuses[: len(served)] == [200] * len(served)
    assert len(statuses) <= len(served) + 1
    if must_refuse_first(data):
        assert served == [] and statuses and statuses[0] >= 400, statuses
    canary = get(server.port, "/canary")
    assert canary is not None and canary.status == 200
    text = log_stream.getvalue()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), text[-500:]
    assert "/smuggled" not in text or any(m.path == b"/smuggled" for m in served)


# --- sans-IO ------------------------------------------------------------------------------


def parse_all(chunks: list[bytes]) -> list[Any]:
    """Events for ``chunks`` fed one read at a time, bodies joined, as comparable values."""
    parser = RequestParser(max_body=1000)
    out: list[Any] = []
    body = b""
    for chunk in chunks:
        parser.feed(chunk)
        while True:
            event = parser.next_event()
            if isinstance(event, Request):
                out.append(("request", event.method, event.target, event.http_version,
                            tuple(event.headers), event.keep_alive))
            elif isinstance(event, Body):
                body += event.data
            elif event is EndOfBody or event is Paused:
                if event is EndOfBody:
                    out.append(("body", body))
                body = b""
                parser.start_next_request()
                if event is Paused:
                    continue
            elif isinstance(event, ProtocolError):
                out.append(("error", event.status))
                return out
            else:
                break
    if body:  # the bytes ended inside a body
        out.append(("partial", body))
    return out


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=mutated(), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_same_events_however_the_bytes_are_split(data: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    whole = parse_all([data])
    split = parse_all(chunks)
    assert split == whole
    one_by_one = parse_all([data[i:i + 1] for i in range(len(data))])
    assert one_by_one == whole


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=requests())
def test_valid_requests_read_as_h11_reads_them(data: bytes) -> None:
    events = parse_all([data])
    assert events and events[0][0] == "request", events
    _, method, target, _, headers, _ = events[0]
    oracle = h11_reading(data)
    assert len(oracle) == 1
    assert (method, target.partition(b"?")[0], target.partition(b"?")[2]) == (
        oracle[0].method, oracle[0].path, oracle[0].query)
    body = events[1][1] if len(events) > 1 else b""
    assert body == oracle[0].body
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    request = conn.next_event()
    assert isinstance(request, h11.Request)
    assert list(headers) == [(n, v) for n, v in request.headers]
