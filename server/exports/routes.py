"""Export routes (docs/indicators.md): activities and indicator values as CSV/XLSX, DHIS2, IATI.

Everything is scoped to the caller; bad parameters are refused before a streamed body starts.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from server.accounts.deps import CurrentCaller
from server.activities.queries import ActivityFilters, check_filters, filter_rules
from server.api import IsoDate, Text, error_responses
from server.columns import utcnow
from server.deps import (
    ApiRoute,
    EngineDep,
    SessionDep,
    SettingsDep,
    own_query_parameters,
    rules,
)
from server.exports import activities as activity_export
from server.exports.dhis2 import data_value_set, load_mapping
from server.exports.iati import Organisation, iati_activities
from server.exports.observations import ObservationTable, observation_table
from server.exports.tabular import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    csv_chunks,
    file_chunks,
    xlsx_file,
)
from server.exports.values import site_names, value_columns, value_rows
from server.indicators.routes import values_query_from
from server.indicators.service import (
    IndicatorValues,
    indicator_values,
    resolve_projects,
    split_list,
)
from shared.indicators import DEFAULT_STATUSES

router = APIRouter(
    prefix="/exports",
    tags=["exports"],
    responses=error_responses(400, 401, 404, 422),
    route_class=ApiRoute,
)

CodeList = Annotated[Text | None, Query(max_length=2000, description="One code or a comma list")]


def _attachment(name: str, extension: str) -> dict[str, str]:
    stamp = utcnow().strftime("%Y%m%d")
    return {"Content-Disposition": f'attachment; filename="{name}-{stamp}.{extension}"'}


def _activity_filters(
    caller: CurrentCaller,
    session: SessionDep,
    country: CodeList = None,
    region: CodeList = None,
    project: CodeList = None,
    site: uuid.UUID | None = None,
    thematic_area: CodeList = None,
    solution: CodeList = None,
    topic: CodeList = None,
    modality: CodeList = None,
    activity_type: CodeList = None,
    status: CodeList = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
    q: Annotated[Text | None, Query(max_length=200)] = None,
    late: bool | None = None,
) -> ActivityFilters:
    filters = ActivityFilters(
        country=country,
        region=region,
        project=project,
        site=site,
        thematic_area=thematic_area,
        solution=solution,
        topic=topic,
        modality=modality,
        activity_type=activity_type,
        # The statuses every count uses (indicators, pages, IATI), unless the caller says.
        status=status or ",".join(DEFAULT_STATUSES),
        date_from=date_from,
        date_to=date_to,
        q=q,
        late=late,
    )
    check_filters(session, caller=caller, filters=filters)  # before a streamed body starts
    return filters


# The filters both activity exports take (query parameters), checked before a body starts.
ActivityFiltersDep = Annotated[ActivityFilters, Depends(_activity_filters)]


@router.get("/activities.csv", response_class=StreamingResponse)
@rules(filter_rules)
def activities_csv(
    caller: CurrentCaller, engine: EngineDep, filters: ActivityFiltersDep
) -> StreamingResponse:
    """The activities the caller may see, one per row (never a participant's name)."""
    rows = activity_export.activity_rows(engine, caller=caller, filters=filters)
    return StreamingResponse(
        csv_chunks(activity_export.COLUMNS, rows),
        media_type=CSV_MEDIA_TYPE,
        headers=_attachment("activities", "csv"),
    )


@router.get("/activities.xlsx", response_class=StreamingResponse)
@rules(filter_rules)
def activities_xlsx(
    caller: CurrentCaller, engine: EngineDep, filters: ActivityFiltersDep
) -> StreamingResponse:
    """The same table as a workbook: typed cells, a bold frozen header."""
    rows = activity_export.activity_rows(engine, caller=caller, filters=filters)
    workbook = xlsx_file("Activities", activity_export.COLUMNS, rows, widths=activity_export.WIDTHS)
    return StreamingResponse(
        file_chunks(workbook), media_type=XLSX_MEDIA_TYPE, headers=_attachment("activities", "xlsx")
    )


def _values(
    request: Request, caller: CurrentCaller, session: SessionDep, indicator: str
) -> IndicatorValues:
    query = values_query_from(request, indicator, session=session, extra=("indicator",))
    return indicator_values(session, caller=caller, query=query)


IndicatorParam = Annotated[str, Query(description="Indicator code, e.g. PARTICIPANTS")]
_VALUES_NOTE = (
    "Takes the parameters of GET /api/v1/indicators/{code}/values: group_by, "
    "country, region, project, thematic_area, solution, topic, modality, "
    "activity_type, from, to, status."
)


@router.get("/indicators.csv", response_class=StreamingResponse, description=_VALUES_NOTE)
@own_query_parameters  # the values parameters, read and checked by values_query_from
def indicators_csv(
    request: Request, caller: CurrentCaller, session: SessionDep, indicator: IndicatorParam
) -> StreamingResponse:
    values = _values(request, caller, session, indicator)
    return StreamingResponse(
        csv_chunks(value_columns(values), value_rows(values, site_names(session, values))),
        media_type=CSV_MEDIA_TYPE,
        headers=_attachment(values.indicator.lower(), "csv"),
    )


@router.get("/indicators.xlsx", response_class=StreamingResponse, description=_VALUES_NOTE)
@own_query_parameters  # the values parameters, read and checked by values_query_from
def indicators_xlsx(
    request: Request, caller: CurrentCaller, session: SessionDep, indicator: IndicatorParam
) -> StreamingResponse:
    values = _values(request, caller, session, indicator)
    workbook = xlsx_file(
        values.indicator, value_columns(values), value_rows(values, site_names(session, values))
    )
    return StreamingResponse(
        file_chunks(workbook),
        media_type=XLSX_MEDIA_TYPE,
        headers=_attachment(values.indicator.lower(), "xlsx"),
    )


@router.get("/dhis2/dataValueSets.json")
def dhis2_data_values(
    caller: CurrentCaller,
    session: SessionDep,
    settings: SettingsDep,
    period: Annotated[str, Query(description="2025, 2025Q3 or 2025-07")],
    period_type: Annotated[
        str | None, Query(description="monthly, quarterly or yearly (default: the period's own)")
    ] = None,
    country: CodeList = None,
    status: Annotated[
        str | None, Query(description="Statuses counted (default submitted,approved)")
    ] = None,
    indicators: Annotated[
        str | None, Query(description="Indicator codes (default: every mapped one)")
    ] = None,
) -> JSONResponse:
    """Data values in the DHIS2 Web API import shape, through the configured mapping file.
    Countries without an organisation unit in the mapping are left out and listed in the
    ``X-Unmapped-Countries`` header."""
    mapping = load_mapping(settings.dhis2_mapping)
    found = data_value_set(
        session,
        caller=caller,
        mapping=mapping,
        period=period,
        period_type=period_type,
        country=country,
        status=status,
        indicators=split_list(indicators),
    )
    headers = (
        {"X-Unmapped-Countries": ",".join(found.unmapped_countries)}
        if found.unmapped_countries
        else None
    )
    return JSONResponse(found.as_json(), headers=headers)


@router.get("/iati.xml", response_class=Response)
def iati_xml(
    caller: CurrentCaller,
    session: SessionDep,
    settings: SettingsDep,
    country: CodeList = None,
    project: Annotated[str | None, Query(description="Project codes or ids")] = None,
    status: Annotated[
        str | None,
        Query(description="Statuses counted (default submitted,approved)"),
    ] = None,
    period_type: Annotated[str | None, Query(description="yearly (default) or quarterly")] = None,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """IATI 2.03 activities: each project with its results, periods, targets and actuals
    (participants disaggregated by sex)."""
    organisation = Organisation(settings.iati_reporting_org_ref, settings.iati_reporting_org_name)
    body = iati_activities(
        session,
        caller=caller,
        organisation=organisation,
        country=country,
        project=project,
        status=status,
        period_type=period_type,
        date_from=date_from,
        date_to=date_to,
    )
    return Response(
        body, media_type="application/xml", headers=_attachment("iati-activities", "xml")
    )


FormParam = Annotated[Text, Query(max_length=64, description="A form code, e.g. DEMO_PLOT_HARVEST")]


def _observations(
    caller: CurrentCaller,
    session: SessionDep,
    form: FormParam,
    project: CodeList = None,
    status: CodeList = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
) -> ObservationTable:
    projects = split_list(project)
    return observation_table(
        session,
        caller=caller,
        form=form,
        statuses=split_list(status.lower() if status else None) or None,
        project_ids=resolve_projects(session, caller=caller, values=projects) if projects else None,
        date_from=date_from,
        date_to=date_to,
    )


ObservationsDep = Annotated[ObservationTable, Depends(_observations)]


@router.get("/observations.csv", response_class=StreamingResponse)
def observations_csv(table: ObservationsDep) -> StreamingResponse:
    """One row per observation of a form, one column per field of its latest version."""
    return StreamingResponse(
        csv_chunks(table.columns, table.rows),
        media_type=CSV_MEDIA_TYPE,
        headers=_attachment(f"observations-{table.form.lower()}", "csv"),
    )


@router.get("/observations.xlsx", response_class=StreamingResponse)
def observations_xlsx(table: ObservationsDep) -> StreamingResponse:
    """As the CSV, with the fields' labels as a second header row."""
    workbook = xlsx_file(table.form, table.columns, table.rows, labels=table.labels)
    return StreamingResponse(
        file_chunks(workbook),
        media_type=XLSX_MEDIA_TYPE,
        headers=_attachment(f"observations-{table.form.lower()}", "xlsx"),
    )
