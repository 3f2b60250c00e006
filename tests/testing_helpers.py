"""Helpers for the asyncdev.testing tests: leak checks and a throwaway TLS certificate."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

FD_DIR = "/proc/self/fd"

# Arguments for in-process pytester runs. Hypothesis is left out: an in-process run
# unloads the modules it imported, and importing hypothesis again costs seconds.
# pytest-django (in the test group for the Django live-server tests) is left out too:
# its autouse helper claims any fixture named ``live_server``, as the README's has.
INNER_PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:django")


def open_fds() -> list[str]:
    """What each open descriptor of this process points to (sorted)."""
    targets = []
    for name in os.listdir(FD_DIR):
        with contextlib.suppress(OSError):  # the directory's own descriptor
            targets.append(os.readlink(os.path.join(FD_DIR, name)))
    return sorted(targets)


@contextlib.contextmanager
def no_leaks() -> Iterator[None]:
    """Fail when the block leaves a thread running or a descriptor (socket) open."""
    if not os.path.isdir(FD_DIR):
        pytest.skip("needs /proc/self/fd")
    threads = set(threading.enumerate())
    fds = open_fds()
    yield
    leftover = [t.name for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert leftover == [], f"threads left running: {leftover}"
    after = open_fds()
    assert len(after) == len(fds), f"descriptors before: {fds}\nafter: {after}"


def warm_up() -> None:
    """Allocate the descriptors that first use of uvloop keeps for the process's life."""
    import httpx

    from asyncdev.testing import run_in_thread

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    for loop in ("asyncio", "auto"):
        with run_in_thread(app, loop=loop) as server:
            httpx.get(server.url)


def refused(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on the port any more."""
    try:
        socket.create_connection((host, port), timeout=10).close()
    except ConnectionRefusedError:
        return True
    return False


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """(certfile, keyfile) for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(certfile), str(keyfile)
