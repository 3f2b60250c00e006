"""TLS for development: a self-signed localhost certificate, and wrong-protocol hints.

``development_certificate()`` returns ``(certfile, keyfile)`` of a certificate for
localhost, 127.0.0.1 and ::1, made once with the optional ``cryptography`` package and
kept in the user's cache directory until a month before it expires.
``add_plain_http_hint(context)`` makes an HTTPS listener answer a plain-HTTP request
with a 400 naming the https:// URL; ``tls_on_plain_port()`` logs the reverse mistake.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from .._errors import StartupError

__all__ = [
    "add_plain_http_hint",
    "cache_directory",
    "development_certificate",
    "plain_http_answer",
    "tls_on_plain_port",
]

logger = logging.getLogger("asyncdev.error")

VALID_DAYS = 365
# Renewed this long before it expires, so a running session never crosses the date.
RENEW_BEFORE_DAYS = 30
_FILE_NAME = "localhost.pem"
_STAMP = re.compile(rb"^# asyncdev development certificate, expires (\d+)\b")
# The same mistake repeats with every retry of the browser: one line per few seconds.
_LOG_INTERVAL = 5.0
_last_logged: dict[str, float] = {}


def cache_directory() -> Path:
    """``$XDG_CACHE_HOME/asyncdev``, else ``~/.cache/asyncdev``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "asyncdev"


def development_certificate() -> tuple[str, str]:
    """A self-signed certificate for localhost: ``(certfile, keyfile)``, both one PEM file
    holding the key and the certificate (written atomically, so two processes starting
    at once never pair a key with the other's certificate)."""
    path = cache_directory() / _FILE_NAME
    if _still_valid(path):
        return str(path), str(path)
    try:
        pem, expires = _make_certificate()
    except ImportError as exc:
        raise StartupError(
            "--https needs the cryptography package to make a development certificate: "
            "pip install 'asyncdev[https]' (or give --ssl-certfile and --ssl-keyfile)."
        ) from exc
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".localhost-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as file:  # mkstemp makes it 0600: it holds a key
                file.write(b"# asyncdev development certificate, expires %d\n" % expires)
                file.write(pem)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise StartupError(
            f"Cannot write the development certificate to {path.parent}: {exc.strerror}. "
            "Set XDG_CACHE_HOME to a writable directory."
        ) from exc
    logger.info(
        "Made a self-signed development certificate for localhost in %s; browsers warn "
        "about it once", path,
    )
    return str(path), str(path)


def _still_valid(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            first = file.readline(200)
    except OSError:
        return False
    match = _STAMP.match(first)
    if match is None:
        return False
    return int(match.group(1)) - RENEW_BEFORE_DAYS * 86400 > time.time()


def _make_certificate() -> tuple[bytes, int]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())  # fast to make, accepted everywhere
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "asyncdev development certificate"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    expires = now + datetime.timedelta(days=VALID_DAYS)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # clocks drift
        .not_valid_after(expires)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.DNSName("*.localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    return pem, int(expires.timestamp())


# --- wrong-protocol hints ------------------------------------------------------------


def tls_on_plain_port(client: str) -> None:
    """Log that a client spoke TLS to a plain HTTP port (the connection is then closed)."""
    if _should_log("tls"):
        logger.warning(
            "A client (%s) tried HTTPS on this plain HTTP port: open the http:// URL, "
            "or restart the server with --https",
            client,
        )


def add_plain_http_hint(context: ssl.SSLContext) -> None:
    """Answer plain HTTP sent to this TLS server with a 400 naming the https:// URL.

    asyncio (and uvloop) drive TLS through ``context.wrap_bio``; the SSL object it makes
    looks at the first bytes before the handshake and, when they are an HTTP request
    line rather than a TLS record, puts a plain response in the outgoing buffer and asks
    for more data, which makes the event loop flush that response to the socket.
    """
    context.sslobject_class = _HintingSSLObject


_REQUEST_LINE = re.compile(rb"[A-Z]{3,10} (/[!-~]*) HTTP/1\.[01]\r?\n")
_HOST_FIELD = re.compile(rb"\r?\nhost:[ \t]*([A-Za-z0-9.:\[\]-]{1,255})[ \t]*\r?\n", re.I)


def plain_http_answer(data: bytes) -> bytes:
    """The plain-text 400 sent to an HTTP request that reached the TLS port."""
    url = "https://<this host>/"
    line = _REQUEST_LINE.match(data)
    host = _HOST_FIELD.search(data)
    if host is not None:
        target = line.group(1).decode("ascii") if line is not None else "/"
        url = "https://" + host.group(1).decode("ascii") + target
    body = (
        f"This server speaks HTTPS only: open {url} instead of the http:// URL.\n"
    ).encode("ascii", "replace")
    return (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%b" % (len(body), body)
    )


class _HintingSSLObject(ssl.SSLObject):
    _asyncdev_io: tuple[ssl.MemoryBIO, ssl.MemoryBIO] | None
    _asyncdev_answered: bool

    @classmethod
    def _create(  # type: ignore[override]
        cls, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, *, server_side: bool = False,
        server_hostname: str | None = None, session: Any = None, context: Any = None,
    ) -> _HintingSSLObject:
        self: _HintingSSLObject = super()._create(  # type: ignore[misc]
            incoming, outgoing, server_side=server_side, server_hostname=server_hostname,
            session=session, context=context,
        )
        self._asyncdev_io = (incoming, outgoing) if server_side else None
        self._asyncdev_answered = False
        return self

    def do_handshake(self) -> None:
        io = self._asyncdev_io
        if io is not None:
            if self._asyncdev_answered:
                # The client sent more after our answer: end it like any failed handshake.
                raise ssl.SSLError("plain HTTP request on an HTTPS port")
            incoming, outgoing = io
            data = incoming.read()
            if data:
                self._asyncdev_io = None  # decided on the first bytes
                try:
                    incoming.write(data)  # put them back for the TLS library
                except ssl.SSLError:
                    pass
                if 0x41 <= data[0] <= 0x5A:  # "GET", "POST"...: a TLS record starts 0x16
                    outgoing.write(plain_http_answer(data))
                    self._asyncdev_io = io
                    self._asyncdev_answered = True
                    if _should_log("http"):
                        logger.warning(
                            "A client sent plain HTTP to this HTTPS port: it was told to "
                            "open the https:// URL"
                        )
                    # With its errno: Python 3.10's asyncio tells "want read" by errno.
                    raise ssl.SSLWantReadError(ssl.SSL_ERROR_WANT_READ, "plain HTTP answered")
        super().do_handshake()


def _should_log(kind: str) -> bool:
    now = time.monotonic()
    if now - _last_logged.get(kind, -_LOG_INTERVAL) < _LOG_INTERVAL:
        return False
    _last_logged[kind] = now
    return True
