"""What the client tells the app about the wire: the bytes that really crossed it (failed and
retried attempts included) and, when a request got no answer, its real cause.

Against raw sockets on 127.0.0.1 that misbehave the way a 2G link does: answer nothing, close
mid-request, refuse the connection.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

from sync import errors
from sync.client import SyncClient, network_error
from tests.sync.tls import server_context, tls_listener

CHUNK = b"p" * 200_000


@contextmanager
def raw_server(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    """A TCP server on 127.0.0.1 running ``handle`` on every connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in held:
            conn.close()


def _read_request(conn: socket.socket) -> int:
    """Read one request with its body; how many bytes came."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return len(data)
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return len(head) + 4 + len(body)


def test_bytes_of_an_answered_request_count_headers_and_body_both_ways() -> None:
    answer = b'{"ok": true}'
    received: list[int] = []

    def handle(conn: socket.socket) -> None:
        received.append(_read_request(conn))
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nUpload-Offset: 200000\r\n"
            + f"Content-Length: {len(answer)}\r\n\r\n".encode()
            + answer
        )

    with raw_server(handle) as url:
        client = SyncClient(url, token="t")
        assert client.upload_chunk("a", offset=0, chunk=CHUNK) == 200_000
    # Exactly what the server read: the request line, the headers and the chunk.
    assert client.bytes_sent == received[0] > len(CHUNK)
    assert client.bytes_received > len(answer)


def test_a_request_cut_off_by_the_server_counts_what_went_and_says_the_connection_broke() -> None:
    # The server reads the whole chunk, then drops the connection without a word: the bytes
    # went over the air, though no answer came. Before, they counted 0. (A chunk is not
    # retried by urllib3: its sender asks the server's offset first.)
    taken: list[int] = []

    def handle(conn: socket.socket) -> None:
        taken.append(_read_request(conn))
        conn.close()

    with raw_server(handle) as url:
        client = SyncClient(url, token="t")
        with pytest.raises(errors.ConnectionLost) as caught:
            client.upload_chunk("a", offset=0, chunk=CHUNK)
    assert caught.value.cause == "connection_lost"
    assert client.bytes_sent == sum(taken) >= len(CHUNK)


def test_silence_on_an_open_connection_is_a_link_too_slow() -> None:
    def handle(conn: socket.socket) -> None:
        _read_request(conn)  # and never answer

    with raw_server(handle) as url:
        client = SyncClient(url, token="t", timeout=(2.0, 0.3))
        with pytest.raises(errors.LinkTimeout, match="too slow"):
            client.upload_chunk("a", offset=0, chunk=CHUNK)
    assert client.bytes_sent >= len(CHUNK)


def _answer_a_third(conn: socket.socket) -> None:
    """Read the request, then send an answer's headers and the first bytes of its body."""
    _read_request(conn)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 39\r\n\r\n"
        + b'{"results": ['
    )


def test_an_answer_cut_off_mid_body_says_the_connection_broke() -> None:
    # The server (or the link) dies after the answer's headers, before its body is all there:
    # urllib3 raises its own ProtocolError (IncompleteRead), which escaped as a crash of the
    # round instead of "the connection broke" (seen when a server was killed mid-push).
    def handle(conn: socket.socket) -> None:
        _answer_a_third(conn)
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    with raw_server(handle) as url:
        client = SyncClient(url, token="t")
        with pytest.raises(errors.ConnectionLost) as caught:
            client.upload_chunk("a", offset=0, chunk=CHUNK)
    assert caught.value.cause == "connection_lost"


def test_an_answer_that_stalls_mid_body_is_a_link_too_slow() -> None:
    stalled = threading.Event()

    def handle(conn: socket.socket) -> None:
        _answer_a_third(conn)
        stalled.wait(5)  # and the rest never comes while the client waits

    with raw_server(handle) as url:
        client = SyncClient(url, token="t", timeout=(2.0, 0.3))
        try:
            with pytest.raises(errors.LinkTimeout, match="too slow"):
                client.upload_chunk("a", offset=0, chunk=CHUNK)
        finally:
            stalled.set()


def test_an_answer_past_the_limit_is_refused_without_reading_it_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sync.client.MAX_ANSWER_BYTES", 4096)
    sent = threading.Event()

    def handle(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100_000)
        sent.wait(5)

    with raw_server(handle) as url:
        client = SyncClient(url, token="t", timeout=(2.0, 2.0))
        try:
            with pytest.raises(errors.ServerError, match="too large"):
                client.upload_chunk("a", offset=0, chunk=CHUNK)
        finally:
            sent.set()


def test_a_refused_connection_is_a_server_unreachable() -> None:
    spare = socket.create_server(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nobody listens there now
    client = SyncClient(f"http://127.0.0.1:{port}", token="t", timeout=(2.0, 2.0))
    with pytest.raises(errors.ServerUnreachable) as caught:
        client.upload_offset("a")
    assert caught.value.cause == "unreachable"


@pytest.mark.parametrize(
    ("certificate", "cause"),
    [
        # A tablet whose date went back (a flat battery) sees the certificate not yet valid;
        # one whose date ran ahead sees it expired.
        ({"valid_from": timedelta(days=30)}, "certificate_date"),
        ({"valid_from": -timedelta(days=60), "valid_for": timedelta(days=30)}, "certificate_date"),
        # A sign-in page intercepting HTTPS, or a wrong address: another name, or a certificate
        # the tablet does not trust.
        ({"name": "pilot.example.org"}, "certificate"),
        ({"trusted": False}, "certificate"),
    ],
)
def test_a_refused_certificate_is_said_for_what_it_is(
    certificate: dict[str, Any],
    cause: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It was "the server cannot be reached (it may be down)": a tablet whose date a flat
    # battery had reset never synced again, and nothing said why.
    context = server_context(tmp_path, monkeypatch, **certificate)
    with tls_listener(context) as port:
        client = SyncClient(f"https://127.0.0.1:{port}", token="t", timeout=(5.0, 5.0))
        with pytest.raises(errors.CertificateRefused) as caught:
            client.upload_offset("a")
    assert caught.value.cause == cause
    assert caught.value.retry  # once the date is set or the network signed in to
    if cause == "certificate_date":
        assert "check the tablet's date and time" in caught.value.message


def _wrapped(inner: BaseException) -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/x", inner))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (
            _wrapped(
                NameResolutionError(
                    "pilot.example.org",
                    None,  # type: ignore[arg-type]
                    socket.gaierror(-3, "Temporary failure"),
                )
            ),
            errors.NoNetwork,
        ),
        (_wrapped(OSError(errno.ENETUNREACH, "Network is unreachable")), errors.NoNetwork),
        (_wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "refused")), errors.ServerUnreachable),
        (requests.exceptions.ConnectTimeout("connect timed out"), errors.ServerUnreachable),
        (requests.exceptions.ReadTimeout("read timed out"), errors.LinkTimeout),
        (
            requests.exceptions.ConnectionError(
                ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
            ),
            errors.ConnectionLost,
        ),
        (requests.exceptions.ChunkedEncodingError("broken"), errors.ConnectionLost),
    ],
)
def test_network_failures_are_named_by_their_cause(
    failure: BaseException, kind: type[errors.NetworkError]
) -> None:
    found = network_error(failure)
    assert type(found) is kind
    assert found.retry and found.cause in errors.CAUSES
