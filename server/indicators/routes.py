"""``GET /api/v1/indicators`` and ``GET /api/v1/indicators/{code}/values`` (docs/indicators.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session as OrmSession

from server.accounts.auth import Caller
from server.accounts.deps import CurrentCaller
from server.accounts.fleet import pending_on_tablets
from server.api import error_responses
from server.deps import (
    ApiRoute,
    SessionDep,
    own_query_parameters,
    repeated_query_issues,
    unknown_parameter_message,
)
from server.errors import NotFound, ValidationFailed
from server.indicators.service import (
    ValuesQuery,
    indicator_definitions,
    indicator_values,
    parse_values_query,
)
from shared.errors import ErrorCode, Issue
from shared.indicators import FILTER_KEYS

router = APIRouter(
    prefix="/indicators",
    tags=["indicators"],
    responses=error_responses(400, 401, 404),
    route_class=ApiRoute,
)

VALUES_PARAMETERS: tuple[str, ...] = ("group_by", *FILTER_KEYS, "from", "to", "status")


class IndicatorDefinition(BaseModel):
    code: str
    name: str
    description: str
    unit: str
    kind: str
    group_by: list[str]
    filters: list[str]
    additive: bool
    # result indicators only (kind "result", docs/results.md#result-indicators)
    form: str | None = None
    aggregate: str | None = None
    direction: str | None = None
    compare: str | None = None
    names: dict[str, str] | None = None


class PendingOnTabletsPublic(BaseModel):
    """What the caller's tablets last said they still hold (docs/protocol.md#tablet-status)."""

    records: int
    photos: int
    tablets: int
    oldest_report_at: str | None


class IndicatorValuesPublic(BaseModel):
    indicator: str
    group_by: list[str]
    rows: list[dict[str, Any]]
    as_of: str
    pending_on_tablets: PendingOnTabletsPublic


def values_query_from(
    request: Request,
    code: str,
    *,
    session: OrmSession,
    extra: tuple[str, ...] = (),
    caller: Caller | None = None,
) -> ValuesQuery:
    """Parse the values parameters of a request: one 400 naming every bad one, a parameter we
    do not know or one given more than once (each is read once: ``group_by`` and the filters
    take a comma list) beside the others' problems. Result indicators are those of the forms the
    caller may read (``caller``, else the one the request's ``CurrentCaller`` authenticated):
    another country's project form's indicator is a 404, as an unknown code."""
    who = caller if caller is not None else getattr(request.state, "caller", None)
    if who is None:  # never unscoped: the routes that parse values all take a person's token
        raise RuntimeError("values_query_from needs the request's caller")
    params = request.query_params
    refused = [
        Issue(k, ErrorCode.UNKNOWN_FIELD, unknown_parameter_message(VALUES_PARAMETERS))
        for k in sorted(k for k in params if k not in VALUES_PARAMETERS and k not in extra)
    ]
    named = {i.field for i in refused}
    refused += [i for i in repeated_query_issues(request) if i.field not in named]
    named = {i.field for i in refused}
    try:
        query = parse_values_query(
            code=code,
            group_by=params.get("group_by"),
            filters={k: params.get(k) for k in FILTER_KEYS if k in params},
            date_from=params.get("from"),
            date_to=params.get("to"),
            status=params.get("status"),
            session=session,
            caller=who,
        )
    except ValidationFailed as exc:
        # What the checks said of a repeated parameter judged one of its values only.
        rest = [i for i in exc.issues if i.field not in named]
        raise ValidationFailed(refused + rest, status_code=400) from None
    except NotFound:
        # An unknown indicator, perhaps the last of an export's ``indicator`` given twice.
        if refused:
            raise ValidationFailed(refused, status_code=400) from None
        raise
    if refused:
        raise ValidationFailed(refused, status_code=400)
    return query


CodeList = Annotated[str | None, Query(description="One code or a comma list")]


@router.get("", response_model=list[IndicatorDefinition])
def list_indicators(caller: CurrentCaller, session: SessionDep) -> list[dict[str, Any]]:
    """The indicator catalogue: codes, meaning, unit and the keys that break each down; then
    the result indicators of the published forms the caller may read (global ones and those of
    its projects), with their form."""
    return indicator_definitions(session, caller)


@router.get("/{code}/values", response_model=IndicatorValuesPublic)
@own_query_parameters  # reads them all in values_query_from, which refuses unknown ones
def get_values(
    code: str,
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
    group_by: Annotated[
        str | None, Query(description="Comma list of keys, e.g. country,period:quarter,sex")
    ] = None,
    country: CodeList = None,
    region: CodeList = None,
    project: Annotated[str | None, Query(description="Project codes or ids")] = None,
    thematic_area: CodeList = None,
    solution: CodeList = None,
    topic: CodeList = None,
    modality: CodeList = None,
    activity_type: CodeList = None,
    date_from: Annotated[
        str | None, Query(alias="from", description="Start date from (YYYY-MM-DD)")
    ] = None,
    date_to: Annotated[
        str | None, Query(alias="to", description="Start date up to (YYYY-MM-DD)")
    ] = None,
    status: Annotated[
        str | None, Query(description="Statuses counted (default submitted,approved)")
    ] = None,
) -> dict[str, Any]:
    """An indicator's values per group, counting only what the caller may see."""
    query = values_query_from(request, code, session=session, caller=caller)
    values = indicator_values(session, caller=caller, query=query)
    return {
        "indicator": values.indicator,
        "group_by": list(values.group_by),
        "rows": values.rows,
        "as_of": values.as_of.isoformat(),
        "pending_on_tablets": pending_on_tablets(session, caller=caller).as_dict(),
    }
