"""Routes for logging in, people and tablets (docs/protocol.md#enrolment,
docs/protocol.md#management-api). Thin: the service decides.

Public: ``POST /auth/token`` and ``POST /devices/enrol``. Everything else needs a bearer token.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm

from server.accounts import devices as device_service
from server.accounts import fleet, service, tokens
from server.accounts.auth import (
    Caller,
    caller_from_access_token,
    issue_access_token,
    revoke_access_token,
)
from server.accounts.deps import CurrentCaller, require_roles
from server.accounts.models import (
    DevicePublic,
    EnrolledUser,
    EnrolmentCodeCreate,
    EnrolmentCodePublic,
    EnrolRequest,
    EnrolResponse,
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenPublic,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from server.api import Page, Text, client_address, error_responses
from server.columns import utcnow
from server.deps import ApiRoute, SessionDep, SettingsDep, own_query_parameters, rules
from server.records.receipts import published_keys
from shared.catalogue import Role
from sync.protocol import ReceiptKeyInfo

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]

auth_router = APIRouter(prefix="/auth", tags=["auth"], route_class=ApiRoute)
users_router = APIRouter(
    prefix="/users",
    tags=["users"],
    responses=error_responses(401, 403, 404, 422),
    route_class=ApiRoute,
)
devices_router = APIRouter(
    prefix="/devices",
    tags=["devices"],
    responses=error_responses(401, 403, 404, 422),
    route_class=ApiRoute,
)

_MANAGERS = Depends(require_roles(Role.ADMIN, Role.COUNTRY_OFFICER))
_READERS = Depends(require_roles(Role.ADMIN, Role.COUNTRY_OFFICER, Role.HQ_ANALYST))


# --- auth --------------------------------------------------------------------------------------


@auth_router.post("/token", response_model=TokenPublic, responses=error_responses(401, 422, 429))
@own_query_parameters  # OAuth 2's token endpoint ignores what it does not know (RFC 6749 §3.2)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> TokenPublic:
    """Log in with a username and password (OAuth2 password form); repeated failures for one
    username from one address are refused with 429 and ``Retry-After``."""
    try:
        user = service.authenticate(
            session,
            username=form.username,
            password=form.password,
            source=client_address(request),
        )
    except (service.LoginFailed, service.TooManyAttempts):
        session.commit()  # the failure must count although the login fails
        raise
    token, lifetime = issue_access_token(session, user=user, minutes=settings.access_token_minutes)
    session.commit()
    return TokenPublic(access_token=token, expires_in=lifetime)


@auth_router.post("/logout", status_code=204, responses=error_responses(401))
def logout(caller: CurrentCaller, session: SessionDep) -> None:
    """Revoke the token of this request."""
    if caller.access_token_id is not None:
        revoke_access_token(session, token_id=caller.access_token_id)
        session.commit()


@auth_router.get("/me", response_model=UserPublic, responses=error_responses(401))
def me(caller: CurrentCaller, session: SessionDep) -> UserPublic:
    return service.user_publics(session, [caller.user])[0]


# --- users -------------------------------------------------------------------------------------


@users_router.get("", response_model=Page[UserPublic], dependencies=[_READERS])
@rules(service.user_list_rules)
def list_users(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    role: Annotated[Role | None, Query()] = None,
    country: Annotated[Text | None, Query(max_length=3)] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Part of username or name")] = None,
) -> Page[UserPublic]:
    """People in your scope: everyone for HQ and admins, your countries' for an officer."""
    users, total = service.list_users(
        session, caller=caller, role=role, country=country, q=q, limit=limit, offset=offset
    )
    return Page(items=service.user_publics(session, users), total=total)


@users_router.post(
    "",
    response_model=UserPublic,
    status_code=201,
    dependencies=[_MANAGERS],
    responses=error_responses(409),
)
@rules(service.new_user_rules)
def create_user(body: UserCreate, caller: CurrentCaller, session: SessionDep) -> UserPublic:
    """An admin creates anyone; a country officer field experts and officers of its countries."""
    user = service.create_user_as(session, caller=caller, data=body.model_dump())
    session.commit()
    return service.user_publics(session, [user])[0]


@users_router.get("/{user_id}", response_model=UserPublic, dependencies=[_READERS])
def get_user(user_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> UserPublic:
    user = service.get_user(session, caller=caller, user_id=user_id)
    return service.user_publics(session, [user])[0]


@users_router.patch("/{user_id}", response_model=UserPublic, dependencies=[_MANAGERS])
@rules(service.user_change_rules)
def update_user(
    user_id: uuid.UUID, body: UserUpdate, caller: CurrentCaller, session: SessionDep
) -> UserPublic:
    """Change a name, e-mail or password, disable an account (its tokens stop working), or
    set a person's ``projects`` or ``countries`` (their tokens and tablets read the new scope
    at their next request; nobody changes their own)."""
    user = service.update_user(
        session, caller=caller, user_id=user_id, changes=body.model_dump(exclude_unset=True)
    )
    session.commit()
    return service.user_publics(session, [user])[0]


# --- devices -----------------------------------------------------------------------------------

_optional_bearer = HTTPBearer(auto_error=False, scheme_name="HTTPBearer")


@devices_router.post(
    "/enrol", response_model=EnrolResponse, responses=error_responses(401, 403, 409, 422, 429)
)
@rules(device_service.enrol_rules)
@own_query_parameters  # the tablet's: protocol 1 ignores what it does not know
def enrol(
    body: EnrolRequest,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
) -> EnrolResponse:
    """Enrol a tablet with a one-time ``enrolment_code`` (public), or with ``Authorization:
    Bearer <user access token>`` instead of a code."""
    caller: Caller | None = None
    if not body.enrolment_code and credentials is not None and credentials.credentials:
        caller = caller_from_access_token(session, token=credentials.credentials)
    device, token, user = device_service.enrol(
        session,
        device_id=body.device_id,
        label=body.label,
        app_version=body.app_version,
        enrolment_code=body.enrolment_code,
        caller=caller,
    )
    session.commit()
    projects = service.user_publics(session, [user])[0].projects
    key = device_service.bundle_key(secret_key=settings.secret_key, device=device)
    assert key is not None  # every enrolment makes a nonce
    return EnrolResponse(
        device_token=token,
        bundle_key=key,
        bundle_key_id=device_service.bundle_key_id(device),
        device_id=device.id,
        server_time=utcnow(),
        receipt_keys=[ReceiptKeyInfo(**k) for k in published_keys(session, settings)],
        user=EnrolledUser(
            id=user.id,
            username=user.username,
            role=user.role,
            countries=list(user.countries or []),
            projects=projects,
        ),
    )


@devices_router.post(
    "/enrol-codes", response_model=EnrolmentCodePublic, status_code=201, dependencies=[_MANAGERS]
)
def create_enrolment_code(
    body: EnrolmentCodeCreate,
    caller: CurrentCaller,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> EnrolmentCodePublic:
    """A one-time code (and its QR image) for a person of your scope to enrol a tablet."""
    row, code, user = device_service.issue_enrolment_code_as(
        session, caller=caller, username=body.username, hours=settings.enrolment_code_hours
    )
    session.commit()
    payload = device_service.qr_payload(code, str(request.base_url))
    return EnrolmentCodePublic(
        id=row.id,
        username=user.username,
        code=code,
        expires_at=row.expires_at,
        qr_payload=payload,
        qr_svg=device_service.qr_svg(payload),
    )


@devices_router.get("", response_model=Page[DevicePublic])
def list_devices(
    caller: CurrentCaller,
    session: SessionDep,
    settings: SettingsDep,
    limit: Limit = 50,
    offset: Offset = 0,
    user_id: uuid.UUID | None = None,
    revoked: bool | None = None,
) -> Page[DevicePublic]:
    """Tablets in your scope (a field expert sees their own), with last seen, app version, the
    last acknowledged push ``seq``, the latest status each posted (what it still holds) and
    why it needs a call (``attention``)."""
    items, total = device_service.list_devices(
        session, caller=caller, user_id=user_id, revoked=revoked, limit=limit, offset=offset
    )
    items = fleet.with_status(
        session, items, now=utcnow(), pending_days=settings.pending_tablet_days
    )
    return Page(items=items, total=total)


@devices_router.post("/{device_id}/revoke", response_model=DevicePublic, dependencies=[_MANAGERS])
def revoke_device(device_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> DevicePublic:
    """Cut a tablet off at once; its unsent records stay on it."""
    device, user = device_service.revoke_device(session, device_id=device_id, caller=caller)
    session.commit()
    return device_service.device_public(device, user.username)


# --- personal access tokens (the OData feed's passwords, docs/odata.md) ------------------------

tokens_router = APIRouter(
    prefix="/tokens", tags=["tokens"], responses=error_responses(401, 404), route_class=ApiRoute
)


@tokens_router.post(
    "", response_model=PersonalTokenCreated, status_code=201, responses=error_responses(409, 422)
)
def create_token(
    body: PersonalTokenCreate, caller: CurrentCaller, session: SessionDep
) -> PersonalTokenCreated:
    """A read-only token for Excel or Power BI (HTTP Basic: your username and this token),
    shown once. It reads the OData feed with your scope and nothing else."""
    row, secret = tokens.create_token(session, caller=caller, name=body.name)
    session.commit()
    return PersonalTokenCreated(id=row.id, name=row.name, token=secret)


@tokens_router.get("", response_model=list[PersonalTokenPublic])
def list_tokens(caller: CurrentCaller, session: SessionDep) -> list[PersonalTokenPublic]:
    """Your own tokens (never their secrets), newest first."""
    return [
        PersonalTokenPublic.model_validate(t, from_attributes=True)
        for t in tokens.list_tokens(session, caller=caller)
    ]


@tokens_router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> None:
    """Revoke one of your tokens: it stops working at once."""
    tokens.revoke_token(session, caller=caller, token_id=token_id)
    session.commit()


router = APIRouter()
for _sub in (auth_router, users_router, devices_router, tokens_router):
    router.include_router(_sub)
