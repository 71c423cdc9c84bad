"""English, French, Portuguese and Spanish: every message has a translation in each language,
placeholders survive translation, numbers and dates follow the reader's locale."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from server.dashboard import i18n
from server.dashboard.i18n import Translator, country_names, extract_messages, pick_language
from server.dashboard.session import LANGUAGE_COOKIE
from server.dashboard.web import by_name
from shared.catalogue import TOPICS
from tests.server.dashboard.conftest import main_of
from tests.server.dashboard.conftest import sign_in as start_session
from tests.server.dashboard.world import World

# %(name)s and its kin, and {name} (also in "${field}", an XLSForm reference shown as typed)
PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|\{[^{}]*\}")


TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT_LANGUAGE]


def _catalog(language: str) -> Catalog:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        return read_po(po, locale=language)


def test_the_dashboard_speaks_four_languages() -> None:
    assert list(i18n.LANGUAGES) == ["en", "fr", "pt", "es"]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_in_the_code_and_templates_has_a_translation(language: str) -> None:
    catalog = _catalog(language)
    extracted = [m.id for m in extract_messages() if m.id]
    assert len(extracted) > 200
    untranslated = []
    for message_id in extracted:
        entry = catalog.get(message_id)
        strings = (
            ()
            if entry is None
            else (entry.string if isinstance(entry.string, tuple) else (entry.string,))
        )
        if entry is None or entry.fuzzy or not strings or not all(strings):
            untranslated.append(message_id)
    assert untranslated == [], "run: .venv/bin/python -m server.dashboard.i18n"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder(language: str) -> None:
    for entry in _catalog(language):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert len(strings) == len(ids), entry.id  # as many plural forms as the rule needs
        wanted = sorted(PLACEHOLDER.findall(str(ids[-1])))
        for text in strings:
            assert sorted(PLACEHOLDER.findall(str(text))) == wanted, entry.id


# What French typography asks of a translation: the typographic apostrophe (’), and a narrow
# no-break space (U+202F) inside « » and before : ; ? ! so that none of them starts a line.
QUOTED_CODE = re.compile(r"'[^']*'")  # typed syntax quoted from the English: ${field} = 'code'
LOOSE_SPACE = re.compile(r"[ \u00a0][:;?!»]|«[ \u00a0]|«[^\u202f]|[^\u202f]»")


def test_french_translations_keep_french_typography() -> None:
    faults = []
    for entry in _catalog("fr"):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        code = set(QUOTED_CODE.findall(str(ids[-1])))
        for text in entry.string if isinstance(entry.string, tuple) else (entry.string,):
            prose = str(text)
            for quoted in code:
                prose = prose.replace(quoted, "")
            if "'" in prose or LOOSE_SPACE.search(prose):
                faults.append(text)
    assert faults == []


def test_french_plurals_follow_french_rules() -> None:
    t = Translator("fr")
    assert t.ngettext("%(num)s photo", "%(num)s photos", 0) == "0 photo"
    assert t.ngettext("%(num)s photo", "%(num)s photos", 1) == "1 photo"
    assert t.ngettext("%(num)s photo", "%(num)s photos", 2) == "2 photos"
    en = Translator("en")
    assert en.ngettext("%(num)s photo", "%(num)s photos", 0) == "0 photos"


def test_labels_numbers_and_dates_follow_the_language() -> None:
    fr, en = Translator("fr"), Translator("en")
    assert fr.label("activity_type", "farmer_training") == "Formation d’agriculteurs"
    assert en.label("activity_type", "farmer_training") == "Farmer training"
    assert en.label("activity_type", "something_new") == "something_new"
    assert en.label("status", None) == "–"
    assert fr.number(12345.67, 1) == "12\u202f345,7"
    assert en.number(12345.67, 1) == "12,345.7"
    assert fr.percent(58.64, 1) == "58,6\u00a0%"
    assert fr.date(date(2025, 3, 14)) == "14\u00a0mars\u00a02025"
    now = datetime(2025, 3, 14, 12, tzinfo=UTC)
    assert en.ago(now - timedelta(hours=3), now) == "3 hours ago"
    assert fr.ago(now - timedelta(hours=3), now) == "il y a 3 heures"


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_a_date_stays_on_one_line(language: str) -> None:
    # "4 sept. 2026" was written with ordinary spaces: a narrow column or a line of a report
    # could end inside a date ("4 sept." then "2026" on the next line).
    t = Translator(language)
    day = date(2026, 9, 4)
    shown = [t.date(day), t.date(day, "long"), t.date(date(2026, 7, 1)), t.month(day)]
    for text in shown:
        assert " " not in text and "\u00a0" in text, (language, text)
    # a date and time: the date whole, then the time; the line may break between them
    stamp = t.datetime(datetime(2026, 9, 4, 14, 5, tzinfo=UTC))
    assert stamp.startswith(t.date(day)), stamp
    assert stamp.count(" ") <= 1, stamp


def test_french_dates_are_bound_by_no_break_spaces() -> None:
    fr = Translator("fr")
    assert fr.date(date(2026, 9, 4)) == "4\u00a0sept.\u00a02026"
    assert fr.date(date(2026, 7, 1)) == "1er\u00a0juil.\u00a02026"
    assert fr.date(date(2026, 7, 1), "long") == "1er\u00a0juillet\u00a02026"
    assert fr.month(date(2026, 9, 1)) == "sept.\u00a02026"
    stamp = fr.datetime(datetime(2026, 7, 1, 9, 5, tzinfo=UTC))
    assert stamp == "1er\u00a0juil.\u00a02026, 09:05:00\u00a0UTC"


def test_templates_escape_values_inside_translations() -> None:
    t = Translator("fr")
    rendered = t.jinja_gettext("by %(name)s", name="<b>x</b>")
    assert str(rendered) == "par &lt;b&gt;x&lt;/b&gt;"


def test_the_chosen_language_wins_then_the_browser_then_english() -> None:
    assert pick_language("fr", "en-GB") == "fr"
    assert pick_language(None, "fr-CA,fr;q=0.8") == "fr"
    assert pick_language("de", "de-DE,es;q=0.5") == "es"
    assert pick_language("de", "de-DE,it;q=0.5") == "en"
    assert pick_language(None, None) == "en"


def test_portuguese_and_spanish_plurals() -> None:
    for language, one, many in (
        ("pt", "1 fotografia", "fotografias"),
        ("es", "1 foto", "fotos"),
    ):
        t = Translator(language)
        assert t.ngettext("%(num)s photo", "%(num)s photos", 1) == one
        assert t.ngettext("%(num)s photo", "%(num)s photos", 0) == f"0 {many}"
        assert t.ngettext("%(num)s photo", "%(num)s photos", 2) == f"2 {many}"
    assert Translator("pt").label("activity_type", "farmer_training") == (
        "Formação de agricultores"
    )
    assert Translator("es").number(12345.67, 1) == "12.345,7"
    assert pick_language(None, "pt-MZ,pt;q=0.9") == "pt"
    assert pick_language(None, "es-419") == "es"


def test_the_language_switch_offers_all_four(client: TestClient, world: World) -> None:
    html = client.get("/login").text
    offered = re.findall(r'name="language" value="(\w+)"', html)
    assert offered == ["en", "fr", "pt", "es"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    for language, sign_in in (("pt", "Iniciar sessão"), ("es", "Iniciar sesión")):
        client.post("/language", data={"csrf_token": token.group(1), "language": language})
        page = client.get("/login").text
        assert f'<html lang="{language}">' in page and sign_in in page


@pytest.mark.parametrize(
    ("language", "ethiopia"), [("en", "Ethiopia"), ("fr", "Éthiopie"), ("pt", "Etiópia")]
)
def test_country_names_are_in_the_readers_language(
    client: TestClient, engine: Engine, world: World, language: str, ethiopia: str
) -> None:
    # The country filter of the overview, the projects list and a project's page all named
    # countries in English whatever the language chosen.
    start_session(client, engine, world.admin)
    client.cookies.set(LANGUAGE_COOKIE, language)
    for path in ("/overview", "/projects", f"/projects/{world.eth.id}"):
        page = main_of(client.get(path).text)
        assert ethiopia in page, path
        if language != "en":
            assert "Ethiopia" not in page, path
    assert Translator("es").country("ETH") == "Etiopía"
    assert Translator("fr").country("XXX") == "XXX"


def test_solution_and_topic_names_are_in_the_readers_language(
    client: TestClient, engine: Engine, world: World
) -> None:
    # A project's solutions and an activity's topic were named in English whatever the
    # language, though the tablet has them in all four.
    start_session(client, engine, world.officer)
    client.cookies.set(LANGUAGE_COOKIE, "fr")
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    assert "Développement du commerce électronique rural" in page
    assert "Rural E-commerce Development" not in page
    activity = next(a for a in world.approved if a.topic)
    assert activity.topic is not None
    english = TOPICS[activity.topic].name
    page = main_of(client.get(f"/activities/{activity.id}").text)
    assert Translator("fr").gettext(english) != english
    assert Translator("fr").gettext(english) in page and english not in page


# The WFP regions' names as each language writes them (the bureaux' cities too).
JOHANNESBURG = {
    "en": "Southern Africa (Johannesburg)",
    "fr": "Afrique australe (Johannesburg)",
    "pt": "África Austral (Joanesburgo)",
    "es": "África Meridional (Johannesburgo)",
}
NAIROBI = {
    "en": "Eastern Africa (Nairobi)",
    "fr": "Afrique de l’Est (Nairobi)",
    "pt": "África Oriental (Nairóbi)",
    "es": "África Oriental (Nairobi)",
}


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_region_names_are_in_the_readers_language(
    client: TestClient, engine: Engine, world: World, language: str
) -> None:
    # The Reports page's region filter offered "RBJ" and "RBN", and the report said "Southern
    # Africa (Johannesburg)" to a French, Portuguese or Spanish reader.
    t = Translator(language)
    assert t.region("RBJ") == JOHANNESBURG[language]
    assert t.region("RBC").endswith(
        {"en": "(Cairo)", "fr": "(Le Caire)", "pt": "(Cairo)", "es": "(El Cairo)"}[language]
    )
    assert t.region("XXX") == "XXX"
    if language != "en":
        english = i18n.region_names("en")
        for code, name in i18n.region_names(language).items():
            assert name != english[code], (language, code)
    start_session(client, engine, world.hq)
    client.cookies.set(LANGUAGE_COOKIE, language)
    page = main_of(client.get("/reports").text)
    select = page[page.find('name="region"') : page.find("</select>", page.find('name="region"'))]
    assert f'<option value="RBJ" >{JOHANNESBURG[language]}</option>' in select
    assert f'<option value="RBN" >{NAIROBI[language]}</option>' in select
    if language != "en":
        assert JOHANNESBURG["en"] not in page and NAIROBI["en"] not in page


@pytest.mark.parametrize(
    ("language", "achievement", "change", "points", "number"),
    [
        ("en", "−43\u00a0%", "−25\u00a0%", "−1.5\u00a0pts", "−1,234.5"),
        ("fr", "−43\u00a0%", "−25\u00a0%", "−1,5\u00a0pts", "−1\u202f234,5"),
        ("pt", "−43\u00a0%", "−25\u00a0%", "−1,5\u00a0pp", "−1.234,5"),
        ("es", "−43\u00a0%", "−25\u00a0%", "−1,5\u00a0pp", "−1.234,5"),
    ],
)
def test_negative_numbers_are_written_with_the_minus_sign(
    language: str, achievement: str, change: str, points: str, number: str
) -> None:
    # An achievement below its baseline read "-43 %" with a hyphen where the report's changes
    # read "−25 %": one sign for every negative number, in every language.
    t = Translator(language)
    assert t.percent(-43.2) == achievement
    assert t.change(-25.4) == change
    assert t.change(-1.54, 1, points=True) == points
    assert t.number(-1234.5, 1) == number
    assert t.change(12.4) == "+12\u00a0%"
    assert t.change(0.3) == "±0\u00a0%"  # rounds to nothing: no sign, and never "−0"
    assert t.number(-0.2) == "0" and t.percent(-0.04, 1) == t.percent(0, 1)
    assert t.change(None) == t.percent(None) == "–"


# A number filled into a message and the unit after it ("%(num)s MB") wrapped apart on a narrow
# screen: a no-break space holds them together, in the English source and every translation.
LOOSE_UNIT = re.compile(r"%\(\w+\)s (?:km|m|kg|ha|Go|Mo|Ko|GB|MB|KB|%|pts|pp)(?!\w)")


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_number_in_a_message_keeps_its_unit(language: str) -> None:
    loose = []
    for entry in _catalog(language):
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        loose += [text for text in (*ids, *strings) if text and LOOSE_UNIT.search(str(text))]
    assert loose == []


def test_countries_to_pick_from_come_in_the_order_of_their_names() -> None:
    """Lesotho before Sri Lanka, Malawi before Mozambique (their codes say otherwise), and
    the accented French names among their letters, not after Z."""
    english = by_name(["LKA", "MOZ", "LSO", "MWI"], country_names("en"))
    assert english == ["LSO", "MWI", "MOZ", "LKA"]
    french = country_names("fr")
    assert [french[c] for c in by_name(["ZMB", "ETH", "EGY", "KEN"], french)] == [
        "Égypte",
        "Éthiopie",
        "Kenya",
        "Zambie",
    ]
