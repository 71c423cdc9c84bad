"""Transports for client tests: the real ``SyncClient`` talking to an in-process app.

``ASGIAdapter`` is a requests adapter that forwards to the FastAPI app through Starlette's
TestClient, keeping the bytes on the wire as they are (gzip stays gzip, so byte counts are real).
``FaultyAdapter`` wraps it to inject network faults on demand: a request lost before the server
sees it, an answer lost after the server committed, a request delivered twice.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from fastapi.testclient import TestClient
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse

from sync.client import SyncClient

BASE_URL = "http://testserver"


class ASGIAdapter(BaseAdapter):
    def __init__(self, app_client: TestClient) -> None:
        super().__init__()
        self.app_client = app_client
        self.requests_seen = 0

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.requests_seen += 1
        parts = urlsplit(request.url or "")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body: Any = request.body
        if hasattr(body, "read"):  # SyncClient hands bodies over as files, read in blocks
            body.seek(0)  # a request delivered twice is read twice
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        with self.app_client.stream(
            request.method or "GET", target, content=body or b"", headers=headers
        ) as answer:
            raw = b"".join(answer.iter_raw())
            raw_response = HTTPResponse(
                body=io.BytesIO(raw),
                headers=HTTPHeaderDict(answer.headers.multi_items()),
                status=answer.status_code,
                preload_content=False,
                decode_content=False,
            )
        return HTTPAdapter().build_response(request, raw_response)

    def close(self) -> None:
        pass


class FaultyAdapter(BaseAdapter):
    """Forwards to ``inner`` unless a fault is queued: each request takes the next fault."""

    DROP_REQUEST = "drop_request"  # never reaches the server
    DROP_ANSWER = "drop_answer"  # the server commits, the tablet never hears back
    DUPLICATE = "duplicate"  # delivered twice; the tablet hears the second answer

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner
        self.faults: deque[str | None] = deque()
        # The tablet's status report (POST /sync/status) takes no fault unless a test says so:
        # queued faults stay aimed at the protocol calls they were written for.
        self.spare_status = True

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        spared = self.spare_status and (request.path_url or "").endswith("/sync/status")
        fault = self.faults.popleft() if self.faults and not spared else None
        if fault == self.DROP_REQUEST:
            raise requests.exceptions.ConnectionError("fault injected: request lost")
        if fault == self.DROP_ANSWER:
            self.inner.send(request, *args, **kwargs).close()
            raise requests.exceptions.ConnectionError("fault injected: answer lost")
        if fault == self.DUPLICATE:
            self.inner.send(request, *args, **kwargs).close()
        return self.inner.send(request, *args, **kwargs)

    def close(self) -> None:
        self.inner.close()


def session_over(adapter: BaseAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("http://", adapter)
    return session


def client_for(
    app_client: TestClient, token: str, *, faulty: bool = False
) -> tuple[SyncClient, FaultyAdapter | None]:
    adapter: BaseAdapter = ASGIAdapter(app_client)
    faults = FaultyAdapter(adapter) if faulty else None
    session = session_over(faults or adapter)
    return SyncClient(BASE_URL, token=token, session=session, timeout=(5, 30)), faults
