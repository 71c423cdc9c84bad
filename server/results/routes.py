"""Routes for forms (docs/results.md#forms), scoped by role (docs/roles.md).

The observations' routes live in their own module; this one is only ``/forms``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi import Form as FormValue
from pydantic import BaseModel, ConfigDict

from server.accounts.deps import REVIEWERS, CurrentCaller
from server.api import Page, Text, error_responses
from server.config import get_settings
from server.deps import ApiRoute, SessionDep, rules
from server.errors import ValidationFailed
from server.results import forms as service
from server.results import xlsform

_ERRORS = error_responses(401, 403, 404, 409, 422)

router = APIRouter(prefix="/forms", tags=["forms"], responses=_ERRORS, route_class=ApiRoute)


class FormCreate(BaseModel):
    """A form definition (checked by ``shared.forms``, which names each bad field's path) and
    its project (id or code); no project makes a global form (admins only)."""

    model_config = ConfigDict(extra="forbid")

    code: Any = None
    title: Any = None
    fields: Any = None
    indicators: Any = None
    project: str | None = None


class FormUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Any = None
    fields: Any = None
    indicators: Any = None


class FormPublic(BaseModel):
    id: uuid.UUID
    code: str
    version: int
    title: dict[str, str]
    scope: str
    project_id: uuid.UUID | None
    status: Literal["draft", "published", "retired"]
    fields: list[dict[str, Any]]
    indicators: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    retired_at: datetime | None


def _public(form: Any) -> FormPublic:
    return FormPublic.model_validate(service.form_public(form))


Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]


@router.get("", response_model=Page[FormPublic])
def list_forms(
    caller: CurrentCaller,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    code: Annotated[Text | None, Query(max_length=64)] = None,
    status: Literal["draft", "published", "retired"] | None = None,
    project_id: uuid.UUID | None = None,
    scope: Literal["global", "project"] | None = None,
    latest: Annotated[bool, Query(description="Only the newest version of each code")] = False,
) -> Page[FormPublic]:
    """Forms in your scope (global ones and your projects'), every version, by code and
    version."""
    forms, total = service.list_forms(
        session,
        caller=caller,
        code=code,
        status=status,
        project_id=project_id,
        scope=scope,
        latest=latest,
        limit=limit,
        offset=offset,
    )
    return Page(items=[_public(f) for f in forms], total=total)


@router.post("", response_model=FormPublic, status_code=201, dependencies=[REVIEWERS])
@rules(service.new_form_rules)
def create_form(body: FormCreate, caller: CurrentCaller, session: SessionDep) -> FormPublic:
    """A draft: version 1 of a new code, or the next version of an existing one."""
    project = service.form_project(session, caller=caller, data=body.model_dump())
    form = service.create_form(
        session, caller=caller, data=body.model_dump(exclude={"project"}), project=project
    )
    session.commit()
    return _public(form)


@router.post(
    "/import",
    response_model=FormPublic,
    status_code=201,
    responses=error_responses(413),
    dependencies=[REVIEWERS],
)
async def import_form(
    caller: CurrentCaller,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="An XLSForm workbook (.xlsx)")],
    project: Annotated[str | None, FormValue(max_length=64)] = None,
) -> FormPublic:
    """An XLSForm, read into a draft (docs/results.md#forms: the supported subset; anything
    else is refused with its sheet, row and reason)."""
    limit = get_settings().max_xlsform_bytes
    data = await file.read(limit + 1)

    def taken(code: str) -> set[str]:  # the indicator codes other forms took
        return service.taken_indicator_codes(session, code)

    try:
        target = service.resolve_project(session, caller=caller, ref=project)
    except ValidationFailed as unknown:
        # every problem at once: the project's and the workbook's
        try:
            definition = xlsform.read_xlsform(data, limit=limit, taken_indicator_codes=taken)
        except xlsform.XLSFormRefused as refused:
            if refused.status_code != 422:
                raise unknown from None  # a file over the limit is read no further
            raise xlsform.XLSFormRefused(refused.problems, also=unknown.issues) from unknown
        raise ValidationFailed(
            unknown.issues + service.definition_issues(session, definition)
        ) from unknown
    definition = xlsform.read_xlsform(data, limit=limit, taken_indicator_codes=taken)
    form = service.create_form(session, caller=caller, data=definition, project=target)
    session.commit()
    return _public(form)


@router.get("/{form_id}", response_model=FormPublic)
def get_form(form_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> FormPublic:
    return _public(service.get_form(session, caller=caller, form_id=form_id))


@router.patch("/{form_id}", response_model=FormPublic, dependencies=[REVIEWERS])
@rules(service.form_change_rules)
def update_form(
    form_id: uuid.UUID, body: FormUpdate, caller: CurrentCaller, session: SessionDep
) -> FormPublic:
    """Change a draft. On a published version: the draft of version n+1 with these changes
    (a new id); the published version never changes."""
    form = service.update_form(
        session, caller=caller, form_id=form_id, changes=body.model_dump(exclude_unset=True)
    )
    session.commit()
    return _public(form)


@router.post("/{form_id}/publish", response_model=FormPublic)
def publish_form(form_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> FormPublic:
    """Publish the draft as its version; tablets receive it."""
    form = service.publish_form(session, caller=caller, form_id=form_id)
    session.commit()
    return _public(form)


@router.post("/{form_id}/retire", response_model=FormPublic)
def retire_form(form_id: uuid.UUID, caller: CurrentCaller, session: SessionDep) -> FormPublic:
    """Retire every published version of the form: no new observations."""
    form = service.retire_form(session, caller=caller, form_id=form_id)
    session.commit()
    return _public(form)
