"""The dashboard's forms pages (docs/results.md#dashboard-forms): the list, a form's preview,
the draft editor, publishing, retiring and the XLSForm upload. Thin: reading and writing go
through ``server.results.forms``; ``server.dashboard.forms`` shapes the pages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from server.dashboard import forms as pages
from server.dashboard import session as cookies
from server.dashboard.i18n import N_
from server.dashboard.web import (
    CheckedForm,
    CsrfRejected,
    FormState,
    Page,
    PageRoute,
    SignedIn,
    expected_csrf,
    explain,
    form_text,
    query_filters,
    refuse_unknown,
    signed_in_page,
)
from server.deps import SessionDep, SettingsDep
from server.errors import Conflict, ValidationFailed
from server.results import forms as form_service
from server.results import xlsform
from server.results.models import Form
from shared.forms import FORM_STATUSES, MAX_FIELDS, MAX_INDICATORS

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# The editor posts about 20 inputs a field and a dozen an indicator: more than Starlette's
# default of 1 000 for a large form, still bounded.
EDITOR_MAX_INPUTS = 20 * MAX_FIELDS + 20 * MAX_INDICATORS + 50


async def _editor_form(
    request: Request, settings: SettingsDep, _page: Annotated[Page, Depends(signed_in_page)]
) -> FormData:
    """``CheckedForm`` with room for the editor's inputs."""
    form = await request.form(max_fields=EDITOR_MAX_INPUTS)
    submitted = form.get(cookies.CSRF_FIELD)
    if not isinstance(submitted, str) or not cookies.tokens_match(
        expected_csrf(request, settings), submitted
    ):
        raise CsrfRejected
    return form


EditorForm = Annotated[FormData, Depends(_editor_form)]


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# --- the list and the upload ----------------------------------------------------------------


def _forms_page(
    page: Page,
    session: Session,
    *,
    problems: list[xlsform.Problem] | None = None,
    upload_error: str = "",
    values: FormState | None = None,
    status_code: int = 200,
) -> Response:
    assert page.caller is not None
    query = query_filters(page.request, page.t, one=("status", "project"), limit=64)
    given_project = query.values["project"]
    project = _uuid(given_project)
    refuse_unknown(page.t, query, {"status": FORM_STATUSES})
    if given_project and "project" not in query.errors and project is None:
        refuse_unknown(page.t, query, {"project": ()})  # not a project's id
    status = query.values["status"]
    if query.errors and status_code == 200:
        status_code = 400  # the list without the filter given twice or unknown, said next to it
    data = pages.forms_page(
        session, caller=page.caller, t=page.t, status=status, project_id=project
    )
    return page.render(
        "forms.html",
        nav="forms",
        data=data,
        status=status,
        project=str(project) if project else "",
        statuses=FORM_STATUSES,
        filter_errors=query.errors,
        writable=pages.writable_projects(session, caller=page.caller),
        problems=[pages.problem_view(page.t, p) for p in problems or []],
        upload_error=upload_error,
        values=values or FormState(),
        status_code=status_code,
    )


@router.get("/forms")
def forms(page: SignedIn, session: SessionDep) -> Response:
    return _forms_page(page, session)


@router.post("/forms/import")
async def import_xlsform(page: SignedIn, form: CheckedForm, session: SessionDep) -> Response:
    assert page.caller is not None
    project_ref = form_text(form, "project", limit=64)
    publish = form_text(form, "publish") == "1"
    values = FormState(project=project_ref, publish="1" if publish else "")
    project = form_service.resolve_project(session, caller=page.caller, ref=project_ref or None)
    pages.check_writer_of(page.caller, project)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _forms_page(
            page,
            session,
            upload_error=page.t.gettext("Choose an XLSForm workbook (.xlsx) to upload."),
            values=values,
            status_code=422,
        )
    limit = page.settings.max_xlsform_bytes
    data = await upload.read(limit + 1)
    try:
        # As the API: every problem of the workbook at once, the indicator codes other forms
        # took among them (a new version of a code keeps its own).
        definition = xlsform.read_xlsform(
            data,
            limit=limit,
            taken_indicator_codes=lambda code: form_service.taken_indicator_codes(session, code),
        )
        created = form_service.create_form(
            session, caller=page.caller, data=definition, project=project
        )
        if publish:
            form_service.publish(
                session,
                created,
                actor_id=page.caller.user.id,
                country=project.country if project else None,
            )
    except xlsform.XLSFormRefused as exc:
        session.rollback()
        return _forms_page(
            page, session, problems=exc.problems, values=values, status_code=exc.status_code
        )
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        said = (
            [explain(page.t, i.code, i.params) for i in exc.issues]
            if isinstance(exc, ValidationFailed)
            else [
                pages.taken_form_code(page.t, exc.code, exc.params)
                or explain(page.t, exc.code, exc.params)
            ]
        )
        return _forms_page(
            page,
            session,
            upload_error=" ".join(dict.fromkeys(said)),
            values=values,
            status_code=exc.status_code,
        )
    session.commit()
    notice = (
        N_("Imported and published %(code)s, version %(version)s.")
        if publish
        else N_("Imported %(code)s as a draft of version %(version)s.")
    )
    return page.redirect(
        f"/forms/{created.id}", notice=notice, code=created.code, version=created.version
    )


# --- one form ---------------------------------------------------------------------------------


@router.get("/forms/new")
def new_form(page: SignedIn, session: SessionDep) -> Response:
    assert page.caller is not None
    if not pages.may_create(session, caller=page.caller):
        pages.forbid()
    return _editor(page, session, None, pages.editor_state(None, page.t.language))


@router.get("/forms/{form_id}")
def form_preview(form_id: uuid.UUID, page: SignedIn, session: SessionDep) -> Response:
    assert page.caller is not None
    view = pages.form_page(session, caller=page.caller, t=page.t, form_id=form_id)
    return page.render("form.html", nav="forms", view=view)


@router.get("/forms/{form_id}/edit")
def edit_form(form_id: uuid.UUID, page: SignedIn, session: SessionDep) -> Response:
    assert page.caller is not None
    form = form_service.get_form(session, caller=page.caller, form_id=form_id)
    pages.check_writer(session, page.caller, form)
    if form.status != "draft":
        return page.redirect(f"/forms/{form.id}")
    return _editor(page, session, form, pages.editor_state(form, page.t.language))


def _editor(
    page: Page,
    session: Session,
    form: Form | None,
    state: pages.EditorState,
    *,
    errors: FormState | None = None,
    unsaved: bool = False,
    status_code: int = 200,
) -> Response:
    assert page.caller is not None
    return page.render(
        "form_edit.html",
        nav="forms",
        form=form,
        state=state,
        errors=errors or FormState(),
        unsaved=unsaved,
        languages_edit=pages.EDITOR_LANGUAGES,
        languages_unit=pages.UNIT_LANGUAGES,
        choices=pages.EDITOR_CHOICES,
        writable=pages.writable_projects(session, caller=page.caller),
        may_global=pages.may_write(page.caller, None),
        status_code=status_code,
    )


def _save(page: Page, session: Session, form_data: FormData, form: Form | None) -> Response:
    """The editor's POST: a row button re-shows the editor; Save validates and stores."""
    assert page.caller is not None
    state = pages.state_from_post(form_data)
    if form is not None:  # the code and project of a stored form never change
        state.code = form.code
        state.project = str(form.project_id) if form.project_id else ""
    action = form_text(form_data, "action", limit=40)
    if pages.apply_action(state, action):
        return _editor(page, session, form, state, unsaved=True)
    definition = pages.definition_of(state, page.t.language)
    try:
        if form is None:
            project = form_service.resolve_project(
                session, caller=page.caller, ref=state.project or None
            )
            pages.check_writer_of(page.caller, project)
            saved = form_service.create_form(
                session, caller=page.caller, data=definition, project=project
            )
        else:
            saved = form_service.update_form(
                session,
                caller=page.caller,
                form_id=form.id,
                changes={k: definition[k] for k in form_service.EDITABLE_KEYS},
            )
    except ValidationFailed as exc:
        session.rollback()
        return _editor(
            page,
            session,
            form,
            state,
            errors=pages.place_errors(page.t, exc.issues, state),
            unsaved=True,
            status_code=422,
        )
    except Conflict as exc:
        session.rollback()
        return _editor(
            page,
            session,
            form,
            state,
            errors=FormState(
                code=pages.taken_form_code(page.t, exc.code, exc.params)
                or explain(page.t, exc.code, exc.params)
            ),
            unsaved=True,
            status_code=409,
        )
    session.commit()
    return page.redirect(
        f"/forms/{saved.id}",
        notice=N_("Saved the draft of %(code)s, version %(version)s."),
        code=saved.code,
        version=saved.version,
    )


@router.post("/forms/new")
def create_form(page: SignedIn, form: EditorForm, session: SessionDep) -> Response:
    assert page.caller is not None
    if not pages.may_create(session, caller=page.caller):
        pages.forbid()
    return _save(page, session, form, None)


@router.post("/forms/{form_id}/edit")
def save_form(
    form_id: uuid.UUID, page: SignedIn, form: EditorForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    stored = form_service.get_form(session, caller=page.caller, form_id=form_id)
    pages.check_writer(session, page.caller, stored)
    if stored.status != "draft":
        raise Conflict(f"version {stored.version} of {stored.code} is {stored.status}")
    return _save(page, session, form, stored)


@router.post("/forms/{form_id}/new-version")
def new_version(
    form_id: uuid.UUID, page: SignedIn, _form: CheckedForm, session: SessionDep
) -> Response:
    """ "Edit" on a published version: the draft of version n+1, as PATCH does in the API."""
    assert page.caller is not None
    draft = form_service.update_form(session, caller=page.caller, form_id=form_id, changes={})
    session.commit()
    return page.redirect(
        f"/forms/{draft.id}/edit",
        notice=N_("Made the draft of version %(version)s: change it, then publish it."),
        version=draft.version,
    )


@router.post("/forms/{form_id}/publish")
def publish_form(
    form_id: uuid.UUID, page: SignedIn, _form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    form = form_service.publish_form(session, caller=page.caller, form_id=form_id)
    session.commit()
    return page.redirect(
        f"/forms/{form.id}",
        notice=N_(
            "Published %(code)s, version %(version)s: tablets receive it at their next sync."
        ),
        code=form.code,
        version=form.version,
    )


@router.post("/forms/{form_id}/retire")
def retire_form(
    form_id: uuid.UUID, page: SignedIn, _form: CheckedForm, session: SessionDep
) -> Response:
    assert page.caller is not None
    form = form_service.retire_form(session, caller=page.caller, form_id=form_id)
    session.commit()
    return page.redirect(
        f"/forms/{form.id}",
        notice=N_("Retired %(code)s: tablets stop offering it; its observations stay as they are."),
        code=form.code,
    )
