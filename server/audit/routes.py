"""``GET /api/v1/audit``: the trail of changes, scoped (officers: their countries; HQ and
admins: all; field experts: none)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from server.accounts.deps import CurrentCaller, require_roles
from server.api import IsoDate, Page, Text, error_responses
from server.audit import queries
from server.audit.queries import AuditEntryPublic
from server.deps import ApiRoute, SessionDep, rules
from server.records import audit
from shared.catalogue import Role

router = APIRouter(
    prefix="/audit",
    tags=["audit"],
    responses=error_responses(401, 403, 422),
    dependencies=[Depends(require_roles(Role.ADMIN, Role.COUNTRY_OFFICER, Role.HQ_ANALYST))],
    route_class=ApiRoute,
)


@router.get("", response_model=Page[AuditEntryPublic])
@rules(queries.audit_list_rules)
def list_audit(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    entity: Annotated[
        Text | None,
        Query(
            max_length=32,
            description=", ".join(audit.ENTITIES),
        ),
    ] = None,
    entity_id: Annotated[Text | None, Query(max_length=64)] = None,
    actor: Annotated[Text | None, Query(max_length=64, description="Username or user id")] = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
) -> Page[AuditEntryPublic]:
    """Who changed what, when, from which device, before and after; newest first."""
    items, total = queries.list_entries(
        session,
        caller=caller,
        entity=entity,
        entity_id=entity_id,
        actor=actor,
        date_from=date_from,
        date_to=date_to,
        limit=limit,
        offset=offset,
    )
    return Page(items=items, total=total)
