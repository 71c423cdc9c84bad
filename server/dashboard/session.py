"""The dashboard's cookie session and CSRF protection.

The session cookie carries an access token issued at login (``issue_access_token``): the same
token table, expiry and revocation as the API, so a page sees exactly what the API would show
the same person. The cookie is HttpOnly, SameSite=Lax, and Secure when served over https.

CSRF: every form carries a token. Signed in, it is an HMAC of the session (one per session,
never stored); before login it is a random value also set in a short cookie (double submit).
A POST without the right token changes nothing and gets 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from server.accounts.security import token_hash

SESSION_COOKIE = "pilotmon_session"
PRELOGIN_COOKIE = "pilotmon_prelogin"
LANGUAGE_COOKIE = "pilotmon_lang"
NOTICE_COOKIE = "pilotmon_notice"
CSRF_FIELD = "csrf_token"
LANGUAGE_MAX_AGE = 365 * 24 * 3600


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(*, secret: str, session_token: str) -> str:
    """The CSRF token of a signed-in session: derived, so nothing extra is stored."""
    return _mac(secret, "csrf", token_hash(session_token))


def tokens_match(expected: str | None, submitted: str | None) -> bool:
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def new_prelogin_token() -> str:
    return secrets.token_urlsafe(24)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def secure_cookies(request: Request) -> bool:
    """Cookies go only over https: always in production (where nginx terminates TLS, even if a
    misconfigured proxy forgets X-Forwarded-Proto), and whenever this request came over it."""
    settings = getattr(request.app.state, "settings", None)
    return is_https(request) or getattr(settings, "environment", "") == "production"


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    *,
    max_age: int | None,
    http_only: bool = True,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=http_only,
        samesite="lax",
        secure=secure_cookies(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=secure_cookies(request)
    )


def session_token_of(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    return token if token and len(token) <= 200 else None


# --- one-time notices shown after a redirect ("3 activities approved") ------------------------


def sign_notice(*, secret: str, notice: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(notice, separators=(",", ":")).encode()).decode()
    return f"{body}.{_mac(secret, 'notice', body)}"


def read_notice(*, secret: str, value: str | None) -> dict[str, Any] | None:
    """The notice in a cookie, or None when absent or tampered with."""
    if not value or "." not in value or len(value) > 2000:
        return None
    body, mac = value.rsplit(".", 1)
    if not tokens_match(_mac(secret, "notice", body), mac):
        return None
    try:
        notice = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    return notice if isinstance(notice, dict) else None


def safe_next(target: str | None, default: str = "/overview") -> str:
    """Where to go after login or a language switch: a path on this site, never elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
