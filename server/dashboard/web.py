"""How a dashboard page is served: who is asking, in which language, with which CSRF token,
and how errors become pages instead of JSON.

Routes declare ``SignedIn`` (a person with a valid session), ``Anonymous`` (login page), or
``CheckedForm`` (a POST whose CSRF token matched); service errors raised inside a page route
turn into an HTML page with the right status (404, 403, 409, …) by ``PageRoute``.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session
from starlette.datastructures import FormData

from server.accounts.auth import Caller, NotAuthenticated, caller_from_access_token
from server.activities.review import MAX_COMMENT
from server.config import Settings
from server.dashboard import session as cookies
from server.dashboard.assets import HashedStaticFiles
from server.dashboard.charts import achievement_text
from server.dashboard.flags import flag_detail
from server.dashboard.i18n import (
    LANGUAGES,
    N_,
    Translator,
    catalogue_names,
    country_names,
    pick_language,
)
from server.dashboard.service import describe, may_see_people, review_count
from server.deps import SessionDep, SettingsDep, repeated_query_issues
from server.errors import Forbidden, NotFound, PilotMonitorError, ValidationFailed
from shared.errors import EXPLANATIONS, ErrorCode

log = logging.getLogger("pilotmon.dashboard")

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"
# Hashed once, as the server starts (server.dashboard.assets).
STATIC_FILES = HashedStaticFiles(directory=STATIC_DIR, prefix=STATIC_PREFIX)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The translation functions come with each page's context; ``{% trans %}`` calls them
    # with keyword values (the "newstyle" convention).
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    # ``{{ static_url("dashboard.css") }}``: the file's content-hashed address.
    env.globals["static_url"] = STATIC_FILES.url
    # The review comment's limit, as the server checks it (activities and observations alike).
    env.globals["max_comment"] = MAX_COMMENT
    # A data-quality flag's words in the reader's language (server.dashboard.flags).
    env.globals["flag_detail"] = flag_detail
    # A share of a target, never rounded onto 100 % or 0 % from the other side (charts).
    env.globals["achievement_text"] = achievement_text
    return env


TEMPLATES = _environment()


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form."""


class CsrfRejected(Exception):
    """A POST whose CSRF token is missing or wrong: 403, nothing changed."""


@dataclass(slots=True)
class Page:
    """One request's view of the dashboard: reader, language, caller and token."""

    request: Request
    settings: Settings
    t: Translator
    caller: Caller | None
    csrf: str
    new_prelogin: str | None = None
    notice: dict[str, Any] | None = None
    session: Session | None = None
    cookies_to_clear: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")

    def context(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        t = self.t
        return {
            "page": self,
            "t": t,
            "caller": self.caller,
            "csrf": self.csrf,
            "csrf_field": cookies.CSRF_FIELD,
            "languages": LANGUAGES,
            "_": t.jinja_gettext,
            "gettext": t.jinja_gettext,
            "ngettext": t.jinja_ngettext,
            "notice": self.notice,
            "country_names": country_names(t.language),
            "by_country_name": lambda codes: by_name(codes, country_names(t.language)),
            "may_see_people": self.caller is not None and may_see_people(self.caller),
            "solution_names": catalogue_names(t.language, "solution"),
            "topic_names": catalogue_names(t.language, "topic"),
            "show": lambda name, value, names=None, whole=False: describe(
                t, name, value, names, whole=whole
            ),
            **extra,
        }

    def render(self, template: str, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
        if self.caller is not None and self.session is not None and "review_count" not in extra:
            extra["review_count"] = review_count(self.session, caller=self.caller)
        html = TEMPLATES.get_template(template).render(self.context(extra))
        response = HTMLResponse(
            html,
            status_code=status_code,
            headers={"Cache-Control": "no-store", "Content-Language": self.t.language},
        )
        self.finish(response)
        return response

    def redirect(
        self, url: str, *, notice: str | None = None, kind: str = "success", **values: Any
    ) -> RedirectResponse:
        """303 to ``url`` (POST → GET), carrying a one-time notice in a signed cookie."""
        response = RedirectResponse(url, status_code=303)
        if notice:
            signed = cookies.sign_notice(
                secret=self.settings.secret_key,
                notice={"message": notice, "kind": kind, "values": values},
            )
            cookies.set_cookie(response, self.request, cookies.NOTICE_COOKIE, signed, max_age=120)
        self.finish(response, keep_notice=bool(notice))
        return response

    def finish(self, response: Response, *, keep_notice: bool = False) -> None:
        if self.new_prelogin:
            cookies.set_cookie(
                response, self.request, cookies.PRELOGIN_COOKIE, self.new_prelogin, max_age=3600
            )
        if self.notice is not None and not keep_notice:
            cookies.clear_cookie(response, self.request, cookies.NOTICE_COOKIE)
        for name in self.cookies_to_clear:
            cookies.clear_cookie(response, self.request, name)

    def notice_text(self) -> str:
        if not self.notice:
            return ""
        values = self.notice.get("values") or {}
        return self.t.gettext(str(self.notice.get("message", "")), **values)


def translator_for(request: Request) -> Translator:
    return Translator(
        pick_language(
            request.cookies.get(cookies.LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
    )


def expected_csrf(request: Request, settings: Settings) -> str | None:
    """The token a form from this browser must carry (session-bound once signed in)."""
    token = cookies.session_token_of(request)
    if token:
        return cookies.csrf_token(secret=settings.secret_key, session_token=token)
    return request.cookies.get(cookies.PRELOGIN_COOKIE)


def _page(request: Request, settings: Settings, caller: Caller | None) -> Page:
    csrf = expected_csrf(request, settings)
    new_prelogin = None
    if csrf is None:
        csrf = new_prelogin = cookies.new_prelogin_token()
    notice = cookies.read_notice(
        secret=settings.secret_key, value=request.cookies.get(cookies.NOTICE_COOKIE)
    )
    return Page(
        request=request,
        settings=settings,
        t=translator_for(request),
        caller=caller,
        csrf=csrf,
        new_prelogin=new_prelogin,
        notice=notice,
    )


def anonymous_page(request: Request, settings: SettingsDep) -> Page:
    return _page(request, settings, None)


def signed_in_page(request: Request, settings: SettingsDep, session: SessionDep) -> Page:
    token = cookies.session_token_of(request)
    if token is None:
        raise LoginRequired
    try:
        caller = caller_from_access_token(session, token=token)
    except NotAuthenticated as exc:
        raise LoginRequired from exc
    page = _page(request, settings, caller)
    page.session = session
    request.state.dashboard_caller = caller  # for error pages, which keep the menu
    return page


async def _checked_form(request: Request, settings: Settings) -> FormData:
    form = await request.form()
    submitted = form.get(cookies.CSRF_FIELD)
    expected = expected_csrf(request, settings)
    if not isinstance(submitted, str) or not cookies.tokens_match(expected, submitted):
        raise CsrfRejected
    return form


async def checked_form(
    request: Request, settings: SettingsDep, _page: Annotated[Page, Depends(signed_in_page)]
) -> FormData:
    """The POSTed form of a signed-in person, after its CSRF token matched."""
    return await _checked_form(request, settings)


async def checked_anonymous_form(request: Request, settings: SettingsDep) -> FormData:
    """The POSTed form of the login and language forms, after its CSRF token matched."""
    return await _checked_form(request, settings)


Anonymous = Annotated[Page, Depends(anonymous_page)]
SignedIn = Annotated[Page, Depends(signed_in_page)]
CheckedForm = Annotated[FormData, Depends(checked_form)]
CheckedAnonymousForm = Annotated[FormData, Depends(checked_anonymous_form)]


class FormState(dict[str, str]):
    """Typed values or error messages by field name; a field not mentioned reads as ""."""

    def __missing__(self, key: str) -> str:
        return ""


def form_text(form: FormData, name: str, *, limit: int = 5000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def form_list(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


# --- a page's filters, from its address ----------------------------------------------------
#
# A filter given twice with different values (``?country=LSO&country=BGD``: a link edited by hand
# or built by appending) is never read as one of its values without a word. A filter that takes
# several reads them all, as one comma list the page shows chosen; any other is named next to its
# field, with these words, and the page does not apply it: as the management API refuses it
# (server.deps.repeated_query_issues). The same value twice is that value.

REPEATED_WORDS = N_("Give one value here, not several.")


@dataclass(frozen=True, slots=True)
class QueryFilters:
    """A page's filters as its address gives them.

    ``values``: each filter's text as the page applies it (stripped, cut at the limit): a
    several-valued filter's as a comma list, a refused one's empty. ``given``: each filter's
    distinct values as given (a several-valued filter's comma lists split), for the page to show
    them chosen or name them. ``errors``: each one-value filter given with different values,
    the reason in the reader's language, keyed by the filter's name."""

    values: FormState
    given: Mapping[str, list[str]]
    errors: FormState


def query_filters(
    request: Request,
    t: Translator,
    *,
    one: Sequence[str],
    several: Sequence[str] = (),
    limit: int = 200,
) -> QueryFilters:
    """The filters ``one`` (each takes one value) and ``several`` (each takes a list) of the
    request's query string; any other parameter (``page``, a form's extra field) is not read."""
    params = request.query_params
    refused = {i.field for i in repeated_query_issues(request, lists=several)}
    values, errors = FormState(), FormState()
    given: dict[str, list[str]] = {}
    for name in one:
        given[name] = _distinct(v.strip()[:limit] for v in params.getlist(name))
        if name in refused:
            errors[name] = t.gettext(REPEATED_WORDS)
        else:
            values[name] = given[name][0] if given[name] else ""
    for name in several:
        items = (v.strip()[:limit] for text in params.getlist(name) for v in text.split(","))
        given[name] = _distinct(items)[:MAX_CHOSEN]
        values[name] = ",".join(given[name])
    return QueryFilters(values, given, errors)


def refuse_unknown(
    t: Translator, query: QueryFilters, choices: Mapping[str, Iterable[str]]
) -> None:
    """Name in ``query.errors`` each one-value filter whose value is not among its ``choices``
    (an address edited by hand, or one shared from another version): the page lists without it
    and says so next to the filter, never silently as if no filter had been given."""
    for name, allowed in choices.items():
        asked = query.values.get(name, "")
        if asked and name not in query.errors and asked not in set(allowed):
            query.errors[name] = explain(t, ErrorCode.UNKNOWN_CODE)
            query.values[name] = ""


# A several-valued filter reads this many values at most (there are 193 countries).
MAX_CHOSEN = 200


def _distinct(values: Iterable[str]) -> list[str]:
    """The non-empty ``values``, each once, in the order given."""
    return list(dict.fromkeys(v for v in values if v))


@dataclass(frozen=True, slots=True)
class Pagination:
    page: int
    pages: int
    total: int
    offset: int
    previous_url: str | None
    next_url: str | None


def paginate(request: Request, *, total: int, page_size: int) -> Pagination:
    """Which page of a list to show (``?page=n``), with links that keep the other filters."""
    pages = max(1, -(-total // page_size))
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    number = min(max(1, number), pages)

    def url(n: int) -> str:
        query = request.query_params.multi_items()
        kept = [(k, v) for k, v in query if k != "page"] + [("page", str(n))]
        return request.url.path + "?" + urlencode(kept)

    return Pagination(
        page=number,
        pages=pages,
        total=total,
        offset=(number - 1) * page_size,
        previous_url=url(number - 1) if number > 1 else None,
        next_url=url(number + 1) if number < pages else None,
    )


def page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


# Where the dashboard can say more than the code's general explanation, given the error's params.
DETAILED: dict[ErrorCode, tuple[str, frozenset[str]]] = {
    ErrorCode.PERSON_OUT_OF_SCOPE: (
        N_(
            "This person also works in %(countries)s, outside your countries: only an admin or "
            "an officer of all their countries may manage their account or tablets."
        ),
        frozenset({"countries"}),
    ),
    # A form version that drops or renames indicators targets or baselines hold
    # (server.results.forms.check_held_indicators).
    ErrorCode.STATE_CONFLICT: (
        N_(
            "Targets or baselines hold %(indicators)s: delete them, or make them again for "
            "another indicator, before this version drops or renames it."
        ),
        frozenset({"indicators"}),
    ),
}


def explain(t: Translator, code: str, params: Mapping[str, str] | None = None) -> str:
    """The dashboard's words for an error code (``shared.errors``), in the reader's language:
    chosen from the code (and its params), never from the English message."""
    try:
        known = ErrorCode(code)
    except ValueError:
        known = ErrorCode.INVALID
    detailed = DETAILED.get(known)
    if detailed is not None and params and detailed[1] <= params.keys():
        return t.gettext(detailed[0]) % {k: params[k] for k in detailed[1]}
    return t.gettext(EXPLANATIONS.get(known, EXPLANATIONS[ErrorCode.INVALID]))


# Where a field takes less than its code's general words say: a ``quarter`` field takes only a
# quarter, where ``bad_period`` in general allows a year, a quarter or a month.
FIELD_WORDS: dict[tuple[str, str], str] = {
    ("quarter", ErrorCode.BAD_PERIOD.value): N_("Write a quarter like 2026Q3."),
    # The quarterly report: a quarter to come has nothing to report yet.
    ("quarter", ErrorCode.IN_FUTURE.value): N_(
        "This quarter has not begun yet: choose one that has."
    ),
    # Closing a quarter (POST /reports/close, /api/v1/periods/close): only an ended one.
    ("period", ErrorCode.IN_FUTURE.value): N_("This quarter has not ended yet."),
    # The indicator values take one period key (month, quarter or year) at most.
    ("group_by", ErrorCode.TOO_MANY.value): N_(
        "Group by one period at most: the month, the quarter or the year."
    ),
}

# Where a rule's code is a general one (``invalid``) and its ``rule`` param says which rule.
RULE_WORDS: dict[str, str] = {
    # The quarterly report's scope: one of a country, a region and a thematic area.
    "one_scope": N_("Choose a country, a region or a thematic area: one of them, not two."),
}


def by_name(codes: Iterable[str], names: Mapping[str, str]) -> list[str]:
    """Codes in the order of their names as the reader reads them (Lesotho before Sri Lanka,
    Éthiopie among the E's), for lists to pick from."""

    def key(code: str) -> str:
        name = unicodedata.normalize("NFKD", names.get(code, code))
        return "".join(ch for ch in name if not unicodedata.combining(ch)).casefold()

    return sorted(codes, key=key)


def too_long_words(t: Translator, limit: int) -> str:
    """A text over its limit, said with the limit: the reader knows how much to cut."""
    return t.ngettext(
        "Use at most %(num)s character.",
        "Use at most %(num)s characters.",
        limit,
        num=t.number(limit),
    )


def field_errors(t: Translator, exc: ValidationFailed) -> FormState:
    """A service's field-level errors, keyed by field, for messages next to the inputs."""
    errors = FormState()
    for item in exc.issues:
        words = RULE_WORDS.get(item.params.get("rule", "")) or FIELD_WORDS.get(
            (item.field, item.code)
        )
        if words:
            said = t.gettext(words)
        elif item.code == ErrorCode.TOO_LONG and item.params.get("high", "").isdigit():
            said = too_long_words(t, int(item.params["high"]))
        else:
            said = explain(t, item.code)
        errors.setdefault(item.field or "form", said)
    return errors


# --- errors as pages -----------------------------------------------------------------------

ERROR_TITLES: dict[int, str] = {
    400: N_("This request could not be understood"),
    401: N_("Please sign in"),
    403: N_("You do not have access to this"),
    404: N_("Not found"),
    409: N_("This changed in the meantime"),
    413: N_("This is too large"),
    422: N_("Some of this needs fixing"),
}


def error_page(
    request: Request, status_code: int, message: str, *, title: str | None = None
) -> HTMLResponse:
    """The error as a page: ``title`` (an English message id) its heading, else the status's."""
    settings: Settings = request.app.state.settings
    page = _page(request, settings, getattr(request.state, "dashboard_caller", None))
    title = title or ERROR_TITLES.get(status_code, N_("Something went wrong"))
    return page.render(
        "error.html",
        status_code=status_code,
        status=status_code,
        title=page.t.gettext(title),
        message=message,
    )


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


class PageRoute(APIRoute):
    """A route whose errors render as dashboard pages (and whose anonymous visits log in)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                if request.method in ("GET", "HEAD"):
                    return login_redirect(request)
                t = translator_for(request)
                return error_page(
                    request,
                    401,
                    t.gettext(
                        "Your session has ended. Sign in again and repeat what you were doing."
                    ),
                )
            except CsrfRejected:
                if request.url.path == "/login":
                    # A sign-in page left open past its pre-login token: the form again,
                    # fresh, rather than a refusal.
                    form = await request.form()
                    target = cookies.safe_next(str(form.get("next") or ""))
                    query = urlencode({"expired": "1", "next": target})
                    return RedirectResponse(f"/login?{query}", status_code=303)
                t = translator_for(request)
                return error_page(
                    request,
                    403,
                    t.gettext(
                        "This form had expired or did not come from this dashboard, so nothing "
                        "was changed. Go back, reload the page and try again."
                    ),
                    # not "You do not have access to this": the reader has, with a fresh form
                    title=N_("This form has expired"),
                )
            except RequestValidationError:
                t = translator_for(request)
                return error_page(request, 404, t.gettext("There is no such page."))
            except NotFound:
                t = translator_for(request)
                return error_page(
                    request,
                    404,
                    t.gettext(
                        "There is no such page, or it belongs to countries and projects outside "
                        "yours."
                    ),
                )
            except Forbidden as exc:
                t = translator_for(request)
                return error_page(
                    request,
                    403,
                    f"{explain(t, exc.code, exc.params)} {t.gettext('Nothing was changed.')}",
                )
            except PilotMonitorError as exc:
                if exc.status_code >= 500:
                    raise
                t = translator_for(request)
                said = (
                    [explain(t, i.code, i.params) for i in exc.issues]
                    if isinstance(exc, ValidationFailed)
                    else [explain(t, exc.code, exc.params)]
                )
                message = " ".join(dict.fromkeys(said))
                return error_page(request, exc.status_code, message)

        return page_handler
