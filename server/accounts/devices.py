"""Tablets: one-time enrolment codes, enrolment, the device list and revocation
(docs/protocol.md#enrolment).

An enrolment code is ten Crockford base-32 characters shown as ``XXXXX-XXXXX`` (50 random bits,
easy to read aloud and type on a tablet); only its SHA-256 is stored. It works once and expires
after ``settings.enrolment_code_hours``. A tablet may instead enrol with its user's bearer
access token.

Re-enrolling: the same tablet (``device_id``) of the same user gets a fresh device token (the
old one stops working) and keeps its ``last_seq``, since push sequence numbers continue forever.
A revoked tablet can only come back with a fresh enrolment code, which an officer issues on
purpose; a user's own token is not enough, except for a tablet revoked by its person's new
password (``revoked_reason``): the person knows the new password, a thief of the old one does
not. A ``device_id`` enrolled for another user is refused. Each tablet records how it enrolled
(``enrolled_with``), since a new password revokes those enrolled with a password only.

Tablets are for recording: an HQ analyst (read only) may not enrol one, nor be issued a code.

Bundle keys (docs/protocol.md#enrolment): each enrolment gives the tablet a new key to sign its
offline bundles with. The key is derived, not stored: HMAC-SHA256 of the server's secret key
over the device id and a random nonce kept on the device row, so the database (and every backup
of it) holds nothing that signs a bundle, and a restore with the same ``PILOTMON_SECRET_KEY``
verifies the bundles of every existing tablet. Changing that secret changes every tablet's key:
bundles written before then are refused, and each tablet must enrol again.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import segno
from sqlalchemy import func
from sqlmodel import Session, col, select

from server.accounts.auth import NO_TABLET, Caller, may_have_tablet
from server.accounts.models import (
    ENROLLED_WITH_CODE,
    ENROLLED_WITH_PASSWORD,
    REVOKED_PASSWORD_CHANGED,
    Device,
    DevicePublic,
    EnrolmentCode,
    User,
)
from server.accounts.security import new_token, token_hash
from server.accounts.service import audit_country, refuse_unless_may_manage
from server.columns import utcnow
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed, invalid
from server.records import audit
from server.scope import device_scope, user_scope
from shared.catalogue import Role
from shared.errors import ErrorCode, Issue

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
CODE_LENGTH = 10
# What people mistype, read the Crockford way.
_CODE_READ = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_enrolment_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(code: str) -> str:
    """``abcde fghjk`` / ``ABCDE-FGHJK`` / ``abcdefghjk`` all read as ``ABCDEFGHJK``."""
    return "".join(ch for ch in code.upper().translate(_CODE_READ) if ch.isalnum())


def code_hash(code: str) -> str:
    return token_hash(normalise_code(code))


def qr_payload(code: str, server_url: str | None) -> str:
    """What the QR code holds; the tablet's enrol screen reads both parts."""
    payload = f"pilotmon:enrol?code={code}"
    return f"{payload}&server={server_url.rstrip('/')}" if server_url else payload


def qr_svg(payload: str) -> str:
    out = io.BytesIO()
    # A viewBox without width/height: the page sizes it and it scales whole. A fixed size that
    # CSS shrank showed only the code's top-left corner, which no camera could read.
    segno.make(payload, error="m").save(
        out, kind="svg", xmldecl=False, omitsize=True, title="Pilot Monitor enrolment code"
    )
    return out.getvalue().decode()


# --- enrolment codes ---------------------------------------------------------------------------


def issue_enrolment_code(
    session: Session,
    *,
    user: User,
    hours: int,
    created_by_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
) -> tuple[EnrolmentCode, str]:
    """A new one-time code for ``user``; returns (row, the code in clear, shown once)."""
    code = new_enrolment_code()
    row = EnrolmentCode(
        code_hash=code_hash(code),
        user_id=user.id,
        created_by_id=created_by_id,
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        action="issue",
        entity="enrolment_code",
        entity_id=row.id,
        actor_id=created_by_id,
        device_id=device_id,
        country=audit_country(user.countries),
        after={"username": user.username, "expires_at": row.expires_at.isoformat()},
    )
    return row, code


def issue_enrolment_code_as(
    session: Session, *, caller: Caller, username: str, hours: int
) -> tuple[EnrolmentCode, str, User]:
    """An admin, or an officer for a person all of whose countries and projects are its own,
    issues a code for ``username``; the tablet will reach exactly what the person reaches."""
    if caller.role not in (Role.ADMIN, Role.COUNTRY_OFFICER):
        raise Forbidden(f"your role ({caller.role}) may not issue enrolment codes")
    user = session.exec(
        select(User).where(User.username == username.strip().lower(), user_scope(caller))
    ).one_or_none()
    if user is None:
        raise invalid("username", ErrorCode.NOT_FOUND, f"no user {username!r}")
    refuse_unless_may_manage(session, caller=caller, user=user)
    refuse_unless_may_have_tablet(user)
    if not user.is_active:
        raise invalid(
            "username", ErrorCode.ACCOUNT_DISABLED, f"the account {user.username!r} is disabled"
        )
    row, code = issue_enrolment_code(session, user=user, hours=hours, created_by_id=caller.user.id)
    return row, code, user


# --- enrolling ---------------------------------------------------------------------------------


def refuse_unless_may_have_tablet(user: User) -> None:
    """Forbidden for a person who may not have a tablet (``auth.may_have_tablet``)."""
    if not may_have_tablet(user):
        raise Forbidden(NO_TABLET, code=ErrorCode.NO_TABLET)


_DISABLED = Issue(
    "enrolment_code",
    ErrorCode.ACCOUNT_DISABLED,
    "the account this code was issued for is disabled",
)


def enrol(
    session: Session,
    *,
    device_id: uuid.UUID,
    label: str,
    app_version: str,
    enrolment_code: str | None = None,
    caller: Caller | None = None,
) -> tuple[Device, str, User]:
    """Enrol a tablet with a one-time code or as ``caller``; returns (device, token, user)."""
    now = utcnow()
    code_row: EnrolmentCode | None = None
    if enrolment_code:
        code_row = _usable_code(session, enrolment_code, now)
        user = session.get(User, code_row.user_id)
        if user is None or not user.is_active:
            raise ValidationFailed([_DISABLED])
    elif caller is not None:
        user = caller.user
    else:
        raise invalid(
            "enrolment_code",
            ErrorCode.REQUIRED,
            "give the enrolment code from your country office, "
            "or log in and enrol with your access token",
        )
    refuse_unless_may_have_tablet(user)
    enrolled_with = ENROLLED_WITH_CODE if code_row is not None else ENROLLED_WITH_PASSWORD
    token = new_token()
    device = session.get(Device, device_id)
    if device is None:
        device = Device(
            id=device_id,
            user_id=user.id,
            label=label,
            app_version=app_version,
            token_hash=token_hash(token),
            enrolled_at=now,
            bundle_key_nonce=new_bundle_key_nonce(),
            enrolled_with=enrolled_with,
        )
        action = "enrol"
    else:
        if device.user_id != user.id:
            raise Conflict(
                "device_id: this tablet is enrolled for another user; reset the app "
                "to enrol it for someone else",
                code=ErrorCode.DEVICE_TAKEN,
            )
        if (
            device.revoked_at is not None
            and code_row is None
            and device.revoked_reason != REVOKED_PASSWORD_CHANGED
        ):
            raise Forbidden(
                "this tablet was revoked: ask your country office for an enrolment "
                "code to enrol it again",
                code=ErrorCode.DEVICE_REVOKED,
            )
        action = "re-enrol" if device.revoked_at is None else "restore"
        device.bundle_key_nonce = new_bundle_key_nonce()
        device.token_hash = token_hash(token)
        device.label, device.app_version = label, app_version
        device.revoked_at = None
        device.revoked_reason = None
        device.enrolled_at = now
        device.enrolled_with = enrolled_with
    session.add(device)
    session.flush()
    if code_row is not None:
        code_row.used_at = now
        code_row.used_by_device_id = device.id
        session.add(code_row)
    audit.record(
        session,
        action=action,
        entity="device",
        entity_id=device.id,
        actor_id=user.id,
        device_id=device.id,
        country=audit_country(user.countries),
        after={
            "username": user.username,
            "label": label,
            "app_version": app_version,
            "with": "enrolment_code" if code_row is not None else "access_token",
        },
    )
    return device, token, user


def _usable_code(session: Session, text: str, now: datetime) -> EnrolmentCode:
    row = session.exec(
        select(EnrolmentCode).where(EnrolmentCode.code_hash == code_hash(text)).with_for_update()
    ).one_or_none()
    problem = _code_problem(row, now)
    if problem is not None:
        raise ValidationFailed([problem])
    assert row is not None
    return row


def _code_problem(row: EnrolmentCode | None, now: datetime) -> Issue | None:
    if row is None:
        return Issue(
            "enrolment_code",
            ErrorCode.ENROLMENT_CODE_UNKNOWN,
            "unknown code: check it, or ask for a new one",
        )
    if row.used_at is not None:
        return Issue(
            "enrolment_code",
            ErrorCode.ENROLMENT_CODE_USED,
            "this code was already used: ask for a new one",
        )
    if row.expires_at <= now:
        return Issue(
            "enrolment_code",
            ErrorCode.ENROLMENT_CODE_EXPIRED,
            "this code has expired: ask for a new one",
        )
    return None


def enrol_rules(
    session: Session, *, caller: Any, data: Mapping[str, Any], path: Mapping[str, str]
) -> list[Issue]:
    """``POST /devices/enrol``'s rule checks (server.deps.rules): a given code's problem, so
    that a too-long label does not hide an expired code (read only: the code is not used)."""
    text = data.get("enrolment_code")
    if not isinstance(text, str) or not text:
        return []  # without a code the tablet may enrol with a bearer token
    row = session.exec(
        select(EnrolmentCode).where(EnrolmentCode.code_hash == code_hash(text))
    ).one_or_none()
    problem = _code_problem(row, utcnow())
    if problem is None and row is not None:
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            problem = _DISABLED
    return [problem] if problem is not None else []


# --- bundle keys -------------------------------------------------------------------------------

_BUNDLE_KEY_CONTEXT = b"pilotmon offline bundle key v1\x00"


def new_bundle_key_nonce() -> str:
    return secrets.token_hex(16)


def bundle_key(*, secret_key: str, device: Device) -> str | None:
    """The tablet's bundle key (hex), or None for a tablet that never received one."""
    if not device.bundle_key_nonce:
        return None
    message = _BUNDLE_KEY_CONTEXT + device.id.bytes + bytes.fromhex(device.bundle_key_nonce)
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def bundle_key_id(device: Device) -> str:
    """Names the key in a bundle's signature: the nonce is random and not secret."""
    return device.bundle_key_nonce or ""


def issue_bundle_key(session: Session, *, secret_key: str, device: Device) -> tuple[str, str]:
    """The tablet's (key, key id), making its nonce first if it enrolled before bundles were
    signed; an existing key is handed out again unchanged."""
    if not device.bundle_key_nonce:
        device.bundle_key_nonce = new_bundle_key_nonce()
        session.add(device)
        session.flush()
    key = bundle_key(secret_key=secret_key, device=device)
    assert key is not None
    return key, bundle_key_id(device)


# --- the device list and revocation ------------------------------------------------------------


def list_devices(
    session: Session,
    *,
    caller: Caller,
    user_id: uuid.UUID | None = None,
    revoked: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DevicePublic], int]:
    conditions = [device_scope(caller)]
    if user_id is not None:
        conditions.append(col(Device.user_id) == user_id)
    if revoked is not None:
        conditions.append(
            col(Device.revoked_at).is_not(None) if revoked else col(Device.revoked_at).is_(None)
        )
    total = session.exec(select(func.count()).select_from(Device).where(*conditions)).one()
    rows = session.exec(
        select(Device, User.username)
        .join(User, col(User.id) == Device.user_id)
        .where(*conditions)
        .order_by(col(User.username), col(Device.enrolled_at), col(Device.id))
        .limit(limit)
        .offset(offset)
    )
    return [device_public(device, username) for device, username in rows], total


def device_public(device: Device, username: str) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        user_id=device.user_id,
        username=username,
        label=device.label,
        app_version=device.app_version,
        enrolled_at=device.enrolled_at,
        last_seen_at=device.last_seen_at,
        last_seq=device.last_seq,
        revoked=device.revoked_at is not None,
        revoked_at=device.revoked_at,
    )


def revoke_device(
    session: Session, *, device_id: uuid.UUID, caller: Caller | None = None
) -> tuple[Device, User]:
    """Cut a tablet off: its token gets 403 from now on. ``caller`` None is the CLI (admin)."""
    query = (
        select(Device, User)
        .join(User, col(User.id) == Device.user_id)
        .where(Device.id == device_id)
    )
    if caller is not None:
        query = query.where(device_scope(caller))
    row = session.exec(query).one_or_none()
    if row is None:
        raise NotFound("no such device")
    device, user = row
    if caller is not None:
        refuse_unless_may_manage(session, caller=caller, user=user)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        session.add(device)
        audit.record(
            session,
            action="revoke",
            entity="device",
            entity_id=device.id,
            actor_id=caller.user.id if caller else None,
            country=audit_country(user.countries),
            before={"revoked": False},
            after={"revoked": True, "label": device.label, "username": user.username},
        )
    return device, user
