"""Observations of one form as a table (docs/results.md#exports): one row per observation,
one column per field of the form's latest version (an observation of an older version leaves
the fields it did not have empty). Scoped to the caller's projects; statuses as everywhere.
The form is one the caller may read (a global one or one of its projects'): another country's
project form is refused as an unknown code, so that neither its fields nor its existence leave."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession

from server.accounts.auth import Caller
from server.errors import ValidationFailed
from server.projects.models import Project
from server.results.forms import form_scope
from server.results.models import Form, Observation
from server.scope import in_visible_project
from shared.catalogue import ActivityStatus, codes
from shared.errors import ErrorCode, Issue
from shared.indicators import DEFAULT_STATUSES
from shared.units import Plural, unit_text

LEADING: tuple[str, ...] = ("id", "project", "site_id", "observed_on", "form_version", "status")
TRAILING: tuple[str, ...] = ("notes", "captured_at", "created_at", "updated_at")
_form = Form.__table__  # type: ignore[attr-defined]
_observation = Observation.__table__  # type: ignore[attr-defined]
_project = Project.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ObservationTable:
    form: str
    columns: tuple[str, ...]
    labels: tuple[str, ...]  # the XLSX second header row
    rows: Iterator[list[Any]]


def english_plural(singular: str, plural: str, n: int) -> str:
    """English's plural rule without a catalogue (the API's English label row)."""
    return singular if n == 1 else plural


def _label(field: dict[str, Any], lang: str, ngettext: Plural) -> str:
    """The field's label in ``lang`` (else English, else its name) with its unit in the same
    language (docs/results.md#units): a symbol as shown everywhere (``m²``), a word in the
    plural of a heading through ``ngettext`` (the reader's catalogue, which this package may
    not import), the form's own ``unit_label`` first."""
    label = field.get("label") or {}
    text = (
        (label.get(lang) or label.get("en") or field["name"]) if isinstance(label, dict) else label
    )
    unit = field.get("unit")
    own = field.get("unit_label")
    words = unit_text(
        unit if isinstance(unit, str) else None,
        lang,
        ngettext,
        labels=own if isinstance(own, Mapping) else None,
    )
    return f"{text} ({words})" if words else str(text)


def _answer(value: Any, is_date: bool) -> Any:
    """A stored answer as a cell: a date question's ISO text as a date (a date cell in XLSX,
    the same text in CSV); anything else as stored."""
    if is_date and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value  # an older version's answer of another type: as it was written
    return value


def observation_table(
    session: OrmSession,
    *,
    caller: Caller,
    form: str,
    statuses: Sequence[str] | None = None,
    project_ids: Sequence[uuid.UUID] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    lang: str = "en",
    ngettext: Plural = english_plural,
) -> ObservationTable:
    """The table; 400 naming ``form`` or ``status`` when they are not known (a form outside
    the caller's scope is not known to it). The label row is in ``lang``, its units' words
    from ``ngettext`` (the caller's catalogue of ``lang``)."""
    errors: list[Issue] = []
    code = form.strip().upper()
    latest = session.execute(
        sa.select(_form.c.fields)
        .where(
            _form.c.code == code,
            _form.c.status.in_(("published", "retired")),
            form_scope(caller),
        )
        .order_by(_form.c.version.desc())
        .limit(1)
    ).first()
    if latest is None:
        errors.append(Issue("form", ErrorCode.UNKNOWN_CODE, f"no published form {form!r}"))
    wanted = tuple(statuses or DEFAULT_STATUSES)
    bad = [s for s in wanted if s not in codes(ActivityStatus)]
    if bad:
        errors.append(Issue("status", ErrorCode.UNKNOWN_CODE, f"unknown status {', '.join(bad)}"))
    if errors or latest is None:
        raise ValidationFailed(errors, status_code=400)
    fields = [f for f in latest.fields or [] if isinstance(f, dict) and f.get("name")]
    names = tuple(str(f["name"]) for f in fields)
    columns = (*LEADING, *names, *TRAILING)
    labels = (*LEADING, *(_label(f, lang, ngettext) for f in fields), *TRAILING)
    o = _observation
    statement = (
        sa.select(
            o.c.id,
            _project.c.code,
            o.c.site_id,
            o.c.observed_on,
            o.c.form_version,
            o.c.status,
            o.c["values"],
            o.c.notes,
            o.c.captured_at,
            o.c.created_at,
            o.c.updated_at,
        )
        .join(_project, _project.c.id == o.c.project_id)
        .where(
            o.c.form_id.in_(sa.select(_form.c.id).where(_form.c.code == code)),
            o.c.deleted == sa.false(),
            o.c.status.in_(wanted),
            in_visible_project(o.c.project_id, caller),
        )
        .order_by(o.c.observed_on, o.c.id)
    )
    if project_ids is not None:
        statement = statement.where(o.c.project_id.in_(project_ids))
    if date_from is not None:
        statement = statement.where(o.c.observed_on >= date_from)
    if date_to is not None:
        statement = statement.where(o.c.observed_on <= date_to)

    dates = frozenset(str(f["name"]) for f in fields if f.get("type") == "date")

    def rows() -> Iterator[list[Any]]:
        for r in session.execute(statement):
            values = r[6] or {}
            yield [*r[:6], *(_answer(values.get(n), n in dates) for n in names), *r[7:]]

    return ObservationTable(code, columns, labels, rows())
