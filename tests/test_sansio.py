"""The sans-IO core on its own, bytes to events and back, with no socket (h11's style).

Every request-parser case is fed whole, byte by byte and followed by a pipelined
request, and must give the same events; every framed response is read back by h11 (an
independent parser) whether its body came in one part or byte by byte, with the next
response right behind it; the ASGI websocket phase machine and the frame channel are
driven message by message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import h11
import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from asyncdev._errors import ClientDisconnected
from asyncdev._protocol.events import Body, EndOfBody, NeedData, Paused, ProtocolError, Request
from asyncdev._protocol.parser import RequestParser
from asyncdev._protocol.response import LocalProtocolError, ResponseFramer
from asyncdev._protocol.websocket import (
    TRANSITIONS,
    Accept,
    Close,
    Deny,
    FrameChannel,
    Ignore,
    PeerClosed,
    Phase,
    PongReceived,
    Received,
    ResponseBody,
    ResponseStart,
    SendMessage,
    Violation,
    WebSocketPhases,
)

# --- request parser -------------------------------------------------------------------

LIMITS = {"max_line": 64, "max_field": 48, "max_fields": 8, "max_head": 512, "max_body": 100}
NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"


def head(first: bytes = b"GET / HTTP/1.1", *fields: bytes) -> bytes:
    return first + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


def post(*fields: bytes, body: bytes = b"") -> bytes:
    return head(b"POST /p HTTP/1.1", b"Host: x", *fields) + body


# (id, bytes, expected events). A request is (method, target, version, headers,
# keep_alive, expect_continue); a body is its bytes joined; "end" is EndOfBody.
PARSER_CASES: list[tuple[str, bytes, list[Any]]] = [
    ("get", head(b"GET /a?b HTTP/1.1", b"Host: x"),
     [("request", b"GET", b"/a?b", b"1.1", ((b"host", b"x"),), True, False)]),
    ("http10", head(b"GET / HTTP/1.0"),
     [("request", b"GET", b"/", b"1.0", (), False, False)]),
    ("http10-keep-alive", head(b"GET / HTTP/1.0", b"Connection: keep-alive"),
     [("request", b"GET", b"/", b"1.0", ((b"connection", b"keep-alive"),), True, False)]),
    ("connection-close", head(b"GET / HTTP/1.1", b"Host: x", b"Connection: close"),
     [("request", b"GET", b"/", b"1.1", ((b"host", b"x"), (b"connection", b"close")), False,
       False)]),
    ("http12-as-11", head(b"GET / HTTP/1.2", b"Host: x"),
     [("request", b"GET", b"/", b"1.1", ((b"host", b"x"),), True, False)]),
    ("leading-crlf", b"\r\n\r\n" + head(b"GET / HTTP/1.1", b"Host: x"),
     [("request", b"GET", b"/", b"1.1", ((b"host", b"x"),), True, False)]),
    ("options-asterisk", head(b"OPTIONS * HTTP/1.1", b"Host: x"),
     [("request", b"OPTIONS", b"*", b"1.1", ((b"host", b"x"),), True, False)]),
    ("absolute-form-sets-host", head(b"GET http://h:1/p HTTP/1.1", b"Host: x"),
     [("request", b"GET", b"http://h:1/p", b"1.1", ((b"host", b"h:1"),), True, False)]),
    ("content-length", post(b"Content-Length: 5", body=b"hello"),
     [("request", b"POST", b"/p", b"1.1", ((b"host", b"x"), (b"content-length", b"5")), True,
       False), ("body", b"hello"), "end"]),
    ("expect-continue", post(b"Content-Length: 2", b"Expect: 100-continue", body=b"hi"),
     [("request", b"POST", b"/p", b"1.1", ((b"host", b"x"), (b"content-length", b"2"),
       (b"expect", b"100-continue")), True, True), ("body", b"hi"), "end"]),
    ("chunked", post(b"Transfer-Encoding: chunked",
                     body=b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"),
     [("request", b"POST", b"/p", b"1.1", ((b"host", b"x"), (b"transfer-encoding", b"chunked")),
       True, False), ("body", b"abcde"), "end"]),
    ("field-at-limit", head(b"GET / HTTP/1.1", b"Host: x", b"X: " + b"v" * 43),
     [("request", b"GET", b"/", b"1.1", ((b"host", b"x"), (b"x", b"v" * 43)), True, False)]),
    # errors: the status is final and nothing follows it
    ("field-over-limit", head(b"GET / HTTP/1.1", b"Host: x", b"X: " + b"v" * 44),
     [("error", 431)]),
    ("te-gzip-chunked", post(b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"),
     [("error", 501)]),
    ("te-gzip-chunked-two-lines",
     post(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
     [("error", 501)]),
    ("te-identity-chunked-two-lines",
     post(b"Transfer-Encoding: identity", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
     [("error", 501)]),
    ("te-identity", post(b"Transfer-Encoding: identity"), [("error", 400)]),
    ("te-chunked-twice-two-lines",
     post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
     [("error", 400)]),
    ("te-chunked-not-last", post(b"Transfer-Encoding: chunked, gzip"), [("error", 400)]),
    ("cl-and-te", post(b"Content-Length: 1", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
     [("error", 400)]),
    ("connect-authority", head(b"CONNECT h:443 HTTP/1.1", b"Host: h:443"), [("error", 501)]),
    ("connect-origin", head(b"CONNECT / HTTP/1.1", b"Host: h"), [("error", 501)]),
    ("authority-form-get", head(b"GET h:443 HTTP/1.1", b"Host: h"), [("error", 400)]),
    ("missing-host", head(b"GET / HTTP/1.1"), [("error", 400)]),
    ("obs-fold", head(b"GET / HTTP/1.1", b"Host: x", b"X: a", b" b"), [("error", 400)]),
    ("bare-lf", b"GET / HTTP/1.1\nHost: x\r\n\r\n", [("error", 400)]),
    ("http2", head(b"GET / HTTP/2.0", b"Host: x"), [("error", 505)]),
    ("line-too-long", head(b"GET /" + b"a" * 64 + b" HTTP/1.1", b"Host: x"), [("error", 414)]),
    ("body-too-large", post(b"Content-Length: 101"), [("error", 413)]),
    ("chunked-too-large", post(b"Transfer-Encoding: chunked", body=b"65\r\n" + b"z" * 101),
     [("request", b"POST", b"/p", b"1.1", ((b"host", b"x"), (b"transfer-encoding", b"chunked")),
       True, False), ("error", 413)]),
    ("chunk-without-crlf", post(b"Transfer-Encoding: chunked", body=b"1\r\naXY0\r\n\r\n"),
     [("request", b"POST", b"/p", b"1.1", ((b"host", b"x"), (b"transfer-encoding", b"chunked")),
       True, False), ("body", b"a"), ("error", 400)]),
    ("chunk-size-space", post(b"Transfer-Encoding: chunked", body=b"1 \r\na\r\n0\r\n\r\n"),
     [("request", b"POST", b"/p", b"1.1", ((b"host", b"x"), (b"transfer-encoding", b"chunked")),
       True, False), ("error", 400)]),
    ("tls-handshake", b"\x16\x03\x01\x00\xa5garbage\r\n\r\n", [("error", 400)]),
]


def parse(chunks: Iterator[bytes]) -> tuple[list[Any], RequestParser, bool]:
    """Events for ``chunks`` fed in turn (bodies joined, NeedData left out), the parser,
    and whether it paused at the end of the first request."""
    parser = RequestParser(**LIMITS)
    out: list[Any] = []
    body = b""
    for chunk in chunks:
        parser.feed(chunk)
        while True:
            event = parser.next_event()
            if isinstance(event, Body):
                body += event.data
                continue
            if body and event is not NeedData:
                out.append(("body", body))
                body = b""
            if isinstance(event, Request):
                out.append(("request", event.method, event.target, event.http_version,
                            tuple(event.headers), event.keep_alive, event.expect_continue))
            elif event is EndOfBody:
                out.append("end")
            elif event is Paused:
                return out, parser, True
            elif isinstance(event, ProtocolError):
                out.append(("error", event.status))
                return out, parser, False
            else:
                assert event is NeedData
                break
    if body:
        out.append(("body", body))
    return out, parser, False


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in PARSER_CASES],
                         ids=[c[0] for c in PARSER_CASES])
def test_parser_same_events_whole_byte_by_byte_and_pipelined(data: bytes, expected: Any) -> None:
    whole, _, _ = parse(iter([data]))
    assert whole == expected
    one_by_one, _, _ = parse(data[i:i + 1] for i in range(len(data)))
    assert one_by_one == expected
    pipelined, parser, paused = parse(iter([data + NEXT]))
    assert pipelined == expected
    if isinstance(expected[-1], tuple) and expected[-1][0] == "error":
        assert not paused
        return
    # The complete request pauses the parser; the next one waits for its turn.
    assert paused
    parser.start_next_request()
    event = parser.next_event()
    assert isinstance(event, Request) and event.target == b"/next"


def test_parser_buffers_and_hands_over_trailing_bytes() -> None:
    parser = RequestParser()
    parser.feed(head(b"GET / HTTP/1.1", b"Host: x", b"Upgrade: websocket") + b"\x81\x00")
    assert isinstance(parser.next_event(), Request)
    assert parser.buffered == 2
    assert parser.take_trailing_data() == b"\x81\x00"
    parser.feed(b"more")  # after the hand-over nothing is kept
    assert parser.buffered == 0


def test_parser_head_state_and_bounded_partial_head() -> None:
    parser = RequestParser(**LIMITS)
    assert parser.in_head
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 60)
    event = parser.next_event()
    assert isinstance(event, ProtocolError) and event.status == 431


# --- response framer ------------------------------------------------------------------


def frame(status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, split: bool,
          method: bytes = b"GET", version: bytes = b"1.1", keep_alive: bool = True,
          as_parts: bool = False) -> bytes:
    """The framed response; ``as_parts``: through ``body_parts`` (large bodies)."""
    framer = ResponseFramer()
    framer.start(status, headers, request_method=method, http_version=version,
                 keep_alive=keep_alive, default_headers=[b"server: t\r\n"])

    def part(data: bytes, more: bool) -> bytes:
        if as_parts:
            pieces = framer.body_parts(data, more)
            assert not data or any(piece is data for piece in pieces) or framer.status in (
                204, 304) or method == b"HEAD"  # the body itself, never a copy
            return b"".join(pieces)
        return framer.body(data, more)

    if split and body:
        parts = [part(body[i:i + 1], True) for i in range(len(body))]
        parts.append(part(b"", False))
    else:
        parts = [part(body, False)]
    return b"".join(parts)


def read_back(data: bytes, method: bytes, *, count: int) -> list[tuple[int, bytes]]:
    """(status, body) of the ``count`` responses h11 reads from ``data``."""
    client = h11.Connection(h11.CLIENT)
    out: list[tuple[int, bytes]] = []
    client.receive_data(data)
    for _ in range(count):
        client.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
        client.send(h11.EndOfMessage())
        status, body = 0, b""
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(b"")
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        out.append((status, body))
        if client.our_state is h11.MUST_CLOSE:
            break
        client.start_next_cycle()
    return out


FRAMER_CASES = [
    ("no-length", 200, [], b"hello", b"GET"),
    ("content-length", 200, [(b"content-length", b"5")], b"hello", b"GET"),
    ("empty", 200, [], b"", b"GET"),
    ("head", 200, [(b"content-length", b"5")], b"", b"HEAD"),
    ("no-content", 204, [], b"", b"GET"),
    ("not-found", 404, [(b"content-type", b"text/plain")], b"missing" * 100, b"POST"),
]


@pytest.mark.parametrize(("status", "headers", "body", "method"),
                         [c[1:] for c in FRAMER_CASES], ids=[c[0] for c in FRAMER_CASES])
def test_framed_response_reads_back_the_same_whole_or_split(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes, method: bytes
) -> None:
    for split in (False, True):
        first = frame(status, headers, body, split=split, method=method)
        assert frame(status, headers, body, split=split, method=method, as_parts=True) == first
        second = frame(200, [], b"next", split=False, method=method)
        expected_second = (200, b"" if method == b"HEAD" else b"next")
        assert read_back(first + second, method, count=2) == [(status, body), expected_second]


def test_framer_http10_is_close_delimited_unless_the_length_is_known() -> None:
    whole = frame(200, [], b"abc", split=False, version=b"1.0", keep_alive=True)
    assert b"content-length: 3\r\n" in whole and b"connection: keep-alive\r\n" in whole
    split = frame(200, [], b"abc", split=True, version=b"1.0", keep_alive=True)
    assert b"connection: close\r\n" in split and split.endswith(b"\r\n\r\nabc")


@pytest.mark.parametrize(("status", "headers", "parts"), [
    (200, [(b"content-length", b"2")], [b"abc"]),
    (200, [(b"content-length", b"4")], [b"abc"]),
    (200, [(b"bad name", b"v")], []),
    (200, [(b"x", b"a\r\nb")], []),
    (99, [], []),
    (101, [], []),
])
def test_framer_refuses_what_cannot_go_on_the_wire(
    status: int, headers: list[tuple[bytes, bytes]], parts: list[bytes]
) -> None:
    framer = ResponseFramer()
    with pytest.raises(LocalProtocolError):
        framer.start(status, headers, request_method=b"GET", http_version=b"1.1",
                     keep_alive=True, default_headers=[])
        for part in parts:
            framer.body(part, False)


# --- the ASGI websocket phase machine ---------------------------------------------------

SEND_TEXT = {"type": "websocket.send", "text": "t"}
ACCEPT = {"type": "websocket.accept"}
CLOSE = {"type": "websocket.close", "code": 1000}
START = {"type": "websocket.http.response.start", "status": 403, "headers": []}
BODY = {"type": "websocket.http.response.body", "body": b"no"}

# (phase, message, the action type, or the exception it raises)
PHASE_CASES: list[tuple[Phase, dict[str, Any], type]] = [
    (Phase.HANDSHAKE, ACCEPT, Accept),
    (Phase.HANDSHAKE, CLOSE, Deny),
    (Phase.HANDSHAKE, START, ResponseStart),
    (Phase.HANDSHAKE, SEND_TEXT, RuntimeError),
    (Phase.HANDSHAKE, BODY, RuntimeError),
    (Phase.RESPONSE, BODY, ResponseBody),
    (Phase.RESPONSE, CLOSE, RuntimeError),
    (Phase.RESPONSE, ACCEPT, RuntimeError),
    (Phase.RESPONSE, SEND_TEXT, ClientDisconnected),
    (Phase.OPEN, SEND_TEXT, SendMessage),
    (Phase.OPEN, {"type": "websocket.send", "bytes": b"b"}, SendMessage),
    (Phase.OPEN, {"type": "websocket.send", "text": "t", "bytes": b"b"}, RuntimeError),
    (Phase.OPEN, {"type": "websocket.send"}, RuntimeError),
    (Phase.OPEN, CLOSE, Close),
    (Phase.OPEN, {"type": "websocket.close", "code": 999}, RuntimeError),
    (Phase.OPEN, {"type": "websocket.close", "code": 5000}, RuntimeError),
    (Phase.OPEN, {"type": "websocket.close", "code": "1000"}, RuntimeError),
    (Phase.OPEN, ACCEPT, RuntimeError),
    (Phase.OPEN, START, RuntimeError),
    (Phase.OPEN, {"type": "websocket.bogus"}, RuntimeError),
    (Phase.CLOSING, SEND_TEXT, ClientDisconnected),
    (Phase.CLOSING, ACCEPT, ClientDisconnected),
    (Phase.CLOSING, START, ClientDisconnected),
    (Phase.CLOSING, BODY, ClientDisconnected),
    (Phase.CLOSING, CLOSE, Ignore),
    (Phase.CLOSED, SEND_TEXT, ClientDisconnected),
    (Phase.CLOSED, CLOSE, Ignore),
]


def in_phase(phase: Phase) -> WebSocketPhases:
    phases = WebSocketPhases()
    path = {Phase.HANDSHAKE: [], Phase.RESPONSE: [Phase.RESPONSE], Phase.OPEN: [Phase.OPEN],
            Phase.CLOSING: [Phase.OPEN, Phase.CLOSING],
            Phase.CLOSED: [Phase.OPEN, Phase.CLOSING, Phase.CLOSED]}[phase]
    for step in path:
        phases.advance(step)
    return phases


@pytest.mark.parametrize(("phase", "message", "outcome"), PHASE_CASES,
                         ids=[f"{p.name}-{m['type']}-{i}" for i, (p, m, _) in
                              enumerate(PHASE_CASES)])
def test_websocket_phase_rules(phase: Phase, message: dict[str, Any], outcome: type) -> None:
    phases = in_phase(phase)
    if issubclass(outcome, Exception):
        with pytest.raises(outcome):
            phases.check(message)
    else:
        assert type(phases.check(message)) is outcome
    assert phases.phase is phase  # checking never moves the phase


def test_websocket_actions_carry_the_apps_values() -> None:
    phases = in_phase(Phase.OPEN)
    assert phases.check(SEND_TEXT) == SendMessage("t")
    close = {"type": "websocket.close", "code": 4000, "reason": "r"}
    assert phases.check(close) == Close(4000, "r")
    assert phases.check({"type": "websocket.close"}) == Close(1000, "")
    response = in_phase(Phase.RESPONSE)
    assert response.check({**BODY, "more_body": True}) == ResponseBody(b"no", True)


def test_websocket_phase_transitions_follow_the_table() -> None:
    for source, targets in TRANSITIONS.items():
        for target in Phase:
            phases = in_phase(source)
            if target in targets:
                phases.advance(target)
                assert phases.phase is target
            else:
                with pytest.raises(AssertionError):
                    phases.advance(target)


# --- the frame channel ----------------------------------------------------------------


def client_bytes(*events: Any) -> bytes:
    client = Connection(ConnectionType.CLIENT)
    return b"".join(client.send(event) for event in events)


def channel_events(chunks: Iterator[bytes], max_size: int = 100) -> tuple[list[Any], bytes]:
    channel = FrameChannel([], max_size=max_size)
    events: list[Any] = []
    out = b""
    for chunk in chunks:
        got, reply = channel.receive(chunk)
        events += got
        out += reply
    return events, out


def received(text: str) -> Received:
    return Received({"type": "websocket.receive", "text": text}, len(text.encode()))


CHANNEL_CASES: list[tuple[str, bytes, list[Any]]] = [
    ("text-and-bytes",
     client_bytes(TextMessage("héllo"), BytesMessage(b"\x00\x01")),
     [received("héllo"), Received({"type": "websocket.receive", "bytes": b"\x00\x01"}, 2)]),
    ("fragmented", client_bytes(TextMessage("ab", message_finished=False), TextMessage("cd")),
     [received("abcd")]),
    ("ping-then-text", client_bytes(Ping(b"p"), TextMessage("x")), [received("x")]),
    ("close", client_bytes(TextMessage("x"), CloseConnection(1001, "bye")),
     [received("x"), PeerClosed(1001, "bye")]),
    ("too-big", client_bytes(TextMessage("a" * 101), TextMessage("after")),
     [Violation(1009, "Message too big")]),
    ("too-big-in-fragments",
     client_bytes(TextMessage("a" * 60, message_finished=False), TextMessage("b" * 60)),
     [Violation(1009, "Message too big")]),
    ("reserved-opcode", client_bytes(TextMessage("ok")) + b"\x83\x80\x00\x00\x00\x00",
     [received("ok"), Violation(1002, "")]),
    ("invalid-utf8", client_bytes(TextMessage("ok")) + b"\x81\x82\x00\x00\x00\x00\xff\xfe",
     [received("ok"), Violation(1007, "")]),
]


def without_reasons(events: list[Any]) -> list[Any]:
    return [Violation(e.code, "") if type(e) is Violation and e.code != 1009 else e
            for e in events]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CHANNEL_CASES],
                         ids=[c[0] for c in CHANNEL_CASES])
def test_channel_same_events_whole_byte_by_byte_and_with_trailing_data(
    data: bytes, expected: list[Any]
) -> None:
    whole, out = channel_events(iter([data]))
    assert without_reasons(whole) == expected
    one_by_one, out_split = channel_events(data[i:i + 1] for i in range(len(data)))
    assert without_reasons(one_by_one) == expected
    assert out_split == out
    # After a Close or a violation nothing more is read; otherwise the next message is.
    trailing, _ = channel_events(iter([data + client_bytes(TextMessage("next"))]))
    stops = any(type(e) in (PeerClosed, Violation) for e in expected)
    assert without_reasons(trailing) == expected + ([] if stops else [received("next")])


def test_channel_answers_pings_echoes_close_and_frames_what_the_app_sends() -> None:
    events, out = channel_events(iter([client_bytes(Ping(b"p"))]))
    assert events == []
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(out)
    assert [type(e) for e in client.events()] == [Pong]
    channel = FrameChannel([], max_size=100)
    sent = channel.send("hi") + channel.send(b"\x01") + channel.close(1000, "done")
    assert channel.close(1000, "again") == b""  # one Close only
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(sent)
    got = list(client.events())
    assert [(type(e), getattr(e, "data", None)) for e in got[:2]] == [
        (TextMessage, "hi"), (BytesMessage, b"\x01")]
    assert isinstance(got[2], CloseConnection) and got[2].code == 1000
    assert not channel.open and not channel.closed
    events, _ = channel.receive(client.send(got[2].response()))
    assert events == [PeerClosed(1000, "done")] and channel.closed
    assert channel.ping(b"x") == b""


def test_channel_reports_pongs() -> None:
    events, _ = channel_events(iter([client_bytes(Pong(b"x"))]))
    assert events == [PongReceived()]
