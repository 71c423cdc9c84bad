"""The FastAPI application: routers, error translation, shared state."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from server import __version__
from server.accounts.routes import router as accounts_router
from server.activities.routes import router as activities_router
from server.api import install_openapi
from server.api_docs import install_docs
from server.audit.routes import router as audit_router
from server.config import Settings, get_settings
from server.dashboard.routes import STATIC_FILES, STATIC_PREFIX
from server.dashboard.routes import router as dashboard_router
from server.dashboard.web import error_page
from server.db import get_engine
from server.deps import failed_in, rule_issues_beside
from server.errors import PilotMonitorError, ValidationFailed, pydantic_issues
from server.exports.routes import router as exports_router
from server.exports.tabular import XLSX_MEDIA_TYPE
from server.health.routes import router as health_router
from server.indicators.routes import router as indicators_router
from server.odata.errors import error_body, is_odata_path, odata_error_body
from server.odata.routes import router as odata_router
from server.projects.routes import router as projects_router
from server.reports.routes import router as reports_router
from server.results.observation_routes import router as observations_router
from server.results.routes import router as forms_router
from server.security import install as install_security
from server.sync.routes import router as sync_router
from server.wiring import install as install_wiring
from shared.errors import ErrorCode, Issue

log = logging.getLogger("pilotmon")

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"
DOCS_URL = f"{API_PREFIX}/docs"
# Answers from 1 KB up are gzipped for clients that accept it: HTML, JSON, CSV, XML, CSS, JS and
# SVG shrink to a fifth or less on a 2G link. Photos, workbooks (already zip files) and PDFs are
# sent as they are; an answer that is already encoded (the sync routes gzip their own) is left
# alone. Level 6: nearly level 9's size for half the CPU.
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 6
NOT_GZIPPED = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    XLSX_MEDIA_TYPE,
    "application/pdf",
    "application/octet-stream",
)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if is_odata_path(request.url.path):
        return JSONResponse(error_body(400, "invalid request", target=None), status_code=400)
    errors = exc.errors()
    # With the route's rule problems on the fields within their limits: one answer for all. Bad
    # query parameters are a 400, as the routes' own checks of them answer (docs/errors.md).
    status = 400 if failed_in(errors, "query") else 422
    failed = ValidationFailed(
        pydantic_issues(errors) + rule_issues_beside(request, exc.body, errors), status
    )
    return JSONResponse(failed.body(), status_code=status)


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PilotMonitorError)
    headers = getattr(exc, "headers", None)
    if is_odata_path(request.url.path):
        # Excel and Power BI read OData's error shape (docs/odata.md); a reused service's
        # 422 is the analyst's input too, so 400 there.
        status = 400 if exc.status_code == 422 else exc.status_code
        return JSONResponse(odata_error_body(exc), status_code=status, headers=headers)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)


# Starlette's own errors (a route or method that does not exist, …) by status.
_HTTP_CODES: dict[int, ErrorCode] = {
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.BODY_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_ENCODING,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """Why a body could not be read, when that is what FastAPI's or Starlette's 400 says:
    JSON that is not UTF-8 text, nests past the decoder or holds an integer longer than Python
    reads (4 300 digits) ("There was an error parsing the body"), broken multipart form data.
    (JSON it could not decode is its 422 already.)"""
    if exc.status_code != 400:
        return None
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON (it is not UTF-8 text)"
    if isinstance(cause, RecursionError):
        return "the body is not valid JSON (it nests too deeply)"
    if isinstance(cause, MultiPartException):
        return f"the body is not valid form data ({cause.message})"
    if isinstance(cause, ValueError):
        # The standard library's JSON reader refuses an integer of more than 4 300 digits.
        return f"the body is not valid JSON ({str(cause).splitlines()[0][:200]})"
    return None


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_odata_path(request.url.path):
        messages = {
            404: "no such entity set or address in this service; see the service document",
            405: "this feed is read-only: read it with GET",
        }
        body = error_body(exc.status_code, messages.get(exc.status_code, str(exc.detail)))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    unreadable = _unreadable_body(exc)
    if unreadable is not None:
        # A body that cannot be read is 422 ``bad_body`` like any other (docs/errors.md#codes).
        failed = ValidationFailed([Issue("body", ErrorCode.BAD_BODY, unreadable)])
        return JSONResponse(failed.body(), status_code=422)
    if exc.status_code == 404 and _wants_a_page(request):
        # A mistyped dashboard address gets a page with the way back, not the API's JSON.
        return error_page(request, 404, "There is no page at this address.")
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID)
    return JSONResponse(
        {"detail": exc.detail, "code": str(code)}, status_code=exc.status_code, headers=exc.headers
    )


def _wants_a_page(request: Request) -> bool:
    return (
        not request.url.path.startswith(API_PREFIX + "/")
        and request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
    )


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    install_wiring()  # the roll-up delta of every activity and project write
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    if settings.log_level != "DEBUG":
        # Alembic says "Context impl …" at INFO each time the health check reads the schema
        # revision: two lines per monitoring probe in the service's journal.
        logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    app = FastAPI(
        title="Pilot Monitor",
        version=__version__,
        description="Offline-first monitoring of agricultural pilot projects in South-South "
        "Cooperation: sync protocol v1, management API and indicators.",
        openapi_url=OPENAPI_URL if settings.api_docs else None,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings)

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PilotMonitorError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    app.include_router(health_router, prefix=API_PREFIX)
    app.include_router(accounts_router, prefix=API_PREFIX)
    app.include_router(projects_router, prefix=API_PREFIX)
    app.include_router(activities_router, prefix=API_PREFIX)
    app.include_router(observations_router, prefix=API_PREFIX)
    app.include_router(audit_router, prefix=API_PREFIX)
    app.include_router(sync_router, prefix=API_PREFIX)
    app.include_router(indicators_router, prefix=API_PREFIX)
    app.include_router(forms_router, prefix=API_PREFIX)
    app.include_router(reports_router, prefix=API_PREFIX)
    app.include_router(exports_router, prefix=API_PREFIX)
    app.include_router(odata_router, prefix=API_PREFIX)
    app.include_router(dashboard_router)  # server-rendered pages at "/"
    if settings.api_docs:
        install_docs(app, docs_url=DOCS_URL, openapi_url=OPENAPI_URL)  # before /static
    app.mount(STATIC_PREFIX, STATIC_FILES, name="static")
    install_openapi(app)  # documents the one error shape for automatic 422s
    app.add_middleware(
        GZipMiddleware,
        minimum_size=GZIP_MIN_BYTES,
        compresslevel=GZIP_LEVEL,
        exclude_content_types=NOT_GZIPPED,
    )
    # headers, body size limit, rate limit, the body guard (server/security.py); the OData feed
    # takes no body
    install_security(app, settings, read_only=is_odata_path)
    return app
