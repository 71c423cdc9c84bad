"""``/api/v1/odata/``: the service document, ``$metadata`` and one route per entity set (and
its ``/$count``, and one entity by its key: ``Activities(<id>)``). The forms' sets
(``Observations_<code>``) come and go with the forms, so three routes after the fixed sets' take
any other name and look it up among the caller's sets: a name that is none of them is the
feed's 404. Thin: ``server.odata.query`` reads, this module shapes OData's JSON.

Authentication: HTTP Basic with a username and a personal access token (what Excel and Power
BI send), or a bearer access token; the caller's scope applies in every query.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlmodel import Session
from starlette.exceptions import HTTPException

from server.accounts import tokens
from server.accounts.auth import Caller, caller_from_access_token
from server.api import client_address
from server.db import write_engine
from server.deps import SessionDep, SettingsDep, get_app_engine
from server.odata.entities import ENTITY_SETS, EntitySet
from server.odata.errors import ODATA_PREFIX, ODataError
from server.odata.metadata import metadata_xml, service_document
from server.odata.observations import observation_sets
from server.odata.query import (
    MAX_PAGE_SIZE,
    Page,
    entity_select,
    parse_key,
    parse_options,
    read_entity,
    read_page,
    skiptoken_key,
)

HEADERS = {"OData-Version": "4.0"}
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"

router = APIRouter(prefix="/odata", tags=["odata"])


# --- who is calling ------------------------------------------------------------------------------


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise tokens.BasicAuthFailed(
            "the Basic credentials are not base64 of 'user:token'"
        ) from exc
    username, colon, secret = decoded.partition(":")
    if not colon or not username or not secret:
        raise tokens.BasicAuthFailed("the Basic credentials are not 'username:token'")
    return username, secret


def odata_caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    engine = get_app_engine(request)
    if scheme.lower() == "bearer" and value.strip():
        with Session(engine) as session:
            return caller_from_access_token(session, token=value.strip())
    if scheme.lower() != "basic" or not value.strip():
        raise tokens.BasicAuthFailed(
            "sign in with your username and a personal access token (HTTP Basic); make a "
            "token on the dashboard's Access tokens page"
        )
    username, secret = _basic(value)
    source = client_address(request)
    with Session(engine) as session:
        try:
            caller = tokens.caller_from_basic(
                session, username=username, token=secret, source=source
            )
            clear = tokens.has_failures(session, username=username, source=source)
        except tokens.BasicAuthFailed as failed:
            session.rollback()
            with Session(write_engine(engine)) as writer:
                locked = tokens.record_basic_failure(writer, username=username, source=source)
                writer.commit()
            raise (locked or failed) from None
    if clear:
        with Session(write_engine(engine)) as writer:
            tokens.clear_failures(writer, username=username, source=source)
            writer.commit()
    return caller


ODataCaller = Annotated[Caller, Depends(odata_caller)]


# --- shaping -------------------------------------------------------------------------------------


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + ODATA_PREFIX


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _query_string(params: dict[str, str]) -> str:
    # "$", "," and quotes stay readable in a nextLink; spaces and the rest are escaped.
    return "&".join(f"{quote(k, safe='$')}={quote(v, safe='$,()')}" for k, v in params.items())


def _answer(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=HEADERS, media_type=JSON_TYPE)


def _page_body(request: Request, entity_set: EntitySet, page: Page, select: Any) -> dict[str, Any]:
    base = _base(request)
    context = f"{base}/$metadata#{entity_set.name}"
    if select is not None:
        context += "(" + ",".join(select) + ")"
    body: dict[str, Any] = {"@odata.context": context}
    if page.count is not None:
        body["@odata.count"] = page.count
    body["value"] = [{k: _json_value(v) for k, v in row.items()} for row in page.rows]
    if page.next_token is not None:
        params = {
            k: v
            for k, v in request.query_params.items()
            if k not in ("$skip", "$skiptoken", "$top")
        }
        if page.next_top is not None:
            params["$top"] = str(page.next_top)
        params["$skiptoken"] = page.next_token
        body["@odata.nextLink"] = f"{base}/{entity_set.name}?" + _query_string(params)
    return body


# --- reading a set --------------------------------------------------------------------------------


def _read_collection(
    request: Request, caller: Caller, session: Session, token_key: bytes, entity_set: EntitySet
) -> JSONResponse:
    options = parse_options(
        request.query_params,
        entity_set,
        token_key=token_key,
        prefer=request.headers.get("prefer"),
    )
    page = read_page(session, caller=caller, entity_set=entity_set, options=options)
    response = _answer(
        _page_body(request, entity_set, page, options.select if options.explicit_select else None)
    )
    if options.page_size < MAX_PAGE_SIZE:
        response.headers["Preference-Applied"] = f"odata.maxpagesize={options.page_size}"
    return response


def _read_entity(
    request: Request, caller: Caller, session: Session, key: str, entity_set: EntitySet
) -> JSONResponse:
    select, explicit = entity_select(request.query_params, entity_set)
    values = parse_key(key, entity_set)
    row = read_entity(session, caller=caller, entity_set=entity_set, key=values, select=select)
    if row is None:
        raise ODataError(
            f"no entity of {entity_set.name} with this key in your scope",
            code="not_found",
            status_code=404,
        )
    listed = "(" + ",".join(select) + ")" if explicit else ""
    context = f"{_base(request)}/$metadata#{entity_set.name}{listed}/$entity"
    return _answer({"@odata.context": context, **{k: _json_value(v) for k, v in row.items()}})


def _read_count(
    request: Request, caller: Caller, session: Session, token_key: bytes, entity_set: EntitySet
) -> PlainTextResponse:
    params = {k: v for k, v in request.query_params.items() if k == "$filter"}
    options = parse_options(
        {**params, "$count": "true", "$top": "0"}, entity_set, token_key=token_key
    )
    page = read_page(session, caller=caller, entity_set=entity_set, options=options)
    return PlainTextResponse(str(page.count), headers=HEADERS)


def _caller_sets(session: Session, caller: Caller) -> list[EntitySet]:
    return [*ENTITY_SETS, *observation_sets(session, caller=caller)]


def _form_set(session: Session, caller: Caller, name: str) -> EntitySet:
    """The form's set of this name among the caller's, else the feed's 404 (as for any address
    it does not have): a form outside the caller's scope is not told from one that is not."""
    for entity_set in observation_sets(session, caller=caller):
        if entity_set.name == name:
            return entity_set
    raise HTTPException(status_code=404)


# --- routes --------------------------------------------------------------------------------------


@router.get("", include_in_schema=False)
@router.get("/")
def service_root(request: Request, caller: ODataCaller, session: SessionDep) -> JSONResponse:
    """The service document: the entity sets of the feed (docs/odata.md)."""
    return _answer(service_document(_base(request), _caller_sets(session, caller)))


@router.get("/$metadata", response_class=Response)
def metadata(caller: ODataCaller, session: SessionDep) -> Response:
    """The entity model in CSDL XML (OData v4.0)."""
    return Response(
        metadata_xml(_caller_sets(session, caller)),
        media_type="application/xml;charset=utf-8",
        headers=HEADERS,
    )


def _collection(entity_set: EntitySet) -> Callable[..., JSONResponse]:
    def read(
        request: Request, caller: ODataCaller, session: SessionDep, settings: SettingsDep
    ) -> JSONResponse:
        key = skiptoken_key(settings.secret_key)
        return _read_collection(request, caller, session, key, entity_set)

    read.__doc__ = (
        f"{entity_set.name} in your scope, with $select, $filter, $orderby, $top, $skip, $count "
        "and server-driven paging (@odata.nextLink)."
    )
    return read


def _entity(entity_set: EntitySet) -> Callable[..., JSONResponse]:
    def read(key: str, request: Request, caller: ODataCaller, session: SessionDep) -> JSONResponse:
        return _read_entity(request, caller, session, key, entity_set)

    read.__doc__ = (
        f"One of {entity_set.name} by its key ({', '.join(entity_set.key)}), in your scope, "
        "with $select: " + entity_set.name + "(<key>)."
    )
    return read


def _count(entity_set: EntitySet) -> Callable[..., PlainTextResponse]:
    def count(
        request: Request, caller: ODataCaller, session: SessionDep, settings: SettingsDep
    ) -> PlainTextResponse:
        key = skiptoken_key(settings.secret_key)
        return _read_count(request, caller, session, key, entity_set)

    count.__doc__ = f"The number of {entity_set.name} in your scope matching $filter."
    return count


for _set in ENTITY_SETS:
    router.add_api_route(
        f"/{_set.name}", _collection(_set), methods=["GET"], name=f"odata_{_set.name}"
    )
    router.add_api_route(
        # :path, so that a text key holding an (escaped) slash still reaches the set's route
        f"/{_set.name}({{key:path}})",
        _entity(_set),
        methods=["GET"],
        name=f"odata_{_set.name}_entity",
    )
    router.add_api_route(
        f"/{_set.name}/$count",
        _count(_set),
        methods=["GET"],
        name=f"odata_{_set.name}_count",
        response_class=PlainTextResponse,
    )


# The forms' sets, after the fixed ones (Starlette tries routes in order).


@router.get("/{set_name}/$count", response_class=PlainTextResponse)
def form_observations_count(
    set_name: str,
    request: Request,
    caller: ODataCaller,
    session: SessionDep,
    settings: SettingsDep,
) -> PlainTextResponse:
    """The number of a form's observations (Observations_<code>) in your scope matching
    $filter."""
    entity_set = _form_set(session, caller, set_name)
    return _read_count(request, caller, session, skiptoken_key(settings.secret_key), entity_set)


@router.get("/{set_name}({key:path})")
def form_observation(
    set_name: str, key: str, request: Request, caller: ODataCaller, session: SessionDep
) -> JSONResponse:
    """One observation of a form's set by its Id, in your scope, with $select:
    Observations_<code>(<id>)."""
    # The route's pattern splits at the last "(" that fits: a set's name never holds one.
    name, _, rest = f"{set_name}({key})".partition("(")
    entity_set = _form_set(session, caller, name)
    return _read_entity(request, caller, session, rest[:-1], entity_set)


@router.get("/{set_name}")
def form_observations(
    set_name: str,
    request: Request,
    caller: ODataCaller,
    session: SessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    """A form's observations (Observations_<code>: docs/odata.md#observations) in your scope,
    with $select, $filter, $orderby, $top, $skip, $count and server-driven paging."""
    entity_set = _form_set(session, caller, set_name)
    return _read_collection(
        request, caller, session, skiptoken_key(settings.secret_key), entity_set
    )
