"""A requests transport that hands each request to the app under test (a Starlette
TestClient), so that a real OData client (python-odata, built on requests) drives the feed
without a network server."""

from __future__ import annotations

from typing import Any

import requests
from fastapi.testclient import TestClient
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class TestClientAdapter(BaseAdapter):
    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        answer = self.client.request(
            request.method or "GET",
            request.url or "",
            headers=dict(request.headers),
            content=request.body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.content
        response.url = request.url or ""
        response.request = request
        response.encoding = answer.encoding
        return response

    def close(self) -> None:
        pass


def session_for(client: TestClient, *, auth: tuple[str, str], page_size: int) -> requests.Session:
    """A requests session that reaches the app through ``client``, signed in with HTTP Basic
    and asking for pages of ``page_size`` rows (Prefer: odata.maxpagesize)."""
    session = requests.Session()
    session.mount("http://testserver", TestClientAdapter(client))
    session.auth = auth
    session.headers["Prefer"] = f"odata.maxpagesize={page_size}"
    return session
