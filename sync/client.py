"""The tablet's one HTTP session with the server: timeouts, retries, gzip, bytes, typed errors.

Every request goes through ``SyncClient._send``: it has a connect and a read timeout, is retried
by urllib3 on connection failures and 429/502/503/504 (POST and PATCH included — a push is
idempotent by its seqs and a chunk by its offset), counts the bytes that really crossed the
wire (compressed), and turns every failure into one ``sync.errors`` exception.

A busy server (429 Too Many Requests, 503) is waited out for the seconds its ``Retry-After``
asks — but never longer than the read timeout (``BusyAwareRetry``): a longer wait would hold the
sync thread, so the answer comes back at once as ``errors.ServerBusy(retry_after=…)`` and the
schedule (``sync.schedule``) waits at least that long before the next round.

Tests (and the offline bundle tools) may hand in their own ``requests.Session`` — for example
one whose adapter forwards to an in-process app — instead of the default one.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
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
        allowed_methods=frozenset({"GET", "HEAD", "POST", "PATCH"}),
        respect_retry_after_header=True,
        retry_after_max=int(max_wait),
        raise_on_status=False,
    )


def default_session(*, max_wait: float = READ_TIMEOUT) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(
        max_retries=default_retry(max_wait=max_wait), pool_connections=2, pool_maxsize=4
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


class SyncClient:
    """Calls of protocol v1 against one server with one device token."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        app_version: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or default_session(max_wait=timeout[1])
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

    def bundle_key(self) -> tuple[str, str]:
        """This tablet's (bundle key, key id), for signing offline bundles."""
        body = self._send("POST", "/sync/bundle-key").json()
        key, key_id = body.get("bundle_key"), body.get("bundle_key_id")
        if not isinstance(key, str) or not isinstance(key_id, str) or not key or not key_id:
            raise errors.ServerError("the server's answer holds no bundle key", status=200)
        return key, key_id

    def upload_offset(self, attachment_id: str) -> int:
        """How many bytes of a photo the server holds (``HEAD``)."""
        answer = self._send("HEAD", f"/attachments/{attachment_id}")
        return int(answer.headers.get("upload-offset", "0"))

    def upload_chunk(self, attachment_id: str, *, offset: int, chunk: bytes) -> int:
        """Append ``chunk`` at ``offset``; returns the server's new offset."""
        headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        answer = self._send("PATCH", f"/attachments/{attachment_id}", body=chunk, headers=headers)
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
    ) -> Answer:
        all_headers = {"Accept-Encoding": "gzip", "Accept": "application/json"}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        url = f"{self.base_url}{API_PREFIX}{path}"
        try:
            response = self.session.request(
                method,
                url,
                data=body,
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
            self.bytes_sent += len(body or b"")
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
