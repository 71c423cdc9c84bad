"""The dashboard's pages: thin routes that read the form, call ``service`` and render.

Everything is under "/" (the API stays under /api/v1). GET pages need a session cookie and
redirect to the login form without one; every POST carries a CSRF token (``web.CheckedForm``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import Session
from starlette.datastructures import FormData

from server.accounts import fleet
from server.accounts import tokens as personal_tokens
from server.accounts.auth import (
    NotAuthenticated,
    caller_from_access_token,
    revoke_access_token,
)
from server.accounts.security import MIN_PASSWORD_LENGTH
from server.accounts.service import LoginFailed, TooManyAttempts
from server.api import client_address
from server.columns import utcnow
from server.dashboard import conflicts, form_routes, report, results, service, targets
from server.dashboard import session as cookies
from server.dashboard.i18n import LANGUAGES, N_, Translator, country_names
from server.dashboard.web import (
    STATIC_FILES,
    STATIC_PREFIX,
    Anonymous,
    CheckedAnonymousForm,
    CheckedForm,
    FormState,
    Page,
    PageRoute,
    QueryFilters,
    SignedIn,
    by_name,
    explain,
    field_errors,
    form_list,
    form_text,
    page_number,
    paginate,
    query_filters,
    refuse_unknown,
    too_long_words,
)
from server.deps import EngineDep, SessionDep, SettingsDep
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.projects import service as projects_service
from server.projects.models import Project, Target
from server.results import observation_queries as obs_queries
from server.results.indicators import result_indicators
from server.scope import can_write_project
from server.sync.attachments import AttachmentFiles, open_photo, served_headers
from shared.catalogue import Role, codes
from shared.errors import ErrorCode, Issue

router = APIRouter(route_class=PageRoute, include_in_schema=False)
router.include_router(form_routes.router)  # the forms pages (docs/results.md#dashboard-forms)
__all__ = ["STATIC_FILES", "STATIC_PREFIX", "router"]


# --- signing in and out, language ------------------------------------------------------------


def _signed_in(request: Request, session: Session) -> bool | None:
    """True for a valid session, False for a stale cookie, None for no cookie."""
    token = cookies.session_token_of(request)
    if token is None:
        return None
    try:
        caller_from_access_token(session, token=token)
    except NotAuthenticated:
        return False
    return True


# HEAD as well as GET: uptime monitors and link checkers ask with HEAD.
@router.api_route("/", methods=["GET", "HEAD"])
def home(request: Request, session: SessionDep) -> Response:
    target = "/overview" if _signed_in(request, session) else "/login"
    return RedirectResponse(target, status_code=303)


@router.api_route("/login", methods=["GET", "HEAD"])
def login_form(page: Anonymous, session: SessionDep, next: str = "", expired: str = "") -> Response:
    signed_in = _signed_in(page.request, session)
    if signed_in:
        return RedirectResponse(cookies.safe_next(next), status_code=303)
    if signed_in is False:
        # A stale session: forget it, and protect the form with a fresh pre-login token.
        page.cookies_to_clear.append(cookies.SESSION_COOKIE)
        page.csrf = page.new_prelogin = cookies.new_prelogin_token()
    form_error = ""
    if expired:
        form_error = page.t.gettext(
            "The sign-in page had been open too long. Sign in again: nothing was lost."
        )
    return page.render(
        "login.html",
        values=FormState(),
        errors=FormState(),
        form_error=form_error,
        next=cookies.safe_next(next),
    )


@router.post("/login")
def login(
    page: Anonymous, form: CheckedAnonymousForm, session: SessionDep, settings: SettingsDep
) -> Response:
    t = page.t
    username = form_text(form, "username", limit=200)
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    next_url = cookies.safe_next(form_text(form, "next", limit=2000))
    errors = FormState()
    if not username:
        errors["username"] = t.gettext("Enter your username.")
    if not password:
        errors["password"] = t.gettext("Enter your password.")
    form_error = ""
    status_code = 422
    retry_after: int | None = None
    if not errors:
        try:
            token, lifetime = service.start_session(
                session,
                username=username,
                password=password,
                minutes=settings.access_token_minutes,
                source=client_address(page.request),
            )
        except LoginFailed:
            session.commit()  # the failure counts towards the lockout
            form_error = t.gettext("Wrong username or password.")
            status_code = 401
        except TooManyAttempts as exc:
            session.commit()
            minutes = max(1, -(-exc.retry_after // 60))
            form_error = t.ngettext(
                "Too many failed attempts for this username. Try again in %(num)s minute.",
                "Too many failed attempts for this username. Try again in %(num)s minutes.",
                minutes,
            )
            status_code = 429
            retry_after = exc.retry_after
        else:
            session.commit()
            response = RedirectResponse(next_url, status_code=303)
            cookies.set_cookie(
                response, page.request, cookies.SESSION_COOKIE, token, max_age=lifetime
            )
            cookies.clear_cookie(response, page.request, cookies.PRELOGIN_COOKIE)
            return response
    shown = page.render(
        "login.html",
        status_code=status_code,
        values=FormState(username=username),
        errors=errors,
        form_error=form_error,
        next=next_url,
    )
    if retry_after is not None:
        # as the API's 429 says it (docs/roles.md): the seconds to wait, for scripts and proxies
        shown.headers["Retry-After"] = str(retry_after)
    return shown


@router.post("/logout")
def logout(page: SignedIn, _form: CheckedForm, session: SessionDep) -> Response:
    assert page.caller is not None
    if page.caller.access_token_id is not None:
        revoke_access_token(session, token_id=page.caller.access_token_id)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    cookies.clear_cookie(response, page.request, cookies.SESSION_COOKIE)
    return response


@router.post("/language")
def switch_language(page: Anonymous, form: CheckedAnonymousForm) -> Response:
    language = form_text(form, "language")
    target = cookies.safe_next(form_text(form, "next", limit=2000), default="/")
    response = RedirectResponse(target, status_code=303)
    if language in LANGUAGES:
        cookies.set_cookie(
            response,
            page.request,
            cookies.LANGUAGE_COOKIE,
            language,
            max_age=cookies.LANGUAGE_MAX_AGE,
        )
    return response


# --- overview -----------------------------------------------------------------------------------


@router.get("/overview")
def overview(page: SignedIn, session: SessionDep) -> Response:
    caller = page.caller
    assert caller is not None
    today = _today()
    # One country at most: a second one is refused next to the filter, not half-read; so is a
    # second indicator for the targets' chart, next to its choice.
    query = query_filters(page.request, page.t, one=("country", "target"), limit=32)
    chosen = list(dict.fromkeys(c.upper() for c in query.given["country"]))
    target = query.values["target"]
    errors = FormState({k: v for k, v in query.errors.items() if k != "country"})
    if len(chosen) > 1:  # (``lso`` and ``LSO`` are one country)
        errors["country"] = page.t.gettext("Choose one country.")

    def read(country: str) -> service.Overview:
        return service.overview(
            session,
            caller=caller,
            t=page.t,
            today=today,
            country=country,
            target_indicator=target.strip().upper()[:32],
        )

    try:
        data = read(chosen[0][:16] if len(chosen) == 1 else "")
    except ValidationFailed as exc:  # an unknown or another office's country
        errors.update(field_errors(page.t, exc))
        data = read("")
    return page.render(
        "overview.html",
        nav="overview",
        status_code=400 if errors else 200,
        errors=errors,
        asked=", ".join(chosen),
        data=data,
        pending_days=page.settings.pending_tablet_days,
        now=utcnow(),
        may_report=report.may_report(caller),
        results=results.results_across_pilots(session, caller=caller, t=page.t, today=today),
        value=lambda v: results.show_value(page.t, v),
        open_conflicts=conflicts.open_conflicts(
            session, caller=caller, t=page.t, country=data.country, limit=0
        )[1],
    )


# --- projects -----------------------------------------------------------------------------------


@router.get("/projects")
def projects(page: SignedIn, session: SessionDep) -> Response:
    assert page.caller is not None
    number = page_number(page.request)
    rows, total = service.project_rows(
        session,
        caller=page.caller,
        limit=service.PAGE_SIZE,
        offset=(number - 1) * service.PAGE_SIZE,
    )
    return page.render(
        "projects.html",
        nav="projects",
        rows=rows,
        total=total,
        pagination=paginate(page.request, total=total, page_size=service.PAGE_SIZE),
    )


@router.get("/projects/{project_id}")
def project(
    project_id: uuid.UUID, page: SignedIn, session: SessionDep, status: str = ""
) -> Response:
    return _project_page(page, session, project_id, status=status)


def _project_page(
    page: Page,
    session: Session,
    project_id: uuid.UUID,
    *,
    status: str = "",
    typed: targets.Typed | None = None,
    status_code: int = 200,
) -> Response:
    """The project page; ``typed``: what a refused target form held, shown again."""
    assert page.caller is not None
    query = query_filters(page.request, page.t, one=("status",))
    repeated = "status" in query.errors
    refuse_unknown(page.t, query, {"status": STATUS_FILTERS})
    if status not in STATUS_FILTERS or query.errors:
        status = ""
    if query.errors and status_code == 200:
        status_code = 400  # every status listed, the status given twice said above the list
    number = page_number(page.request)
    today = _today()
    data = service.project_page(
        session,
        caller=page.caller,
        t=page.t,
        today=today,
        project_id=project_id,
        status=status,
        limit=service.PAGE_SIZE,
        offset=(number - 1) * service.PAGE_SIZE,
    )
    return page.render(
        "project.html",
        nav="projects",
        data=data,
        results=results.project_results(
            session, caller=page.caller, t=page.t, project=data.project, today=today
        ),
        value=lambda v: results.show_value(page.t, v),
        status=status,
        statuses=STATUS_FILTERS,
        filter_errors=query.errors,
        status_unknown="status" in query.errors and not repeated,
        pagination=paginate(page.request, total=data.activities_total, page_size=service.PAGE_SIZE),
        editor=(
            targets.editor(session, page.t, data.project, data.targets, typed)
            if data.may_manage
            else None
        ),
        status_code=status_code,
    )


STATUS_FILTERS = ("submitted", "approved", "returned")


# --- a project's targets and baselines (docs/results.md#dashboard-results) -----------------------


def _writable_project(page: Page, session: Session, project_id: uuid.UUID) -> Project:
    """The project whose targets the person changes: 404 outside their scope, 403 when they
    may read it but not set its targets (docs/roles.md)."""
    assert page.caller is not None
    project = projects_service.get_project(session, caller=page.caller, project_id=project_id)
    if not can_write_project(page.caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may set targets"
        )
    return project


def _project_target(page: Page, session: Session, project: Project, target_id: uuid.UUID) -> Target:
    """One of the project's targets (404 when it is another project's)."""
    assert page.caller is not None
    target = projects_service.get_target(session, caller=page.caller, target_id=target_id)
    if target.project_id != project.id:
        raise NotFound("no such target in this project")
    return target


@router.post("/projects/{project_id}/targets")
def add_target(
    project_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    """Set a target or a baseline: every problem at once, next to its field (the rule checks of
    ``POST /api/v1/targets``), the duplicate of an existing one as its conflict."""
    assert page.caller is not None
    t = page.t
    project = _writable_project(page, session, project_id)
    values = FormState({name: form_text(form, name, limit=100) for name in targets.FIELDS})
    data = targets.target_data(project, values, t.language)
    known = result_indicators(session, page.caller)
    issues = projects_service.new_target_rules(
        session, caller=page.caller, data=data, results=known
    )
    errors = targets.messages(t, issues, project, values)
    status_code = 422
    if not errors:
        try:
            target = projects_service.create_target(
                session, caller=page.caller, data=data, results=known
            )
        except ValidationFailed as exc:
            session.rollback()
            errors = targets.messages(t, exc.issues, project, values)
        except Conflict:
            session.rollback()
            errors = FormState(period=targets.duplicate_message(t, values["kind"]))
            status_code = 409
        else:
            session.commit()
            return page.redirect(
                f"/projects/{project.id}#targets",
                notice=(
                    N_("Set the baseline of %(what)s: %(value)s.")
                    if target.kind == "baseline"
                    else N_("Set the target of %(what)s: %(value)s.")
                ),
                what=targets.label_of(t, session, target),
                value=targets.typed_number(t, target.value),
            )
    return _project_page(
        page,
        session,
        project.id,
        typed=targets.Typed(values=values, errors=errors),
        status_code=status_code,
    )


@router.post("/projects/{project_id}/targets/{target_id}")
def change_target(
    project_id: uuid.UUID,
    target_id: uuid.UUID,
    page: SignedIn,
    form: CheckedForm,
    session: SessionDep,
) -> Response:
    """Change a target's or baseline's value."""
    assert page.caller is not None
    t = page.t
    project = _writable_project(page, session, project_id)
    target = _project_target(page, session, project, target_id)
    typed = form_text(form, "value", limit=100)
    value = targets.read_number(typed, t.language)
    values = FormState(indicator=target.indicator, kind=target.kind, value=typed)
    error = ""
    if value is None:
        error = t.gettext("Type a value.")
    elif isinstance(value, str):
        error = targets.message(
            t, Issue("value", ErrorCode.NOT_NUMBER, "value: not a number"), project, values
        )
    else:
        try:
            projects_service.update_target(
                session,
                caller=page.caller,
                target_id=target.id,
                value=value,
                results=result_indicators(session, page.caller),
            )
        except ValidationFailed as exc:
            session.rollback()
            error = targets.message(t, exc.issues[0], project, values)
        else:
            session.commit()
            return page.redirect(
                f"/projects/{project.id}#targets",
                notice=N_("Changed %(what)s to %(value)s."),
                what=targets.label_of(t, session, target),
                value=targets.typed_number(t, target.value),
            )
    return _project_page(
        page,
        session,
        project.id,
        typed=targets.Typed(row=target.id, row_value=typed, row_error=error),
        status_code=422,
    )


@router.post("/projects/{project_id}/targets/{target_id}/delete")
def remove_target(
    project_id: uuid.UUID,
    target_id: uuid.UUID,
    page: SignedIn,
    _form: CheckedForm,
    session: SessionDep,
) -> Response:
    """Remove a target or baseline (a mistyped one)."""
    assert page.caller is not None
    project = _writable_project(page, session, project_id)
    target = _project_target(page, session, project, target_id)
    what = targets.label_of(page.t, session, target)
    kind = target.kind
    projects_service.delete_target(session, caller=page.caller, target_id=target.id)
    session.commit()
    return page.redirect(
        f"/projects/{project.id}#targets",
        notice=(
            N_("Removed the baseline of %(what)s.")
            if kind == "baseline"
            else N_("Removed the target of %(what)s.")
        ),
        what=what,
    )


# --- sites found in the field, approved or rejected (docs/product.md: Site) -------------------


SITE_NOTICES = {
    (True, "approved"): N_("Approved the site “%(site)s”."),
    (True, "rejected"): N_("Rejected the site “%(site)s”."),
    (False, "approved"): N_("“%(site)s” had already been approved: nothing was changed."),
    (False, "rejected"): N_("“%(site)s” had already been rejected: nothing was changed."),
}


@router.post("/sites/{site_id}/review")
def review_site(
    site_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    """Approve or reject a site added on a tablet, from the project page or the review queue:
    back where the form was (``next``), with a notice naming the site."""
    assert page.caller is not None
    decision = service.decide_site(
        session, caller=page.caller, site_id=site_id, action=form_text(form, "action", limit=20)
    )
    session.commit()
    back = cookies.safe_next(
        form_text(form, "next", limit=2000), default=f"/projects/{decision.project_id}#sites"
    )
    notice = SITE_NOTICES.get((decision.changed, decision.status))
    if notice is None:  # no longer pending, and not by a decision of this kind
        notice = N_("“%(site)s” is no longer waiting for approval: nothing was changed.")
    return page.redirect(
        back, notice=notice, kind="success" if decision.changed else "error", site=decision.name
    )


def _today() -> date:
    return utcnow().date()


# --- the review queue -----------------------------------------------------------------------------


def _queue_filters(page: Page) -> tuple[service.QueueFilters, QueryFilters, FormState]:
    """The queue's filters from the query string, with an error per field it could not read.
    Countries, projects and types take several (``?country=LSO&country=BGD``, or a comma
    list): a queue of two countries is one a reviewer of both expects."""
    query = query_filters(page.request, page.t, one=QUEUE_ONE, several=QUEUE_SEVERAL)
    values = query.values
    errors = FormState(query.errors)
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        text = values[name]
        dates[name] = None
        if text:
            try:
                dates[name] = date.fromisoformat(text)
            except ValueError:
                errors[name] = page.t.gettext("Use a date like 2025-03-14.")
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        errors["to"] = page.t.gettext("The end of the range is before its start.")
        dates["to"] = None
    filters = service.QueueFilters(
        country=values["country"].upper(),
        project=values["project"],
        activity_type=values["type"],
        date_from=dates["from"],
        date_to=dates["to"],
        late_only=values["late"] == "1",
        q=values["q"],
    )
    return filters, query, errors


QUEUE_ONE = ("from", "to", "late", "q")
QUEUE_SEVERAL = ("country", "project", "type")


def _skipped_reasons(t: Translator, skipped: Sequence[tuple[str, str, str]]) -> str:
    """Why each activity was not approved: its status now when that is the reason (approved
    meanwhile from another page, returned by a colleague), else the code's words."""
    reasons = []
    for title, code, status in skipped:
        if code == ErrorCode.STATE_CONFLICT and status:
            said = t.gettext("it is “%(status)s” now", status=t.label("status", status))
        else:
            said = explain(t, code)
        reasons.append(f"{title} — {said}")
    return "; ".join(reasons)


@router.get("/review")
def review_queue(page: SignedIn, session: SessionDep) -> Response:
    assert page.caller is not None
    filters, query, errors = _queue_filters(page)
    values = query.values
    # What each several-valued filter holds, for the form to show chosen.
    chosen = {name: query.given[name] for name in QUEUE_SEVERAL}
    chosen["country"] = list(dict.fromkeys(c.upper() for c in chosen["country"]))
    number = page_number(page.request)
    refused = False
    try:
        queue = service.review_queue(
            session,
            caller=page.caller,
            filters=filters,
            limit=service.PAGE_SIZE,
            offset=(number - 1) * service.PAGE_SIZE,
        )
    except ValidationFailed as exc:
        errors.update(_renamed(field_errors(page.t, exc)))
        # A filter the queue cannot apply (unknown, or outside the reader's scope) is said
        # above the form and next to its field, as the observations page does: a bare
        # "0 match" under "All" told a reviewer that nothing waits.
        refused = True
        # The filters' choices, and nothing matched: "19 match" over an empty list misleads.
        queue = replace(
            service.review_queue(
                session, caller=page.caller, filters=service.QueueFilters(), limit=0
            ),
            total=0,
            late=0,
        )
    country_names_ = country_names(page.t.language)
    return page.render(
        "review.html",
        nav="review",
        queue=queue,
        values=values,
        chosen=chosen,
        # (in the order of the select's options)
        chosen_names={
            "country": [page.t.country(c) for c in by_name(chosen["country"], country_names_)],
            "project": [p.code for p in queue.projects if p.code in chosen["project"]],
            "type": [
                name for code, name in page.t.choices("activity_type") if code in chosen["type"]
            ],
        },
        errors=errors,
        refused=refused,
        status_code=422 if errors else 200,
        may_review=service.may_review_anything(page.caller),
        pagination=paginate(page.request, total=queue.total, page_size=service.PAGE_SIZE),
        # What else waits, under the country and project only when the queue could apply them.
        observations=results.waiting_observations(
            session, caller=page.caller, t=page.t, project="" if refused else filters.project
        ),
        conflicts=conflicts.open_conflicts(
            session,
            caller=page.caller,
            t=page.t,
            country="" if refused else filters.country,
        ),
        pending_sites=service.pending_sites(
            session,
            caller=page.caller,
            country="" if refused else filters.country,
            project="" if refused else filters.project,
        ),
    )


def _renamed(errors: FormState) -> FormState:
    # The activity filters' names (docs/indicators.md) → this form's field names.
    names = {"activity_type": "type", "date_from": "from", "date_to": "to"}
    return FormState({names.get(k, k): v for k, v in errors.items()})


@router.post("/review/approve")
def bulk_approve(page: SignedIn, form: CheckedForm, session: SessionDep) -> Response:
    assert page.caller is not None
    back = cookies.safe_next(form_text(form, "next", limit=2000), default="/review")
    # One row's own button sends "only"; the bulk button sends the ticked boxes.
    chosen = form_list(form, "only")[:1] or form_list(form, "activity_id")
    ids = [i for i in (_uuid(v) for v in chosen) if i is not None]
    if not ids:
        return page.redirect(
            back, notice=N_("Select at least one activity to approve."), kind="error"
        )
    result = service.bulk_approve(session, caller=page.caller, activity_ids=ids)
    session.commit()
    if result.skipped and not result.approved:
        return page.redirect(
            back,
            kind="error",
            notice=N_("Nothing was approved: %(reasons)s"),
            reasons=_skipped_reasons(page.t, result.skipped),
        )
    if result.skipped:
        return page.redirect(
            back,
            kind="info",
            notice=N_("Approved: %(num)s. Not approved: %(reasons)s"),
            num=len(result.approved),
            reasons=_skipped_reasons(page.t, result.skipped),
        )
    return page.redirect(back, notice=N_("Activities approved: %(num)s."), num=len(result.approved))


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# --- one activity ---------------------------------------------------------------------------------


@router.get("/activities/{activity_id}")
def activity(activity_id: uuid.UUID, page: SignedIn, session: SessionDep) -> Response:
    return _activity_page(page, session, activity_id)


def _activity_page(
    page: Page,
    session: Session,
    activity_id: uuid.UUID,
    *,
    values: FormState | None = None,
    errors: FormState | None = None,
    status_code: int = 200,
    conflict_form: conflicts.ConflictForm | None = None,
) -> Response:
    assert page.caller is not None
    data = service.activity_page(session, caller=page.caller, activity_id=activity_id)
    return page.render(
        "activity.html",
        nav="review",
        data=data,
        values=values or FormState(),
        errors=errors or FormState(),
        status_code=status_code,
        conflicts=conflicts.conflicts_of_record(
            session,
            caller=page.caller,
            t=page.t,
            record_ids=[data.detail.id, *(a.id for a in data.detail.attachments)],
        ),
        conflict_form=conflict_form,
    )


@router.post("/activities/{activity_id}/review")
def review_activity(
    activity_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    caller = page.caller

    def apply(action: str, comment: str) -> dict[str, str]:
        reviewed = service.review(
            session, caller=caller, activity_id=activity_id, action=action, comment=comment
        )
        return {"title": reviewed.title}

    return _review_post(
        page,
        form,
        session,
        apply=apply,
        show=lambda **kwargs: _activity_page(page, session, activity_id, **kwargs),
        notices={
            "approve": N_("Approved “%(title)s”."),
            "return": N_("Returned “%(title)s” to the field expert with your comment."),
            "reopen": N_("Reopened “%(title)s”: it can be edited again."),
        },
        default_next=f"/activities/{activity_id}",
    )


def _review_post(
    page: Page,
    form: FormData,
    session: Session,
    *,
    apply: Callable[[str, str], dict[str, str]],
    show: Callable[..., Response],
    notices: Mapping[str, str],
    default_next: str,
) -> Response:
    """The review form of an activity or an observation: ``apply`` (action, comment) reviews
    and returns the notice's values; a refusal shows the page again (``show``) with the
    comment kept and the reason at the field or the form."""
    action = form_text(form, "action")
    comment = form_text(form, "comment", limit=20_000)
    try:
        values = apply(action, comment)
    except ValidationFailed as exc:
        session.rollback()
        errors = field_errors(page.t, exc)
        if "comment" in errors and not comment:
            errors["comment"] = page.t.gettext(
                "Say what needs fixing: the field expert sees this comment on the tablet."
            )
        return show(values=FormState(comment=comment), errors=errors, status_code=422)
    except Conflict as exc:
        session.rollback()
        return show(
            values=FormState(comment=comment),
            errors=FormState(form=explain(page.t, exc.code)),
            status_code=409,
        )
    session.commit()
    target = cookies.safe_next(form_text(form, "next", limit=2000), default=default_next)
    return page.redirect(target, notice=notices[action], **values)


@router.get("/attachments/{attachment_id}")
def photo(
    attachment_id: uuid.UUID, page: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    """A photo's bytes for the signed-in person (the API's route wants a bearer token)."""
    assert page.caller is not None
    path, content_type = open_photo(
        session,
        caller=page.caller,
        files=AttachmentFiles(settings.attachments_dir),
        attachment_id=attachment_id,
    )
    return FileResponse(
        path, media_type=content_type, headers=served_headers(attachment_id, content_type)
    )


# --- sync conflicts (every kind; an activity's and an observation's also on their pages) --------


@router.get("/conflicts/{conflict_id}")
def conflict(conflict_id: uuid.UUID, page: SignedIn, session: SessionDep) -> Response:
    return _conflict_page(page, session, conflict_id)


def _conflict_page(
    page: Page,
    session: Session,
    conflict_id: uuid.UUID,
    *,
    status_code: int = 200,
    conflict_form: conflicts.ConflictForm | None = None,
) -> Response:
    assert page.caller is not None
    data = conflicts.conflict_page(session, caller=page.caller, t=page.t, conflict_id=conflict_id)
    return page.render(
        "conflict.html",
        nav="review",
        data=data,
        status_code=status_code,
        conflict_form=conflict_form,
    )


@router.post("/conflicts/{conflict_id}/resolve")
def resolve_conflict(
    conflict_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    """Settle a conflict from its form, on whichever page it was (``on``: its record's page or
    its own). A refusal shows that page again with what was entered and why; nothing is kept."""
    assert page.caller is not None
    on = "record" if form_text(form, "on") == "record" else "conflict"
    entered = conflicts.entered_of(form)
    try:
        found = conflicts.resolve(
            session,
            caller=page.caller,
            t=page.t,
            conflict_id=conflict_id,
            keep=form_text(form, "keep"),
            entered=entered,
        )
    except (ValidationFailed, Conflict, NotFound) as exc:
        if isinstance(exc, NotFound) and exc.code != ErrorCode.DELETED_ON_SERVER:
            raise  # out of the caller's scope: no such page
        session.rollback()
        failed = conflicts.failed_form(
            session, caller=page.caller, t=page.t, conflict_id=conflict_id, entered=entered, exc=exc
        )
        return _settle_again(page, session, failed, on, exc.status_code)
    where = conflicts.page_of(session, found, on)
    session.commit()
    return page.redirect(
        where, notice=N_("Conflict resolved. Tablets get the result at their next sync.")
    )


def _settle_again(
    page: Page, session: Session, failed: conflicts.ConflictForm, on: str, status_code: int
) -> Response:
    """The page the refused form was on, with the form as it was sent."""
    home = failed.home
    if on == "record" and home.kind == "activity" and home.id is not None:
        return _activity_page(page, session, home.id, status_code=status_code, conflict_form=failed)
    if on == "record" and home.kind == "observation" and home.id is not None:
        return _observation_page(
            page, session, home.id, status_code=status_code, conflict_form=failed
        )
    return _conflict_page(
        page, session, failed.conflict_id, status_code=status_code, conflict_form=failed
    )


# --- observations ------------------------------------------------------------------------------


def _observation_filters(
    page: Page, session: Session, *, one: Sequence[str] = ("project", "form", "status")
) -> tuple[tuple[str, str, str], FormState, QueryFilters]:
    """The observations page's filters (project, form, status) cleaned, and every problem of
    them at once, in the reader's words, as ``GET /api/v1/observations`` names them: one given
    twice with different values, an unknown form or project (another country's alike), an
    unknown status. The page and its download check them with this (the download reads its
    ``format`` too: ``one``). Each takes one value: the download is of one form, and its file
    of what the page lists."""
    assert page.caller is not None
    query = query_filters(page.request, page.t, one=one, limit=100)
    refuse_unknown(page.t, query, {"status": STATUS_FILTERS})
    project, form = query.values["project"], query.values["form"].upper()[:64]
    status = query.values["status"]
    issues = obs_queries.filter_issues(
        session,
        caller=page.caller,
        filters=obs_queries.ObservationFilters(
            project=project or None, form=form or None, status=status or None
        ),
    )
    errors = (
        field_errors(page.t, ValidationFailed(issues, status_code=400)) if issues else FormState()
    )
    errors.update(query.errors)
    return (project, form, status), errors, query


def _refused_filters(
    page: Page, session: Session, filters: tuple[str, str, str], errors: FormState
) -> Response:
    """The page again with its filters' problems named, no list and no download (400)."""
    return _observations_page(page, session, *filters, errors=errors, refused=True, status_code=400)


def _observations_page(
    page: Page,
    session: Session,
    project: str,
    form: str,
    status: str,
    *,
    errors: FormState | None = None,
    refused: bool = False,
    status_code: int = 200,
) -> Response:
    assert page.caller is not None
    number = page_number(page.request)
    data = results.observation_list(
        session,
        caller=page.caller,
        t=page.t,
        project=project,
        form=form,
        status=status,
        limit=service.PAGE_SIZE,
        offset=(number - 1) * service.PAGE_SIZE,
    )
    return page.render(
        "observations.html",
        nav="review",
        data=data,
        values=FormState(project=project, form=form, status=status),
        statuses=STATUS_FILTERS,
        errors=errors or FormState(),
        refused=refused,
        status_code=status_code,
        pagination=paginate(page.request, total=data.total, page_size=service.PAGE_SIZE),
    )


@router.get("/observations")
def observations(page: SignedIn, session: SessionDep) -> Response:
    """The list, filtered; a filter it cannot apply (one given twice with different values,
    an unknown form or project, another country's alike, an unknown status) is named on the
    page, 400, as the API does."""
    filters, errors, _ = _observation_filters(page, session)
    if errors:
        return _refused_filters(page, session, filters, errors)
    return _observations_page(page, session, *filters)


@router.get("/observations/download")
def observations_download(page: SignedIn, session: SessionDep) -> Response:
    """One form's observations (the page's filters) as CSV or XLSX, the XLSX's label row in
    the reader's language (docs/results.md#exports)."""
    assert page.caller is not None
    # A file of every status, or of another form, is not the one asked for: the page's checks.
    one = ("project", "form", "status", "format")
    filters, errors, query = _observation_filters(page, session, one=one)
    if errors.keys() - {"format"}:
        return _refused_filters(page, session, filters, errors)
    if errors:  # the filters hold, the list with them: only which file is not said once
        return _observations_page(page, session, *filters, errors=errors, status_code=400)
    project, form, status = filters
    format = query.values["format"] if "format" in page.request.query_params else "xlsx"
    try:
        file = service.observations_file(
            session,
            caller=page.caller,
            t=page.t,
            form=form,
            project=project,
            status=status,
            format=format,
        )
    except ValidationFailed as exc:  # no form chosen, a format that is neither CSV nor XLSX
        return _observations_page(
            page, session, *filters, errors=field_errors(page.t, exc), status_code=400
        )
    return _download(file)


@router.get("/observations/{observation_id}")
def observation(observation_id: uuid.UUID, page: SignedIn, session: SessionDep) -> Response:
    return _observation_page(page, session, observation_id)


def _observation_page(
    page: Page,
    session: Session,
    observation_id: uuid.UUID,
    *,
    values: FormState | None = None,
    errors: FormState | None = None,
    status_code: int = 200,
    conflict_form: conflicts.ConflictForm | None = None,
) -> Response:
    assert page.caller is not None
    data = results.observation_page(
        session, caller=page.caller, t=page.t, observation_id=observation_id
    )
    return page.render(
        "observation.html",
        nav="review",
        data=data,
        values=values or FormState(),
        errors=errors or FormState(),
        status_code=status_code,
        conflicts=conflicts.conflicts_of_record(
            session,
            caller=page.caller,
            t=page.t,
            record_ids=[data.detail.id, *(a.id for a in data.detail.attachments)],
        ),
        conflict_form=conflict_form,
    )


@router.post("/observations/{observation_id}/review")
def review_observation(
    observation_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    caller = page.caller

    def apply(action: str, comment: str) -> dict[str, str]:
        results.review(
            session, caller=caller, observation_id=observation_id, action=action, comment=comment
        )
        return {}

    return _review_post(
        page,
        form,
        session,
        apply=apply,
        show=lambda **kwargs: _observation_page(page, session, observation_id, **kwargs),
        notices={
            "approve": N_("Observation approved."),
            "return": N_("Observation returned to the field expert with your comment."),
            "reopen": N_("Observation reopened: it can be edited again."),
        },
        default_next=f"/observations/{observation_id}",
    )


# --- exports --------------------------------------------------------------------------------------

EXPORT_FIELDS = (
    "indicator",
    "country",
    "project",
    "thematic_area",
    "activity_type",
    "from",
    "to",
    "status",
    "period",
    "format",
)


def _export_form(page: Page) -> tuple[FormState, list[str], FormState]:
    """The form's values and its group_by keys, and each filter given twice with different
    values (a link edited by hand), which is not applied: read as its last value alone, the
    file would leave out what the other asked for. Only group_by, a row of check boxes, takes
    several."""
    query = query_filters(page.request, page.t, one=EXPORT_FIELDS, several=("group_by",), limit=100)
    return query.values, query.given["group_by"][:8], query.errors


def _exports_page(
    page: Page,
    session: Session,
    values: FormState,
    group_by: list[str],
    *,
    errors: FormState | None = None,
    status_code: int = 200,
    downloading: bool = True,
) -> Response:
    """The Exports page; ``errors`` those of a download refused (``downloading``), else of
    the address the page was opened with."""
    assert page.caller is not None
    if not values["indicator"]:
        values["indicator"] = "PARTICIPANTS"
    if not values["period"]:
        values["period"] = service.quarter_label(_today())
    return page.render(
        "exports.html",
        nav="exports",
        feed_url=feed_url(page),
        values=values,
        group_by=group_by,
        errors=errors or FormState(),
        status_code=status_code,
        downloading=downloading,
        choices=service.export_choices(session, caller=page.caller, t=page.t),
    )


@router.get("/exports")
def exports(page: SignedIn, session: SessionDep) -> Response:
    values, group_by, repeated = _export_form(page)
    return _exports_page(
        page,
        session,
        values,
        group_by,
        errors=repeated,
        status_code=400 if repeated else 200,
        downloading=False,
    )


@router.get("/exports/download")
def export_download(
    page: SignedIn, session: SessionDep, settings: SettingsDep, engine: EngineDep
) -> Response:
    assert page.caller is not None
    values, group_by, repeated = _export_form(page)
    if repeated:
        return _exports_page(page, session, values, group_by, errors=repeated, status_code=400)
    request = service.ExportRequest(
        format=values["format"],
        indicator=values["indicator"] or "PARTICIPANTS",
        group_by=tuple(group_by),
        filters={k: values[k] for k in service.EXPORT_FILTERS if values[k]},
        date_from=values["from"],
        date_to=values["to"],
        status=values["status"],
        period=values["period"],
    )
    try:
        if request.format in service.ACTIVITY_FORMATS:
            file = service.activities_file(engine, caller=page.caller, request=request)
        else:
            file = service.export_file(
                session, caller=page.caller, settings=settings, request=request
            )
    except ValidationFailed as exc:
        errors = field_errors(page.t, exc)
        for found in exc.issues:
            if found.code == ErrorCode.NOT_APPLICABLE and request.format in service.UNFILTERED:
                errors[found.field] = _UNFILTERED_WORDS[request.format](page.t)
        return _exports_page(page, session, values, group_by, errors=errors, status_code=400)
    except NotFound as exc:  # an unknown indicator
        return _exports_page(
            page,
            session,
            values,
            group_by,
            errors=FormState(indicator=explain(page.t, exc.code)),
            status_code=400,
        )
    return _download(file)


# A filter the chosen file cannot apply, next to that filter (service.UNFILTERED).
_UNFILTERED_WORDS: dict[str, Callable[[Translator], str]] = {
    "dhis2": lambda t: t.gettext(
        "The DHIS2 file does not filter by this: leave it empty, or download a CSV."
    ),
    "iati": lambda t: t.gettext(
        "The IATI file does not filter by this: leave it empty, or download a CSV."
    ),
}


def _download(file: service.ExportFile) -> StreamingResponse:
    """A file of the dashboard's downloads, as an attachment never kept in a cache."""
    return StreamingResponse(
        iter(file.chunks),
        media_type=file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "Cache-Control": "no-store",
        },
    )


# --- the quarterly report (docs/results.md#quarterly-report) ------------------------------------

REPORT_FIELDS = ("quarter", "country", "region", "thematic_area")


def _report_form(page: Page) -> tuple[FormState, FormState]:
    """The report form's values, and each field given twice with different values (not
    applied: a report of one of two countries is not the one asked for)."""
    query = query_filters(page.request, page.t, one=REPORT_FIELDS, limit=16)
    return query.values, query.errors


def _reports_page(
    page: Page,
    session: Session,
    values: FormState,
    *,
    errors: FormState | None = None,
    status_code: int = 200,
    close_values: FormState | None = None,
    close_errors: FormState | None = None,
    downloading: bool = True,
) -> Response:
    """The Reports page; ``errors`` those of a report refused (``downloading``), else of the
    address the page was opened with."""
    assert page.caller is not None
    if not report.may_report(page.caller):
        raise Forbidden("quarterly reports are for country officers, HQ analysts and admins")
    today = _today()
    if not values.get("quarter"):
        values["quarter"] = report.default_quarter(today)
    choices = report.report_choices(session, caller=page.caller, today=today)
    closed = service.closed_quarters(session, caller=page.caller)
    closable = service.closable_countries(page.caller, choices.countries)
    done = {(c.country, c.period) for c in closed}
    open_quarters = [q for q in choices.quarters[1:] if any((c, q) not in done for c in closable)]
    return page.render(
        "reports.html",
        nav="reports",
        values=values,
        errors=errors or FormState(),
        status_code=status_code,
        downloading=downloading,
        choices=choices,
        closed=closed,
        close_countries=closable,
        # The quarters that have ended (the current one is still being reported) and are still
        # open in one of the countries at least.
        close_choices=open_quarters,
        close_values=close_values or FormState(quarter=next(iter(open_quarters), "")),
        close_errors=close_errors or FormState(),
    )


@router.get("/reports")
def reports(page: SignedIn, session: SessionDep) -> Response:
    values, repeated = _report_form(page)
    return _reports_page(
        page,
        session,
        values,
        errors=repeated,
        status_code=400 if repeated else 200,
        downloading=False,
    )


@router.post("/reports/close")
def close_quarter(page: SignedIn, form: CheckedForm, session: SessionDep) -> Response:
    """Close a country's reporting quarter: later submissions dated inside it are marked late."""
    assert page.caller is not None
    country = form_text(form, "country", limit=16).upper()  # "LSOX" is refused, not cut
    quarter = form_text(form, "quarter", limit=16).upper()
    chosen = FormState(country=country, quarter=quarter)
    try:
        report.parse_quarter(quarter)  # a quarter only, said so next to its field
        service.close_quarter(session, caller=page.caller, country=country, quarter=quarter)
    except ValidationFailed as exc:
        session.rollback()
        found = field_errors(page.t, exc)
        errors = FormState(
            {
                f"close-{'quarter' if k == 'period' else k}": v
                for k, v in found.items()
                if k in ("quarter", "period", "country")
            }
        )
        return _reports_page(
            page,
            session,
            _report_form(page)[0],
            close_values=chosen,
            close_errors=errors or FormState({"close-quarter": explain(page.t, "invalid")}),
            status_code=422,
        )
    except Conflict:
        session.rollback()
        already = page.t.gettext(
            N_("%(quarter)s is already closed for %(country)s."),
            quarter=quarter,
            country=page.t.country(country),
        )
        return _reports_page(
            page,
            session,
            _report_form(page)[0],
            close_values=chosen,
            close_errors=FormState({"close-quarter": already}),
            status_code=409,
        )
    session.commit()
    return page.redirect(
        "/reports#closed-quarters",
        notice=N_(
            "Closed %(quarter)s for %(country)s: an activity dated in it that arrives from now "
            "on is marked late."
        ),
        quarter=quarter,
        country=page.t.country(country),
    )


@router.get("/reports/quarterly.pdf")
def quarterly_report(page: SignedIn, session: SessionDep) -> Response:
    """The quarter's report as a PDF, in the reader's language, for the scope chosen."""
    assert page.caller is not None
    values, repeated = _report_form(page)
    issues: list[Issue] = []  # the quarter's and the scope's problems, together
    try:
        label = report.report_quarter(values["quarter"], today=_today())
    except ValidationFailed as exc:
        issues += exc.issues
    try:
        scope = report.report_scope(
            page.caller,
            country=values["country"],
            region=values["region"],
            thematic_area=values["thematic_area"],
        )
    except ValidationFailed as exc:
        issues += exc.issues
    if issues or repeated:
        errors = FormState()
        if issues:
            errors = field_errors(page.t, ValidationFailed(issues, status_code=400))
        errors.update(repeated)  # (what the checks said of a refused field judged nothing)
        return _reports_page(page, session, values, errors=errors, status_code=400)
    data = report.build_report(
        session, caller=page.caller, t=page.t, quarter=label, scope=scope, now=utcnow()
    )
    pdf = report.render_pdf(data, page.t)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{report.filename(data)}"',
            "Cache-Control": "no-store",
            "Content-Language": page.t.language,
        },
    )


# --- personal access tokens (the OData feed for Excel and Power BI, docs/odata.md) -------------


def feed_url(page: Page) -> str:
    return str(page.request.base_url).rstrip("/") + "/api/v1/odata/"


def _tokens_page(
    page: Page,
    session: Session,
    *,
    created: str | None = None,
    values: FormState | None = None,
    errors: FormState | None = None,
    status_code: int = 200,
) -> Response:
    assert page.caller is not None
    return page.render(
        "tokens.html",
        tokens=personal_tokens.list_tokens(session, caller=page.caller),
        created=created,
        feed_url=feed_url(page),
        values=values or FormState(),
        errors=errors or FormState(),
        status_code=status_code,
    )


@router.get("/tokens")
def access_tokens(page: SignedIn, session: SessionDep) -> Response:
    return _tokens_page(page, session)


@router.post("/tokens")
def create_access_token(page: SignedIn, form: CheckedForm, session: SessionDep) -> Response:
    assert page.caller is not None
    # Read beyond the name's limit, so that a longer one is refused, not cut without a word.
    name = form_text(form, "name", limit=10 * personal_tokens.NAME_MAX_LENGTH)
    if not name or len(name) > personal_tokens.NAME_MAX_LENGTH:
        words = (
            too_long_words(page.t, personal_tokens.NAME_MAX_LENGTH)
            if name
            else page.t.gettext("Give the token a name, e.g. “Power BI at HQ”.")
        )
        return _tokens_page(
            page,
            session,
            values=FormState(name=name[: personal_tokens.NAME_MAX_LENGTH]),
            errors=FormState(name=words),
            status_code=422,
        )
    try:
        _, secret = personal_tokens.create_token(session, caller=page.caller, name=name)
    except Conflict as exc:  # the most tokens one may have (its params say how many)
        session.rollback()
        return _tokens_page(
            page,
            session,
            values=FormState(name=name),
            errors=FormState(
                name=page.t.gettext(
                    "You have %(limit)s tokens already, the most one may have: revoke one you "
                    "no longer use."
                )
                % exc.params
            ),
            status_code=409,
        )
    session.commit()
    return _tokens_page(page, session, created=secret)


@router.post("/tokens/{token_id}/revoke")
def revoke_personal_token(
    token_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    row = personal_tokens.revoke_token(session, caller=page.caller, token_id=token_id)
    session.commit()
    return page.redirect(
        "/tokens", notice=N_("Revoked “%(name)s”: it no longer opens the feed."), name=row.name
    )


# --- tablets --------------------------------------------------------------------------------------


@router.get("/tablets")
def tablets(page: SignedIn, session: SessionDep) -> Response:
    return _tablets_page(page, session)


def _tablets_page(
    page: Page,
    session: Session,
    *,
    enrolment: service.Enrolment | None = None,
    values: FormState | None = None,
    errors: FormState | None = None,
    status_code: int = 200,
) -> Response:
    assert page.caller is not None
    data = service.tablets_page(
        session, caller=page.caller, t=page.t, pending_days=page.settings.pending_tablet_days
    )
    return page.render(
        "tablets.html",
        nav="tablets",
        data=data,
        enrolment=enrolment,
        values=values or FormState(),
        errors=errors or FormState(),
        status_code=status_code,
        silent_after=service.SILENT_AFTER.days,
        pending_days=page.settings.pending_tablet_days,
        low_storage=fleet.LOW_STORAGE_BYTES,
        now=utcnow(),
    )


@router.post("/tablets/enrol")
def enrol_tablet(
    page: SignedIn, form: CheckedForm, session: SessionDep, settings: SettingsDep
) -> Response:
    assert page.caller is not None
    username = form_text(form, "username", limit=64)
    try:
        enrolment = service.enrol_tablet(
            session,
            caller=page.caller,
            username=username,
            server_url=str(page.request.base_url).rstrip("/"),
            hours=settings.enrolment_code_hours,  # as the CLI and the API issue them
        )
    except ValidationFailed as exc:
        session.rollback()
        return _tablets_page(
            page,
            session,
            values=FormState(username=username),
            errors=field_errors(page.t, exc),
            status_code=422,
        )
    session.commit()
    return _tablets_page(page, session, enrolment=enrolment)


@router.post("/tablets/{device_id}/revoke")
def revoke_tablet(
    device_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    revoked = service.revoke_tablet(session, caller=page.caller, device_id=device_id)
    session.commit()
    if revoked.records or revoked.photos:
        t = page.t
        return page.redirect(
            "/tablets",
            notice=N_(
                "Revoked “%(name)s”: it can no longer sync. It last reported %(records)s and "
                "%(photos)s not yet synced: they stay on the tablet and will not reach the server."
            ),
            name=revoked.name,
            records=t.ngettext("%(num)s record", "%(num)s records", revoked.records),
            photos=t.ngettext("%(num)s photo", "%(num)s photos", revoked.photos),
        )
    return page.redirect(
        "/tablets",
        notice=N_("Revoked “%(name)s”: it can no longer sync. Its unsent records stay on it."),
        name=revoked.name,
    )


# --- people -----------------------------------------------------------------------------------


@router.get("/people")
def people(page: SignedIn, session: SessionDep) -> Response:
    return _people_page(page, session)


def _people_page(
    page: Page,
    session: Session,
    *,
    values: FormState | None = None,
    countries: Sequence[str] | None = None,
    projects: Sequence[str] = (),
    errors: FormState | None = None,
    status_code: int = 200,
) -> Response:
    assert page.caller is not None
    query = query_filters(page.request, page.t, one=("q", "role"), limit=100)
    refuse_unknown(page.t, query, {"role": ROLES})
    q, role = query.values["q"], query.values["role"]
    if query.errors and status_code == 200:
        status_code = 400  # the list without the filter given twice or unknown, said next to it
    number = page_number(page.request)
    data = service.people_page(
        session,
        caller=page.caller,
        q=q,
        role=role,
        limit=service.PAGE_SIZE,
        offset=(number - 1) * service.PAGE_SIZE,
    )
    if countries is None:  # a fresh form: an officer of one country adds people of it
        countries = sorted(page.caller.countries) if len(page.caller.countries) == 1 else []
    return page.render(
        "people.html",
        nav="people",
        data=data,
        q=q,
        role=role,
        roles=ROLES,
        filter_errors=query.errors,
        values=values or FormState(),
        chosen_countries=list(countries),
        chosen_projects=list(projects),
        errors=errors or FormState(),
        status_code=status_code,
        min_password=MIN_PASSWORD_LENGTH,
        now=utcnow(),
        pagination=paginate(page.request, total=data.total, page_size=service.PAGE_SIZE),
    )


ROLES: tuple[str, ...] = tuple(codes(Role))


def _password_of(form: FormData) -> str:
    # Never stripped or shown again: what was typed is the password.
    value = form.get("password")
    return value if isinstance(value, str) else ""


def _person_errors(t: Translator, exc: ValidationFailed) -> FormState:
    """The account rules' messages in the reader's language, chosen by field and code: the
    form can say more than the code alone (the rule for usernames, the password's length)."""
    translated = field_errors(t, exc)
    codes: dict[str, str] = {}
    for issue in exc.issues:  # each field's first problem, as field_errors shows it
        codes.setdefault(issue.field, issue.code)
    if codes.get("username") == ErrorCode.INVALID:
        translated["username"] = t.gettext(
            "2 to 64 characters: lowercase letters, digits, “.”, “_” or “-”, starting with a "
            "letter or digit."
        )
    if codes.get("password") == ErrorCode.TOO_SHORT:
        translated["password"] = t.gettext(
            "Use at least %(num)s characters.", num=MIN_PASSWORD_LENGTH
        )
    if codes.get("email") == ErrorCode.INVALID:
        translated["email"] = t.gettext("Type an e-mail address, like name@example.org.")
    if codes.get("countries") == ErrorCode.REQUIRED:
        translated["countries"] = t.gettext("A country officer needs at least one country.")
    if codes.get("projects") == ErrorCode.REQUIRED:
        translated["projects"] = t.gettext("A field expert needs at least one project.")
    if codes.get("projects") == ErrorCode.NOT_APPLICABLE:
        translated["projects"] = t.gettext(
            "Only field experts are given projects: a country officer sees every project of "
            "their countries, HQ analysts and administrators see all."
        )
    if codes.get("countries") == ErrorCode.NOT_APPLICABLE:
        translated["countries"] = t.gettext(
            "A field expert's countries are those of their projects, and HQ analysts and "
            "administrators see every country: give a country only to a country officer."
        )
    if codes.get("countries") == ErrorCode.OUT_OF_SCOPE:
        translated["countries"] = t.gettext("You may only give people your own countries.")
    return translated


@router.post("/people")
def add_person(page: SignedIn, form: CheckedForm, session: SessionDep) -> Response:
    assert page.caller is not None
    t = page.t
    if not service.creatable_roles(page.caller):
        raise Forbidden(f"your role ({page.caller.role}) may not add people")
    values = FormState(
        {
            name: form_text(form, name, limit=1000)
            for name in ("username", "full_name", "email", "role")
        }
    )
    countries, projects = form_list(form, "countries")[:300], form_list(form, "projects")[:1000]
    password = _password_of(form)
    data = {
        "username": values["username"],
        "full_name": values["full_name"],
        "email": values["email"] or None,
        "role": values["role"],
        "countries": countries,
        "projects": projects,
        "password": password,
    }
    # Every field is checked, and every problem shown next to its field at once.
    issues = service.person_issues(session, caller=page.caller, data=data)
    errors = _person_errors(t, ValidationFailed(issues)) if issues else FormState()
    if not values["username"]:
        errors["username"] = t.gettext("Choose a username.")
    if not values["role"]:
        errors["role"] = t.gettext("Choose a role.")
    if not password:
        errors["password"] = t.gettext("Choose an initial password.")
    status_code = 422
    if not errors:
        try:
            user = service.create_person(session, caller=page.caller, data=data)
        except ValidationFailed as exc:  # (403: a country not the officer's, at its field)
            session.rollback()
            errors = _person_errors(t, exc)
            status_code = exc.status_code
        except Conflict:
            session.rollback()
            errors = FormState(username=t.gettext("This username is taken: choose another."))
            status_code = 409
        else:
            session.commit()
            return page.redirect(
                f"/people/{user.id}",
                notice=N_("Added “%(name)s” (%(username)s). Give them their password in person."),
                name=user.full_name or user.username,
                username=user.username,
            )
    return _people_page(
        page,
        session,
        values=values,
        countries=countries,
        projects=projects,
        errors=errors,
        status_code=status_code,
    )


@router.get("/people/{user_id}")
def person(user_id: uuid.UUID, page: SignedIn, session: SessionDep) -> Response:
    return _person_page(page, session, user_id)


def _person_page(
    page: Page,
    session: Session,
    user_id: uuid.UUID,
    *,
    errors: FormState | None = None,
    chosen: Sequence[str] | None = None,
    status_code: int = 200,
    refusal: str | None = None,
) -> Response:
    """The person's page; ``refusal``: why a change was refused (an English message id), said
    at the top of the page where no form shows it."""
    assert page.caller is not None
    data = service.person_page(session, caller=page.caller, user_id=user_id)
    if chosen is None:  # the scope form starts from what the person has
        person = data.person
        chosen = (
            [ref.code for ref in person.projects]
            if data.scope_field == "projects"
            else person.countries
        )
    if refusal is not None:
        page.notice = {"message": refusal, "kind": "error", "values": {}}
    return page.render(
        "person.html",
        nav="people",
        data=data,
        errors=errors or FormState(),
        chosen=list(chosen),
        status_code=status_code,
        min_password=MIN_PASSWORD_LENGTH,
        now=utcnow(),
    )


@router.post("/people/{user_id}/active")
def set_person_active(
    user_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    active = form_text(form, "active") == "1"
    back = cookies.safe_next(form_text(form, "next", limit=2000), default=f"/people/{user_id}")
    try:
        user = service.set_person_active(
            session, caller=page.caller, user_id=user_id, active=active
        )
    except ValidationFailed:  # the only rule: not your own account
        session.rollback()
        return page.redirect(
            back,
            kind="error",
            notice=N_("Nothing was changed: you cannot deactivate your own account."),
        )
    session.commit()
    name = user.full_name or user.username
    if active:
        return page.redirect(
            back,
            notice=N_(
                "Reactivated “%(name)s”: they can sign in again. Their tablets stay revoked: "
                "issue a new enrolment code for each on the Tablets page."
            ),
            name=name,
        )
    return page.redirect(
        back,
        notice=N_(
            "Deactivated “%(name)s”: they can no longer sign in, and their tablets stop syncing."
        ),
        name=name,
    )


@router.post("/people/{user_id}/password")
def set_person_password(
    user_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    password = _password_of(form)
    if not password:
        return _person_page(
            page,
            session,
            user_id,
            status_code=422,
            errors=FormState(password=page.t.gettext("Type the new password.")),
        )
    try:
        user = service.set_person_password(
            session, caller=page.caller, user_id=user_id, password=password
        )
    except ValidationFailed as exc:
        session.rollback()
        return _person_page(
            page,
            session,
            user_id,
            status_code=422,
            errors=_person_errors(page.t, exc),
        )
    session.commit()
    return page.redirect(
        f"/people/{user_id}",
        notice=N_("Set a new password for “%(name)s”. Give it to them in person."),
        name=user.full_name or user.username,
    )


OWN_SCOPE = N_(
    "Nothing was changed: nobody changes their own projects or countries. Ask an administrator."
)
OWN_SCOPE_ADMIN = N_(
    "Nothing was changed: nobody changes their own projects or countries. Ask another "
    "administrator, or use “pilotmon users set-scope” on the server."
)
NO_SCOPE = N_(
    "Nothing was changed: HQ analysts and administrators see every country and project by "
    "their role, and are given none."
)


@router.post("/people/{user_id}/scope")
def set_person_scope(
    user_id: uuid.UUID, page: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    """A field expert's projects, or anyone else's countries
    (docs/roles.md#changing-a-persons-scope); a refusal is shown next to the list, what was
    ticked kept."""
    assert page.caller is not None
    # (the page offers one of the lists; the person's role says which the service reads)
    chosen = {key: form_list(form, key)[:1000] for key in ("projects", "countries")}
    try:
        user, changed = service.set_person_scope(
            session, caller=page.caller, user_id=user_id, chosen=chosen
        )
    except Forbidden:
        if user_id != page.caller.user.id:
            raise
        # one's own scope (a page never offers it): the reason, not the role's refusal
        session.rollback()
        admin = page.caller.role == Role.ADMIN
        return _person_page(
            page,
            session,
            user_id,
            status_code=403,
            refusal=OWN_SCOPE_ADMIN if admin else OWN_SCOPE,
        )
    except ValidationFailed as exc:
        session.rollback()
        person = service.get_user(session, caller=page.caller, user_id=user_id)
        if service.scope_field(person.role) is None:
            # an HQ analyst's or admin's page has no list to show the reason next to
            return _person_page(
                page,
                session,
                user_id,
                status_code=exc.status_code,
                refusal=NO_SCOPE,
            )
        return _person_page(
            page,
            session,
            user_id,
            status_code=exc.status_code,
            chosen=chosen["projects"] + chosen["countries"],
            errors=_person_errors(page.t, exc),
        )
    session.commit()
    name = user.full_name or user.username
    if not changed:
        return page.redirect(f"/people/{user_id}", notice=N_("Nothing was changed."))
    if service.scope_field(user.role) == "projects":
        return page.redirect(
            f"/people/{user_id}",
            notice=N_(
                "Changed the projects of “%(name)s”. Their tablets receive the new projects at "
                "their next sync."
            ),
            name=name,
        )
    return page.redirect(
        f"/people/{user_id}", notice=N_("Changed the countries of “%(name)s”."), name=name
    )
