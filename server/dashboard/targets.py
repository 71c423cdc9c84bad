"""Setting a project's targets and baselines on its page (docs/results.md#dashboard-results).

The page offers what the API accepts (``POST``/``PATCH``/``DELETE /api/v1/targets``) as choices:
the project's indicators by name in the reader's language (the catalogue's, docs/indicators.md,
and the result indicators of the forms that apply to it), the years, quarters and months of the
project, a sex for the indicators split by sex. A value is read in the reader's number format
("1 234,5" in French) by the tablet's rules (``shared.typography``), so that the same typed
text is the same number on both, and what may be read two ways ("1.234" in French) is refused.
Writes go through ``server.projects.service``; its problems come back as codes, said here in
the reader's words, next to their fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from server.dashboard.i18n import LABELS, N_, Translator, decimal_text
from server.dashboard.web import FormState, explain
from server.projects.models import MAX_TARGET_VALUE, Project, Target
from server.results.indicators import ResultIndicator, result_indicators
from server.results.models import Form
from shared.catalogue import Sex, codes
from shared.errors import ErrorCode, Issue
from shared.indicators import period_bounds, period_grain, period_label
from shared.typography import TypedNumberError, read_typed_number
from shared.validation import (
    INDICATOR_CODES,
    PERCENT_INDICATORS,
    SEX_SPLIT_INDICATORS,
    UNTARGETABLE_INDICATORS,
)

# Not offered: one project reaches one country (the API still takes such a target).
NOT_OFFERED = frozenset({"COUNTRIES_REACHED"})
# The add form's fields, as the API's body names them.
FIELDS = ("indicator", "kind", "period", "sex", "value")
KINDS = {"target": N_("Target"), "baseline": N_("Baseline")}


# --- numbers as people type them --------------------------------------------------------------


def read_number(text: str, language: str) -> int | float | str | None:
    """A number typed in ``language``, read as the tablet reads it
    (``shared.typography.read_typed_number``): "1 234,5" in French, "1.234,5" in Portuguese and
    Spanish, "1,234.5" in English. None when nothing was typed; the text itself when it is not
    such a number, or is unclear ("1.234" in French): the rules then call it ``not_number``
    and :func:`number_message` says why."""
    try:
        return read_typed_number(text, language)
    except TypedNumberError:
        return text.strip()


# No number is typed longer than this (the inputs' maxlength): longer text is no number, and
# never reaches the reader's rules.
LONGEST_NUMBER = 40


def typed_number_problem(t: Translator, text: str) -> str:
    """What is wrong with ``text`` as a number the reader typed (read as the tablet reads it,
    ``shared.typography.read_typed_number``), in :func:`number_message`'s words; "" when it
    reads."""
    if len(text) > LONGEST_NUMBER:
        return number_message(t, "")  # no number: an example written the reader's way
    try:
        read_typed_number(text, t.language)
    except TypedNumberError:
        return number_message(t, text)
    return ""


def number_message(t: Translator, text: str) -> str:
    """What is wrong with ``text`` as a number, in the reader's words: for an unclear one, how
    to write each thing it may mean; else an example of a number written the reader's way."""
    try:
        read_typed_number(text, t.language)
    except TypedNumberError as refused:
        if refused.reason == "unclear" and refused.grouped:
            return t.gettext(
                "Unclear: type %(grouped)s for a whole number, or %(decimal)s for a decimal.",
                grouped=_reading(t, refused.grouped),
                decimal=_reading(t, refused.decimal),
            )
        if refused.reason == "unclear":
            return t.gettext(
                "Unclear: type %(decimal)s for a decimal, or group thousands by three.",
                decimal=_reading(t, refused.decimal),
            )
    return t.gettext("Type a number, like %(example)s.", example=t.number(1234.5, 1))


def _reading(t: Translator, text: str) -> str:
    """One reading an unclear number offers (written the language's way, so it reads), as the
    page writes numbers: "1 234" with the narrow no-break space in French."""
    value = read_typed_number(text, t.language)
    return text if value is None else typed_number(t, value)


def typed_number(t: Translator, value: float) -> str:
    """A stored value as the reader would type it (grouped, up to 6 decimals)."""
    return decimal_text(value, "#,##0.######", t.language)


# --- what the form offers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndicatorChoice:
    code: str
    name: str
    by_sex: bool  # a target per sex is allowed
    result: bool  # a result indicator: baselines allowed


@dataclass(frozen=True, slots=True)
class ChoiceGroup:
    label: str
    choices: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class TargetRow:
    id: uuid.UUID
    name: str
    kind: str
    period: str
    period_text: str  # as the period picker writes it
    sex: str | None
    value: float
    typed: str  # the value in the input: as stored, or as typed when it was refused
    error: str


@dataclass(slots=True)
class Typed:
    """What a refused form held: the add form's fields and errors, or one row's value."""

    values: FormState = field(default_factory=FormState)
    errors: FormState = field(default_factory=FormState)
    row: uuid.UUID | None = None
    row_value: str = ""
    row_error: str = ""


@dataclass(frozen=True, slots=True)
class TargetEditor:
    indicators: list[tuple[str, list[IndicatorChoice]]]
    periods: list[ChoiceGroup]
    sexes: list[tuple[str, str]]
    kinds: list[tuple[str, str]]
    rows: list[TargetRow]
    values: FormState
    errors: FormState


def project_result_indicators(
    session: Session, project: Project, known: Mapping[str, ResultIndicator]
) -> dict[str, ResultIndicator]:
    """Those of the ``known`` result indicators whose published (or retired) form applies to
    the project: a global one or its own (docs/results.md#forms)."""
    applying = set(
        session.exec(
            select(Form.code).where(
                col(Form.status).in_(("published", "retired")),
                sa.or_(col(Form.project_id).is_(None), col(Form.project_id) == project.id),
            )
        ).all()
    )
    return {code: r for code, r in known.items() if r.form in applying}


def _indicator_choices(
    t: Translator, results: Mapping[str, ResultIndicator]
) -> list[tuple[str, list[IndicatorChoice]]]:
    catalogue = [
        IndicatorChoice(code, t.label("indicator", code), code in SEX_SPLIT_INDICATORS, False)
        for code in INDICATOR_CODES
        if code not in UNTARGETABLE_INDICATORS and code not in NOT_OFFERED
    ]
    groups = [(t.gettext("Activities and participants"), catalogue)]
    if results:
        groups.append(
            (
                t.gettext("Results"),
                [
                    IndicatorChoice(code, r.label(t.language), False, True)
                    for code, r in results.items()
                ],
            )
        )
    return groups


def _months(first: date, last: date) -> list[date]:
    found, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def period_choices(t: Translator, project: Project) -> list[ChoiceGroup]:
    """The periods a target may have: the years, quarters and months the project runs in;
    and the year before it, for a baseline."""
    months = _months(project.start_date, project.end_date)
    years = sorted({m.year for m in months})
    quarters = list(dict.fromkeys(period_label(m, "quarter") for m in months))
    groups = [
        ChoiceGroup(t.gettext("Years"), [(str(y), str(y)) for y in years]),
        ChoiceGroup(t.gettext("Quarters"), [(q, _quarter_text(t, q)) for q in quarters]),
        ChoiceGroup(
            t.gettext("Months"),
            [(period_label(m, "month"), t.month(m)) for m in months],
        ),
    ]
    before = project.start_date.year - 1
    if before >= 2000:
        groups.append(
            ChoiceGroup(t.gettext("Before the project (baselines)"), [(str(before), str(before))])
        )
    return groups


def _quarter_text(t: Translator, quarter: str) -> str:
    first, last = period_bounds(quarter)
    return f"{quarter} ({t.month(first)} – {t.month(last)})"


def period_text(t: Translator, period: str) -> str:
    """A target's period as the period picker writes it: a month by its name ("Jun 2027",
    "juin 2027"), a quarter with its months, a year as it is."""
    grain = period_grain(period)
    if grain == "month":
        return t.month(period_bounds(period)[0])
    if grain == "quarter":
        return _quarter_text(t, period)
    return period


def editor(
    session: Session,
    t: Translator,
    project: Project,
    targets: Sequence[Target],
    typed: Typed | None = None,
) -> TargetEditor:
    """The add form and the list of the project's targets and baselines, with what a refused
    form held."""
    typed = typed or Typed()
    known = result_indicators(session)
    results = project_result_indicators(session, project, known)
    names = {code: r.label(t.language) for code, r in known.items()}
    rows = [
        TargetRow(
            id=target.id,
            name=names.get(target.indicator) or t.label("indicator", target.indicator),
            kind=target.kind,
            period=target.period,
            period_text=period_text(t, target.period),
            sex=target.sex,
            value=target.value,
            typed=typed.row_value if typed.row == target.id else typed_number(t, target.value),
            error=typed.row_error if typed.row == target.id else "",
        )
        for target in sorted(
            targets, key=lambda r: (r.indicator, r.kind != "baseline", r.period, r.sex or "")
        )
    ]
    return TargetEditor(
        indicators=_indicator_choices(t, results),
        periods=period_choices(t, project),
        sexes=[(code, t.label("sex", code)) for code in codes(Sex)],
        kinds=[(code, t.gettext(label)) for code, label in KINDS.items()],
        rows=rows,
        values=typed.values,
        errors=typed.errors,
    )


# --- what the person typed, and what was wrong with it -----------------------------------------


def target_data(project: Project, values: Mapping[str, str], language: str) -> dict[str, object]:
    """The API's body for the add form's ``values``."""
    return {
        "project_id": str(project.id),
        "indicator": values.get("indicator") or None,
        "kind": values.get("kind") or None,
        "period": values.get("period") or None,
        "sex": values.get("sex") or None,
        "value": read_number(values.get("value", ""), language),
    }


# Where the form can say more than the code's general words, by field and code.
WORDS: dict[tuple[str, str], str] = {
    ("indicator", ErrorCode.REQUIRED): N_("Choose an indicator."),
    ("indicator", ErrorCode.UNKNOWN_CODE): N_("Choose one of this project’s indicators."),
    ("period", ErrorCode.REQUIRED): N_("Choose a period."),
    ("value", ErrorCode.REQUIRED): N_("Type a value."),
    ("kind", ErrorCode.NOT_APPLICABLE): N_(
        "Baselines are for result indicators only: set a target for this indicator."
    ),
    ("sex", ErrorCode.SEX_NOT_APPLICABLE): N_(
        "This indicator is not counted by sex: choose “Everyone”."
    ),
}


def messages(
    t: Translator, issues: Sequence[Issue], project: Project, values: Mapping[str, str]
) -> FormState:
    """Each problem in the reader's words, by field: chosen from its code, never from the
    English message."""
    errors = FormState()
    for found in issues:
        name = found.field if found.field in FIELDS else "form"
        errors.setdefault(name, message(t, found, project, values))
    return errors


def message(t: Translator, found: Issue, project: Project, values: Mapping[str, str]) -> str:
    code = found.code
    if found.field == "value" and code == ErrorCode.NOT_NUMBER:
        return number_message(t, values.get("value", ""))
    if found.field == "value" and code == ErrorCode.NOT_INTEGER:
        return t.gettext(
            "This indicator is a count: type a whole number, like %(example)s.",
            example=t.number(1234),
        )
    if found.field == "value" and code == ErrorCode.VALUE_RANGE:
        # the percentage rule (a result indicator's too) says its bound, 100
        percent = found.params.get("high") == "100" or values.get("indicator") in PERCENT_INDICATORS
        high = 100 if percent else MAX_TARGET_VALUE
        return t.gettext("Type a number from 0 to %(high)s.", high=t.number(high))
    if found.field == "period" and code == ErrorCode.OUTSIDE_PROJECT_DATES:
        if values.get("kind") == "baseline":
            return t.gettext(
                "A baseline’s period may not start after the project ends (%(end)s).",
                end=t.date(project.end_date),
            )
        return t.gettext(
            "Choose a period within the project’s dates, %(start)s to %(end)s.",
            start=t.date(project.start_date),
            end=t.date(project.end_date),
        )
    words = WORDS.get((found.field, code))
    return t.gettext(words) if words else explain(t, code)


def duplicate_message(t: Translator, kind: str | None) -> str:
    """A second target (or baseline) for the same indicator, period and sex: 409
    ``already_exists``."""
    if kind == "baseline":
        return t.gettext(
            "This project already has a baseline for this indicator, period and sex: change "
            "its value in the list below instead."
        )
    return t.gettext(
        "This project already has a target for this indicator, period and sex: change its "
        "value in the list below instead."
    )


def label_of(t: Translator, session: Session, target: Target) -> str:
    """How a notice names a target: its indicator's name, period, and sex if any."""
    name = LABELS["indicator"].get(target.indicator)
    text = t.gettext(name) if name else _result_name(session, t, target.indicator)
    text = f"{text}, {period_text(t, target.period)}"
    return f"{text}, {t.label('sex', target.sex)}" if target.sex else text


def _result_name(session: Session, t: Translator, code: str) -> str:
    found = result_indicators(session).get(code)
    return found.label(t.language) if found else code
