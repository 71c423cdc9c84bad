"""``GET /api/v1/reports/summary`` (HQ summary) and ``GET /api/v1/reports/stale-tablets``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from server.accounts.deps import CurrentCaller, require_roles
from server.api import error_responses
from server.deps import ApiRoute, SessionDep, SettingsDep
from server.reports.service import summary
from server.reports.tablets import stale_tablets
from shared.catalogue import Role

router = APIRouter(
    prefix="/reports",
    tags=["reports"],
    responses=error_responses(400, 401, 403),
    route_class=ApiRoute,
)


@router.get("/summary")
def get_summary(
    caller: CurrentCaller,
    session: SessionDep,
    period: Annotated[str, Query(description="2025, 2025Q3 or 2025-07")],
    country: Annotated[str | None, Query(description="ISO 3166-1 alpha-3")] = None,
    status: Annotated[
        str | None, Query(description="Statuses counted (default submitted,approved)")
    ] = None,
) -> dict[str, Any]:
    """Headline indicators for one period, by country and by thematic area, with women's
    share and target achievement, counting only what the caller may see."""
    return summary(session, caller=caller, period=period, country=country, status=status)


@router.get(
    "/stale-tablets",
    dependencies=[Depends(require_roles(Role.ADMIN, Role.COUNTRY_OFFICER, Role.HQ_ANALYST))],
)
def get_stale_tablets(
    caller: CurrentCaller,
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[
        int | None, Query(ge=1, le=3650, description="Silent for at least this many days")
    ] = None,
) -> dict[str, Any]:
    """Tablets of the caller's countries that have not synced for ``days`` (default from
    PILOTMON_STALE_TABLET_DAYS)."""
    return stale_tablets(session, days=days or settings.stale_tablet_days, caller=caller)
