"""A WebSocket protocol violation after a valid message, in one read (RFC 6455 sections
5 and 7.1.7): the message before it reaches the app and the app's answer goes out, then
the Close with the right code; nothing after the violation reaches the app.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asyncdev.testing import serving
from test_websocket import TIMEOUT, client_frame, close_code, make_app, raw_open, read_frame

# A frame with RSV1 set, no extension negotiated; opcode 0x3 is reserved; a control
# frame must not be fragmented nor carry more than 125 bytes; a continuation needs a
# message to continue; text must be UTF-8.
VIOLATIONS = {
    "reserved bits": (bytes([0x80 | 0x40 | 0x1]) + client_frame(0x1, b"x")[1:], 1002),
    "reserved opcode": (client_frame(0x3, b"x"), 1002),
    "fragmented control frame": (client_frame(0x9, b"x", fin=False), 1002),
    "oversized control frame": (client_frame(0x9, b"x" * 126), 1002),
    "continuation without start": (client_frame(0x0, b"x"), 1002),
    "invalid UTF-8": (client_frame(0x1, b"\xff\xfe"), 1007),
}


async def read_until_eof(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), TIMEOUT)


@pytest.mark.parametrize("kind", list(VIOLATIONS))
async def test_message_before_a_violation_is_answered_then_closed(kind: str) -> None:
    violation, code = VIOLATIONS[kind]
    received: list[dict[str, Any]] = []

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": "echo " + message["text"]})

    async with serving(make_app(handler)) as server:
        reader, writer, head = await raw_open(server.port)
        assert b" 101 " in head
        writer.write(client_frame(0x1, b"hello") + violation + client_frame(0x1, b"after"))
        assert await read_frame(reader) == (0x1, b"echo hello")
        opcode, payload = await read_frame(reader)
        assert (opcode, close_code(payload)) == (0x8, code)
        assert await read_until_eof(reader) == b""
        writer.close()
    assert received[0] == {"type": "websocket.receive", "text": "hello"}
    assert [m["type"] for m in received] == ["websocket.receive", "websocket.disconnect"]
    assert received[1]["code"] == code


async def test_app_that_stops_receiving_still_gets_closed() -> None:
    received: list[dict[str, Any]] = []
    release = asyncio.Event()

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())
        await release.wait()  # never calls receive() again while the test runs

    violation, code = VIOLATIONS["reserved opcode"]
    async with serving(make_app(handler)) as server:
        reader, writer, _ = await raw_open(server.port)
        writer.write(client_frame(0x1, b"one") + violation + client_frame(0x1, b"two"))
        opcode, payload = await read_frame(reader)
        assert (opcode, close_code(payload)) == (0x8, code)
        assert await read_until_eof(reader) == b""
        writer.close()
        release.set()
    assert received == [{"type": "websocket.receive", "text": "one"}]


async def test_violation_alone_closes_at_once_with_its_code() -> None:
    received: list[dict[str, Any]] = []

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())

    violation, code = VIOLATIONS["invalid UTF-8"]
    async with serving(make_app(handler)) as server:
        reader, writer, _ = await raw_open(server.port)
        writer.write(violation + client_frame(0x1, b"two"))
        opcode, payload = await read_frame(reader)
        assert (opcode, close_code(payload)) == (0x8, code)
        assert await read_until_eof(reader) == b""
        writer.close()
    assert [(m["type"], m.get("code")) for m in received] == [("websocket.disconnect", code)]


async def test_message_before_an_oversized_one_is_answered_then_1009() -> None:
    received: list[dict[str, Any]] = []

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": "echo " + message["text"]})

    async with serving(make_app(handler), ws_max_size=100) as server:
        reader, writer, _ = await raw_open(server.port)
        writer.write(client_frame(0x1, b"hello") + client_frame(0x1, b"x" * 101)
                     + client_frame(0x1, b"after"))
        assert await read_frame(reader) == (0x1, b"echo hello")
        opcode, payload = await read_frame(reader)
        assert (opcode, close_code(payload)) == (0x8, 1009)
        writer.write(client_frame(0x8, payload[:2]))  # the closing handshake, completed
        assert await read_until_eof(reader) == b""
        writer.close()
    assert [(m["type"], m.get("text"), m.get("code")) for m in received] == [
        ("websocket.receive", "hello", None), ("websocket.disconnect", None, 1009)]
