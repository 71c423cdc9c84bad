"""Dependencies that routes declare: the settings, the engine and a database session, and the
query parameters of a list that routes share (page size and offset, code lists); ``rules``,
a route's rule checks, which the validation error handler runs beside the body's limits so
that one 422 names every problem (docs/errors.md#body-shapes); and ``ApiRoute``, the management
API's routes, which refuse a query parameter they do not declare."""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Collection, Coroutine, Iterator, Mapping, Sequence
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Query, Request, Response
from fastapi._compat.shared import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from server.api import BAD_QUERY_RESPONSE, Text
from server.config import Settings
from server.db import write_engine
from server.errors import PilotMonitorError, ValidationFailed, pydantic_issues
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
    endpoint = request.scope.get("endpoint")
    # (the function as written: an ApiRoute's endpoint wraps it)
    check = getattr(inspect.unwrap(endpoint), _RULES, None) if endpoint else None
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


# --- unknown query parameters ------------------------------------------------------------------
#
# A misspelt filter (``?contry=KE``) would otherwise be dropped without a word and the caller get
# unfiltered data. The management API's routes are ``ApiRoute``s: a query parameter that the
# route does not declare is ``unknown_field`` on it, in the one 400 that also names the declared
# parameters' problems (FastAPI's limits and the route's ``@rules``), and the route does not run
# (docs/errors.md#body-shapes). The tablet's protocol routes (sync, photos, enrolment) ignore
# unknown parameters, so that an older server takes a newer app's requests; the OData feed
# answers its own options; the dashboard's pages take whatever a browser's form sends.

_OWN_QUERY = "__pilotmon_own_query__"
# The keyword the request reaches a refusing endpoint by (a parameter FastAPI fills, not sent).
_REQUEST = "_pilotmon_request"


def own_query_parameters(endpoint: Endpoint) -> Endpoint:
    """``@own_query_parameters`` under a route's decorator: the route answers for its query
    parameters itself. It reads more than it declares (the indicator values and their exports,
    which refuse an unknown one in their own check) or, being the tablet's, ignores unknown ones
    on purpose (enrolment)."""
    setattr(endpoint, _OWN_QUERY, True)
    return endpoint


def unknown_parameter_message(known: Sequence[str]) -> str:
    """What an unknown query parameter is told: the parameters the route takes."""
    if not known:
        return "unknown parameter; this address takes no parameters"
    return "unknown parameter; parameters are " + ", ".join(known)


def _declared_query(dependant: Dependant) -> dict[str, bool]:
    """The query parameters a route declares, its dependencies' included, by the name sent
    (``from`` for ``date_from``), in the order declared: whether each takes a list (is read
    from every time it is given, ``?group_by=a&group_by=b``)."""
    declared: dict[str, bool] = {}
    todo = [dependant]
    while todo:
        current = todo.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):  # a model of parameters
                for name, inner in model.model_fields.items():
                    declared.setdefault(
                        inner.alias or name, field_annotation_is_sequence(inner.annotation)
                    )
            else:
                declared.setdefault(field.alias, field_annotation_is_sequence(model))
        todo.extend(reversed(current.dependencies))
    return declared


def query_parameter_names(dependant: Dependant) -> tuple[str, ...]:
    """The query parameters a route declares, its dependencies' included, by the name sent
    (``from`` for ``date_from``), in the order declared."""
    return tuple(_declared_query(dependant))


def _unknown_query_errors(request: Request, known: Sequence[str]) -> list[dict[str, Any]]:
    """Each query parameter of ``request`` not in ``known``, as pydantic's error for an
    unknown key (``extra_forbidden``, our ``unknown_field``)."""
    message = unknown_parameter_message(known)
    params = request.query_params
    return [
        {"loc": ("query", key), "type": "extra_forbidden", "msg": message, "input": params[key]}
        for key in sorted(set(params) - set(known))
    ]


# A parameter that takes one value but is given twice (``?country=LSO&country=BGD``) would be
# read as its last value alone: a country left out of the numbers without a word. It is refused,
# ``invalid`` on it, as the OData feed refuses an option given twice (docs/errors.md#statuses).
# The same value twice (a link built by appending) loses nothing and is taken.
REPEATED_MESSAGE = (
    "is given more than once with different values: give it once "
    "(a comma list where it takes several)"
)


def repeated_query_issues(request: Request, lists: Collection[str] = ()) -> list[Issue]:
    """``invalid`` on each query parameter of ``request`` given more than once, with different
    values, but not one of ``lists``: for a route that reads its own parameters."""
    return pydantic_issues(_repeated_query_errors(request, lists))


def _repeated_query_errors(request: Request, lists: Collection[str]) -> list[dict[str, Any]]:
    """Each query parameter of ``request`` given more than once, with different values, but
    not one of ``lists``."""
    params = request.query_params
    if len(params) == len(params.multi_items()):
        return []  # each given once: the usual request, answered without a look at each
    values: dict[str, set[str]] = {}
    for key, value in params.multi_items():
        values.setdefault(key, set()).add(value)
    return [
        {
            "loc": ("query", key),
            "type": "repeated",
            "msg": REPEATED_MESSAGE,
            "input": ",".join(params.getlist(key))[:200],
        }
        for key in sorted(values)
        if key not in lists and len(values[key]) > 1
    ]


class ApiRoute(APIRoute):
    """A route of the management API: it refuses query parameters it does not declare, and a
    parameter given more than once that it does not take as a list.

    FastAPI checks everything declared as usual (the caller's token first, then every limit),
    and the route's rule checks join in as for any bad query (``rule_issues_beside``); an
    unknown or repeated parameter is named beside them, first. With nothing else wrong it is
    refused just before the route would run: nothing is written, no file starts. A route that
    reads its own parameters (``own_query_parameters``) reads each once: a repeated one is
    refused there too."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self.query_names: tuple[str, ...] = ()
        self.query_lists: frozenset[str] = frozenset()
        self.refuses_unknown_query = not getattr(endpoint, _OWN_QUERY, False)
        if self.refuses_unknown_query:
            endpoint = self._refusing(path, endpoint)
            # Any parameter may be a bad one, even on a route that takes none.
            kwargs["responses"] = {400: BAD_QUERY_RESPONSE, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)
        declared = _declared_query(self.dependant)
        self.query_names = tuple(declared)
        self.query_lists = frozenset(name for name, many in declared.items() if many)

    def query_refusals(self, request: Request) -> list[dict[str, Any]]:
        """The request's unknown parameters and its repeated ones, as pydantic's error dicts."""
        unknown = _unknown_query_errors(request, self.query_names)
        named = {e["loc"] for e in unknown}  # an unknown one given twice is unknown, once
        repeated = [
            e for e in _repeated_query_errors(request, self.query_lists) if e["loc"] not in named
        ]
        return unknown + repeated

    def _refusing(self, path: str, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        """``endpoint`` that is first handed the request, and refuses it when it has an unknown
        or repeated parameter (what FastAPI found wrong was answered before it got this far)."""
        signature = inspect.signature(endpoint)
        # The request by the endpoint's own parameter, or by one added for it (FastAPI hands
        # the request to one parameter only).
        own = get_dependant(path=path, call=endpoint).request_param_name
        parameters = list(signature.parameters.values())
        if own is None:
            parameters.append(
                inspect.Parameter(_REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
            )

        def take(kwargs: dict[str, Any]) -> Request:
            request: Request = kwargs[own] if own else kwargs.pop(_REQUEST)
            return request

        def refuse(request: Request) -> None:
            refused = self.query_refusals(request)
            if refused:
                raise RequestValidationError(refused)

        wrapped: Callable[..., Any]
        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint, updated=())
            async def wrapped(*args: Any, **kwargs: Any) -> Any:
                refuse(take(kwargs))
                return await endpoint(*args, **kwargs)
        else:

            @functools.wraps(endpoint, updated=())
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                refuse(take(kwargs))
                return endpoint(*args, **kwargs)

        wrapped.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return wrapped

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not self.refuses_unknown_query:
            return handler

        async def refusing(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                # FastAPI's limits (or the refusal above): the unknown and repeated parameters
                # go first; what the limits said of a repeated one judged one of its values.
                refused = self.query_refusals(request)
                if not refused:
                    raise
                named = {e["loc"] for e in refused}
                errors = [e for e in exc.errors() if tuple(e.get("loc", ())) not in named]
                raise RequestValidationError(
                    refused + errors, body=exc.body, endpoint_ctx=exc.endpoint_ctx
                ) from None
            except ValidationFailed as exc:
                # A dependency's or the route's own checks of the query (an export's filters,
                # before its file; the indicator values).
                refused = self.query_refusals(request)
                if exc.status_code != 400 or not refused:
                    raise
                issues = pydantic_issues(refused)
                named = {i.field for i in issues}
                rest = [i for i in exc.issues if i.field not in named]
                raise ValidationFailed(issues + rest, 400) from None

        return refusing
