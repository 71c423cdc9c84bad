"""The tablet's one HTTP session with the server: timeouts, retries, gzip, bytes, typed errors.

Every request goes through ``SyncClient._send``: it counts the bytes that really crossed the
wire and turns every failure into one ``sync.errors`` exception named by its real cause (no
network, server unreachable, link too slow, connection lost mid-transfer, server busy…:
``network_error``). urllib3 retries connection failures and 429/502/503/504 for GET, HEAD and
POST (a push is idempotent by its seqs); never a photo chunk (PATCH), whose sender asks the
server's offset after any failure instead (``sync.attachments``).

Timeouts bound silence, never the length of a transfer, so a 2G link (10 KB/s) that keeps
moving is never cut (docs/protocol.md#attachments): the connect timeout covers connecting
only; a body goes out in blocks of ``SEND_BLOCK_BYTES``, each ``send`` with the write timeout
(``FieldLinkAdapter``), over a small kernel send buffer so that sending waits for the link
rather than filling a queue the read timeout would then have to wait out; the read timeout
covers each wait for the answer. (urllib3 leaves the connect timeout on the socket while it
sends, and ``sendall`` takes a timeout as a deadline for the whole body.)

Bytes are counted on the socket (``WireCounter``, in the default session's connections):
headers, retried attempts and the part of a send that a timeout or a dropped link cut short all
count, as they cost the tablet's data plan and its time on a 2G link. Over HTTPS the count is
of the bytes inside TLS. A session handed in (tests) counts bodies and answers instead.

A busy server (429 Too Many Requests, 503) is waited out for the seconds its ``Retry-After``
asks — but never longer than the read timeout (``BusyAwareRetry``): a longer wait would hold the
sync thread, so the answer comes back at once as ``errors.ServerBusy(retry_after=…)`` and the
schedule (``sync.schedule``) waits at least that long before the next round.

Tests (and the offline bundle tools) may hand in their own ``requests.Session`` — for example
one whose adapter forwards to an in-process app — instead of the default one.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry

from sync import errors
from sync.protocol import (
    DEFAULT_PULL_LIMIT,
    PullResponse,
    PushResponse,
    SyncInfo,
    TabletStatus,
)

API_PREFIX = "/api/v1"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
# The longest a body may go without the link taking a block of it.
WRITE_TIMEOUT = 30.0
SEND_BLOCK_BYTES = 8 * 1024
SEND_BUFFER_BYTES = 32 * 1024
# Answers larger than this are refused rather than held in memory (a pull page is far smaller).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# How often a wait between attempts looks whether the tablet is stopping.
PAUSE_STEP = 0.05


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (None: none, or unreadable).

    An HTTP date is measured against the answer's own ``Date`` (the server's clock), never
    against the tablet's clock, which may be a year off.
    """
    value = _header(headers, "retry-after")
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    date = _header(headers, "date")
    if date is None:
        return None
    try:
        seconds = (parsedate_to_datetime(value) - parsedate_to_datetime(date)).total_seconds()
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    found = headers.get(name)
    if found is None:
        found = next((v for k, v in headers.items() if k.lower() == name), None)
    return found


class BusyAwareRetry(Retry):
    """urllib3's ``Retry`` that waits out a busy server's ``Retry-After`` only when it is short.

    ``retry_after_max`` (the client's read timeout) bounds every wait: when 429 or 503 asks for
    longer, the answer is handed back at once instead of holding the sync thread, and the
    schedule waits. Only 429 and 503 are read for ``Retry-After`` (not 413).
    """

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    # Set when the tablet stops syncing (the app is closing): every wait between attempts ends
    # at once, so a round against a server that cannot be reached fails in a moment instead of
    # holding the app's stop, on its UI thread, for its back-off (Android reports an app whose
    # UI thread is held five seconds as not responding).
    stopping: threading.Event | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.stopping = self.stopping
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> BusyAwareRetry:
        if self.stopping is not None and self.stopping.is_set():
            # No further attempt: the request was cut (its socket shut) or failed as the
            # tablet stops. urllib3 hands back an answer it holds, or raises.
            raise MaxRetryError(_pool, url or "", error or ResponseError("the tablet is stopping"))
        if response is not None and response.status in self.RETRY_AFTER_STATUS_CODES:
            wait = retry_after_seconds(response.headers)
            if wait is not None and wait > self.retry_after_max:
                # Caught by urllib3, which hands this answer back (raise_on_status=False).
                raise MaxRetryError(
                    _pool,
                    url or "",
                    ResponseError(
                        f"the server asks to wait {wait:.0f} s, longer than this client waits"
                    ),
                )
        return super().increment(
            method, url, response=response, error=error, _pool=_pool, _stacktrace=_stacktrace
        )

    def get_retry_after(self, response: Any) -> float | None:
        wait = retry_after_seconds(response.headers)
        return None if wait is None else min(wait, self.retry_after_max)

    def sleep_for_retry(self, response: Any) -> bool:
        wait = self.get_retry_after(response)
        if wait:
            self.pause(wait)
            return True
        return False

    def _sleep_backoff(self) -> None:
        self.pause(self.get_backoff_time())

    def pause(self, seconds: float) -> None:
        """Sleep between attempts, unless stopping (tests replace it to record the waits).

        In short sleeps, looking at ``stopping`` between them, rather than ``Event.wait``: a
        timed wait on a lock never ends on a clock faked by libfaketime (``make test-days``),
        where ``time.sleep`` does."""
        left = seconds
        while left > 0:
            if self.stopping is not None and self.stopping.is_set():
                return
            step = min(left, PAUSE_STEP)
            time.sleep(step)
            left -= step


def default_retry(
    *, max_wait: float = READ_TIMEOUT, stopping: threading.Event | None = None
) -> Retry:
    """Quick retries for blips and short "busy" answers; the schedule's back-off handles
    longer outages. ``max_wait`` bounds any one wait for ``Retry-After``; once ``stopping`` is
    set, no attempt waits."""
    retry = BusyAwareRetry(
        total=3,
        connect=3,
        read=2,
        status=2,
        other=0,
        backoff_factor=0.5,
        backoff_jitter=0.5,
        backoff_max=10,
        status_forcelist=(429, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "POST"}),
        respect_retry_after_header=True,
        retry_after_max=int(max_wait),
        raise_on_status=False,
    )
    retry.stopping = stopping
    return retry


class WireCounter:
    """Bytes that crossed the tablet's sockets, both ways (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.received = 0

    def add(self, *, sent: int = 0, received: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.received += received


class _CountingReader(io.RawIOBase):
    """The socket's own unbuffered reader (which keeps the socket open while a response is
    read after the connection was closed, as http.client does), counting what it reads."""

    def __init__(self, raw: Any, counter: WireCounter) -> None:
        self._raw = raw
        self._counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        received = self._raw.readinto(buffer)
        if received:
            self._counter.add(received=received)
        return int(received or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _CountingSocket:
    """A connected socket that adds every byte it sends or receives to a ``WireCounter``;
    everything else goes to the socket itself."""

    def __init__(self, sock: Any, counter: WireCounter) -> None:
        self._sock = sock
        self._counter = counter

    def sendall(self, data: Any, flags: int = 0) -> None:
        # Piece by piece, so that the bytes a timeout interrupts are counted too.
        view = memoryview(data).cast("B")
        while view:
            sent = self._sock.send(view, flags) if flags else self._sock.send(view)
            self._counter.add(sent=sent)
            view = view[sent:]

    def send(self, data: Any, *args: Any) -> int:
        sent = int(self._sock.send(data, *args))
        self._counter.add(sent=sent)
        return sent

    def recv_into(self, buffer: Any, *args: Any) -> int:
        received = int(self._sock.recv_into(buffer, *args))
        self._counter.add(received=received)
        return received

    def recv(self, size: int, *args: Any) -> bytes:
        data = bytes(self._sock.recv(size, *args))
        self._counter.add(received=len(data))
        return data

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode in ("rb", "br"):
            raw = self._sock.makefile("rb", buffering=0)
            return io.BufferedReader(_CountingReader(raw, self._counter))
        return self._sock.makefile(mode, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _SilenceBound:
    """Sends each block under the write timeout; connecting keeps the connect timeout."""

    write_timeout: float = WRITE_TIMEOUT
    sock: socket.socket | None

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]  # of the urllib3 connection mixed with
        assert self.sock is not None
        self.sock.settimeout(self.write_timeout)
        super().send(data)  # type: ignore[misc]


class LiveSockets:
    """The sockets of a client's connections, so that stopping can cut the request on the wire:
    a photo chunk over 2G, or an answer still coming, would otherwise hold the app's close for
    seconds (up to the read timeout). A socket connected after the cut is shut at once."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        # Weakly: a socket whose connection was dropped without closing is not kept open here.
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            if self._stopping.is_set():
                _shut(sock)

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def cut(self) -> None:
        """Shut every socket in use (``stopping`` is set first): a send or a read blocked on
        one fails at once."""
        with self._lock:
            for sock in list(self._sockets):
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # ``socket.socket``'s own shutdown, also for a TLS socket: ``SSLSocket.shutdown`` drops its
    # TLS state, under a read that another thread may be in.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Cuttable:
    """Puts the connected socket in the client's ``LiveSockets`` (``live`` set per adapter)
    until the connection closes."""

    live: LiveSockets
    sock: Any
    _watched: socket.socket | None = None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._watched = self.sock
        self.live.watch(self.sock)

    def close(self) -> None:
        watched, self._watched = self._watched, None
        try:
            super().close()  # type: ignore[misc]
        finally:
            if watched is not None:
                self.live.forget(watched)


class _Counted:
    """Wraps the connected socket in a ``_CountingSocket`` (``counter`` set per adapter)."""

    counter: WireCounter
    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock = _CountingSocket(self.sock, self.counter)


def _pool_classes(
    write_timeout: float, counter: WireCounter | None, live: LiveSockets | None
) -> dict[str, type[HTTPConnectionPool]]:
    def pool(base: type[HTTPConnectionPool], connection: type[HTTPConnection]) -> type:
        # _Counted wraps the socket that _Cuttable (after it in the order) has just watched.
        mixins: tuple[type, ...] = (
            _SilenceBound,
            *((_Counted,) if counter is not None else ()),
            *((_Cuttable,) if live is not None else ()),
        )
        bound = type(
            f"FieldLink{connection.__name__}",
            (*mixins, connection),
            {"write_timeout": write_timeout, "counter": counter, "live": live},
        )
        return type(f"FieldLink{base.__name__}", (base,), {"ConnectionCls": bound})

    return {
        "http": pool(HTTPConnectionPool, HTTPConnection),
        "https": pool(HTTPSConnectionPool, HTTPSConnection),
    }


class FieldLinkAdapter(HTTPAdapter):
    """The requests adapter of the tablet: timeouts that bound silence (see the module doc);
    given a ``counter``, every byte its connections send and receive counted; given ``live``,
    their sockets kept there to be cut when the tablet stops."""

    def __init__(
        self,
        *,
        write_timeout: float = WRITE_TIMEOUT,
        counter: WireCounter | None = None,
        live: LiveSockets | None = None,
        **kwargs: Any,
    ) -> None:
        self.write_timeout = write_timeout
        self.counter = counter  # before HTTPAdapter makes its pool manager
        self.live = live
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("blocksize", SEND_BLOCK_BYTES)
        pool_kwargs.setdefault(
            "socket_options",
            [
                *HTTPConnection.default_socket_options,
                (socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES),
            ],
        )
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(
            self.write_timeout, self.counter, self.live
        )


def default_session(
    *,
    max_wait: float = READ_TIMEOUT,
    write_timeout: float = WRITE_TIMEOUT,
    counter: WireCounter | None = None,
    stopping: threading.Event | None = None,
    live: LiveSockets | None = None,
) -> requests.Session:
    session = requests.Session()
    adapter = FieldLinkAdapter(
        write_timeout=write_timeout,
        counter=counter,
        live=live,
        max_retries=default_retry(max_wait=max_wait, stopping=stopping),
        pool_connections=2,
        pool_maxsize=4,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED: the certificate's
# dates against the tablet's clock.
_CERTIFICATE_DATE_CODES = frozenset({9, 10})
_NO_NETWORK_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}
)


def network_error(exc: BaseException) -> errors.NetworkError:
    """The ``sync.errors.NetworkError`` that names why a request got no answer.

    requests wraps urllib3's errors, which wrap the socket's: the chain is walked for the
    first thing that says what happened — no route or no name resolution (no network), a
    refused or unanswered connection (server unreachable), silence on an open connection (link
    too slow), a connection that broke during a transfer.
    """
    seen: set[int] = set()
    chain: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(item)
        for nested in (
            getattr(item, "reason", None),
            item.__cause__,
            item.__context__,
            *(a for a in item.args if isinstance(a, BaseException)),
        ):
            if isinstance(nested, BaseException):
                todo.append(nested)
    again = "will try again later"
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            if item.verify_code in _CERTIFICATE_DATE_CODES:
                return errors.CertificateRefused(
                    f"the server's certificate is not valid at the tablet's date "
                    f"({item.verify_message}): check the tablet's date and time; {again}",
                    dates=True,
                )
            return errors.CertificateRefused(
                f"the server's certificate was refused ({item.verify_message}): a sign-in page "
                f"may stand in between, or the address is wrong; {again}",
                dates=False,
            )
    for item in chain:
        if isinstance(item, NameResolutionError | socket.gaierror):
            return errors.NoNetwork(f"no network: the server's name cannot be looked up; {again}")
        if isinstance(item, OSError) and item.errno in _NO_NETWORK_ERRNOS:
            return errors.NoNetwork(f"no network: {item.strerror or item}; {again}")
    if any(isinstance(i, requests.exceptions.ConnectTimeout) for i in chain):
        return errors.ServerUnreachable(
            f"the server did not accept a connection in time (it may be down or the network "
            f"too weak); {again}"
        )
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return errors.ServerUnreachable(
                f"the server refused the connection (it may be down); {again}"
            )
    if any(
        isinstance(i, requests.exceptions.ReadTimeout | ReadTimeoutError | TimeoutError)
        for i in chain
    ):
        return errors.LinkTimeout(f"the link is too slow: no answer in time; {again}")
    if any(isinstance(i, requests.exceptions.ConnectionError) for i in chain) and not any(
        isinstance(i, ConnectionResetError | BrokenPipeError | ConnectionAbortedError)
        or "Connection aborted" in str(i)
        or "RemoteDisconnected" in type(i).__name__
        for i in chain
    ):
        return errors.ServerUnreachable(f"cannot reach the server; {again}")
    return errors.ConnectionLost(f"the connection broke during the transfer; {again}")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The answer's JSON; ``NotTheServer`` when it is not JSON, as when a Wi-Fi sign-in
        page answers in the server's place (the server answers JSON, errors included)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:  # invalid JSON or UTF-8
            raise _not_the_server(self.status) from exc


class _OutgoingBody(io.BytesIO):
    """A request body read out block by block; each block is reported as it goes."""

    def __init__(self, data: bytes, on_read: Callable[[int], None]) -> None:
        super().__init__(data)
        self._on_read = on_read

    def read(self, size: int | None = -1) -> bytes:
        block = super().read(size)
        if block:
            self._on_read(len(block))
        return block


class SyncClient:
    """Calls of protocol v1 against one server with one device token.

    ``timeout`` is (connect, read): connecting, and each wait for an answer's bytes;
    ``write_timeout`` bounds each block of a body (used by the default session).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        write_timeout: float = WRITE_TIMEOUT,
        app_version: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.counter = WireCounter()
        # A session handed in (tests, an in-process transport) has no sockets to count on:
        # the client counts the bodies it sends and the answers it reads instead.
        self._count_bodies = session is not None
        self._stopping = threading.Event()
        self._live = LiveSockets(self._stopping)
        self.session = session or default_session(
            max_wait=timeout[1],
            write_timeout=write_timeout,
            counter=self.counter,
            stopping=self._stopping,
            live=self._live,
        )
        self.timeout = timeout
        self.app_version = app_version

    def stop_waiting(self) -> None:
        """The tablet is stopping: the request on the wire is cut (its socket shut, even
        mid-way through a photo chunk over 2G or while its answer comes), no request waits
        between its attempts or tries again, and no new request leaves. Each ends in
        ``errors.Stopped``, so that a round in progress ends at once. The round is tried again
        at the next start, going on where it stopped: a request cut after the server took it is
        answered again from the server's record of it. Any thread may call it."""
        self._stopping.set()
        self._live.cut()

    @property
    def bytes_sent(self) -> int:
        return self.counter.sent

    @property
    def bytes_received(self) -> int:
        return self.counter.received

    # --- protocol calls --------------------------------------------------------------------

    def info(self) -> SyncInfo:
        return _protocol(SyncInfo, self._send("GET", "/sync/info"))

    def push(self, envelope: bytes, *, compress: bool = True) -> PushResponse:
        """Send one batch (an encoded ``PushRequest``), gzipped unless told otherwise."""
        if compress:
            return self.push_packed(gzip.compress(envelope, compresslevel=6))
        return self._push(envelope, {"Content-Type": "application/json"})

    def push_packed(self, packed: bytes) -> PushResponse:
        """Send one batch already gzipped."""
        return self._push(packed, {"Content-Type": "application/json", "Content-Encoding": "gzip"})

    def _push(self, body: bytes, headers: dict[str, str]) -> PushResponse:
        if self.app_version:
            headers["X-App-Version"] = self.app_version
        answer = self._send("POST", "/sync/push", body=body, headers=headers)
        return _protocol(PushResponse, answer)

    def pull(self, cursor: str | None, *, limit: int = DEFAULT_PULL_LIMIT) -> PullResponse:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return _protocol(PullResponse, self._send("GET", "/sync/pull", params=params))

    def receipt_keys(self) -> list[dict[str, Any]]:
        """The server's published custody-receipt keys (``receipt_keys`` of ``GET /sync/info``,
        ``[{"key_id", "public_key"}]``; empty from a server without receipts)."""
        body = self._send("GET", "/sync/info").json()
        keys = body.get("receipt_keys") if isinstance(body, dict) else None
        return [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []

    def bundle_key(self) -> tuple[str, str]:
        """This tablet's (bundle key, key id), for signing offline bundles."""
        body = self._send("POST", "/sync/bundle-key").json()
        key, key_id = body.get("bundle_key"), body.get("bundle_key_id")
        if not isinstance(key, str) or not isinstance(key_id, str) or not key or not key_id:
            raise errors.ServerError("the server's answer holds no bundle key", status=200)
        return key, key_id

    def post_status(self, status: TabletStatus) -> bool:
        """Report what this tablet holds (docs/protocol.md#tablet-status). False when the
        server is older than tablet status (404): the round goes on without it."""
        body = status.model_dump_json().encode()
        try:
            self._send(
                "POST", "/sync/status", body=body, headers={"Content-Type": "application/json"}
            )
        except errors.RequestRefused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def upload_offset(self, attachment_id: str) -> int:
        """How many bytes of a photo the server holds (``HEAD``)."""
        answer = self._send("HEAD", f"/attachments/{attachment_id}")
        return int(answer.headers.get("upload-offset", "0"))

    def upload_chunk(
        self,
        attachment_id: str,
        *,
        offset: int,
        chunk: bytes,
        on_sent: Callable[[int], None] | None = None,
    ) -> int:
        """Append ``chunk`` at ``offset``; returns the server's new offset.

        ``on_sent(n)``: ``n`` bytes of the chunk have gone out so far (called as they go).
        """
        headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        answer = self._send(
            "PATCH",
            f"/attachments/{attachment_id}",
            body=chunk,
            headers=headers,
            on_sent=on_sent,
        )
        return int(answer.headers.get("upload-offset", offset + len(chunk)))

    # --- the one place that talks HTTP -------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> Answer:
        if self._stopping.is_set():
            raise errors.Stopped("the app is closing; the sync goes on at its next start")
        all_headers = {"Accept-Encoding": "gzip", "Accept": "application/json"}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        url = f"{self.base_url}{API_PREFIX}{path}"
        sent = 0

        def went_out(size: int) -> None:
            nonlocal sent
            sent += size
            if self._count_bodies:  # else the socket counts it (with the headers)
                self.counter.add(sent=size)
            if on_sent is not None:
                on_sent(sent)

        try:
            response = self.session.request(
                method,
                url,
                # Read out in blocks, so each block is one send under the write timeout.
                data=_OutgoingBody(body, went_out) if body else None,
                headers=all_headers,
                params=params,
                timeout=self.timeout,
                stream=True,
            )
            try:
                raw = _read_answer(response.raw)
            finally:
                response.close()
        except (requests.exceptions.RequestException, HTTPError, OSError) as exc:
            # urllib3's own errors come straight from reading the answer's body (requests
            # wraps only what happens before): a body cut short, or one that stalls.
            if self._stopping.is_set():
                raise errors.Stopped(
                    "the app closed during a request; the sync goes on at its next start"
                ) from exc
            raise network_error(exc) from exc
        if self._count_bodies:
            self.counter.add(received=len(raw))
        if len(raw) > MAX_ANSWER_BYTES:
            raise errors.ServerError(
                "the server's answer is too large", status=response.status_code
            )
        answer_headers = {k.lower(): v for k, v in response.headers.items()}
        content = _inflate(raw, answer_headers.get("content-encoding"))
        answer = Answer(response.status_code, answer_headers, content)
        if answer.status >= 400:
            raise _error_of(answer)
        return answer


def _read_answer(raw: Any) -> bytes:
    """The answer's body as it came over the wire, read to its end (at most one byte past
    ``MAX_ANSWER_BYTES``). A single read returns what has arrived so far; only reading on to
    the end lets urllib3 see a body shorter than its ``Content-Length`` and say so."""
    parts: list[bytes] = []
    size = 0
    while size <= MAX_ANSWER_BYTES:
        piece = raw.read(min(1 << 20, MAX_ANSWER_BYTES + 1 - size), decode_content=False)
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {round(seconds / 3600)} hours"


def _inflate(raw: bytes, encoding: str | None) -> bytes:
    if not raw or (encoding or "").lower() not in ("gzip", "x-gzip"):
        return raw
    try:
        return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        raise errors.ServerError(f"the server's answer is not valid gzip ({exc})") from exc


def _detail(answer: Answer) -> tuple[str, dict[str, Any] | None]:
    """An error answer's reason, and its JSON object: None when it is not one (the server's
    always are; a Wi-Fi sign-in page's or a proxy's are not)."""
    try:
        body = json.loads(answer.body) if answer.body else None
    except ValueError:
        return answer.body[:200].decode("utf-8", "replace"), None
    if not isinstance(body, dict):
        return str(body)[:200], None
    detail = body.get("detail")
    if isinstance(detail, list):
        text = "; ".join(
            f"{d.get('field')}: {d.get('message')}" if d.get("field") else str(d.get("message"))
            for d in detail
            if isinstance(d, dict)
        )
    else:
        text = str(detail or "")
    return text, body


_Model = TypeVar("_Model", bound=BaseModel)


def _protocol(model: type[_Model], answer: Answer) -> _Model:
    """The answer as the protocol's ``model``; an answer of another shape is the server's
    failure (a ``ServerError``, tried again later), not an unexpected error of the app's."""
    try:
        return model.model_validate(answer.json())
    except ValidationError as exc:
        raise errors.ServerError(
            f"the server's answer does not follow the protocol ({exc.error_count()} problems)",
            status=answer.status,
        ) from exc


def _not_the_server(status: int) -> errors.NotTheServer:
    return errors.NotTheServer(
        f"something other than the server answered ({status}, not JSON): a Wi-Fi or operator "
        "sign-in page, or a proxy; sign in to the network or check the server address",
        status=status,
    )


def _error_of(answer: Answer) -> errors.SyncClientError:
    text, found = _detail(answer)
    status = answer.status
    if status == 511 or (status in (401, 403) and found is None):
        # A hotspot asks to sign in (511, or a 401 or 403 page of its own): not the server
        # refusing this tablet, which it says in JSON.
        return _not_the_server(status)
    body = found or {}
    if status in (429, 503):
        wait = retry_after_seconds(answer.headers)
        when = f"will try again in {_duration(wait)}" if wait else "will try again later"
        return errors.ServerBusy(
            f"the server is busy ({status}); {when}", status=status, retry_after=wait
        )
    if status == 408:
        return errors.NetworkError(
            "the link went silent while sending; what arrived is kept, will try again",
            status=status,
        )
    if status >= 500:
        return errors.ServerError(
            f"the server had a problem ({status}); will try again later", status=status
        )
    if status == 401:
        return errors.NotEnrolled(
            f"the server does not know this tablet ({text}): enrol it again", status=status
        )
    if status == 403 and body.get("code") == "device_password_changed":
        return errors.PasswordChanged(
            text or "your password was changed: log in again on this tablet", status=status
        )
    if status == 403:
        return errors.DeviceRevoked(
            text or "this tablet may no longer sync; its records stay on it", status=status
        )
    if status == 409 and "expected_seq" in body:
        return errors.SeqMismatch(text, expected_seq=int(body["expected_seq"]))
    if status == 409 and "upload-offset" in answer.headers:
        return errors.OffsetMismatch(text, offset=int(answer.headers["upload-offset"]))
    if status == 413:
        limit = body.get("limit")
        return errors.TooLarge(
            text or "too large for the server", limit=int(limit) if isinstance(limit, int) else None
        )
    if status == 426:
        return errors.ProtocolTooOld(f"{text} (this app is too old for the server)", status=status)
    if status == 422 and "upload_offset" in body:
        return errors.UploadRefused(text, status=status)
    return errors.RequestRefused(
        f"the server refused the request ({status}): {text}", status=status
    )
