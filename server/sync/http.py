"""HTTP details of the sync API: bounded (gzip) bodies, gzip answers, ``server_time`` everywhere.

``SyncRoute`` is the route class of the sync routers. Every answer it produces — success or
error — carries the server's clock (``server_time`` in JSON bodies and a ``Server-Time`` header),
and JSON answers are gzipped when the client accepts it, so slow links carry fewer bytes.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from server.columns import utcnow
from server.deps import failed_in
from server.errors import PilotMonitorError, ValidationFailed, invalid, pydantic_issues
from server.sync.errors import PayloadTooLarge, SyncError
from shared.errors import ErrorCode

GZIP_MIN_BYTES = 1024


def _error_response(exc: PilotMonitorError) -> JSONResponse:
    body: dict[str, Any] = exc.body()
    if isinstance(exc, SyncError):
        body.update(exc.extra())
    body["server_time"] = utcnow().isoformat()
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _gzip_if_accepted(request: Request, response: Response) -> Response:
    body = getattr(response, "body", None)
    if (
        not isinstance(body, bytes)
        or len(body) < GZIP_MIN_BYTES
        or "content-encoding" in response.headers
        or "gzip" not in request.headers.get("accept-encoding", "").lower()
    ):
        return response
    packed = gzip.compress(body, compresslevel=6)
    response.body = packed
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(packed))
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
    return response


class SyncRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except PilotMonitorError as exc:
                response = _error_response(exc)
            except RequestValidationError as exc:
                # Bad query parameters are a 400 here too, as everywhere (docs/errors.md).
                errors = exc.errors()
                status = 400 if failed_in(errors, "query") else 422
                response = _error_response(ValidationFailed(pydantic_issues(errors), status))
            response.headers["Server-Time"] = utcnow().isoformat()
            return _gzip_if_accepted(request, response)

        return route


def refuse_declared_size(request: Request, *, limit: int) -> None:
    """413 at once when ``Content-Length`` announces more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the request body is {declared} bytes; the limit is {limit}", limit=limit
        )


def _encoding(header: str | None) -> str:
    """A ``Content-Encoding`` as compared: lower case, "identity" when there is none."""
    return (header or "").strip().lower() or "identity"


def _unsupported(encoding: str, advice: str) -> ValidationFailed:
    return invalid(
        "Content-Encoding",
        ErrorCode.UNSUPPORTED_ENCODING,
        f"{encoding!r} is not supported{advice}",
        status_code=415,
    )


def refuse_encoded(request: Request) -> None:
    """415 at once for a body sent with a ``Content-Encoding``: a photo's chunk is appended
    as the bytes arrive (a cut one keeps what came), so it travels as it is — a photo is
    compressed already."""
    encoding = _encoding(request.headers.get("content-encoding"))
    if encoding != "identity":
        raise _unsupported(encoding, " here: send a photo's chunk without Content-Encoding")


async def read_body(request: Request, *, limit: int) -> bytes:
    """The raw request body, refusing (413) anything over ``limit`` bytes before reading it all."""
    refuse_declared_size(request, limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body is over the limit of {limit} bytes", limit=limit
            )
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(raw: bytes, *, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding: gzip`` without ever holding more than ``limit`` + 1 bytes.

    A gzip bomb (a few kilobytes that inflate to gigabytes) is refused with 413 as soon as the
    output passes the limit.
    """
    encoding = _encoding(encoding)
    if encoding == "identity":
        if len(raw) > limit:
            raise PayloadTooLarge(
                f"the request body is over the limit of {limit} bytes", limit=limit
            )
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise _unsupported(encoding, "; send gzip or no encoding")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(
                f"the batch inflates to more than {limit} bytes; send smaller batches", limit=limit
            )
        if not inflater.eof:
            raise invalid("body", ErrorCode.BAD_BODY, "the gzip stream is truncated")
    except zlib.error as exc:
        raise invalid("body", ErrorCode.BAD_BODY, f"the body is not valid gzip ({exc})") from exc
    return out


def _not_json(constant: str) -> Any:
    # Python reads NaN and Infinity, JSON has neither, and PostgreSQL cannot keep them even in
    # a rejected mutation.
    raise ValueError(f"{constant} is not a JSON number")


def parse_json(data: bytes) -> Any:
    """The JSON document in ``data``, or 422 ``bad_body`` with the reason.

    orjson reads it when it can read it exactly as the standard library does; everything
    else — invalid JSON, NaN, another encoding than UTF-8, nesting beyond orjson's limit, and
    any number with 19 digits or more in a row (orjson reads an integer beyond 64 bits as a
    float) — goes to the standard library, which keeps the answers and the reasons
    (``read_json``; tests/server/sync/test_parse_json.py holds the two together)."""
    if data.translate(_DIGITS).find(_LONG_NUMBER) < 0:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return read_json(data)


# Each digit as "0", every other byte as ".": a run of _LONG_NUMBER is a run of digits.
_DIGITS = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_LONG_NUMBER = b"0" * 19


def read_json(data: bytes) -> Any:
    """``parse_json`` by the standard library alone."""
    try:
        return json.loads(data, parse_constant=_not_json)
    except RecursionError as exc:
        raise invalid("body", ErrorCode.BAD_BODY, "the body nests too deeply") from exc
    except ValueError as exc:  # invalid JSON, bad UTF-8, a number with thousands of digits
        reason = str(exc).splitlines()[0][:200]
        raise invalid("body", ErrorCode.BAD_BODY, f"the body is not valid JSON ({reason})") from exc


# Set when the server process shuts down (``pilotmon serve``): bodies still arriving stop
# waiting for their next bytes, so one signal stops the server even with half-sent uploads.
server_stopping = threading.Event()
_STOP_POLL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class ReceivedBody:
    """What arrived of a request body; ``cut`` says why it ended early (None: it is whole)."""

    data: bytes
    cut: Literal["disconnected", "silent", "stopping"] | None = None


async def receive_body(request: Request, *, limit: int, idle_seconds: float) -> ReceivedBody:
    """Read a body, keeping what arrived when it ends early (docs/protocol.md#attachments).

    The wait is bounded by silence, never by the body's length: a slow link that keeps sending
    is read to the end, while ``idle_seconds`` without a byte, a client that disconnects, or
    the server shutting down end the read with the bytes received so far. Over ``limit``
    bytes: 413, nothing kept.
    """
    refuse_declared_size(request, limit=limit)
    parts: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    while True:
        pending = asyncio.ensure_future(request.receive())
        silent_since = loop.time()
        while not (await asyncio.wait({pending}, timeout=_STOP_POLL_SECONDS))[0]:
            if server_stopping.is_set() or loop.time() - silent_since >= idle_seconds:
                pending.cancel()
                cut: Literal["silent", "stopping"] = (
                    "stopping" if server_stopping.is_set() else "silent"
                )
                return ReceivedBody(b"".join(parts), cut)
        message = pending.result()
        if message["type"] == "http.disconnect":
            return ReceivedBody(b"".join(parts), "disconnected")
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body is over the limit of {limit} bytes", limit=limit
            )
        parts.append(body)
        if not message.get("more_body", False):
            return ReceivedBody(b"".join(parts))
