"""Routes of the sync API (docs/protocol.md): thin wrappers over ``server.sync`` services.

``GET /sync/info`` is public by design (a tablet checks the protocol and limits before it
enrols). Push, pull and photo uploads need a device token; reading a photo takes a person's
access token or a device token; conflicts are for people (the country office).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from server.accounts import fleet
from server.accounts.auth import (
    Caller,
    DeviceRevoked,
    NotAuthenticated,
    caller_from_access_token,
    caller_from_device_token,
)
from server.accounts.deps import REVIEWERS, CurrentCaller, DeviceCaller, note_device_seen
from server.accounts.devices import issue_bundle_key
from server.accounts.models import BundleKey, Device
from server.api import Page, error_responses
from server.columns import utcnow
from server.db import write_engine
from server.deps import ApiRoute, EngineDep, SessionDep, SettingsDep, rules, top_field
from server.errors import ValidationFailed, invalid, pydantic_issues
from server.records.receipts import Signer, current_signer, published_keys
from server.sync import attachments, conflicts, service
from server.sync import pull as pull_service
from server.sync.errors import UploadCut, UploadMismatch
from server.sync.http import (
    SyncRoute,
    decode_body,
    parse_json,
    read_body,
    receive_body,
    refuse_declared_size,
    refuse_encoded,
)
from server.sync.wire import conflict_wire
from shared.errors import ErrorCode
from sync.protocol import (
    DEFAULT_PULL_LIMIT,
    MAX_CHUNK_BYTES,
    MAX_PULL_LIMIT,
    MAX_STATUS_BYTES,
    PullResponse,
    PushRequest,
    PushResponse,
    StatusReceived,
    SyncInfo,
    TabletStatus,
)

sync_router = APIRouter(prefix="/sync", tags=["sync"], route_class=SyncRoute)


def parse_push(body: bytes) -> PushRequest:
    """The envelope, or 426 for another protocol, or 422 naming what is malformed."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise invalid("body", ErrorCode.NOT_OBJECT, "a push is a JSON object")
    if "protocol" not in data:
        raise invalid("protocol", ErrorCode.REQUIRED, "required")
    service.check_protocol(data["protocol"])
    try:
        return PushRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_issues(exc.errors())) from exc


async def _push_body(request: Request, settings: SettingsDep) -> bytes:
    return await read_body(request, limit=settings.max_request_bytes)


_optional_device = HTTPBearer(
    auto_error=False,
    scheme_name="OptionalDeviceToken",
    description="A device token, if the tablet is enrolled",
)


@sync_router.get("/info", response_model=SyncInfo)
def info(
    settings: SettingsDep,
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_device)],
) -> SyncInfo:
    """Protocol versions and the limits a client must respect (public; an enrolled tablet
    that sends its token is noted as seen)."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        with Session(engine) as session:
            try:
                caller = caller_from_device_token(session, token=credentials.credentials)
            except (NotAuthenticated, DeviceRevoked):
                caller = None  # public by design: a stale token still gets the limits
        if caller is not None:
            note_device_seen(engine, caller)
    with Session(engine) as session:
        keys = published_keys(session, settings)
    return service.sync_info(settings=settings, receipt_keys=keys)


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("missing bearer token: log in first")
    return credentials.credentials


# The writing routes below (push, upload) open their write transaction inside the route, after
# the body is read and the caller known (DeviceCaller looks it up in a read session): SQLite's
# write lock (BEGIN IMMEDIATE) is then held by one worker thread from start to commit, never
# across a wait for another thread.


@sync_router.post(
    "/push", response_model=PushResponse, responses=error_responses(401, 403, 409, 413, 422, 426)
)
def push(
    caller: DeviceCaller,
    engine: EngineDep,
    settings: SettingsDep,
    raw: Annotated[bytes, Depends(_push_body)],
    content_encoding: Annotated[str | None, Header()] = None,
    x_app_version: Annotated[str | None, Header()] = None,
) -> PushResponse:
    """Apply a batch of mutations exactly once (body may be gzip)."""
    # The batch's objects live until the commit: no collector passes over them meanwhile.
    with service.collector_paused():
        body = decode_body(raw, encoding=content_encoding, limit=settings.max_request_bytes)
        envelope = parse_push(body)
        with Session(write_engine(engine)) as session:
            result = service.push(
                session,
                caller=caller,
                request=envelope,
                max_mutations=settings.max_push_mutations,
                signer=current_signer(settings),
                app_version=x_app_version,
            )
            session.commit()
        del envelope, body
    return result


@sync_router.get("/pull", response_model=PullResponse, responses=error_responses(400, 401, 403))
def pull(
    caller: DeviceCaller,
    session: SessionDep,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PULL_LIMIT)] = DEFAULT_PULL_LIMIT,
) -> PullResponse:
    """The changes since ``cursor`` in the tablet's scope, with the next cursor."""
    return pull_service.pull(
        session, caller=caller, cursor=cursor, limit=limit, signer=current_signer(settings)
    )


async def _status_body(request: Request) -> bytes:
    return await read_body(request, limit=MAX_STATUS_BYTES)


def parse_status(body: bytes, *, now: datetime) -> TabletStatus:
    """A tablet's status, or 422 naming every field that is missing or nonsense, and the
    plausibility rules broken by the fields within their limits (fleet.plausibility_issues)."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise invalid("body", ErrorCode.NOT_OBJECT, "a status is a JSON object")
    try:
        status = TabletStatus.model_validate(data)
    except ValidationError as exc:
        limits = pydantic_issues(exc.errors())
        refused = {top_field(i.field) for i in limits}
        rules = fleet.plausibility_issues(
            oldest=_AWARE.validate_python(data.get(_OLDEST)) if _OLDEST not in refused else None,
            pending_uploads=None if "pending_uploads" in refused else data["pending_uploads"],
            pending_upload_bytes=None
            if "pending_upload_bytes" in refused
            else data["pending_upload_bytes"],
            tablet_time=_AWARE.validate_python(data.get(_TABLET_TIME))
            if _TABLET_TIME not in refused
            else None,
            now=now,
        )
        raise ValidationFailed(limits + [i for i in rules if i.field not in refused]) from exc
    return status  # fleet.record_status checks its plausibility, every rule at once


_OLDEST = "oldest_pending_captured_at"
_TABLET_TIME = "tablet_time"
_AWARE: TypeAdapter[datetime | None] = TypeAdapter(AwareDatetime | None)


@sync_router.post(
    "/status", response_model=StatusReceived, responses=error_responses(401, 403, 413, 415, 422)
)
def post_status(
    caller: DeviceCaller,
    engine: EngineDep,
    raw: Annotated[bytes, Depends(_status_body)],
    content_encoding: Annotated[str | None, Header()] = None,
) -> StatusReceived:
    """This tablet's status at the start of a sync round: what it still holds
    (docs/protocol.md#tablet-status). The server keeps the latest, stamped with its own clock;
    a tablet posts only its own (the device token says which)."""
    assert caller.device is not None
    now = utcnow()
    status = parse_status(
        decode_body(raw, encoding=content_encoding, limit=MAX_STATUS_BYTES), now=now
    )
    with Session(write_engine(engine)) as session:
        row = fleet.record_status(session, device_id=caller.device.id, status=status, now=now)
        received = row.received_at
        session.commit()
    return StatusReceived(received_at=received, server_time=now)


@sync_router.post("/bundle-key", response_model=BundleKey, responses=error_responses(401, 403))
def bundle_key(caller: DeviceCaller, engine: EngineDep, settings: SettingsDep) -> BundleKey:
    """This tablet's key for signing offline bundles (docs/protocol.md#enrolment); the same
    key each time, until the tablet enrols again. Tablets enrolled before bundles were signed
    get theirs here."""
    assert caller.device is not None
    with Session(write_engine(engine)) as session:
        device = session.get(Device, caller.device.id)
        assert device is not None
        key, key_id = issue_bundle_key(session, secret_key=settings.secret_key, device=device)
        session.commit()
    return BundleKey(bundle_key=key, bundle_key_id=key_id)


# --- photos ------------------------------------------------------------------------------------

attachments_router = APIRouter(prefix="/attachments", tags=["sync"], route_class=SyncRoute)
_any_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AccessOrDeviceToken",
    description="A person's access token or a tablet's device token",
)


def any_caller(
    session: SessionDep,
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_any_bearer)],
) -> Caller:
    """A person (access token) or a tablet (device token): both may read photos in scope."""
    token = _bearer_token(credentials)
    try:
        return caller_from_access_token(session, token=token)
    except NotAuthenticated:
        caller = caller_from_device_token(session, token=token)
    note_device_seen(engine, caller)
    return caller


AnyCaller = Annotated[Caller, Depends(any_caller)]


def _files(settings: SettingsDep) -> attachments.AttachmentFiles:
    return attachments.AttachmentFiles(settings.attachments_dir)


Files = Annotated[attachments.AttachmentFiles, Depends(_files)]


def _offset_headers(state: attachments.UploadState) -> dict[str, str]:
    return {
        "Upload-Offset": str(state.offset),
        "Upload-Length": str(state.size),
        "Upload-Complete": "1" if state.complete else "0",
        "Cache-Control": "no-store",
    }


@attachments_router.head("/{attachment_id}", responses=error_responses(401, 403, 404))
def upload_offset(attachment_id: uuid.UUID, caller: AnyCaller, session: SessionDep) -> Response:
    """How many bytes of the photo the server holds (``Upload-Offset``)."""
    state = attachments.upload_state(session, caller=caller, attachment_id=attachment_id)
    return Response(status_code=200, headers=_offset_headers(state))


@attachments_router.patch(
    "/{attachment_id}", responses=error_responses(401, 403, 404, 408, 409, 413, 415, 422, 503)
)
async def upload_chunk(
    request: Request,
    attachment_id: uuid.UUID,
    caller: DeviceCaller,
    engine: EngineDep,
    settings: SettingsDep,
    files: Files,
    upload_offset: Annotated[int, Header(ge=0, alias="Upload-Offset")],
) -> JSONResponse:
    """Append a chunk (at most 1 MiB) at ``Upload-Offset``.

    A chunk cut short (the tablet's link dropped, went silent, or the server is stopping)
    still appends the bytes that arrived, so the tablet resends only what was in flight.
    """
    refuse_encoded(request)
    refuse_declared_size(request, limit=MAX_CHUNK_BYTES)
    await run_in_threadpool(_expect_offset, engine, caller, attachment_id, upload_offset)
    body = await receive_body(
        request, limit=MAX_CHUNK_BYTES, idle_seconds=settings.upload_idle_seconds
    )
    signer = current_signer(settings)
    state = await run_in_threadpool(
        _append, engine, caller, files, signer, attachment_id, upload_offset, body.data
    )
    if state.refused:
        raise UploadMismatch(state.refused)
    if body.cut is not None and not state.complete:
        raise UploadCut(offset=state.offset, stopping=body.cut == "stopping")
    return JSONResponse(
        {
            "upload_offset": state.offset,
            "size": state.size,
            "complete": state.complete,
            "server_time": utcnow().isoformat(),
        },
        headers=_offset_headers(state),
    )


def _expect_offset(engine: Engine, caller: Caller, attachment_id: uuid.UUID, offset: int) -> None:
    with Session(engine) as session:
        attachments.expect_offset(
            session, caller=caller, attachment_id=attachment_id, offset=offset
        )


def _append(
    engine: Engine,
    caller: Caller,
    files: attachments.AttachmentFiles,
    signer: Signer,
    attachment_id: uuid.UUID,
    offset: int,
    data: bytes,
) -> attachments.UploadState:
    if not data:
        with Session(engine) as session:
            return attachments.upload_state(session, caller=caller, attachment_id=attachment_id)
    # The write transaction starts only with the bytes in hand (see the note above push), and
    # after a last chunk's file is checked.
    return attachments.receive_chunk(
        engine=engine,
        caller=caller,
        files=files,
        attachment_id=attachment_id,
        offset=offset,
        chunk=data,
        signer=signer,
    )


@attachments_router.get(
    "/{attachment_id}", response_class=FileResponse, responses=error_responses(401, 403, 404)
)
def photo(
    attachment_id: uuid.UUID, caller: AnyCaller, session: SessionDep, files: Files
) -> FileResponse:
    """The photo's bytes, for people and tablets whose scope holds its activity."""
    path, content_type = attachments.open_photo(
        session, caller=caller, files=files, attachment_id=attachment_id
    )
    return FileResponse(
        path,
        media_type=content_type,
        headers=attachments.served_headers(attachment_id, content_type),
    )


# --- conflicts -----------------------------------------------------------------------------

# The people's side of sync (officers resolve what tablets collided on): a management route,
# which refuses an unknown query parameter as the rest of the management API does.
conflicts_router = APIRouter(
    prefix="/conflicts",
    tags=["conflicts"],
    responses=error_responses(401, 403, 404, 422),
    route_class=ApiRoute,
)


@conflicts_router.get("", response_model=Page[dict[str, Any]])
@rules(conflicts.list_rules)
def list_conflicts(
    caller: CurrentCaller,
    session: SessionDep,
    status: Annotated[
        str | None, Query(max_length=16, description="open | resolved | superseded")
    ] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[dict[str, Any]]:
    """Conflicts in the caller's scope, newest first."""
    items, total = conflicts.list_conflicts(
        session, caller=caller, status=status or None, limit=limit, offset=offset
    )
    return Page(items=items, total=total)


@conflicts_router.get("/{conflict_id}", response_model=dict[str, Any])
def get_conflict(
    conflict_id: uuid.UUID, caller: CurrentCaller, session: SessionDep
) -> dict[str, Any]:
    return conflict_wire(conflicts.get_conflict(session, caller=caller, conflict_id=conflict_id))


@conflicts_router.post(
    "/{conflict_id}/resolve",
    response_model=dict[str, Any],
    responses=error_responses(401, 403, 404, 409, 422),
    dependencies=[REVIEWERS],
)
def resolve_conflict(
    conflict_id: uuid.UUID,
    body: conflicts.ResolveRequest,
    caller: CurrentCaller,
    session: SessionDep,
) -> dict[str, Any]:
    """Keep the server's values, take the tablet's, or set custom ones."""
    conflict = conflicts.resolve(session, caller=caller, conflict_id=conflict_id, request=body)
    session.commit()
    return conflict_wire(conflict)


# Everything of this domain, mounted by server.app with one include_router line.
router = APIRouter()
router.include_router(sync_router)
router.include_router(attachments_router)
router.include_router(conflicts_router)
