"""``GET /api/v1/health`` — public by design, for load balancers and operators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from server.columns import utcnow
from server.deps import ApiRoute, EngineDep
from server.errors import DatabaseError
from server.health.service import database_health

router = APIRouter(tags=["health"], route_class=ApiRoute)


class SchemaStatus(BaseModel):
    revision: str | None
    head: str
    up_to_date: bool


class Health(BaseModel):
    status: str
    database: str
    detail: str | None = None
    schema_: SchemaStatus | None = Field(default=None, alias="schema")
    server_time: str
    version: str

    model_config = {"populate_by_name": True}


@router.get(
    "/health",
    response_model=Health,
    response_model_by_alias=True,
    responses={503: {"model": Health, "description": "database unreachable or schema behind"}},
)
def health(engine: EngineDep) -> JSONResponse:
    """200 when the database answers and the schema is at the latest revision, else 503."""
    from server import __version__

    now = utcnow().isoformat()
    try:
        schema = database_health(engine=engine)
    except DatabaseError as exc:
        body = Health(
            status="unavailable",
            database="unreachable",
            detail=exc.message,
            server_time=now,
            version=__version__,
        )
        return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=503)
    ok = bool(schema["up_to_date"])
    body = Health(
        status="ok" if ok else "unavailable",
        database="ok",
        detail=None if ok else "database schema is behind: run `pilotmon init-db`",
        schema=SchemaStatus.model_validate(schema),
        server_time=now,
        version=__version__,
    )
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=200 if ok else 503)
