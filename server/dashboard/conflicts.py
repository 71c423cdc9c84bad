"""Sync conflicts on the dashboard: where each is listed, shown and settled.

Every kind of record a push can dispute (activity, photo, observation, site, participant) shows
its conflicts the same way (the ``_conflict.html`` partial): each field both sides changed with
its three values in the reader's words, and the choices of ``POST /api/v1/conflicts/{id}/resolve``
— keep the server's values, take the tablet's, or choose per field (a side, or another value).
An activity's conflicts (and its photos') show on its page, an observation's (and its photos') on
its page, and every conflict on its own page (``/conflicts/{id}``), the only one for sites and
participants. Settling goes through ``server.sync.conflicts.resolve``, the API's write path.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from server.accounts.auth import Caller
from server.accounts.models import Device, User
from server.activities.models import Activity, Attachment
from server.dashboard.i18n import Translator, decimal_text
from server.dashboard.results import _text, show_answer
from server.dashboard.service import VOCABULARY_OF_FIELD, describe, may_review_anything
from server.dashboard.targets import LONGEST_NUMBER, typed_number_problem
from server.dashboard.web import FormState, explain, form_text
from server.errors import Forbidden, NotFound, PilotMonitorError, ValidationFailed, invalid
from server.projects.models import Participant, Project, Site
from server.results.models import Form, Observation
from server.scope import can_review, in_visible_project
from server.sync import conflicts
from server.sync.models import SyncConflict
from shared.errors import ErrorCode, Issue
from shared.typography import TypedNumberError, read_typed_number

# What a person may type for a field besides the two sides: by field name (observations' answers
# go by their form field's type).
NUMBER_FIELDS = frozenset({"lat", "lon", "birth_year", "experts_count"})
DATE_FIELDS = frozenset({"start_date", "end_date", "observed_on"})
TEXT_FIELDS = frozenset({"title", "notes", "name", "admin_area", "code", "caption", "topic"})
# Participants' coded fields, by their vocabulary (server.dashboard.i18n.LABELS).
PARTICIPANT_VOCABULARY = {"sex": "sex", "category": "category"}
YES_NO_FIELDS = frozenset({"disability"})
# Coordinates and years read without thousands separators.
PLAIN_NUMBER = "0.######"


@dataclass(frozen=True, slots=True)
class ConflictField:
    """One field both sides changed, as the page shows it and the form asks about it."""

    name: str  # as the conflict names it (``title``, ``values.harvest_kg``)
    label: str
    base: str
    server: str
    device: str
    input: str  # what "another value" takes: text, number, date, choice; "" none (a side only)
    options: tuple[tuple[str, str], ...] = ()  # a choice's codes and labels
    typed: str = ""  # the server's value as the input shows it
    kept: str | None = None  # the value its resolution kept, shown; None while not resolved


@dataclass(frozen=True, slots=True)
class ConflictView:
    id: uuid.UUID
    entity: str
    fields: list[ConflictField]
    device_label: str
    device_user: str
    status: str
    created_at: datetime | None
    resolution: Mapping[str, Any] | None
    resolved_by: str
    resolved_at: datetime | None
    may_resolve: bool
    on: str  # where its form is: "record" (the activity or observation page) or "conflict"


# --- the record a conflict is about ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Home:
    """The page a conflict is settled on besides its own: its activity's or observation's."""

    kind: str  # activity | observation | "" (none: a site or a participant)
    id: uuid.UUID | None

    @property
    def url(self) -> str:
        if self.kind == "activity":
            return f"/activities/{self.id}"
        if self.kind == "observation":
            return f"/observations/{self.id}"
        return ""


def home_of(session: Session, conflict: SyncConflict) -> Home:
    if conflict.entity in ("activity", "observation"):
        return Home(conflict.entity, conflict.entity_id)
    if conflict.entity == "attachment":
        photo = session.get(Attachment, conflict.entity_id)
        if photo is not None and photo.activity_id is not None:
            return Home("activity", photo.activity_id)
        if photo is not None and photo.observation_id is not None:
            return Home("observation", photo.observation_id)
    return Home("", None)


def page_of(session: Session, conflict: SyncConflict, on: str) -> str:
    """Where the form of ``conflict`` was (``on``), as a path: its record's page or its own."""
    home = home_of(session, conflict)
    if on == "record" and home.kind:
        return f"{home.url}#conflict-{conflict.id}"
    return f"/conflicts/{conflict.id}"


# --- showing a conflict ---------------------------------------------------------------------


def _form_fields(session: Session, rows: Sequence[SyncConflict]) -> dict[uuid.UUID, dict[str, Any]]:
    """Observations' form fields by name, per observation id of these conflicts."""
    ids = [r.entity_id for r in rows if r.entity == "observation"]
    if not ids:
        return {}
    found = session.exec(
        select(Observation.id, Form.fields)
        .join(Form, col(Form.id) == col(Observation.form_id))
        .where(col(Observation.id).in_(ids))
    ).all()
    return {i: {str(f.get("name")): f for f in fields or []} for i, fields in found}


def _site_names(session: Session, rows: Sequence[SyncConflict]) -> dict[str, str]:
    """Names of the sites the conflicts' site_id values name (ids read as names), the one a
    resolution chose among them, only those of the conflicts' own projects: a tablet's value
    naming another project's site is shown as it was sent, not as that site's name."""
    ids: set[uuid.UUID] = set()
    for r in rows:
        chosen = (r.resolution or {}).get("values")
        for side in (r.base_values, r.server_values, r.device_values, chosen):
            value = (side or {}).get("site_id")
            try:
                ids.add(uuid.UUID(str(value)))
            except ValueError:
                continue
    if not ids:
        return {}
    projects = {r.project_id for r in rows if r.project_id}
    return {
        str(i): n
        for i, n in session.exec(
            select(Site.id, Site.name).where(
                col(Site.id).in_(ids), col(Site.project_id).in_(projects)
            )
        )
    }


def _describe_field(
    t: Translator,
    entity: str,
    name: str,
    form_fields: Mapping[str, Any],
    names: Mapping[str, str],
) -> tuple[str, Any, str, tuple[tuple[str, str], ...]]:
    """A field's label, how to show its values (a function), the input for another value and
    a choice's options."""
    yes_no = (("true", t.gettext("yes")), ("false", t.gettext("no")))
    if entity == "observation" and name.startswith("values."):
        answer = name.removeprefix("values.")
        spec = form_fields.get(answer) or {}
        kind = str(spec.get("type") or "")
        label = _text(spec.get("label"), t.language) or answer

        def show_answer_value(value: Any) -> str:
            return show_answer(t, spec, value)

        if kind in ("integer", "decimal"):
            return label, show_answer_value, "number", ()
        if kind == "date":
            return label, show_answer_value, "date", ()
        if kind == "text":
            return label, show_answer_value, "text", ()
        if kind == "boolean":
            return label, show_answer_value, "choice", yes_no
        if kind == "select_one":
            options = tuple(
                (str(c.get("code")), _text(c.get("label"), t.language) or str(c.get("code")))
                for c in spec.get("choices") or []
            )
            return label, show_answer_value, "choice", options
        return label, show_answer_value, "", ()
    label = t.label("field", name)

    def show(value: Any) -> str:
        return describe(t, name, value, names, whole=True)

    if name in PARTICIPANT_VOCABULARY and entity == "participant":
        vocabulary = PARTICIPANT_VOCABULARY[name]
        return (
            label,
            lambda v: "–" if v in (None, "") else t.label(vocabulary, str(v)),
            "choice",
            tuple(t.choices(vocabulary)),
        )
    if name in VOCABULARY_OF_FIELD and name != "status":
        return label, show, "choice", tuple(t.choices(VOCABULARY_OF_FIELD[name]))
    if name in YES_NO_FIELDS:
        return label, show, "choice", yes_no
    if name in NUMBER_FIELDS:

        def show_number(value: Any) -> str:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return show(value)
            if name in ("lat", "lon", "birth_year"):
                return decimal_text(value, PLAIN_NUMBER, t.language)
            return t.number(value)

        return label, show_number, "number", ()
    if name in DATE_FIELDS:
        return label, show, "date", ()
    if name in TEXT_FIELDS:
        return label, show, "text", ()
    return label, show, "", ()


def _typed(t: Translator, kind: str, value: Any) -> str:
    """A value as an input shows it (the text a person would type)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "number" and isinstance(value, (int, float)):
        return decimal_text(value, PLAIN_NUMBER, t.language)
    if isinstance(value, (list, dict)):
        return ""
    return str(value)


def conflict_views(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    rows: Sequence[SyncConflict],
    on: str,
) -> list[ConflictView]:
    """The conflicts as the page shows them, open ones first."""
    if not rows:
        return []
    labels = device_labels(session, rows)
    owners = dict(
        session.exec(
            select(Device.id, User.username)
            .join(User, col(User.id) == col(Device.user_id))
            .where(col(Device.id).in_([r.device_id for r in rows if r.device_id]))
        ).all()
    )
    resolvers = dict(
        session.exec(
            select(User.id, User.username).where(
                col(User.id).in_([r.resolved_by_id for r in rows if r.resolved_by_id])
            )
        ).all()
    )
    projects = {
        p.id: p
        for p in session.exec(
            select(Project).where(col(Project.id).in_([r.project_id for r in rows if r.project_id]))
        )
    }
    forms = _form_fields(session, rows)
    names = _site_names(session, rows)
    views = []
    for r in rows:
        fields = []
        for name in r.fields or []:
            label, show, kind, options = _describe_field(
                t, r.entity, name, forms.get(r.entity_id, {}), names
            )
            base, server, device = (
                (side or {}).get(name) for side in (r.base_values, r.server_values, r.device_values)
            )
            kept = _kept(r, name, server=server, device=device)
            fields.append(
                ConflictField(
                    name=name,
                    label=label,
                    base=show(base),
                    server=show(server),
                    device=show(device),
                    input=kind,
                    options=options,
                    typed=_typed(t, kind, server),
                    kept=None if kept is _NOT_RESOLVED else show(kept),
                )
            )
        project = projects.get(r.project_id) if r.project_id else None
        views.append(
            ConflictView(
                id=r.id,
                entity=r.entity,
                fields=fields,
                device_label=labels.get(r.device_id, "") if r.device_id else "",
                device_user=owners.get(r.device_id, "") if r.device_id else "",
                status=r.status,
                created_at=r.created_at,
                resolution=r.resolution,
                resolved_by=resolvers.get(r.resolved_by_id, "") if r.resolved_by_id else "",
                resolved_at=r.resolved_at,
                may_resolve=project is not None and can_review(caller, project),
                on=on,
            )
        )
    return sorted(views, key=lambda v: v.status != "open")


_NOT_RESOLVED = object()


def _kept(conflict: SyncConflict, name: str, *, server: Any, device: Any) -> Any:
    """The value of field ``name`` a resolved conflict kept: the server's, the tablet's, or the
    one chosen for it (``resolution["values"]``, server.sync.conflicts); ``_NOT_RESOLVED``
    for an open or superseded one."""
    resolution = conflict.resolution or {}
    if conflict.status != "resolved":
        return _NOT_RESOLVED
    if resolution.get("keep") == "device":
        return device
    if resolution.get("keep") == "custom":
        return (resolution.get("values") or {}).get(name, server)
    return server


def device_labels(session: Session, conflicts: Sequence[SyncConflict]) -> dict[Any, str]:
    """The labels of the tablets these conflicts came from, by device id."""
    return dict(
        session.exec(
            select(Device.id, Device.label).where(
                col(Device.id).in_([c.device_id for c in conflicts if c.device_id])
            )
        ).all()
    )


def conflicts_of_record(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    record_ids: Sequence[uuid.UUID],
) -> list[ConflictView]:
    """Sync conflicts on an activity or an observation and its photos (``record_ids``), open
    ones first, scoped like the API's conflict list (which has no per-record filter)."""
    rows = session.exec(
        select(SyncConflict)
        .where(
            col(SyncConflict.entity_id).in_(record_ids),
            in_visible_project(SyncConflict.project_id, caller),
        )
        .order_by(col(SyncConflict.created_at).desc(), col(SyncConflict.id))
    ).all()
    return conflict_views(session, caller=caller, t=t, rows=rows, on="record")


@dataclass(frozen=True, slots=True)
class ConflictPage:
    """One conflict on its own page: the record, where it came from, and the form."""

    conflict: ConflictView
    project: Project
    record: str  # the record as a reader knows it: a title, a site's name, a code
    home: Home


def conflict_page(
    session: Session, *, caller: Caller, t: Translator, conflict_id: uuid.UUID
) -> ConflictPage:
    row = conflicts.get_conflict(session, caller=caller, conflict_id=conflict_id)
    project = session.get(Project, row.project_id) if row.project_id else None
    if project is None:  # every conflict is raised in a project
        raise NotFound("no such conflict")
    [view] = conflict_views(session, caller=caller, t=t, rows=[row], on="conflict")
    return ConflictPage(
        conflict=view,
        project=project,
        record=_record_name(session, t, row),
        home=home_of(session, row),
    )


def _record_name(session: Session, t: Translator, conflict: SyncConflict) -> str:
    entity_id = conflict.entity_id
    if conflict.entity == "site":
        site = session.get(Site, entity_id)
        return site.name if site is not None else ""
    if conflict.entity == "participant":
        participant = session.get(Participant, entity_id)
        return participant.code if participant is not None else ""
    if conflict.entity == "activity":
        activity = session.get(Activity, entity_id)
        return activity.title if activity is not None else ""
    if conflict.entity == "observation":
        observation = session.get(Observation, entity_id)
        form = session.get(Form, observation.form_id) if observation is not None else None
        if observation is None or form is None:
            return ""
        return f"{_text(form.title, t.language) or form.code} · {t.date(observation.observed_on)}"
    if conflict.entity == "attachment":
        photo = session.get(Attachment, entity_id)
        return photo.caption if photo is not None else ""
    return ""


# --- the list of those to settle -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenConflict:
    """An open sync conflict as the list of those to settle shows it."""

    id: uuid.UUID
    entity: str  # activity, attachment, observation, participant, site
    record: str  # the record as a reader knows it: a title, a site's name, a code
    url: str  # the page where it is settled
    fields: list[str]  # the fields in conflict, by their labels
    device_label: str
    created_at: datetime | None


def open_conflicts(
    session: Session, *, caller: Caller, t: Translator, country: str = "", limit: int = 20
) -> tuple[list[OpenConflict], int]:
    """The open sync conflicts the caller may settle (a reviewer's scope, optionally some
    countries': ``country``, a comma list), newest first, with how many there are in all; none
    for anyone else. Each links to the page where it is settled: its activity's or
    observation's (a photo's: its owner's), else its own."""
    if not may_review_anything(caller):
        return [], 0
    conditions = [
        col(SyncConflict.status) == "open",
        in_visible_project(SyncConflict.project_id, caller),
    ]
    if country:
        conditions.append(
            col(SyncConflict.project_id).in_(
                select(Project.id).where(col(Project.country).in_(country.split(",")))
            )
        )
    total = session.exec(select(func.count()).select_from(SyncConflict).where(*conditions)).one()
    rows = session.exec(
        select(SyncConflict)
        .where(*conditions)
        .order_by(col(SyncConflict.created_at).desc(), col(SyncConflict.id))
        .limit(limit)
    ).all()

    def ids(entity: str) -> list[uuid.UUID]:
        return [r.entity_id for r in rows if r.entity == entity]

    photos = {
        p.id: p
        for p in session.exec(select(Attachment).where(col(Attachment.id).in_(ids("attachment"))))
    }
    activity_ids = {*ids("activity"), *(p.activity_id for p in photos.values() if p.activity_id)}
    titles = dict(
        session.exec(
            select(Activity.id, Activity.title).where(col(Activity.id).in_(activity_ids))
        ).all()
    )
    observation_ids = {
        *ids("observation"),
        *(p.observation_id for p in photos.values() if p.observation_id),
    }
    observed = dict(
        session.exec(
            select(Observation.id, Form.title)
            .join(Form, col(Form.id) == col(Observation.form_id))
            .where(col(Observation.id).in_(observation_ids))
        ).all()
    )
    sites = dict(
        session.exec(select(Site.id, Site.name).where(col(Site.id).in_(ids("site")))).all()
    )
    participant_codes = dict(
        session.exec(
            select(Participant.id, Participant.code).where(
                col(Participant.id).in_(ids("participant"))
            )
        ).all()
    )
    labels = device_labels(session, rows)
    forms = _form_fields(session, rows)
    found = []
    for r in rows:
        photo = photos.get(r.entity_id)
        activity_id = photo.activity_id if photo is not None else r.entity_id
        observation_id = photo.observation_id if photo is not None else r.entity_id
        if r.entity in ("activity", "attachment") and activity_id in titles:
            record, url = titles[activity_id], f"/activities/{activity_id}#conflict-{r.id}"
        elif r.entity in ("observation", "attachment") and observation_id in observed:
            record = _text(observed[observation_id], t.language)
            url = f"/observations/{observation_id}#conflict-{r.id}"
        else:
            record = sites.get(r.entity_id) or participant_codes.get(r.entity_id) or ""
            url = f"/conflicts/{r.id}"
        found.append(
            OpenConflict(
                id=r.id,
                entity=r.entity,
                record=record,
                url=url,
                fields=[
                    _describe_field(t, r.entity, name, forms.get(r.entity_id, {}), {})[0]
                    for name in r.fields or []
                ],
                device_label=labels.get(r.device_id, "") if r.device_id else "",
                created_at=r.created_at,
            )
        )
    return found, int(total)


# --- settling one ---------------------------------------------------------------------------


def entered_of(form: FormData) -> FormState:
    """What the per-field form sent, kept to show it again: ``choice.<field>`` (server, device,
    custom) and ``value.<field>`` (another value) for each field in conflict."""
    return FormState(
        {
            key: form_text(form, key)
            for key in form
            if key.startswith(("choice.", "value.")) and len(key) <= 200
        }
    )


@dataclass(frozen=True, slots=True)
class ConflictForm:
    """What a refused resolution had entered, with why, to show the form again as it was:
    ``errors`` by field in conflict, the rest under ``form``."""

    conflict_id: uuid.UUID
    values: FormState
    errors: FormState
    home: Home


def failed_form(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    conflict_id: uuid.UUID,
    entered: FormState,
    exc: PilotMonitorError,
) -> ConflictForm:
    """The form of a refused resolution: each issue at its field (the API names them
    ``values.<field>``) in the reader's words, chosen from its code; any other at the form. A
    number typed that does not read is said as the target form says it: how to write each
    thing an unclear one may mean, else an example written the reader's way."""
    conflict = conflicts.get_conflict(session, caller=caller, conflict_id=conflict_id)
    fields = set(conflict.fields or [])
    unread = _unread_numbers(session, t, conflict, entered)
    errors = FormState()
    issues = exc.issues if isinstance(exc, ValidationFailed) else []
    for item in issues or [Issue("", exc.code, str(exc))]:
        name = item.field.removeprefix("values.")
        key = name if item.field.startswith("values.") and name in fields else "form"
        text = explain(t, item.code)
        if key in unread:
            text = unread[key]
        if key == "form" and name and name not in ("values", "keep"):
            text = f"{t.label('field', name)}: {text}"
        if text not in errors[key]:
            errors[key] = f"{errors[key]} {text}".strip()
    return ConflictForm(conflict.id, entered, errors, home_of(session, conflict))


def resolve(
    session: Session,
    *,
    caller: Caller,
    t: Translator,
    conflict_id: uuid.UUID,
    keep: str,
    entered: FormState,
) -> SyncConflict:
    """Settle a conflict from the dashboard's form, through the API's write path. Out of the
    caller's scope: NotFound; not the caller's to settle: Forbidden, before anything entered is
    read; a bad choice or value: ValidationFailed (fields named ``values.<field>`` as the API)."""
    conflict = conflicts.get_conflict(session, caller=caller, conflict_id=conflict_id)
    project = session.get(Project, conflict.project_id) if conflict.project_id else None
    if project is None or not can_review(caller, project):
        raise Forbidden(
            "only a country officer of this project's country or an admin may resolve its conflicts"
        )
    if keep not in ("server", "device", "custom"):
        raise invalid("keep", ErrorCode.UNKNOWN_CODE, "choose the server's or the tablet's values")
    values = _custom_values(session, t, conflict, entered) if keep == "custom" else None
    return conflicts.resolve(
        session,
        caller=caller,
        conflict_id=conflict_id,
        request=conflicts.ResolveRequest.model_validate({"keep": keep, "values": values}),
    )


def _inputs(session: Session, t: Translator, conflict: SyncConflict) -> dict[str, str]:
    """What "another value" takes for each field in conflict: text, number, date, choice."""
    forms = _form_fields(session, [conflict])
    return {
        name: _describe_field(t, conflict.entity, name, forms.get(conflict.entity_id, {}), {})[2]
        for name in conflict.fields or []
    }


def _custom_values(
    session: Session, t: Translator, conflict: SyncConflict, entered: FormState
) -> dict[str, Any]:
    """The value chosen for each field: a side's stored value as it is, or the one typed, read
    as the field's kind (a number in the reader's language, a date, a choice's code). A field
    without a choice is left out: the resolution names it (``required``) with every other
    problem of the form, in one answer. So is a number typed that does not read (unclear, or
    no number): nothing is written, and :func:`failed_form` says why in the number's words."""
    inputs = _inputs(session, t, conflict)
    values: dict[str, Any] = {}
    for name in conflict.fields or []:
        choice = entered[f"choice.{name}"]
        if choice == "server":
            values[name] = (conflict.server_values or {}).get(name)
        elif choice == "device":
            values[name] = (conflict.device_values or {}).get(name)
        elif choice == "custom" and inputs[name]:
            typed = entered[f"value.{name}"].strip()
            if inputs[name] == "number" and typed_number_problem(t, typed):
                continue
            values[name] = _read(t, inputs[name], typed)
    return values


def _unread_numbers(
    session: Session, t: Translator, conflict: SyncConflict, entered: FormState
) -> dict[str, str]:
    """Why each number typed for a field in conflict does not read, by field."""
    inputs = _inputs(session, t, conflict)
    found = {}
    for name in conflict.fields or []:
        if entered[f"choice.{name}"] == "custom" and inputs[name] == "number":
            problem = typed_number_problem(t, entered[f"value.{name}"].strip())
            if problem:
                found[name] = problem
    return found


def _read(t: Translator, kind: str, text: str) -> Any:
    """A typed value as the record stores it; what does not read as its kind goes on as typed,
    for the record's checks to refuse with their own code. A number is read as the tablet
    reads it in the reader's language (``shared.typography.read_typed_number``): "1 234,5" or
    "1.234,5" in French, "1.234" is 1234 in Portuguese and unclear in French."""
    if text == "":
        return None if kind != "text" else ""
    if kind == "choice" and text in ("true", "false"):
        return text == "true"
    if kind != "number" or len(text) > LONGEST_NUMBER:
        return text
    try:
        return read_typed_number(text, t.language)
    except TypedNumberError:
        return text
