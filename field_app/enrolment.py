"""Enrolment over HTTP (docs/protocol.md#enrolment): a one-time code, or a username and password
turned into a bearer token first. Every failure becomes an :class:`~field_app.session.EnrolError`
whose message says, in words, what went wrong and what to try, in the language of the moment it
is shown (its words are chosen when read: a lambda, never a string translated when raised).

``sync.client`` covers the sync calls; enrolment happens once, before there is a device token,
so it lives here with its own small ``requests`` calls (each with connect and read timeouts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import requests

from field_app.controllers.messages import server_reason
from field_app.i18n import N_, _
from field_app.session import EnrolError
from shared.errors import ErrorCode
from sync.client import network_error

API = "/api/v1"
TIMEOUT = (10.0, 30.0)


@dataclass(frozen=True, slots=True)
class Enrolled:
    device_token: str
    device_id: str
    username: str
    role: str
    server_time: str
    # The person's id, as pulled records name their author (``created_by_id``); None from a
    # server that sends none.
    user_id: str | None = None
    # The key that signs this tablet's offline bundles (None from a server that sends none:
    # the next sync asks for it).
    bundle_key: str | None = None
    bundle_key_id: str | None = None
    # The server's custody-receipt keys (``[{"key_id", "public_key"}]``), pinned by the tablet
    # (none from a server without receipts).
    receipt_keys: tuple[dict[str, str], ...] = ()


# The tablet's words for each refusal of ``POST /devices/enrol`` (server.accounts.devices: enrol
# and its rule checks), chosen by the answer's code: what went wrong and what to do next, in the
# reader's language. A code not here (a label too long: the app's own mistake) is said in its
# general words (shared.errors.EXPLANATIONS); the server's text only for a code this app does not
# know, or from a server without codes.
REFUSALS: dict[ErrorCode, str] = {
    ErrorCode.NO_TABLET: N_(
        "An HQ analyst's account may not have a tablet: tablets are for recording, and HQ "
        "reads on the dashboard. Enrol with a field expert's or a country officer's account"
    ),
    ErrorCode.ACCOUNT_DISABLED: N_("This account is deactivated: ask your country office"),
    ErrorCode.DEVICE_TAKEN: N_(
        "This tablet is enrolled for another person: enrol it with their account, or ask your "
        "country office how to hand it over"
    ),
    ErrorCode.DEVICE_REVOKED: N_(
        "This tablet was revoked: ask your country office for an enrolment code to enrol it again"
    ),
    ErrorCode.ENROLMENT_CODE_UNKNOWN: N_(
        "Unknown enrolment code: check it, or ask your country office for a new one"
    ),
    ErrorCode.ENROLMENT_CODE_USED: N_(
        "This enrolment code was already used: ask your country office for a new one"
    ),
    ErrorCode.ENROLMENT_CODE_EXPIRED: N_(
        "This enrolment code has expired: ask your country office for a new one"
    ),
    ErrorCode.NOT_AUTHENTICATED: N_("The server did not accept this login: enrol again"),
}


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(response: requests.Response) -> str:
    """The server's reason, in the tablet's language when the answer carries error codes."""
    body = _body(response)
    detail = body.get("detail")
    if isinstance(detail, list):
        return "; ".join(
            server_reason(d) or str(d.get("message", "")) for d in detail if isinstance(d, dict)
        )
    return server_reason(body) or str(detail or "")


def refusal(response: requests.Response, *, with_code: bool) -> str:
    """Why the server refused to enrol this tablet, in the tablet's words (``REFUSALS``) when
    it knows the answer's code; ``with_code``: the person gave an enrolment code."""
    given = str(_body(response).get("code") or "")
    code = next((c for c in ErrorCode if c.value == given), None)
    if code in REFUSALS:
        return _(REFUSALS[code])
    reason = _detail(response)
    if with_code and not given:  # a server older than error codes: most likely the code
        return _(
            "This enrolment code is wrong, expired or already used: ask "
            "your country office for a new one"
        ) + (f" ({reason})" if reason else "")
    return _("The server refused to enrol this tablet: {reason}").format(
        reason=reason or response.status_code
    )


def _post(session: requests.Session, url: str, **kwargs: Any) -> requests.Response:
    server = url.split(API, 1)[0]
    try:
        return session.post(url, timeout=TIMEOUT, **kwargs)
    except requests.exceptions.SSLError as exc:
        if network_error(exc).cause == "certificate_date":
            raise EnrolError(
                lambda: _(
                    "The certificate of the server at {server} is not valid at this tablet's "
                    "date: check the tablet's date and time"
                ).format(server=server)
            ) from exc
        raise EnrolError(
            lambda: _(
                "The server at {server} has a certificate this tablet does not "
                "trust: check the address"
            ).format(server=server)
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise EnrolError(
            lambda: _(
                "The server at {server} did not answer in time: check the network and try again"
            ).format(server=server)
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise EnrolError(
            lambda: _(
                "Cannot reach {server}: check the address and that the tablet is online"
            ).format(server=server)
        ) from exc


def _not_ours(server: str) -> EnrolError:
    return EnrolError(
        lambda: _("{server} does not answer like a Pilot Monitor server: check the address").format(
            server=server
        )
    )


def _json(response: requests.Response, server: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise _not_ours(server) from exc
    if not isinstance(body, dict):
        raise _not_ours(server)
    return body


def _common(response: requests.Response, server: str) -> None:
    if response.status_code == 404:
        raise _not_ours(server)
    if response.status_code == 429:
        wait = response.headers.get("Retry-After", "60")
        raise EnrolError(
            lambda: _("Too many attempts: wait {seconds} seconds and try again").format(
                seconds=wait
            )
        )
    if response.status_code >= 500:
        status = response.status_code
        raise EnrolError(
            lambda: _("The server had a problem ({status}): try again later").format(status=status)
        )


def login(session: requests.Session, server: str, username: str, password: str) -> str:
    """A user's bearer token from ``POST /auth/token``."""
    response = _post(
        session, f"{server}{API}/auth/token", data={"username": username, "password": password}
    )
    _common(response, server)
    if response.status_code in (400, 401, 403):
        raise EnrolError(lambda: _("Wrong username or password"))
    if response.status_code != 200:
        raise EnrolError(
            lambda: _("The server refused the login: {reason}").format(
                reason=_detail(response) or response.status_code
            )
        )
    token = _json(response, server).get("access_token")
    if not isinstance(token, str) or not token:
        raise _not_ours(server)
    return token


def enrol(
    *,
    server: str,
    device_id: str,
    label: str,
    app_version: str,
    code: str | None = None,
    username: str | None = None,
    password: str | None = None,
    session: requests.Session | None = None,
) -> Enrolled:
    """Enrol this tablet; ``code`` or ``username`` and ``password``."""
    http = session or requests.Session()
    headers: dict[str, str] = {}
    body: dict[str, Any] = {"device_id": device_id, "label": label, "app_version": app_version}
    if code:
        body["enrolment_code"] = code
    else:
        token = login(http, server, username or "", password or "")
        headers["Authorization"] = f"Bearer {token}"
    response = _post(http, f"{server}{API}/devices/enrol", json=body, headers=headers)
    _common(response, server)
    if response.status_code in (400, 401, 403, 409, 422):
        # Worded each time the message is shown: in the language of that moment.
        given = bool(code)
        raise EnrolError(lambda: refusal(response, with_code=given))
    if response.status_code != 200:
        raise _not_ours(server)
    answer = _json(response, server)
    user = answer.get("user") or {}
    device_token = answer.get("device_token")
    if not isinstance(device_token, str) or not isinstance(user, dict):
        raise _not_ours(server)
    return Enrolled(
        device_token=device_token,
        device_id=str(answer.get("device_id") or device_id),
        username=str(user.get("username", "")),
        role=str(user.get("role", "")),
        user_id=_id(user.get("id")),
        server_time=str(answer.get("server_time") or ""),
        bundle_key=_text(answer.get("bundle_key")),
        bundle_key_id=_text(answer.get("bundle_key_id")),
        receipt_keys=_keys(answer.get("receipt_keys")),
    )


def _keys(value: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        {"key_id": k["key_id"], "public_key": k["public_key"]}
        for k in value
        if isinstance(k, dict)
        and isinstance(k.get("key_id"), str)
        and isinstance(k.get("public_key"), str)
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: Any) -> str | None:
    """An id as pulled records write it (a UUID's canonical text), or None for anything else."""
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None
