"""Record a measurement (docs/results.md#observations): which forms a project offers, one
observation being filled in, and the project's observations as a list.

Kivy-free. The form's fields come from the pulled form version (entity ``form``), labels in the
tablet's language with English as the fallback. Relevance and validation are
``shared.observations`` — the server's own rules — run on every change: a field its
``relevant`` rule does not ask is hidden and never stored, and each field shows its own problem
in the tablet's words.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from field_app.controllers import dates
from field_app.controllers.attention import AttentionItem, Difference, server_message, show_value
from field_app.controllers.form import Photo
from field_app.controllers.messages import field_message
from field_app.i18n import GROUP_SPACE, N_, _, decimal, language, ngettext
from shared.forms import bound_field
from shared.observations import asked_fields, form_fields, validate_values
from shared.typography import TypedNumberError, minus_sign, read_typed_number, typed_text
from shared.units import unit_text, with_unit
from shared.validation import FUTURE_DAYS, Issue

VALUES = "values"
# Messages for the observation codes the activity form never produces.
VALUE_MESSAGES: dict[str, str] = {
    "value_range": N_("Out of range"),
    "not_boolean": N_("Choose yes or no"),
    "not_list": N_("Choose from the list"),
    "not_text": N_("Type text"),
    "not_asked": N_("Not asked with these answers"),
    "unknown_field": N_("Not a field of this form"),
}
STATE_LABELS: dict[str, str] = {
    "pending": N_("Waiting to sync"),
    "draft": N_("Waiting to sync"),
    "synced": N_("Synced"),
    # Synced, and the server signed a receipt for this version and every photo of it.
    "safe": N_("Safe"),
    "photos_pending": N_("Photos waiting"),
    "returned": N_("Returned"),
    "conflict": N_("Conflict"),
    "rejected": N_("Refused"),
}
STATUS_LABELS: dict[str, str] = {
    "submitted": N_("Submitted"),
    "approved": N_("Approved"),
    "returned": N_("Returned"),
}


def text_of(labels: Any, lang: str | None = None) -> str:
    """A ``{language: text}`` label in the tablet's language, else English, else any."""
    if isinstance(labels, str):
        return labels
    if not isinstance(labels, Mapping) or not labels:
        return ""
    lang = lang or language()
    for key in (lang, lang.split("-")[0].split("_")[0], "en"):
        if labels.get(key):
            return str(labels[key])
    return str(next(iter(labels.values())))


def _version(form: Mapping[str, Any]) -> int:
    try:
        return int(form.get("version") or 0)
    except (TypeError, ValueError):
        return 0


def applies(form: Mapping[str, Any], project_id: str) -> bool:
    """A form applies to a project when it is global or the project's own."""
    scope = form.get("project_id")
    return scope in (None, "") or str(scope).lower() == str(project_id).lower()


def offered_forms(forms: Iterable[Mapping[str, Any]], project_id: str) -> list[dict[str, Any]]:
    """The forms a new measurement may use in a project: of each code that applies, its latest
    version that left draft, unless that version is retired. Sorted by title."""
    latest: dict[str, Mapping[str, Any]] = {}
    for form in forms:
        if form.get("status") not in ("published", "retired") or not applies(form, project_id):
            continue
        code = str(form.get("code") or "")
        if code not in latest or _version(form) > _version(latest[code]):
            latest[code] = form
    chosen = [dict(f) for f in latest.values() if f.get("status") == "published"]
    return sorted(chosen, key=lambda f: (text_of(f.get("title")).casefold(), f.get("code")))


def form_version(
    forms: Iterable[Mapping[str, Any]], form_id: str, version: int
) -> dict[str, Any] | None:
    """The version an observation answers: the form named by ``form_id`` (the id of any of its
    versions) at ``version``. Retired versions included: its observations stay editable."""
    forms = list(forms)
    named = next((f for f in forms if str(f.get("id")) == str(form_id)), None)
    if named is None:
        return None
    return next(
        (
            dict(f)
            for f in forms
            if f.get("code") == named.get("code") and _version(f) == int(version)
        ),
        None,
    )


@dataclass(frozen=True, slots=True)
class FieldView:
    """One field as the screen draws it."""

    name: str
    type: str
    label: str
    hint: str
    unit: str
    required: bool
    bounds: str  # "0 – 100 000 kg", "" when the field sets none
    choices: tuple[tuple[str, str], ...]  # (code, label)


def _bound_text(value: Any) -> str:
    """A field's bound as the tablet's language writes it: whole numbers grouped with a
    no-break space (``i18n.GROUP_SPACE``), decimals with the language's mark ("2,5" in French,
    Portuguese, Spanish), dates in words ("1 January 2015", never "2015-01-01")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return minus_sign(f"{value:,}".replace(",", GROUP_SPACE))
    if isinstance(value, float):
        written = repr(value)
        digits = len(written.split(".")[1]) if "." in written and "e" not in written else 2
        return decimal(value, digits)
    if isinstance(value, str) and dates.parse(value) is not None:
        return dates.in_words(value)
    return str(value)


def unit_of(spec: Mapping[str, Any], count: Any = None, lang: str | None = None) -> str:
    """A field's unit in the tablet's language (shared.units): the form's own translation
    (``unit_label``, optional), a symbol as written, a known word in the singular or plural
    ``count`` asks for (the plural without one), else as the author typed it."""
    unit = spec.get("unit")
    labels = spec.get("unit_label")
    return unit_text(
        unit if isinstance(unit, str) else None,
        lang or language(),
        ngettext,
        labels=labels if isinstance(labels, Mapping) else None,
        count=count,
    )


def _with_unit(spec: Mapping[str, Any], value: Any, lang: str | None = None) -> str:
    return with_unit(_bound_text(value), unit_of(spec, value, lang))


def field_view(
    spec: Mapping[str, Any], lang: str | None = None, labels: Mapping[str, str] | None = None
) -> FieldView:
    """What the form shows of a field; ``labels`` (the form's field labels by name) name the
    answer a bound refers to (``"max": "${farmers_visited}"``)."""
    low, high = spec.get("min"), spec.get("max")
    unit = unit_of(spec, lang=lang)

    def shown(value: Any, with_unit: bool) -> str:
        if (other := bound_field(value)) is not None:
            return (labels or {}).get(other) or other
        return _with_unit(spec, value, lang) if with_unit else _bound_text(value)

    if low is not None and high is not None:
        bounds = f"{shown(low, bound_field(high) is not None)} – {shown(high, True)}"
    elif low is not None:
        bounds = f"≥ {shown(low, True)}"
    elif high is not None:
        bounds = f"≤ {shown(high, True)}"
    else:
        bounds = ""
    choices = tuple(
        (str(c.get("code")), text_of(c.get("label"), lang) or str(c.get("code")))
        for c in spec.get("choices") or ()
        if isinstance(c, Mapping)
    )
    return FieldView(
        name=str(spec["name"]),
        type=str(spec.get("type") or "text"),
        label=text_of(spec.get("label"), lang) or str(spec["name"]),
        hint=text_of(spec.get("hint"), lang),
        unit=unit,
        required=spec.get("required") is True,
        bounds=bounds,
        choices=choices,
    )


# A typed number refused before the shared rules see it (shared.typography.read_typed_number):
# written the way another language writes it, or not as numbers are written at all.
UNCLEAR_DECIMAL = N_("Unclear: write {decimal} for a decimal, or group thousands by three")
# A point that may group thousands in French ("1.234"): both readings, as the dashboard says.
UNCLEAR_GROUPED = N_("Unclear: write {grouped} for a whole number, or {decimal} for a decimal")
UNCLEAR_GROUPED_WHOLE = N_("Unclear: write {grouped} for that whole number")
MALFORMED_NUMBER = N_("Write the number as in English, e.g. {example}")
# Examples tried in turn: the first within the field's bounds is shown. A grouped one shows
# how thousands and decimals are written.
_EXAMPLES = {"decimal": (12.5, 2.5, 0.5, 125.5), "integer": (12, 2, 1, 0, 120)}
_GROUPED_EXAMPLES = {"decimal": (1250.5,), "integer": (1250,)}


def _numeric_bound(spec: Mapping[str, Any], key: str) -> float | None:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # none, or another answer's ("${farmers_visited}")
    return float(value)


def example_value(spec: Mapping[str, Any], *, grouped: bool = False) -> int | float | None:
    """A number to show as an example of the field's answer: of its kind (a whole number for
    an integer field) and within its bounds — "12.5 kg" for a harvest, never a latitude.
    ``grouped`` prefers one with thousands (1,250.5) when the bounds allow it. None for a
    field that is not a number."""
    kind = str(spec.get("type") or "")
    if kind not in _EXAMPLES:
        return None
    low, high = _numeric_bound(spec, "min"), _numeric_bound(spec, "max")
    candidates = (_GROUPED_EXAMPLES[kind] if grouped else ()) + _EXAMPLES[kind]
    for candidate in candidates:
        if (low is None or candidate >= low) and (high is None or candidate <= high):
            return candidate
    bound = low if low is not None else high
    if bound is None:  # pragma: no cover - without bounds the first candidate fits
        return None
    return int(bound) if kind == "integer" or bound.is_integer() else bound


def example_text(spec: Mapping[str, Any], *, grouped: bool = False) -> str:
    """:func:`example_value` as the tablet's language writes it, with the field's unit
    ("12,5 kg" in French); "" when there is none."""
    value = example_value(spec, grouped=grouped)
    return "" if value is None else _with_unit(spec, value)


def typed_number_message(error: TypedNumberError, spec: Mapping[str, Any]) -> str:
    """What is wrong with a number typed in a field, in the tablet's words, with an example
    that fits the field."""
    kind = spec.get("type")
    if error.reason == "not_number":
        if kind == "integer":
            return _("Type a whole number")
        example = example_text(spec)
        return _("Type a number, e.g. {example}").format(example=example)
    if error.reason == "unclear" and error.grouped:
        if kind == "integer":
            return _(UNCLEAR_GROUPED_WHOLE).format(grouped=error.grouped)
        return _(UNCLEAR_GROUPED).format(grouped=error.grouped, decimal=error.decimal)
    if error.reason == "unclear" and kind == "decimal":
        return _(UNCLEAR_DECIMAL).format(decimal=error.decimal)
    return _(MALFORMED_NUMBER).format(example=example_text(spec, grouped=True))


def _machine_number(text: str) -> Any:
    """A number the shared rules wrote into an issue's params (``format(value)``: "12",
    "2500.5"), never typed by a person; the text itself when it is not one."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


RANGE_MESSAGES: dict[str, str] = {
    "both": N_("Use a value from {low} to {high}"),
    "low": N_("Use a value of {low} or more"),
    "high": N_("Use a value of {high} or less"),
}
# An answer bounded by another answer (``"max": "${farmers_visited}"``).
FIELD_BOUND_MESSAGES: dict[str, str] = {
    "above_field": N_("At most the answer to “{other}”: {limit}"),
    "below_field": N_("At least the answer to “{other}”: {limit}"),
}


def value_message(
    item: Issue, spec: Mapping[str, Any] | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """A validation issue of one answer in the tablet's words; ``spec`` (the field) gives the
    bounds a range message names, ``labels`` the form's field labels by name."""
    spec = spec or {}
    if item.code in FIELD_BOUND_MESSAGES and item.params:
        other = item.params.get("other", "")
        return _(FIELD_BOUND_MESSAGES[item.code]).format(
            other=(labels or {}).get(other) or other,
            # the other answer, kept as text in the params: a number, or a date as it was
            limit=_bound_text(_machine_number(str(item.params.get("limit", "")))),
        )
    low, high = spec.get("min"), spec.get("max")
    if item.code in ("value_range", "date_implausible") and (low is not None or high is not None):
        key = (
            "both" if low is not None and high is not None else "low" if low is not None else "high"
        )
        return _(RANGE_MESSAGES[key]).format(
            low=_with_unit(spec, low) if low is not None else "",
            high=_with_unit(spec, high) if high is not None else "",
        )
    template = VALUE_MESSAGES.get(item.code)
    if template is not None:
        return _(template)
    if item.code == "not_number":
        # The example fits the field ("12.5 kg"): the activity form's is a latitude.
        return field_message(item, {"example": example_text(spec)})
    return field_message(item)


@dataclass(frozen=True, slots=True)
class ObservationSave:
    """What one press of Save writes, in one store transaction: the observation and its photos
    (``removed_photos`` are photos taken off it)."""

    observation: dict[str, Any]
    photos: tuple[Photo, ...]
    is_new: bool


def _typed_back(value: Any) -> str:
    """A stored answer as its box shows it: a number as the tablet's language types it."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return typed_text(value, language())
    return str(value)


class ObservationForm:
    """One observation being recorded or corrected against one form version.

    ``record`` is the stored observation when editing (its ``form_version`` is kept even when a
    newer version exists, as the server keeps it); ``today`` the best estimate of the server's
    date. Values are kept as the wire wants them; numbers and dates are typed as text and read
    on every change."""

    def __init__(
        self,
        *,
        form: Mapping[str, Any],
        project_id: str,
        today: date,
        record: Mapping[str, Any] | None = None,
        site_id: str | None = None,
        activity_id: str | None = None,
        photos: Iterable[Photo] = (),
        now: datetime | None = None,
    ) -> None:
        self.form = dict(form)
        self.fields = form_fields(self.form)
        self.today = today
        self.now = now
        self.is_new = record is None
        self.record: dict[str, Any] = dict(record or {})
        if record is None:
            self.record = {
                "id": str(uuid.uuid4()),
                "project_id": str(project_id),
                "site_id": site_id,
                "activity_id": activity_id,
                "form_id": str(self.form["id"]),
                "form_version": _version(self.form),
                "observed_on": today.isoformat(),
                "values": {},
                "notes": "",
            }
        self.values: dict[str, Any] = dict(self.record.get(VALUES) or {})
        # What each box shows: a stored number as the tablet's language types it ("2,5" in
        # French), so that it reads back as the same number.
        self.texts: dict[str, str] = {
            name: _typed_back(value)
            for name, value in self.values.items()
            if self.fields.get(name, {}).get("type") in ("integer", "decimal", "date", "text")
        }
        # Numbers typed in a way the language does not write them, refused before the shared
        # rules see them ("2,5" in English), by field name.
        self.typing_errors: dict[str, TypedNumberError] = {}
        self.observed_on = str(self.record.get("observed_on") or today.isoformat())
        self.notes = str(self.record.get("notes") or "")
        self.photos: list[Photo] = list(photos)
        self.touched: set[str] = set()
        self.show_all = False

    # -- what the screen shows --------------------------------------------------------------

    @property
    def title(self) -> str:
        return text_of(self.form.get("title")) or str(self.form.get("code") or "")

    @property
    def locked(self) -> bool:
        """Approved observations are locked until the office reopens them."""
        return self.record.get("status") == "approved"

    def labels(self) -> dict[str, str]:
        """Each field's label in the tablet's language, by name."""
        return {name: text_of(spec.get("label")) or name for name, spec in self.fields.items()}

    def views(self) -> list[FieldView]:
        labels = self.labels()
        return [field_view(spec, labels=labels) for spec in self.fields.values()]

    def asked(self) -> dict[str, bool]:
        return asked_fields(self.fields, self.values)

    def visible_names(self) -> list[str]:
        asked = self.asked()
        return [name for name in self.fields if asked.get(name)]

    def visible(self) -> list[FieldView]:
        """The fields the form asks given the answers so far, in form order."""
        asked = self.asked()
        return [v for v in self.views() if asked.get(v.name)]

    # -- typing ------------------------------------------------------------------------------

    def set_text(self, name: str, text: str) -> None:
        """A typed answer (numbers, dates, text)."""
        spec = self.fields[name]
        kind = spec.get("type")
        self.texts[name] = text
        self.touched.add(name)
        if kind in ("integer", "decimal"):
            # Read in the tablet's language, never guessed: "2,500" is 2500 in English and
            # "2,5" there is refused, where every comma once read as a decimal mark.
            self.typing_errors.pop(name, None)
            try:
                self.values[name] = read_typed_number(text, language())
            except TypedNumberError as refused:
                self.values[name] = text.strip()  # the shared rules refuse it too
                self.typing_errors[name] = refused
        else:
            self.values[name] = text.strip() or None
        self._tidy()

    def choose(self, name: str, code: str | None) -> None:
        """A select_one's choice (tapping the chosen one again clears it) or a boolean."""
        spec = self.fields[name]
        self.touched.add(name)
        if spec.get("type") == "boolean":
            self.values[name] = code if isinstance(code, bool) else None
        else:
            self.values[name] = None if code in (None, "", self.values.get(name)) else code
        self._tidy()

    def set_boolean(self, name: str, value: bool | None) -> None:
        self.touched.add(name)
        self.values[name] = None if value is None or self.values.get(name) is value else value
        self._tidy()

    def toggle(self, name: str, code: str) -> None:
        """A select_multiple's toggle."""
        self.touched.add(name)
        picked = list(self.values.get(name) or [])
        if code in picked:
            picked.remove(code)
        else:
            picked.append(code)
        order = [str(c.get("code")) for c in self.fields[name].get("choices") or ()]
        picked.sort(key=lambda c: order.index(c) if c in order else len(order))
        self.values[name] = picked or None
        self._tidy()

    def _tidy(self) -> None:
        self.values = {k: v for k, v in self.values.items() if v not in (None, "", [])}

    def set_site(self, site_id: str | None) -> None:
        self.record["site_id"] = site_id or None

    def add_photo(self, photo: Photo) -> bool:
        """Add a photo; False (and nothing added) when the same photo is already on it."""
        if any(p.sha256 == photo.sha256 for p in self.photos):
            return False
        self.photos.append(photo)
        return True

    def remove_photo(self, photo_id: str) -> None:
        self.photos = [p for p in self.photos if p.id != photo_id]

    def set_observed_on(self, text: str) -> None:
        self.observed_on = text.strip()
        self.touched.add("observed_on")

    # -- checking ------------------------------------------------------------------------------

    def answers(self) -> dict[str, Any]:
        """The answers to store: only asked fields (an unasked field is not stored)."""
        asked = self.asked()
        return {k: v for k, v in self.values.items() if asked.get(k)}

    def check(self) -> dict[str, str]:
        """Problems by field name (``observed_on`` included), in the tablet's words."""
        _clean, issues = validate_values(self.answers(), self.form)
        errors: dict[str, str] = {}
        labels = self.labels()
        for item in issues:
            name = item.field.split(".", 1)[1] if "." in item.field else item.field
            name = name.split("[", 1)[0]
            errors.setdefault(name, value_message(item, self.fields.get(name), labels))
        asked = self.asked()
        for name, refused in self.typing_errors.items():
            if asked.get(name):
                errors[name] = typed_number_message(refused, self.fields[name])
        try:
            day = date.fromisoformat(self.observed_on)
        except ValueError:
            errors["observed_on"] = _("Write the date as YYYY-MM-DD, e.g. 2025-03-14")
        else:
            if (day - self.today).days > FUTURE_DAYS:
                errors["observed_on"] = _(
                    "This date is in the future; use {limit} or earlier"
                ).format(
                    limit=dates.in_words((self.today + timedelta(days=FUTURE_DAYS)).isoformat())
                )
        return errors

    def shown_errors(self) -> dict[str, str]:
        """Errors next to fields touched so far, or every field after a Save was pressed."""
        errors = self.check()
        if self.show_all:
            return errors
        return {k: v for k, v in errors.items() if k in self.touched}

    def to_save(self) -> ObservationSave | None:
        """The records to write, or None (then every problem shows) when something is wrong."""
        self.show_all = True
        if self.locked or self.check():
            return None
        clean, _issues = validate_values(self.answers(), self.form)
        record = {
            **self.record,
            "observed_on": self.observed_on,
            "values": clean,
            # Blank notes left blank stay as the server sent them ("" or null): not a change.
            "notes": self.notes.strip()
            or ("" if self.record.get("notes") else self.record.get("notes")),
        }
        if self.is_new:
            record["captured_at"] = (self.now or datetime.now().astimezone()).isoformat()
        return ObservationSave(record, tuple(self.photos), self.is_new)


# -- the project's observations ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationRow:
    id: str
    title: str
    subtitle: str
    state: str
    state_label: str
    status_label: str
    comment: str = ""
    retired: bool = False


def returned_comment(data: Mapping[str, Any]) -> str:
    returns = [
        r
        for r in data.get("reviews") or ()
        if isinstance(r, Mapping) and r.get("action") == "return"
    ]
    return str(returns[-1].get("comment") or "") if returns else ""


def _first_choices(data: Mapping[str, Any], form: Mapping[str, Any], count: int = 2) -> list[str]:
    """The first select answers in words ("Potato", "Demonstration"): what tells one
    measurement of a form from another in a list."""
    held = data.get(VALUES)
    values: Mapping[str, Any] = held if isinstance(held, Mapping) else {}
    found: list[str] = []
    for spec in form.get("fields") or ():
        if len(found) == count:
            break
        if not isinstance(spec, Mapping) or spec.get("type") != "select_one":
            continue
        code = values.get(str(spec.get("name")))
        for choice in spec.get("choices") or ():
            if isinstance(choice, Mapping) and choice.get("code") == code:
                found.append(text_of(choice.get("label")) or str(code))
    return found


def rows(
    observations: Sequence[tuple[Mapping[str, Any], str]],
    forms: Sequence[Mapping[str, Any]],
    *,
    site_names: Mapping[str, str] | None = None,
) -> list[ObservationRow]:
    """``observations`` are (record, shown state) pairs; newest ``observed_on`` first."""
    by_id = {str(f.get("id")): f for f in forms}
    retired_codes = {
        code
        for code in {f.get("code") for f in forms}
        if (latest := max((f for f in forms if f.get("code") == code), key=_version))
        and latest.get("status") == "retired"
    }
    found = []
    ordered = sorted(observations, key=lambda o: str(o[0].get("observed_on") or ""), reverse=True)
    for data, state in ordered:
        form = by_id.get(str(data.get("form_id"))) or {}
        site = (site_names or {}).get(str(data.get("site_id") or ""), "")
        answers = _first_choices(data, form)
        observed_on = dates.in_words(str(data.get("observed_on") or ""))
        subtitle = " · ".join(p for p in (observed_on, *answers, site) if p)
        status = str(data.get("status") or "")
        found.append(
            ObservationRow(
                id=str(data["id"]),
                title=text_of(form.get("title")) or str(form.get("code") or _("(unknown form)")),
                subtitle=subtitle,
                state=state,
                state_label=_(STATE_LABELS.get(state, state)),
                status_label=_(STATUS_LABELS[status]) if status in STATUS_LABELS else "",
                comment=returned_comment(data) if state == "returned" else "",
                retired=form.get("code") in retired_codes,
            )
        )
    return found


def _answer_label(name: str, forms_fields: Mapping[str, Mapping[str, Any]]) -> str:
    """A wire field of an observation in words: ``values.harvest_kg`` -> "Harvest"."""
    if name.startswith(VALUES + "."):
        spec = forms_fields.get(name[len(VALUES) + 1 :])
        return text_of(spec.get("label")) if spec else name[len(VALUES) + 1 :]
    return {
        "observed_on": _("Date of the measurement"),
        "site_id": _("Site"),
        "notes": _("Notes"),
    }.get(name, name)


def _answer_text(name: str, value: Any, fields: Mapping[str, Mapping[str, Any]]) -> str:
    spec = fields.get(name[len(VALUES) + 1 :]) if name.startswith(VALUES + ".") else None
    if spec is not None and value is not None:
        labels = {
            str(c.get("code")): text_of(c.get("label"))
            for c in spec.get("choices") or ()
            if isinstance(c, Mapping)
        }
        if isinstance(value, list):
            return ", ".join(labels.get(str(v), str(v)) for v in value)
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if str(value) in labels:
            return labels[str(value)]
    return show_value(name, value)


def attention_item(
    record: Any,
    forms: Sequence[Mapping[str, Any]],
    *,
    site_names: Mapping[str, str] | None = None,
) -> AttentionItem:
    """An observation in Needs attention (``record`` a ``LocalRecord`` returned, in conflict or
    refused): the office's comment or the server's reasons, and what differs answer by answer."""
    data = record.data
    version = form_version(forms, str(data.get("form_id")), int(data.get("form_version") or 0))
    fields = form_fields(version or {})
    if record.state == "returned":
        reason = _("Returned by the country office: {comment}").format(
            comment=record.comment or _("(no comment)")
        )
    elif record.state == "conflict":
        reason = _(
            "The same answers were changed on the server too. The server kept its values; open "
            "the measurement, correct it and save."
        )
    else:
        reason = _("The server refused the last change. Correct it and save again.")
    differences = tuple(
        Difference(
            name,
            _answer_label(name, fields),
            _answer_text(name, record.mine.get(name), fields),
            _answer_text(name, record.theirs.get(name), fields),
        )
        for name in record.conflict_fields
    )
    errors = tuple(
        (
            _answer_label(str(e.get("field") or ""), fields) if e.get("field") else "",
            server_message(e),
        )
        for e in record.errors
    )
    site = (site_names or {}).get(str(data.get("site_id") or ""), "")
    title = text_of((version or {}).get("title")) or _("Measurement")
    return AttentionItem(
        id=record.id,
        title=title,
        subtitle=" · ".join(
            p
            for p in (dates.in_words(str(data.get("observed_on") or "")), _("Measurement"), site)
            if p
        ),
        state=record.state,
        reason=reason,
        differences=differences,
        errors=errors,
    )


__all__ = [
    "FieldView",
    "ObservationForm",
    "ObservationRow",
    "ObservationSave",
    "attention_item",
    "field_view",
    "form_version",
    "offered_forms",
    "rows",
    "text_of",
]
