"""The tablet's one HTTP session with the server: timeouts, retries, gzip, bytes, typed errors.

Every request goes through ``SyncClient._send``: it counts the bytes that really went out
(compressed) and turns every failure into one ``sync.errors`` exception. urllib3 retries
connection failures and 429/502/503/504 for GET, HEAD and POST (a push is idempotent by its
seqs); never a photo chunk (PATCH), whose sender asks the server's offset after any failure
instead (``sync.attachments``).

Timeouts bound silence, never the length of a transfer, so a 2G link (10 KB/s) that keeps
moving is never cut (docs/protocol.md#attachments): the connect timeout covers connecting
only; a body goes out in blocks of ``SEND_BLOCK_BYTES``, each ``send`` with the write timeout
(``FieldLinkAdapter``), over a small kernel send buffer so that sending waits for the link
rather than filling a queue the read timeout would then have to wait out; the read timeout
covers each wait for the answer. (urllib3 leaves the connect timeout on the socket while it
sends, and ``sendall`` takes a timeout as a deadline for the whole body.)

A busy server (429 Too Many Requests, 503) is waited out for the seconds its ``Retry-After``
asks — but never longer than the read timeout (``BusyAwareRetry``): a longer wait would hold the
sync thread, so the answer comes back at once as ``errors.ServerBusy(retry_after=…)`` and the
schedule (``sync.schedule``) waits at least that long before the next round.

Tests (and the offline bundle tools) may hand in their own ``requests.Session`` — for example
one whose adapter forwards to an in-process app — instead of the default one.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from sync import errors
from sync.protocol import (
    DEFAULT_PULL_LIMIT,
    PullResponse,
    PushResponse,
    SyncInfo,
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

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> BusyAwareRetry:
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
        """Sleep between attempts (tests replace it to record the waits)."""
        if seconds > 0:
            time.sleep(seconds)


def default_retry(*, max_wait: float = READ_TIMEOUT) -> Retry:
    """Quick retries for blips and short "busy" answers; the schedule's back-off handles
    longer outages. ``max_wait`` bounds any one wait for ``Retry-After``."""
    return BusyAwareRetry(
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


@functools.cache
def _pool_classes(write_timeout: float) -> dict[str, type[HTTPConnectionPool]]:
    def pool(base: type[HTTPConnectionPool], connection: type[HTTPConnection]) -> type:
        bound = type(
            f"SilenceBound{connection.__name__}",
            (_SilenceBound, connection),
            {"write_timeout": write_timeout},
        )
        return type(f"SilenceBound{base.__name__}", (base,), {"ConnectionCls": bound})

    return {
        "http": pool(HTTPConnectionPool, HTTPConnection),
        "https": pool(HTTPSConnectionPool, HTTPSConnection),
    }


class FieldLinkAdapter(HTTPAdapter):
    """The requests adapter of the tablet: timeouts that bound silence (see the module doc)."""

    def __init__(self, *, write_timeout: float = WRITE_TIMEOUT, **kwargs: Any) -> None:
        self.write_timeout = write_timeout
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
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.write_timeout)


def default_session(
    *, max_wait: float = READ_TIMEOUT, write_timeout: float = WRITE_TIMEOUT
) -> requests.Session:
    session = requests.Session()
    adapter = FieldLinkAdapter(
        write_timeout=write_timeout,
        max_retries=default_retry(max_wait=max_wait),
        pool_connections=2,
        pool_maxsize=4,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


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
        self.session = session or default_session(max_wait=timeout[1], write_timeout=write_timeout)
        self.timeout = timeout
        self.app_version = app_version
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.bytes_received = 0

    # --- protocol calls --------------------------------------------------------------------

    def info(self) -> SyncInfo:
        return SyncInfo.model_validate(self._send("GET", "/sync/info").json())

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
        return PushResponse.model_validate(answer.json())

    def pull(self, cursor: str | None, *, limit: int = DEFAULT_PULL_LIMIT) -> PullResponse:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return PullResponse.model_validate(self._send("GET", "/sync/pull", params=params).json())

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
        all_headers = {"Accept-Encoding": "gzip", "Accept": "application/json"}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        url = f"{self.base_url}{API_PREFIX}{path}"
        sent = 0

        def went_out(size: int) -> None:
            nonlocal sent
            sent += size
            with self._lock:
                self.bytes_sent += size
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
                raw = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=False) or b""
            finally:
                response.close()
        except requests.exceptions.Timeout as exc:
            raise errors.NetworkError(
                "the server did not answer in time; will try again later"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise errors.NetworkError(
                "cannot reach the server (no connection or the server "
                "is down); will try again later"
            ) from exc
        except OSError as exc:
            raise errors.NetworkError(
                f"the connection broke ({exc}); will try again later"
            ) from exc
        with self._lock:
            self.bytes_received += len(raw)
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


def _detail(answer: Answer) -> tuple[str, dict[str, Any]]:
    try:
        body = answer.json()
    except ValueError:
        return answer.body[:200].decode("utf-8", "replace"), {}
    if not isinstance(body, dict):
        return str(body)[:200], {}
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


def _error_of(answer: Answer) -> errors.SyncClientError:
    text, body = _detail(answer)
    status = answer.status
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
