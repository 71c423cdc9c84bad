"""Certificates for TLS tests on 127.0.0.1, made with ``cryptography`` (a server dependency)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest


def server_context(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    valid_from: timedelta = -timedelta(days=1),
    valid_for: timedelta = timedelta(days=2),
    name: str = "127.0.0.1",
    trusted: bool = True,
) -> ssl.SSLContext:
    """A server context with a self-signed certificate for ``name`` (an IP address or a host
    name), valid from now + ``valid_from`` for ``valid_for``; clients in this process trust it
    (``REQUESTS_CA_BUNDLE``) unless ``trusted`` is false, when they trust another certificate
    for the same name instead."""
    start = datetime.now(UTC) + valid_from
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate, key = _self_signed(name, start, start + valid_for)
    cert_file.write_bytes(certificate)
    key_file.write_bytes(key)
    bundle = cert_file
    if not trusted:
        bundle = tmp_path / "trusted.pem"
        bundle.write_bytes(_self_signed(name, start, start + valid_for)[0])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def _self_signed(name: str, start: datetime, end: datetime) -> tuple[bytes, bytes]:
    """A new key and a self-signed certificate for ``name``, as PEM: (certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    try:
        alternative: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        alternative = x509.DNSName(name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([alternative]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@contextmanager
def tls_listener(context: ssl.SSLContext) -> Iterator[int]:
    """A server on 127.0.0.1 that only shakes hands (TLS) with ``context``; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # shut below
            with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        listener.close()
        thread.join()
