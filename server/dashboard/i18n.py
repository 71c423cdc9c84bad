"""The dashboard's languages: gettext catalogs (English source; French, Portuguese and
Spanish under ``locale/``),
compiled in memory at first use, plus locale-aware numbers and dates and the names of the
catalogue's codes.

The catalogues are kept up to date with::

    .venv/bin/python -m server.dashboard.i18n   # extract, then merge into {fr,pt,es}/messages.po

and a test fails when a message in the code or templates lacks a translation in any of them.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.core import Locale, get_global
from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal, format_scientific
from babel.support import NullTranslations, Translations
from markupsafe import Markup

from shared.catalogue import SOLUTIONS, THEMATIC_AREAS, TOPICS
from shared.errors import EXPLANATIONS
from shared.geography import COUNTRIES, REGIONS
from shared.typography import coordinate, is_zero, minus_sign, unbroken
from shared.units import messages as unit_messages
from shared.units import unit_text

PACKAGE_DIR = Path(__file__).parent
LOCALE_DIR = PACKAGE_DIR / "locale"
DOMAIN = "messages"
LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français", "pt": "Português", "es": "Español"}
# The plural rule of a new catalogue, as the tablet app's: one form for 1, another for the rest
# ("0 fotografias"); Babel's CLDR rules would add a third form for millions.
PLURAL_FORMS = {"pt": "nplurals=2; plural=(n != 1);", "es": "nplurals=2; plural=(n != 1);"}
DEFAULT_LANGUAGE = "en"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHOD_MAP = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
EXTRACT_OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


# Names of the catalogue's codes, translated where they are shown.
LABELS: dict[str, dict[str, str]] = {
    "activity_type": {
        "demonstration": N_("Demonstration"),
        "farmer_training": N_("Farmer training"),
        "field_day": N_("Field day"),
        "workshop": N_("Workshop"),
        "seminar": N_("Seminar"),
        "webinar": N_("Webinar"),
        "study_tour": N_("Study tour"),
        "exchange_visit": N_("Exchange visit"),
        "expert_deployment": N_("Expert deployment"),
        "farmer_to_farmer": N_("Farmer to farmer"),
        "roundtable": N_("Roundtable"),
        "high_level_visit": N_("High-level visit"),
        "research": N_("Research"),
        "other": N_("Other"),
    },
    "status": {
        "draft": N_("Draft"),
        "submitted": N_("Submitted"),
        "approved": N_("Approved"),
        "returned": N_("Returned"),
        "deleted": N_("Deleted"),
    },
    "sex": {"female": N_("Women"), "male": N_("Men"), "unspecified": N_("Unspecified")},
    "age_band": {
        "youth": N_("Youth (15–35)"),
        "adult": N_("Adults (36–59)"),
        "senior": N_("Seniors (60+)"),
        "unspecified": N_("Age unspecified"),
    },
    "category": {
        "farmer": N_("Farmers"),
        "technician": N_("Technicians"),
        "official": N_("Officials"),
        "other": N_("Others"),
    },
    "delivery": {"in_person": N_("In person"), "online": N_("Online"), "hybrid": N_("Hybrid")},
    "modality": {
        "P": N_("Policy support"),
        "T": N_("Technical cooperation"),
        "K": N_("Knowledge sharing"),
    },
    "level": {"L1": N_("Policy"), "L2": N_("Institutional"), "L3": N_("Community")},
    "value_chain_stage": {
        "production": N_("Production"),
        "storage": N_("Storage"),
        "processing": N_("Processing"),
        "marketing": N_("Marketing"),
    },
    "role": {
        "field_expert": N_("Field expert"),
        "country_officer": N_("Country officer"),
        "hq_analyst": N_("HQ analyst"),
        "admin": N_("Administrator"),
    },
    "kind": {"CPP": N_("Country Pilot Project"), "DAA": N_("Demonstration by peers (DAA)")},
    "thematic_area": {
        "TA1": N_("Value Chain Development for Smallholders"),
        "TA2": N_("Post-harvest Loss Management and Food Systems"),
        "TA3": N_("Disaster Risk Reduction and Climate Change Resilience"),
        "TA4": N_("Innovative Poverty Alleviation Initiative"),
    },
    "thematic_area_short": {
        "TA1": N_("Value chains"),
        "TA2": N_("Post-harvest"),
        "TA3": N_("Risk & climate"),
        "TA4": N_("Poverty alleviation"),
    },
    "indicator": {
        "ACTIVITIES": N_("Activities"),
        "DEMONSTRATIONS": N_("Demonstrations"),
        "TRAININGS": N_("Farmer trainings"),
        "PARTICIPANTS": N_("Participants"),
        "WOMEN_PARTICIPANTS": N_("Women participants"),
        "WOMEN_SHARE": N_("Women's share"),
        "YOUTH_PARTICIPANTS": N_("Youth participants"),
        "PWD_PARTICIPANTS": N_("Participants with a disability"),
        "UNIQUE_PARTICIPANTS": N_("Unique participants"),
        "COUNTRIES_REACHED": N_("Countries reached"),
        "EXPERT_DAYS": N_("Expert days"),
        "TARGET_ACHIEVEMENT": N_("Achievement against target"),
    },
    "field": {
        "project_id": N_("Project"),
        "site_id": N_("Site"),
        "type": N_("Type"),
        "title": N_("Title"),
        "start_date": N_("Start date"),
        "end_date": N_("End date"),
        "topic": N_("Topic"),
        "modality": N_("Modality"),
        "level": N_("Level"),
        "delivery": N_("Delivery"),
        "value_chain_stage": N_("Value-chain stage"),
        "facilitators": N_("Facilitators"),
        "experts_count": N_("Experts"),
        "location": N_("GPS location"),
        "notes": N_("Notes"),
        "attendance": N_("Attendance"),
        "participant_ids": N_("Roster participants"),
        "status": N_("Status"),
        "captured_at": N_("Captured on the tablet"),
        "deleted": N_("Deleted"),
        # sites, participants, photos and observations (their sync conflicts)
        "name": N_("Name"),
        "admin_area": N_("Administrative area"),
        "lat": N_("Latitude"),
        "lon": N_("Longitude"),
        "code": N_("Code"),
        "sex": N_("Sex"),
        "birth_year": N_("Year of birth"),
        "category": N_("Category"),
        "disability": N_("Disability"),
        "caption": N_("Caption"),
        "observed_on": N_("Observed on"),
        "activity_id": N_("Activity"),
    },
    "source": {
        "push": N_("from a tablet"),
        "api": N_("through the API"),
        "review": N_("by review"),
        "bundle": N_("from an offline bundle"),
        "resolve": N_("by resolving a conflict"),
        "demo": N_("demo data"),
    },
    "flag": {
        "topic_not_in_project": N_("Topic outside the project's solutions"),
        "modality_not_allowed": N_("Modality unusual for this solution"),
        "solution_outside_area": N_("Solution outside the thematic area"),
        "likely_duplicate": N_("Likely duplicate"),
        "gps_far_from_site": N_("GPS far from the site"),
        "attendance_unusual": N_("Attendance far above usual"),
        "photo_reused": N_("Photo used by another activity"),
        "reporting_lag": N_("Reached the server over 30 days after it ended"),
        "no_participants": N_("Nobody counted"),
    },
    "entity": {
        "activity": N_("Activity"),
        "attachment": N_("Photo"),
        "observation": N_("Observation"),
        "participant": N_("Participant"),
        "site": N_("Site"),
    },
    "conflict_status": {
        "open": N_("Open"),
        "resolved": N_("Resolved"),
        "superseded": N_("Superseded"),
    },
    "conflict_side": {"server": N_("server's"), "device": N_("tablet's"), "custom": N_("chosen")},
    "review_action": {
        "approve": N_("Approved"),
        "return": N_("Returned"),
        "reopen": N_("Reopened"),
    },
    "group_by": {
        "period:month": N_("Month"),
        "period:quarter": N_("Quarter"),
        "period:year": N_("Year"),
        "region": N_("Region"),
        "country": N_("Country"),
        "project": N_("Project"),
        "site": N_("Site"),
        "thematic_area": N_("Thematic area"),
        "solution": N_("Solution"),
        "topic": N_("Topic"),
        "modality": N_("Modality"),
        "level": N_("Level"),
        "activity_type": N_("Activity type"),
        "delivery": N_("Delivery"),
        "sex": N_("Sex"),
        "age_band": N_("Age band"),
        "category": N_("Participant category"),
        "disability": N_("Disability"),
    },
}
assert set(LABELS["thematic_area"]) == set(THEMATIC_AREAS)


# --- catalogs -------------------------------------------------------------------------------


def _po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language`` (English is the source: no catalog needed)."""
    path = _po_path(language)
    if language == DEFAULT_LANGUAGE or not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


@lru_cache(maxsize=len(LANGUAGES))
def country_names(language: str) -> dict[str, str]:
    """Every country's short name in ``language``: the catalogue's own (WFP usage) in English,
    CLDR's (through Babel) in the others, the English name where CLDR has none."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return {iso3: country.name for iso3, country in COUNTRIES.items()}
    territories = Locale.parse(language).territories
    alpha2 = get_global("territory_aliases")  # ISO 3166 alpha-3 -> [alpha-2]
    names = {}
    for iso3, country in COUNTRIES.items():
        codes = alpha2.get(iso3) or []
        names[iso3] = str(territories.get(codes[0]) or country.name) if codes else country.name
    return names


@lru_cache(maxsize=len(LANGUAGES))
def region_names(language: str) -> dict[str, str]:
    """Every WFP region's name in ``language`` (its bureau's city as the language writes it),
    from the catalogs: CLDR has no names for them."""
    t = Translator(language)
    return {code: t.gettext(region.name) for code, region in REGIONS.items()}


@lru_cache(maxsize=2 * len(LANGUAGES))
def catalogue_names(language: str, vocabulary: str) -> dict[str, str]:
    """The names of the catalogue's solutions or topics (``vocabulary``) in ``language``."""
    entries = SOLUTIONS if vocabulary == "solution" else TOPICS
    t = Translator(language)
    return {code: t.gettext(entry.name) for code, entry in entries.items()}


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The reader's choice if made, else the first supported language the browser asks for."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


def decimal_text(value: float | int, pattern: str, language: str) -> str:
    """``value`` written with ``pattern`` in ``language``; in scientific notation when it has
    more digits than a decimal can round (a target typed as 1e30 must not break a page).
    Negative with the minus sign ("−43", shared.typography), as every number for people."""
    try:
        text = format_decimal(value, format=pattern, locale=language)
    except InvalidOperation:
        text = format_scientific(value, format="0.###E0", locale=language)
    return minus_sign(text)


# The day "1" written before a month's name (not "01/07/2026", not the "1" of "11" or "2021").
_FRENCH_FIRST = re.compile(r"(?<![\d/.-])1(?= [^\W\d])")


@dataclass(frozen=True, slots=True)
class Translator:
    """Everything a page needs to speak the reader's language."""

    language: str

    @property
    def _catalog(self) -> NullTranslations:
        return translations(self.language)

    def gettext(self, message: str, **values: Any) -> str:
        text = self._catalog.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = self._catalog.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def unit(
        self, unit: str | None, labels: Mapping[str, str] | None = None, count: Any = None
    ) -> str:
        """A unit in the reader's language (shared.units): the form's own translation
        (``labels``), a symbol as it is written, a known word in the singular or plural
        ``count`` asks for (the plural without one), else as the author typed it."""
        return unit_text(unit, self.language, self._catalog.ngettext, labels=labels, count=count)

    def country(self, iso3: str) -> str:
        """A country's name in the reader's language; the code itself when unknown."""
        return country_names(self.language).get(iso3, iso3)

    def region(self, code: str) -> str:
        """A WFP region's name in the reader's language; the code itself when unknown."""
        return region_names(self.language).get(code, code)

    def label(self, vocabulary: str, code: str | None) -> str:
        if code is None or code == "":
            return "–"
        message = LABELS.get(vocabulary, {}).get(code)
        return self.gettext(message) if message else code

    def choices(self, vocabulary: str) -> list[tuple[str, str]]:
        return [(code, self.gettext(message)) for code, message in LABELS[vocabulary].items()]

    # numbers and dates in the reader's locale
    def number(self, value: float | int | None, decimals: int = 0) -> str:
        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return decimal_text(value, pattern, self.language)

    def percent(self, value: float | None, decimals: int = 0) -> str:
        if value is None:
            return "–"
        return self.number(value, decimals) + "\u00a0%"

    def coordinate(self, value: float | None, decimals: int = 4) -> str:
        """A latitude or longitude: "−29.3160" (decimal degrees, the minus sign)."""
        return "–" if value is None else coordinate(value, decimals)

    def points(self, value: float | None, decimals: int = 1) -> str:
        """A difference of two shares, in percentage points: "4,2\u00a0pts"."""
        if value is None:
            return "–"
        return self.number(value, decimals) + "\u00a0" + self.gettext("pts")

    def change(self, value: float | None, decimals: int = 0, *, points: bool = False) -> str:
        """A change with its sign, in % or in percentage points (a share's): "+12\u00a0%",
        "−25\u00a0%" (the minus sign, as every number), "±0\u00a0%" when it rounds to nothing."""
        if value is None:
            return "–"
        text = self.number(value, decimals)
        if is_zero(text):
            text = "±" + text
        elif value > 0:
            text = "+" + text
        return text + "\u00a0" + (self.gettext("pts") if points else "%")

    def date(self, value: dt.date | None, style: str = "medium") -> str:
        """A date, on one line: "4\u00a0sept.\u00a02026" (no-break spaces, shared.typography)."""
        if value is None:
            return "–"
        text = format_date(value, style, locale=self.language)
        return unbroken(self._first_of_month(value, text))

    def _first_of_month(self, value: dt.date, text: str) -> str:
        """French writes the first day of a month as an ordinal before the month's name
        ("1er juillet 2026", "1er juil. 2026"), which CLDR's patterns leave as "1"."""
        if self.language != "fr" or value.day != 1:
            return text
        return _FRENCH_FIRST.sub("1er", text, count=1)

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return "–"
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        # In UTC, and said so: readers and tablets sit in several time zones. The date stays on
        # one line, as the time does; a line may break between them.
        day = value.astimezone(dt.UTC).date()
        text = format_datetime(value, "medium", tzinfo=dt.UTC, locale=self.language)
        text = text.replace(format_date(day, "medium", locale=self.language), self.date(day), 1)
        return text + "\u00a0UTC"

    def ago(self, value: dt.datetime | None, now: dt.datetime) -> str:
        """ "3 days ago" in the reader's language."""
        if value is None:
            return self.gettext("never")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return format_timedelta(
            value - now, add_direction=True, threshold=1.0, locale=self.language
        )

    def month(self, value: dt.date) -> str:
        return unbroken(format_date(value, "MMM y", locale=self.language))

    def jinja_gettext(self, message: str, **values: Any) -> Markup:
        """``_()`` in templates: the translation is markup-safe, the values are escaped."""
        # Our own catalogs are trusted markup; the values are escaped by Markup's ``%``.
        text = Markup(self._catalog.gettext(message))  # noqa: S704
        return text % values if values else text

    def jinja_ngettext(self, singular: str, plural: str, n: int, **values: Any) -> Markup:
        text = Markup(self._catalog.ngettext(singular, plural, n))  # noqa: S704
        return text % {"num": n, **values}


# --- keeping the catalog up to date (a developer's tool) ------------------------------------


def extract_messages() -> Catalog:
    """Every message the dashboard's code and templates ask to translate."""
    catalog = Catalog(domain=DOMAIN, project="Pilot Monitor dashboard")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR),
        METHOD_MAP,
        options_map=EXTRACT_OPTIONS,
        keywords=KEYWORDS,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    # The error codes' words live in shared/ (one list for the tablet and the dashboard).
    for explanation in EXPLANATIONS.values():
        catalog.add(explanation, None, [("shared/errors.py", 0)])
    # The catalogue's solutions and topics, named in the reader's language (catalogue_names).
    for name in [s.name for s in SOLUTIONS.values()] + [t.name for t in TOPICS.values()]:
        catalog.add(name, None, [("shared/catalogue.py", 0)])
    # The units' words, singular and plural (Translator.unit).
    for singular, plural in unit_messages():
        catalog.add((singular, plural), None, [("shared/units.py", 0)])
    # The WFP regions, named in the reader's language (region_names).
    for region in REGIONS.values():
        catalog.add(region.name, None, [("shared/geography.py", 0)])
    return catalog


def update_catalog(language: str = "fr") -> list[str]:
    """Merge the extracted messages into ``language``'s .po; returns the untranslated ids."""
    template = extract_messages()
    path = _po_path(language)
    if path.exists():
        with path.open("rb") as po:
            catalog = read_po(po, locale=language, domain=DOMAIN)
    else:
        catalog = Catalog(locale=language, domain=DOMAIN)
        if language in PLURAL_FORMS:
            catalog.mime_headers = [("Plural-Forms", PLURAL_FORMS[language])]
    catalog.update(template, no_fuzzy_matching=True)
    catalog.fuzzy = False  # the header: its Plural-Forms must reach the compiled catalog
    catalog.project, catalog.version = "Pilot Monitor dashboard", "1"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as po:
        write_po(
            po,
            catalog,
            width=100,
            omit_header=False,
            sort_output=False,
            ignore_obsolete=True,
            include_previous=False,
        )
    translations.cache_clear()
    region_names.cache_clear()
    catalogue_names.cache_clear()
    return missing_translations(catalog)


def missing_translations(catalog: Catalog) -> list[str]:
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(str(message.id if isinstance(message.id, str) else message.id[0]))
    return missing


if __name__ == "__main__":
    untranslated = [
        f"{language}: {message_id}"
        for language in LANGUAGES
        if language != DEFAULT_LANGUAGE
        for message_id in update_catalog(language)
    ]
    for line in untranslated:
        print(f"untranslated: {line}")
    sys.exit(1 if untranslated else 0)
