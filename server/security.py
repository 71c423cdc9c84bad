"""HTTP hygiene every response and request goes through, as plain ASGI middleware.

    security headers   CSP (``default-src 'self'``), nosniff, no referrer, no framing, no
                       device features, HSTS when the request came over https; API responses are
                       never cached (they carry tokens and personal data)
    body size limit    a declared ``Content-Length`` above ``settings.max_request_bytes`` gets 413
                       before a byte of the body is read; a chunked body is counted as it arrives
                       and cut off with 413 as soon as it passes the limit
    rate limit         token buckets for the routes worth guessing at or flooding: logins and
                       enrolment per client address, sync and photo uploads per device token
                       (plus a wider per-address bucket so random tokens cannot bypass it);
                       over the limit: 429 with ``Retry-After``
    body guard         who is calling is checked before a byte of the body is read (401/403
                       without reading; the few public routes get a small body limit); a body
                       silent for ``body_idle_timeout_seconds`` or longer in all than
                       ``body_total_timeout_seconds`` is cut with 408 (a photo chunk's silence is
                       left to its route, which keeps the bytes that arrived); at most
                       ``max_concurrent_bodies`` bodies are read at once per worker, beyond that
                       503 with ``Retry-After``. Without it a stranger could hold 8 MB of memory
                       per connection by sending most of a body and stalling.

The buckets live in each worker's memory: with N workers a client may get up to N times the
limit, which still bounds guessing and flooding; a shared limit belongs in the reverse proxy
(docs/deployment.md shows nginx's ``limit_req``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from server.columns import utcnow
from server.config import Settings
from server.errors import ValidationFailed
from shared.errors import ErrorCode, Issue

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PATH = "/api/"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    # Inline style attributes only (chart legend swatches), never <style> or scripts.
    "style-src-attr 'unsafe-inline'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
)
HSTS = "max-age=31536000; includeSubDomains"

# Routes where a guess or a flood costs us: people logging in, tablets enrolling.
AUTH_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/devices/enrol"),
    ("POST", "/login"),
)
UPLOAD_PATH = "/api/v1/attachments/"
SYNC_PREFIXES: tuple[str, ...] = ("/api/v1/sync/", UPLOAD_PATH)
# How much wider the per-address sync bucket is than one device's (an office behind one NAT).
SYNC_ADDRESS_FACTOR = 20
MAX_TRACKED_CLIENTS = 20_000


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    # The sync protocol promises server_time in every answer, these included.
    payload = json.dumps({**body, "server_time": utcnow().isoformat()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class SecurityHeaders:
    """Adds the security headers to every HTTP response (a route may set its own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in headers}

                def add(name: str, value: str) -> None:
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))

                # The API docs page sets its own (server.api_docs).
                add("content-security-policy", CONTENT_SECURITY_POLICY)
                for name, value in HEADERS:
                    add(name, value)
                if https:
                    add("strict-transport-security", HSTS)
                if path.startswith(API_PATH):
                    add("cache-control", "no-store")
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for bodies above ``limit`` bytes, without reading more than the limit."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _too_large(self) -> dict[str, Any]:
        return {
            "detail": f"request body too large: the limit is {self.limit} bytes",
            "code": ErrorCode.BODY_TOO_LARGE,
            "limit": self.limit,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        close = [(b"connection", b"close")]
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_json(
                    send,
                    400,
                    ValidationFailed(
                        [
                            Issue(
                                "Content-Length", ErrorCode.NOT_INTEGER, "must be a number of bytes"
                            )
                        ]
                    ).body(),
                    close,
                )
                return
            if int(declared) > self.limit:
                await _send_json(send, 413, self._too_large(), close)
                return
        received = 0
        started = False
        too_large = False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                # The app turned the cut-off into its own error (form parsing answers 400):
                # answer 413 instead, and drop what the app meant to send.
                if message["type"] == "http.response.start":
                    started = True
                    await _send_json(send, 413, self._too_large(), close)
                return
            if too_large:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if started:
                return
            await _send_json(send, 413, self._too_large(), close)


# --- reading bodies only for callers we know -------------------------------------------------

# Routes anyone may send a body to (logging in, enrolling, choosing a language); their bodies are
# a few hundred bytes, so they get a small limit instead of an identity check.
PUBLIC_BODY_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/devices/enrol"),
        ("POST", "/login"),
        ("POST", "/language"),
    }
)
PUBLIC_BODY_LIMIT = 64 * 1024
SESSION_COOKIE = b"pilotmon_session"
BUSY_RETRY_AFTER = 5

# (status, detail, code) of a refused caller; None: the caller is known.
Refusal = tuple[int, str, str] | None
CallerCheck = Callable[[Scope, str], Awaitable[Refusal]]


def _has_body(scope: Scope) -> bool:
    declared = _header(scope, b"content-length")
    if declared is not None:
        return declared.strip() not in (b"", b"0")
    return _header(scope, b"transfer-encoding") is not None


def _credential(scope: Scope) -> str | None:
    """The bearer token of the request, or the dashboard's session cookie."""
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    cookie = _header(scope, b"cookie")
    if cookie is not None:
        for part in cookie.split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == SESSION_COOKIE and value and len(value) <= 200:
                return value.decode("latin-1")
    return None


async def check_caller(scope: Scope, token: str) -> Refusal:
    """Whether ``token`` is a live access token or device token, by the same functions the
    routes use (in a worker thread: they query the database). Tablets' routes try the device
    token first, so a revoked tablet hears it was revoked."""
    from anyio import to_thread
    from sqlmodel import Session

    from server.accounts.auth import caller_from_access_token, caller_from_device_token
    from server.errors import PilotMonitorError

    engine = scope["app"].state.engine
    tablet_first = str(scope.get("path", "")).startswith(SYNC_PREFIXES)

    def check() -> Refusal:
        ways = (caller_from_access_token, caller_from_device_token)
        refusals: list[PilotMonitorError] = []
        with Session(engine) as session:
            for way in reversed(ways) if tablet_first else ways:
                try:
                    way(session, token=token)
                    return None
                except PilotMonitorError as exc:
                    refusals.append(exc)
        # A 403 (revoked tablet, disabled account) says more than "unknown token".
        first = max(refusals, key=lambda e: (e.status_code == 403, -refusals.index(e)))
        return first.status_code, first.message, first.code or "not_authenticated"

    return await to_thread.run_sync(check)


class BodyGuard:
    """Reads a request body only for a known caller, only so slowly, only so many at once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        idle_timeout: float,
        total_timeout: float,
        max_bodies: int,
        check: CallerCheck = check_caller,
        public_limit: int = PUBLIC_BODY_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        read_only: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        # Whether a path is a read-only service's (the OData feed): a request with a body goes
        # on without it, so that its router says 405 in its own shape, never "log in".
        self.read_only = read_only
        self.idle_timeout = idle_timeout
        self.total_timeout = total_timeout
        self.check = check
        self.public_limit = public_limit
        self.clock = clock
        self.max_bodies = max_bodies
        self._bodies = asyncio.Semaphore(max_bodies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        close = [(b"connection", b"close")]
        if self.read_only is not None and self.read_only(path):
            await self._without_body(scope, send, close)
            return
        public = (scope.get("method", ""), path.rstrip("/") or "/") in PUBLIC_BODY_ROUTES
        if public:
            declared = _header(scope, b"content-length")
            numeric = declared is not None and declared.strip().isdigit()
            if numeric and int(declared or 0) > self.public_limit:
                await _send_json(send, 413, self._too_large(), close)
                return
        else:
            token = _credential(scope)
            refusal: Refusal = (
                (401, "missing bearer token: log in first", "not_authenticated")
                if token is None
                else await self.check(scope, token)
            )
            if refusal is not None:
                await self._refuse(scope, send, refusal)
                return
        if self._bodies.locked():
            await _send_json(
                send,
                503,
                {
                    "detail": "the server is receiving as many uploads as it can: "
                    f"try again in {BUSY_RETRY_AFTER} s",
                    "code": ErrorCode.SERVER_BUSY,
                },
                [(b"retry-after", str(BUSY_RETRY_AFTER).encode()), *close],
            )
            return
        await self._bodies.acquire()
        # A photo chunk reads its own body and ends it on silence (PILOTMON_UPLOAD_IDLE_SECONDS),
        # keeping the bytes that arrived and answering with the offset (docs/protocol.md
        # #attachments): here only the total time bounds it.
        own_silence = scope.get("method") == "PATCH" and path.startswith(UPLOAD_PATH)
        await self._guarded(scope, receive, send, public=public, own_silence=own_silence)

    def _too_large(self) -> dict[str, Any]:
        return {
            "detail": f"request body too large: the limit is {self.public_limit} bytes",
            "code": "body_too_large",
            "limit": self.public_limit,
        }

    async def _refuse(self, scope: Scope, send: Send, refusal: tuple[int, str, str]) -> None:
        status, detail, code = refusal
        headers = [(b"connection", b"close")]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        if str(scope.get("path", "")).startswith(API_PATH):
            await _send_json(send, status, {"detail": detail, "code": code}, headers)
            return

        # A dashboard form without a live session: the page answers as it always does ("your
        # session has ended"), shown an empty body instead of the one still on the wire.
        await self._without_body(scope, send, headers)

    async def _without_body(
        self, scope: Scope, send: Send, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """The application answers the request as if its body were empty; the bytes still on
        the wire are never read, so the connection closes after the answer."""
        sent = False

        async def no_body() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, no_body, closing_send)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, *, public: bool, own_silence: bool
    ) -> None:
        started_at = self.clock()
        held = True
        body_done = False
        received = 0
        cut: tuple[int, dict[str, Any]] | None = None
        answered = False

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._bodies.release()

        async def guarded_receive() -> Message:
            nonlocal body_done, received, cut
            if cut is not None:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            left = started_at + self.total_timeout - self.clock()
            wait = left if own_silence else min(self.idle_timeout, left)
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.0))
            except TimeoutError:
                cut = (408, self._timed_out())
                release()
                # The app sees the client go away (and keeps what it already has).
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if public and received > self.public_limit:
                    cut = (413, self._too_large())
                    release()
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    body_done = True
                    release()
            else:
                body_done = True
                release()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal answered
            if cut is not None:
                # The app turned the cut-off into its own error: answer ours instead.
                if not answered and message["type"] == "http.response.start":
                    answered = True
                    await _send_json(send, cut[0], cut[1], [(b"connection", b"close")])
                return
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, watched_send)
        except Exception:
            if cut is None or answered:
                raise
        finally:
            release()
        if cut is not None and not answered:
            await _send_json(send, cut[0], cut[1], [(b"connection", b"close")])

    def _timed_out(self) -> dict[str, Any]:
        return {
            "detail": "the request body arrived too slowly: nothing came for "
            f"{self.idle_timeout:g} s, or it took more than {self.total_timeout:g} s in all; "
            "send it again",
            "code": ErrorCode.BODY_TIMEOUT,
        }


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Per-key token buckets: ``capacity`` requests at once, refilled at ``per_minute``."""

    def __init__(
        self,
        *,
        per_minute: int,
        capacity: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(capacity if capacity is not None else max(1, per_minute))
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when a request may go ahead, else the seconds until one may."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=self.capacity, at=now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        wait = 0.0
        if bucket.tokens >= 1:
            bucket.tokens -= 1
        else:
            wait = (1 - bucket.tokens) / self.rate
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > MAX_TRACKED_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """429 with Retry-After when a client calls the auth or sync routes too often."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth_per_minute: int,
        sync_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.auth = (
            TokenBuckets(per_minute=auth_per_minute, clock=clock) if auth_per_minute > 0 else None
        )
        self.sync_device = (
            TokenBuckets(per_minute=sync_per_minute, clock=clock) if sync_per_minute > 0 else None
        )
        self.sync_address = (
            TokenBuckets(per_minute=sync_per_minute * SYNC_ADDRESS_FACTOR, clock=clock)
            if sync_per_minute > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            wait = self._wait(scope)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                await _send_json(
                    send,
                    429,
                    {
                        "detail": f"too many requests: try again in {seconds} s",
                        "code": ErrorCode.RATE_LIMITED,
                    },
                    [(b"retry-after", str(seconds).encode())],
                )
                return
        await self.app(scope, receive, send)

    def _wait(self, scope: Scope) -> float:
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        if self.auth is not None and (method, path.rstrip("/") or "/") in AUTH_ROUTES:
            return self.auth.take(address)
        if (
            self.sync_device is not None
            and self.sync_address is not None
            and path.startswith(SYNC_PREFIXES)
        ):
            wait = self.sync_address.take(address)
            token = _header(scope, b"authorization")
            if token is not None:
                key = hashlib.sha256(token).hexdigest()[:32]
                wait = max(wait, self.sync_device.take(key))
            return wait
        return 0.0


def install(
    app: FastAPI, settings: Settings, *, read_only: Callable[[str], bool] | None = None
) -> None:
    """Add the middleware in the right order: headers outermost, so 413 and 429 carry them;
    the rate limit before the body guard's database lookup; the guard before any body.
    ``read_only``: whether a path never takes a body (BodyGuard)."""
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)
    app.add_middleware(
        BodyGuard,
        idle_timeout=settings.body_idle_timeout_seconds,
        total_timeout=settings.body_total_timeout_seconds,
        max_bodies=settings.max_concurrent_bodies,
        public_limit=min(PUBLIC_BODY_LIMIT, settings.max_request_bytes),
        read_only=read_only,
    )
    app.add_middleware(
        RateLimit,
        auth_per_minute=settings.rate_limit_auth_per_minute,
        sync_per_minute=settings.rate_limit_sync_per_minute,
    )
    app.add_middleware(SecurityHeaders)
