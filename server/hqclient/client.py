"""A small HTTP client for HQ scripts: one ``requests.Session`` that checks every answer.

    HqClientError          base: one line a person can act on (exit code 1)
    ├── ServerUnreachable  nothing answers at the URL (refused, unknown host, timeout)
    ├── NotPilotMonitor    something answers, but not a Pilot Monitor server
    ├── AuthFailed         401: wrong password, or a token that is unknown or expired
    └── Refused            4xx with the server's own words (a bad key, a forbidden scope)

Every request has connect and read timeouts; GETs are retried on connection errors and 502,
503 and 504 with back-off (they are idempotent), the login POST is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from server import __version__
from server.errors import PilotMonitorError

API = "/api/v1"
CHUNK = 64 * 1024


class HqClientError(PilotMonitorError):
    exit_code = 1


class ServerUnreachable(HqClientError):
    pass


class NotPilotMonitor(HqClientError):
    pass


class AuthFailed(HqClientError):
    pass


class Refused(HqClientError):
    pass


def _detail_text(body: Any) -> str:
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        return "; ".join(
            f"{d.get('field')}: {d.get('message')}" if d.get("field") else str(d.get("message"))
            for d in detail
            if isinstance(d, dict)
        )
    if detail:
        return str(detail)
    return ""


class HqClient:
    """Talks to one Pilot Monitor server on behalf of a person."""

    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        timeout: tuple[float, float] = (5.0, 120.0),
        session: requests.Session | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http = session or requests.Session()
        retry = Retry(
            total=3,
            connect=2,
            read=2,
            backoff_factor=0.5,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.http.headers["User-Agent"] = f"pilotmon-pull/{__version__}"

    # --- plumbing ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.server}{path}"
        try:
            return self.http.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
            raise ServerUnreachable(
                f"{self.server}: {reason} — is the server address right and the server running?"
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise ServerUnreachable(
                f"{self.server}: no answer within {self.timeout[1]:.0f} s; try again later"
            ) from exc
        except requests.exceptions.InvalidURL as exc:
            raise ServerUnreachable(
                f"{self.server} is not a URL (e.g. https://monitor.example.org)"
            ) from exc
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema) as exc:
            raise ServerUnreachable(
                f"{self.server} is not a URL: start it with http:// or https://"
            ) from exc

    def _check(self, response: requests.Response) -> requests.Response:
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = _detail_text(body)
        if body is None or not detail:
            raise NotPilotMonitor(
                f"{self.server} answered {response.status_code} without a "
                "Pilot Monitor error: is this the right server?"
            )
        if response.status_code == 401:
            raise AuthFailed(
                f"not logged in: {detail} (set PILOTMON_TOKEN to a fresh token, "
                "or unset it to log in)"
            )
        if response.status_code == 429:
            wait = response.headers.get("Retry-After", "a while")
            raise Refused(f"too many attempts: wait {wait} seconds ({detail})")
        if response.status_code < 500:
            raise Refused(detail)
        raise HqClientError(f"the server failed ({response.status_code}): {detail}")

    # --- calls ------------------------------------------------------------------------------

    def check_server(self) -> str:
        """Make sure a Pilot Monitor answers at the URL; returns its version."""
        response = self._request("GET", f"{API}/health")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "version" not in body or "server_time" not in body:
            raise NotPilotMonitor(
                f"{self.server} is not a Pilot Monitor server (GET {API}/health "
                f"answered {response.status_code})"
            )
        if response.status_code != 200:
            raise HqClientError(
                f"{self.server} is a Pilot Monitor but unavailable: "
                f"{body.get('detail') or body.get('status')}"
            )
        return str(body["version"])

    def login(self, username: str, password: str) -> str:
        """Exchange a username and password for a bearer token (kept on the client)."""
        response = self._request(
            "POST", f"{API}/auth/token", data={"username": username, "password": password}
        )
        if response.status_code == 401:
            raise AuthFailed("wrong username or password")
        body = self._check(response).json()
        self.token = str(body["access_token"])
        return self.token

    def download(
        self,
        path: str,
        params: Mapping[str, str],
        out: IO[bytes],
        *,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """GET ``path`` and stream the body into ``out``; returns the bytes written."""
        response = self._check(self._request("GET", path, params=dict(params), stream=True))
        total = response.headers.get("Content-Length")
        size = int(total) if total and total.isdigit() else None
        written = 0
        try:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                written += len(chunk)
                if progress is not None:
                    progress(written, size)
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachable(
                f"{self.server}: the connection broke after {written} bytes; run the pull again"
            ) from exc
        finally:
            response.close()
        return written
