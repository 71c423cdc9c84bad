"""The dashboard's forms pages (docs/results.md#dashboard-forms): what they show and how the
editor's plain HTML form becomes a form definition.

Reading and writing go through ``server.results.forms`` (scope, versions, audit, validation by
``shared.forms``); this module only shapes what the pages show:

- ``forms_page``: the forms in the caller's scope, grouped by code, with their versions;
- ``form_page``: one version as the tablet will show it (a preview) and its indicators in words;
- ``editor_state`` / ``state_from_post`` / ``definition_of``: the editor's rows, read back from
  a POST (``f3.label.fr``, ``i0.aggregate``…) and turned into a definition; its numbers (a
  field's bounds, a ratio's factor) written and read in the reader's language by the tablet's
  rules (``shared.typography``), so that the same typed text is the same number on both;
- ``place_errors``: each validation error's field path (``fields[3].choices[1].code``) placed
  next to the editor input it concerns.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from server.accounts.auth import Caller
from server.dashboard.i18n import N_, Translator
from server.dashboard.targets import LONGEST_NUMBER, typed_number_problem
from server.dashboard.web import FormState, explain
from server.errors import Forbidden
from server.projects.models import Project
from server.results import forms as form_service
from server.results import xlsform
from server.results.models import Form
from server.scope import can_write_project, project_scope
from shared.catalogue import Role
from shared.errors import ErrorCode, Issue
from shared.forms import (
    AGGREGATES,
    DIRECTIONS,
    FIELD_TYPES,
    FORM_STATUSES,
    LANGUAGES,
    MAX_FIELDS,
    MAX_INDICATORS,
    NUMERIC_TYPES,
    bound_field,
)
from shared.typography import TypedNumberError, minus_sign, read_typed_number, typed_text

EDITOR_LANGUAGES = LANGUAGES  # en fr pt es: the languages the editor asks for
# A unit's own translations (``unit_label``): the unit itself is what English reads.
UNIT_LANGUAGES = tuple(lang for lang in LANGUAGES if lang != "en")
LIST_LIMIT = 500  # versions on the list page; a deployment has a few dozen


def text_in(labels: Mapping[str, str] | None, language: str) -> str:
    """A ``{language: text}`` in the reader's language, falling back to English."""
    if not labels:
        return ""
    return labels.get(language) or labels.get("en") or next(iter(labels.values()), "")


# --- who may write --------------------------------------------------------------------------


def may_write(caller: Caller, project: Project | None) -> bool:
    """docs/roles.md: global forms by admins, a project's by admins and its country's
    officers (the same rule as the service, asked before showing a control)."""
    if project is None:
        return caller.role == Role.ADMIN
    return can_write_project(caller, project)


def writable_projects(session: Session, *, caller: Caller) -> list[Project]:
    if caller.role not in (Role.ADMIN, Role.COUNTRY_OFFICER):
        return []
    rows = session.exec(
        select(Project).where(project_scope(caller)).order_by(col(Project.code))
    ).all()
    return [p for p in rows if can_write_project(caller, p)]


def may_create(session: Session, *, caller: Caller) -> bool:
    return caller.role == Role.ADMIN or bool(writable_projects(session, caller=caller))


def forbid() -> None:
    raise Forbidden("only admins write global forms, and country officers their projects'")


def check_writer_of(caller: Caller, project: Project | None) -> None:
    if not may_write(caller, project):
        forbid()


def check_writer(session: Session, caller: Caller, form: Form | None) -> Project | None:
    """The form's project, or Forbidden when the caller may not write it."""
    project = session.get(Project, form.project_id) if form and form.project_id else None
    check_writer_of(caller, project)
    return project


# --- the list -------------------------------------------------------------------------------


@dataclass
class VersionRow:
    id: uuid.UUID
    version: int
    status: str
    title: str
    fields: int
    indicators: int
    updated_at: Any


@dataclass
class CodeGroup:
    code: str
    title: str
    project: Project | None
    versions: list[VersionRow] = field(default_factory=list)

    @property
    def latest(self) -> VersionRow:
        return self.versions[-1]


@dataclass
class FormsPage:
    groups: list[CodeGroup]
    projects: list[Project]  # the projects that have forms, for the filter
    may_create: bool


def forms_page(
    session: Session, *, caller: Caller, t: Translator, status: str, project_id: uuid.UUID | None
) -> FormsPage:
    rows, _ = form_service.list_forms(
        session,
        caller=caller,
        status=status or None,
        project_id=project_id,
        limit=LIST_LIMIT,
    )
    everything, _ = form_service.list_forms(session, caller=caller, limit=LIST_LIMIT)
    project_ids = {f.project_id for f in everything if f.project_id} | {
        f.project_id for f in rows if f.project_id
    }
    projects = {
        p.id: p for p in session.exec(select(Project).where(col(Project.id).in_(project_ids))).all()
    }
    groups: dict[str, CodeGroup] = {}
    for form in rows:
        group = groups.get(form.code)
        if group is None:
            project = projects.get(form.project_id) if form.project_id else None
            group = groups[form.code] = CodeGroup(form.code, "", project)
        group.versions.append(
            VersionRow(
                id=form.id,
                version=form.version,
                status=form.status,
                title=text_in(form.title, t.language),
                fields=len(form.fields or []),
                indicators=len(form.indicators or []),
                updated_at=form.updated_at,
            )
        )
        group.title = text_in(form.title, t.language)
    return FormsPage(
        groups=sorted(groups.values(), key=lambda g: g.code),
        projects=sorted(projects.values(), key=lambda p: p.code),
        may_create=may_create(session, caller=caller),
    )


# --- one form: the preview and the indicators in words --------------------------------------


@dataclass
class PreviewChoice:
    code: str
    label: str


@dataclass
class PreviewField:
    number: int
    name: str
    type: str
    label: str
    hint: str
    unit: str
    required: bool
    min: Any
    max: Any
    choices: list[PreviewChoice]
    relevant: str  # "Shown only when …", or ""


@dataclass
class FormView:
    form: Form
    title: str
    project: Project | None
    fields: list[PreviewField]
    indicators: list[tuple[str, str]]  # (name, the sentence)
    versions: list[Form]
    may_write: bool
    has_draft: bool


def _unit_code(raw: Mapping[str, Any]) -> str:
    unit = raw.get("unit")
    return unit if isinstance(unit, str) else ""


def _unit_labels(raw: Mapping[str, Any]) -> Mapping[str, str] | None:
    """The form's own translations of a unit (``unit_label``, optional)."""
    labels = raw.get("unit_label")
    return labels if isinstance(labels, Mapping) else None


def quoted(t: Translator, text: str) -> str:
    """``text`` between the reader's quotation marks: “…” in English, « … » in French."""
    return t.gettext("“%(text)s”", text=text)


def _bound(t: Translator, value: Any, type_: str, by_name: Mapping[str, Mapping[str, Any]]) -> str:
    if value is None:
        return ""
    if (other := bound_field(value)) is not None:  # another answer: "“Farmers visited”"
        label = text_in(by_name.get(other, {}).get("label"), t.language) or other
        return quoted(t, label)
    if type_ in NUMERIC_TYPES:
        decimals = 0 if isinstance(value, int) or float(value).is_integer() else 2
        return t.number(value, decimals)
    return str(value)


def preview_fields(t: Translator, fields: Sequence[Mapping[str, Any]]) -> list[PreviewField]:
    by_name = {str(f.get("name")): f for f in fields}
    out = []
    for number, raw in enumerate(fields, start=1):
        type_ = str(raw.get("type"))
        relevant = ""
        condition = raw.get("relevant")
        if isinstance(condition, Mapping) and condition.get("field"):
            target = by_name.get(str(condition["field"]), {})
            labels = {
                str(c.get("code")): text_in(c.get("label"), t.language)
                for c in target.get("choices") or []
            }
            codes = [quoted(t, labels.get(str(c), str(c))) for c in condition.get("in") or []]
            relevant = t.gettext(
                "Shown only when “%(field)s” is %(codes)s.",
                field=text_in(target.get("label"), t.language) or str(condition["field"]),
                codes=t.gettext(" or ").join(codes),
            )
        out.append(
            PreviewField(
                number=number,
                name=str(raw.get("name")),
                type=type_,
                label=text_in(raw.get("label"), t.language),
                hint=text_in(raw.get("hint"), t.language),
                unit=t.unit(_unit_code(raw), _unit_labels(raw)),
                required=bool(raw.get("required")),
                min=_bound(t, raw.get("min"), type_, by_name),
                max=_bound(t, raw.get("max"), type_, by_name),
                choices=[
                    PreviewChoice(str(c.get("code")), text_in(c.get("label"), t.language))
                    for c in raw.get("choices") or []
                ],
                relevant=relevant,
            )
        )
    return out


def _factor(t: Translator, value: Any) -> str:
    if value is None:
        return ""
    if float(value).is_integer():
        return t.number(value)
    return t.number(value, 4).rstrip("0")


def describe_indicator(
    t: Translator, indicator: Mapping[str, Any], fields: Sequence[Mapping[str, Any]]
) -> str:
    """E.g. "Yield (kg/ha) = 10 000 × Σ harvest_kg / Σ plot_area_m2, demonstration against
    control, higher is better"."""
    name = text_in(indicator.get("name"), t.language) or str(indicator.get("code"))
    unit = t.unit(_unit_code(indicator), _unit_labels(indicator))
    head = f"{name} ({unit})" if unit else name
    aggregate = str(indicator.get("aggregate"))
    what = str(indicator.get("field") or "")
    by_name = {str(f.get("name")): f for f in fields}
    if aggregate == "ratio":
        factor = indicator.get("factor")
        formula = f"Σ {indicator.get('numerator')} / Σ {indicator.get('denominator')}"
        if factor not in (None, 1):
            formula = f"{_factor(t, factor)} × {formula}"
    elif aggregate == "sum":
        formula = f"Σ {what}"
    elif aggregate == "mean":
        formula = t.gettext("mean of %(field)s", field=what)
    elif aggregate == "median":
        formula = t.gettext("median of %(field)s", field=what)
    elif aggregate == "min":
        formula = t.gettext("smallest %(field)s", field=what)
    elif aggregate == "max":
        formula = t.gettext("largest %(field)s", field=what)
    elif aggregate == "count":
        formula = t.gettext("number of observations")
    elif aggregate == "share" and indicator.get("choice"):
        target = by_name.get(what, {})
        choice = next(
            (
                text_in(c.get("label"), t.language)
                for c in target.get("choices") or []
                if c.get("code") == indicator.get("choice")
            ),
            str(indicator.get("choice")),
        )
        formula = t.gettext(
            "share of observations where %(field)s is “%(choice)s”", field=what, choice=choice
        )
    elif aggregate == "share":
        formula = t.gettext("share of observations where %(field)s is yes", field=what)
    else:
        formula = aggregate
    parts = [f"{head} = {formula}"]
    compare = indicator.get("compare")
    if compare:
        groups = [
            text_in(c.get("label"), t.language) or str(c.get("code"))
            for c in by_name.get(str(compare), {}).get("choices") or []
        ]
        if len(groups) == 2:
            parts.append(t.gettext("%(a)s against %(b)s", a=groups[0], b=groups[1]))
        else:
            parts.append(t.gettext("compared by %(groups)s", groups=", ".join(groups)))
    if indicator.get("direction") == "decrease":
        parts.append(t.gettext("lower is better"))
    else:
        parts.append(t.gettext("higher is better"))
    return ", ".join(parts)


def form_page(session: Session, *, caller: Caller, t: Translator, form_id: uuid.UUID) -> FormView:
    form = form_service.get_form(session, caller=caller, form_id=form_id)
    project = session.get(Project, form.project_id) if form.project_id else None
    versions, _ = form_service.list_forms(session, caller=caller, code=form.code, limit=LIST_LIMIT)
    fields = form.fields or []
    return FormView(
        form=form,
        title=text_in(form.title, t.language),
        project=project,
        fields=preview_fields(t, fields),
        indicators=[
            (
                text_in(i.get("name"), t.language) or str(i.get("code")),
                describe_indicator(t, i, fields),
            )
            for i in form.indicators or []
        ],
        versions=versions,
        may_write=may_write(caller, project),
        has_draft=any(v.status == "draft" for v in versions),
    )


# --- the editor -----------------------------------------------------------------------------

# The editor's state: the definition as the inputs hold it (text everywhere), one dict per
# field row and indicator row, so a refused POST shows exactly what was typed.
FIELD_KEYS = ("name", "type", "unit", "required", "min", "max", "choices", "rel_field", "rel_in")
INDICATOR_KEYS = (
    "code",
    "unit",
    "aggregate",
    "field",
    "numerator",
    "denominator",
    "factor",
    "choice",
    "compare",
    "direction",
)


@dataclass
class EditorState:
    code: str = ""
    project: str = ""  # a project id, "" for a global form
    title: dict[str, str] = field(default_factory=dict)
    fields: list[dict[str, Any]] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)


def _empty_field() -> dict[str, Any]:
    return {
        **{k: "" for k in FIELD_KEYS},
        "type": "decimal",
        "required": False,
        "label": {},
        "hint": {},
        "unit_label": {},
    }


def _empty_indicator() -> dict[str, Any]:
    return {**{k: "" for k in INDICATOR_KEYS}, "aggregate": "sum", "name": {}, "unit_label": {}}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _escape_cell(text: str) -> str:
    """A choice's code or label as one cell of its line: a backslash doubled, a bar ``\\|`` (a
    label "Control | usual" is not two cells); :func:`_cells` reads it back."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


def choices_text(choices: Iterable[Mapping[str, Any]]) -> str:
    """One line per choice: ``code | English | Français | Português | Español``, a bar inside a
    cell written ``\\|`` and a backslash ``\\\\`` (read back by :func:`_choices`)."""
    lines = []
    for choice in choices:
        labels = choice.get("label") or {}
        cells = [str(choice.get("code") or "")] + [
            str(labels.get(lang, "")) for lang in EDITOR_LANGUAGES
        ]
        while len(cells) > 2 and not cells[-1]:
            cells.pop()
        lines.append(" | ".join(_escape_cell(c) for c in cells))
    return "\n".join(lines)


def _typed(value: Any, language: str) -> str:
    """A stored bound or factor as the reader types it: a number in the reader's language, as
    :func:`_bound_value` reads it back ("2,5" in French and Portuguese, "1234.5" in English,
    ungrouped, "−0,5" with the minus sign as every number the page writes); a date or another
    field (``${visited}``) as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _text(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return minus_sign(typed_text(value, language))


def editor_state(form: Form | None, language: str) -> EditorState:
    """The editor's inputs for ``form`` (an empty form when None), its numbers written in the
    reader's ``language``."""
    if form is None:
        return EditorState(fields=[_empty_field()])
    fields = []
    for raw in form.fields or []:
        relevant = raw.get("relevant") or {}
        fields.append(
            {
                "name": _text(raw.get("name")),
                "type": _text(raw.get("type")),
                "label": dict(raw.get("label") or {}),
                "hint": dict(raw.get("hint") or {}),
                "unit": _text(raw.get("unit")),
                "unit_label": dict(raw.get("unit_label") or {}),
                "required": bool(raw.get("required")),
                "min": _typed(raw.get("min"), language),
                "max": _typed(raw.get("max"), language),
                "choices": choices_text(raw.get("choices") or []),
                "rel_field": _text(relevant.get("field")),
                "rel_in": ", ".join(str(c) for c in relevant.get("in") or []),
            }
        )
    indicators = []
    for raw in form.indicators or []:
        row: dict[str, Any] = {k: _text(raw.get(k)) for k in INDICATOR_KEYS}
        row["factor"] = _typed(raw.get("factor"), language)
        row["name"] = dict(raw.get("name") or {})
        row["unit_label"] = dict(raw.get("unit_label") or {})
        indicators.append(row)
    return EditorState(
        code=form.code,
        project=str(form.project_id) if form.project_id else "",
        title=dict(form.title or {}),
        fields=fields,
        indicators=indicators,
    )


def _get(form: FormData, name: str, limit: int = 5000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _count(form: FormData, name: str, limit: int) -> int:
    try:
        return max(0, min(int(_get(form, name, 6)), limit))
    except ValueError:
        return 0


def _labels_of(
    form: FormData, prefix: str, languages: tuple[str, ...] = EDITOR_LANGUAGES
) -> dict[str, str]:
    return {lang: _get(form, f"{prefix}.{lang}") for lang in languages}


def state_from_post(form: FormData) -> EditorState:
    state = EditorState(
        code=_get(form, "code", 200),
        project=_get(form, "project", 100),
        title=_labels_of(form, "title"),
    )
    for i in range(_count(form, "nfields", MAX_FIELDS)):
        p = f"f{i}"
        state.fields.append(
            {
                **{k: _get(form, f"{p}.{k}", 20_000) for k in FIELD_KEYS},
                "required": _get(form, f"{p}.required") == "1",
                "label": _labels_of(form, f"{p}.label"),
                "hint": _labels_of(form, f"{p}.hint"),
                "unit_label": _labels_of(form, f"{p}.unit_label", UNIT_LANGUAGES),
            }
        )
    for i in range(_count(form, "nindicators", MAX_INDICATORS)):
        p = f"i{i}"
        state.indicators.append(
            {
                **{k: _get(form, f"{p}.{k}", 200) for k in INDICATOR_KEYS},
                "name": _labels_of(form, f"{p}.name"),
                "unit_label": _labels_of(form, f"{p}.unit_label", UNIT_LANGUAGES),
            }
        )
    return state


def apply_action(state: EditorState, action: str) -> bool:
    """Add, remove or move a row (the editor's buttons other than Save); True if it was one."""
    verb, _, number = action.partition(":")
    index = int(number) if number.isdigit() else -1
    rows = state.fields
    if verb == "add_field":
        if len(rows) < MAX_FIELDS:
            rows.append(_empty_field())
    elif verb == "add_indicator":
        if len(state.indicators) < MAX_INDICATORS:
            state.indicators.append(_empty_indicator())
    elif verb == "remove_field" and 0 <= index < len(rows):
        rows.pop(index)
    elif verb == "remove_indicator" and 0 <= index < len(state.indicators):
        state.indicators.pop(index)
    elif verb == "up" and 0 < index < len(rows):
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and 0 <= index < len(rows) - 1:
        rows[index], rows[index + 1] = rows[index + 1], rows[index]
    else:
        return False
    return True


def _bound_value(text: str, type_: str, language: str) -> Any:
    """A bound as typed: for numeric fields a number when it reads as one in the reader's
    ``language``, as the tablet reads it (``shared.typography.read_typed_number``: "1.234" is
    1234 in Portuguese, unclear in French), else the text, which the rules refuse with
    ``not_number``; the text otherwise (dates, another field, or a wrong type)."""
    if not text:
        return None
    if type_ not in NUMERIC_TYPES or len(text) > LONGEST_NUMBER:
        return text
    try:
        return read_typed_number(text, language)
    except TypedNumberError:
        return text


def _labels(values: Mapping[str, str]) -> dict[str, str]:
    return {lang: text for lang, text in values.items() if text}


def _cells(line: str) -> list[str]:
    """A choice line's cells, split at its bars: ``\\|`` is a bar inside a cell, ``\\\\`` a
    backslash; any other backslash is kept as typed."""
    cells: list[str] = []
    cell: list[str] = []
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in "\\|":
            cell.append(line[i + 1])
            i += 2
            continue
        if char == "|":
            cells.append("".join(cell).strip())
            cell = []
        else:
            cell.append(char)
        i += 1
    cells.append("".join(cell).strip())
    return cells


def _choices(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = _cells(line)
        labels = dict(zip(EDITOR_LANGUAGES, cells[1:], strict=False))
        out.append({"code": cells[0], "label": _labels(labels)})
    return out


def _or_none(text: str) -> str | None:
    return text or None


def definition_of(state: EditorState, language: str) -> dict[str, Any]:
    """The definition the editor's state describes, for ``shared.forms`` to check; its numbers
    read in the reader's ``language``."""
    fields = []
    for row in state.fields:
        type_ = row["type"]
        relevant = None
        if row["rel_field"]:
            codes = [c.strip() for c in re.split(r"[,\s]+", row["rel_in"]) if c.strip()]
            relevant = {"field": row["rel_field"], "in": codes}
        fields.append(
            {
                "name": row["name"],
                "type": type_,
                "label": _labels(row["label"]),
                "hint": _labels(row["hint"]),
                "unit": _or_none(row["unit"]),
                "unit_label": _labels(row.get("unit_label") or {}),
                "required": bool(row["required"]),
                "min": _bound_value(row["min"], type_, language),
                "max": _bound_value(row["max"], type_, language),
                "choices": _choices(row["choices"]),
                "relevant": relevant,
            }
        )
    indicators = []
    for row in state.indicators:
        factor: Any = None
        if row["factor"]:
            factor = _bound_value(row["factor"], "decimal", language)
        indicators.append(
            {
                "code": row["code"],
                "name": _labels(row["name"]),
                "unit": _or_none(row["unit"]),
                "unit_label": _labels(row.get("unit_label") or {}),
                "aggregate": row["aggregate"],
                "field": _or_none(row["field"]),
                "numerator": _or_none(row["numerator"]),
                "denominator": _or_none(row["denominator"]),
                "factor": factor,
                "choice": _or_none(row["choice"]),
                "compare": _or_none(row["compare"]),
                "direction": _or_none(row["direction"]),
            }
        )
    return {
        "code": state.code,
        "title": _labels(state.title),
        "fields": fields,
        "indicators": indicators,
    }


# --- errors next to their inputs ------------------------------------------------------------

_ROW = re.compile(r"^(fields|indicators)\[(\d+)\](?:\.(.*))?$")


def input_of(path: str) -> tuple[str, str]:
    """The editor input an error path concerns, and a prefix for the message (which line of
    the choices)."""
    match = _ROW.match(path)
    if match is None:
        head = path.split(".")[0]
        if head == "title":
            return (path if path.count(".") == 1 else "title.en"), ""
        return (head or "form"), ""
    part, index, rest = match.group(1), match.group(2), match.group(3) or ""
    prefix = ("f" if part == "fields" else "i") + index
    key = rest.split(".")[0].split("[")[0]
    if key == "unit_label" and rest.count(".") >= 1:
        return f"{prefix}.unit_label.{rest.split('.')[1]}", ""
    if part == "fields":
        if key in ("label", "hint"):
            lang = rest.split(".")[1] if rest.count(".") >= 1 else "en"
            return f"{prefix}.{key}.{lang}", ""
        if key == "choices":
            line = re.match(r"choices\[(\d+)\]", rest)
            return f"{prefix}.choices", (f"{int(line.group(1)) + 1}" if line else "")
        if key == "relevant":
            return (f"{prefix}.rel_in" if ".in" in rest else f"{prefix}.rel_field"), ""
        if key in FIELD_KEYS:
            return f"{prefix}.{key}", ""
        return f"{prefix}.name", ""
    if key == "name":
        lang = rest.split(".")[1] if rest.count(".") >= 1 else "en"
        return f"{prefix}.name.{lang}", ""
    if key in INDICATOR_KEYS:
        return f"{prefix}.{key}", ""
    return f"{prefix}.code", ""


# Where the editor says more than a code's general words: codes are one namespace for every
# country and project (HQ compares indicators across countries), which a country officer whose
# own list lacks the code cannot guess.
EDITOR_WORDS: dict[str, str] = {
    ErrorCode.INDICATOR_CODE_TAKEN.value: N_(
        "Another indicator already has this code: indicator codes are shared by every country "
        "and project, so choose another one."
    ),
}


def taken_form_code(t: Translator, code: str, params: Mapping[str, str]) -> str | None:
    """The words for a form code another scope holds (``already_exists`` with the code), or
    None for any other refusal."""
    if code != ErrorCode.ALREADY_EXISTS or "code" not in params:
        return None
    return t.gettext(
        N_(
            "The code %(code)s is taken: form and indicator codes are shared by every country "
            "and project, so choose another one."
        ),
        code=params["code"],
    )


def place_errors(t: Translator, issues: Iterable[Issue], state: EditorState) -> FormState:
    """Each error in the reader's words, under the input it concerns (the first per input). A
    bound or factor typed that is no number the reader's way is said as the target form says
    it: how to write each thing an unclear one may mean, else an example."""
    errors = FormState()
    for issue in issues:
        key, line = input_of(issue.field or "")
        own = EDITOR_WORDS.get(issue.code)
        words = t.gettext(own) if own else explain(t, issue.code, issue.params)
        typed = _typed_number_of(state, key)
        if issue.code == ErrorCode.NOT_NUMBER and typed is not None:
            words = typed_number_problem(t, typed) or words
        if line:
            words = t.gettext("Line %(line)s: %(error)s", line=line, error=words)
        if key in errors:
            if words not in errors[key]:
                errors[key] = f"{errors[key]} {words}"
            continue
        errors[key] = words
    return errors


_NUMBER_INPUT = re.compile(r"(f|i)(\d+)\.(min|max|factor)")


def _typed_number_of(state: EditorState, key: str) -> str | None:
    """What was typed in the number input ``key`` (``f1.min``, ``i0.factor``), when it is
    one; None for any other input."""
    found = _NUMBER_INPUT.fullmatch(key)
    if found is None:
        return None
    rows = state.fields if found.group(1) == "f" else state.indicators
    index, name = int(found.group(2)), found.group(3)
    if index >= len(rows) or (name == "factor") != (found.group(1) == "i"):
        return None
    return str(rows[index].get(name) or "")


# The editor's vocabularies, for its select inputs.
EDITOR_CHOICES = {
    "types": FIELD_TYPES,
    "aggregates": AGGREGATES,
    "directions": DIRECTIONS,
    "statuses": FORM_STATUSES,
}


# --- an XLSForm's problems in the reader's words --------------------------------------------

# Each problem of ``server.results.xlsform.PROBLEMS``, worded from its key and params (never
# from the English reason the API carries as ``message``).
PROBLEM_WORDS: dict[str, str] = {
    "not_a_workbook": N_(
        "This file is not an Excel workbook (.xlsx) that can be read: %(why)s. Open the form in "
        "Excel or LibreOffice and save it as Excel Workbook (.xlsx)."
    ),
    "too_many_parts": N_("The workbook has more than %(limit)s parts."),
    "too_many_cells": N_("The workbook has a sheet or a row of more than %(limit)s cells."),
    "unzips_too_large": N_("The workbook unzips to more than %(limit)s bytes."),
    "too_large": N_("The file is larger than %(limit)s bytes."),
    "headers": N_("The column headings could not be read (a heading written twice, for one)."),
    "indicator_code_taken": N_(
        "Another indicator already has the code %(code)s: indicator codes are shared by every "
        "country and project, so choose another one."
    ),
    "sheet_unsupported": N_(
        "A sheet named “%(sheet)s” is not read: only survey, choices, settings and indicators."
    ),
    "too_many_columns": N_("This sheet has more than %(limit)s columns."),
    "too_many_rows": N_("This sheet has more than %(limit)s rows."),
    "column_unsupported": N_("The column “%(header)s” is not supported."),
    "column_language": N_(
        "The column “%(header)s” takes no language here: label, hint, unit, form_title and name "
        "do, written like label::French (fr)."
    ),
    "settings_one_row": N_("The settings sheet has a single row of values."),
    "settings_missing": N_("The settings sheet (form_id, form_title) is missing."),
    "survey_missing": N_("The survey sheet is missing."),
    "list_name_empty": N_("The list_name is empty."),
    "list_missing": N_("There is no choice list “%(list)s” in the choices sheet."),
    "list_unused": N_("No question uses the choice list “%(list)s”."),
    "type_unsupported": N_("The question type “%(type)s” is not supported."),
    "required_not_yes_no": N_("“%(value)s” is neither yes nor no."),
    "constraint_for_type": N_("A question of type %(type)s takes no constraint."),
    "constraint_form": N_("The constraint “%(constraint)s” is not written . >= a or . <= b."),
    "constraint_type": N_(
        "The constraint “%(constraint)s” does not fit a question of type %(type)s."
    ),
    "two_lower_bounds": N_("The constraint has two lower bounds."),
    "two_upper_bounds": N_("The constraint has two upper bounds."),
    "relevant_form": N_(
        "The relevance “%(relevant)s” is not written ${field} = 'code' or "
        "selected(${field}, 'code')."
    ),
    "relevant_one_field": N_("The relevance may name only one question."),
    "not_a_number": N_("“%(value)s” is not a number."),
}
# Why a file is not a workbook (``why`` of ``not_a_workbook``).
WHY_WORDS: dict[str, str] = {
    "xls": N_("it is an old Excel 97-2003 (.xls) file"),
    "png": N_("it is a PNG image"),
    "jpeg": N_("it is a JPEG image"),
    "pdf": N_("it is a PDF document"),
    "not_zip": N_("it is not a zip archive, or it is cut short"),
    "damaged": N_("a part of the workbook is missing or damaged"),
    "empty": N_("the file is empty"),
}
_NUMBERS = frozenset({"limit"})


@dataclass(frozen=True, slots=True)
class ProblemView:
    sheet: str
    row: int | None
    column: str | None
    where: str  # "Sheet “survey”, row 5, column “type”:", or ""
    sentence: str
    detail: str  # pyxform's own words, or the definition's path; "" when none


def _where(t: Translator, sheet: str, row: int | None, column: str | None) -> str:
    if sheet == "file":
        return ""
    if row and column:
        return t.gettext(
            "Sheet “%(sheet)s”, row %(row)s, column “%(column)s”:",
            sheet=sheet,
            row=row,
            column=column,
        )
    if row:
        return t.gettext("Sheet “%(sheet)s”, row %(row)s:", sheet=sheet, row=row)
    if column:
        return t.gettext("Sheet “%(sheet)s”, column “%(column)s”:", sheet=sheet, column=column)
    return t.gettext("Sheet “%(sheet)s”:", sheet=sheet)


def problem_view(t: Translator, problem: xlsform.Problem) -> ProblemView:
    """A refused workbook's problem in the reader's words, chosen from its key and params:
    where it is, then why; pyxform's own message (English) or the definition's path kept as
    a detail."""
    params = dict(problem.params)
    words = PROBLEM_WORDS.get(problem.problem)
    detail = ""
    if words is None:  # "definition": a rule of shared.forms, worded from its code
        sentence = explain(t, problem.code)
        detail = params.get("path", "")
    else:
        values: dict[str, Any] = {}
        for name in xlsform.PROBLEMS.get(problem.problem, ()):
            value = params.get(name, "") or "–"
            if name in _NUMBERS and value.isdigit():
                value = t.number(int(value))
            elif name == "why":
                value = t.gettext(WHY_WORDS.get(value, WHY_WORDS["damaged"]))
            values[name] = value
        sentence = t.gettext(words, **values) if values else t.gettext(words)
        if problem.problem == "headers":
            detail = params.get("detail", "")
    return ProblemView(
        sheet=problem.sheet,
        row=problem.row,
        column=problem.column,
        where=_where(t, problem.sheet, problem.row, problem.column),
        sentence=sentence,
        detail=detail,
    )
