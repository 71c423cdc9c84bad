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

The buckets live in each worker's memory: with N workers a client may get up to N times the
limit, which still bounds guessing and flooding; a shared limit belongs in the reverse proxy
(docs/deployment.md shows nginx's ``limit_req``).
"""

from __future__ import annotations

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
DOCS_PATH = "/api/v1/docs"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    # Inline style attributes only (chart legend swatches), never <style> or scripts.
    "style-src-attr 'unsafe-inline'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI loads its script and styles from a CDN and starts with an inline script.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
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
SYNC_PREFIXES: tuple[str, ...] = ("/api/v1/sync/", "/api/v1/attachments/")
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

                add(
                    "content-security-policy",
                    DOCS_CONTENT_SECURITY_POLICY if path == DOCS_PATH else CONTENT_SECURITY_POLICY,
                )
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


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware in the right order: headers outermost, so 413 and 429 carry them."""
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)
    app.add_middleware(
        RateLimit,
        auth_per_minute=settings.rate_limit_auth_per_minute,
        sync_per_minute=settings.rate_limit_sync_per_minute,
    )
    app.add_middleware(SecurityHeaders)
