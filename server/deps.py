"""Dependencies that routes declare: the settings, the engine and a database session, and the
query parameters of a list that routes share (page size and offset, code lists); and ``rules``,
a route's rule checks, which the validation error handler runs beside the body's limits so
that one 422 names every problem (docs/errors.md#body-shapes)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from server.api import Text
from server.config import Settings
from server.db import write_engine
from server.errors import PilotMonitorError, ValidationFailed
from shared.errors import Issue

log = logging.getLogger("pilotmon")


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_app_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; reads use it as is, writers commit explicitly."""
    engine = get_app_engine(request)
    readonly = request.method in ("GET", "HEAD", "OPTIONS")
    with Session(engine if readonly else write_engine(engine)) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_app_engine)]
SessionDep = Annotated[Session, Depends(get_session)]

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
CodeList = Annotated[Text | None, Query(max_length=500, description="One code or a comma list")]
ProjectList = Annotated[
    Text | None, Query(max_length=2000, description="Project ids or codes, comma list")
]


# --- every problem of a request in one answer --------------------------------------------------
#
# FastAPI checks a body's limits (lengths, types, ranges) before the route runs, so a route's own
# rules (a weak password, an unknown country, dates in order) used to answer only once the limits
# passed: a second round for the same request. A route names its rule checks with ``@rules``; when
# the limits fail, the validation error handler (server.app) runs them on the fields that were
# within their limits and answers one 422 with both. When the limits pass, the service runs the
# same checks and raises every problem they find at once (ValidationFailed), before it writes.


class RuleCheck(Protocol):
    """A route's rule checks: every problem of ``data`` (the body, as sent; for a route that
    reads no body, its query parameters as text) it finds, none of its permission checks, no
    write. ``caller`` is the request's (or None for a public route), ``path`` the path
    parameters as text. A field or parameter the limits refused is None in ``data``."""

    def __call__(
        self, session: Session, *, caller: Any, data: Mapping[str, Any], path: Mapping[str, str]
    ) -> list[Issue]: ...


_RULES = "__pilotmon_rules__"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def rules(check: RuleCheck) -> Callable[[Endpoint], Endpoint]:
    """``@rules(check)`` under a route's decorator: its rule checks also run when the body's
    limits failed on other fields, so that one 422 names every problem."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _RULES, check)
        return endpoint

    return mark


def _body_model(request: Request) -> type[BaseModel] | None:
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _as_validated(
    model: type[BaseModel] | None, body: Mapping[str, Any], refused: set[str]
) -> dict[str, Any]:
    """The body as the route would have had it: each field within its limits validated alone
    (``"-29.3"`` for a number is -29.3, as in the model), each refused one None."""
    data: dict[str, Any] = dict.fromkeys(refused)
    for key, value in body.items():
        if key in refused:
            continue
        if model is None or key not in model.model_fields:
            data[key] = value
            continue
        try:
            one = model.__pydantic_validator__.validate_assignment(
                model.model_construct(), key, value
            )
        except ValidationError:
            data[key] = None  # refused alone although not by the whole body: not judged
            continue
        data[key] = getattr(one, key)
    return data


def top_field(field: str) -> str:
    """The body key an issue is about: ``countries.3`` and ``solutions[0]`` -> the list's key."""
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def failed_in(errors: Sequence[Any], where: str) -> bool:
    """Whether every one of FastAPI's ``errors`` is about a named input in ``where``
    (``"body"``, ``"query"``)."""
    locations = [tuple(e.get("loc", ())) for e in errors]
    return bool(locations) and all(len(loc) >= 2 and loc[0] == where for loc in locations)


def rule_issues_beside(request: Request, body: Any, errors: Sequence[Any]) -> list[Issue]:
    """The route's rule problems on the body fields (or, when only query parameters failed,
    the query parameters) that passed their limits (``errors``: what FastAPI found, as
    pydantic's error dicts), for one answer with both; none when the route has no rule checks,
    when the body is not an object or when a path parameter failed (a rule may need it). Rules
    on a refused input are skipped: it has its own problem already."""
    check = getattr(request.scope.get("endpoint"), _RULES, None)
    if check is None:
        return []
    refused = {str(e["loc"][1]) for e in errors if len(e.get("loc", ())) >= 2}
    data: dict[str, Any]
    if failed_in(errors, "query") and _body_model(request) is None:
        data = dict(request.query_params) | dict.fromkeys(refused)
    elif failed_in(errors, "body") and isinstance(body, Mapping):
        data = _as_validated(_body_model(request), body, refused)
    else:
        return []  # the body as a whole, or a path parameter, is wrong
    path = {key: str(value) for key, value in request.path_params.items()}
    caller = getattr(request.state, "caller", None)
    # A read-only look: nothing the checks do is ever committed.
    with Session(get_app_engine(request)) as session:
        try:
            found = check(session, caller=caller, data=data, path=path)
        except ValidationFailed as exc:
            found = exc.issues
        except PilotMonitorError:
            return []  # e.g. the record of the path is not in the caller's scope: the 404 waits
        except (TypeError, ValueError, KeyError, AttributeError):
            # A rule check that cannot read what passed the limits is a bug to fix, not the
            # user's: they still get the limits' 422, never a 500 for their own mistake.
            log.exception("rule checks of %s %s failed", request.method, request.url.path)
            return []
        finally:
            session.rollback()
    return [i for i in found if top_field(i.field) not in refused]
