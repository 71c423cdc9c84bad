"""Translations: every message of the app translated in French, Portuguese and Spanish, the
compiled catalogues in step with their sources, placeholders kept, switching live."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo

from field_app import i18n
from field_app.catalogues import extract, load, po_path, untranslated

PLACEHOLDER = re.compile(r"\{[^{}]*\}")
TRANSLATED = ("fr", "pt", "es")


def _strings(message: Message) -> tuple[str, ...]:
    value = message.string
    return tuple(str(v) for v in value) if isinstance(value, tuple | list) else (str(value),)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_in_the_code_is_in_the_catalogue(language: str) -> None:
    catalog = load(language)
    missing = [m for m in extract() if catalog.get(m if isinstance(m, str) else m[0]) is None]
    assert missing == [], f"run `python -m field_app.catalogues` and translate: {missing}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    assert untranslated(language) == []


def _content(catalog: Catalog) -> dict[object, object]:
    """What the app reads from a catalogue: each id with its translation(s), nothing incidental
    (headers such as ``Generated-By`` differ between Babel releases)."""

    def plain(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {plain(m.id): plain(m.string) for m in catalog if m.id and not m.fuzzy}


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_compiled_catalogue_matches_its_source(language: str) -> None:
    mo = po_path(language).with_suffix(".mo")
    with mo.open("rb") as handle:
        shipped = read_mo(handle)
    source = load(language)
    assert _content(shipped) == _content(source), (
        f"{mo} is stale: run `python -m field_app.catalogues`"
    )
    assert shipped.plural_forms == source.plural_forms


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders(language: str) -> None:
    for message in load(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(str(ids[-1])))
        for text in _strings(message):
            assert set(PLACEHOLDER.findall(text)) == wanted, (message.id, text)


def test_french_uses_the_typographic_apostrophe() -> None:
    # Some French messages read "d'envoi" where the rest of the catalogue writes "d’envoi".
    straight = [
        text for message in load("fr") if message.id for text in _strings(message) if "'" in text
    ]
    assert straight == []


def test_french_never_breaks_a_line_before_its_high_punctuation() -> None:
    # "En attente d’envoi : …" with a plain space could put the colon alone at the start of
    # the next line on a phone; French binds it with a no-break space (U+00A0: the tablet's
    # font has no narrow one).
    loose = [
        text
        for message in load("fr")
        if message.id
        for text in _strings(message)
        if re.search(r" [:;?!»]|« ", text)
    ]
    assert loose == []


def test_switching_language_translates_at_once_and_tells_listeners() -> None:
    heard: list[str] = []
    i18n.add_listener(heard.append)
    try:
        i18n.set_language("pt")
        assert i18n._("Save") == "Guardar"
        assert (
            i18n.ngettext("{n} photo ({size})", "{n} photos ({size})", 2)
            == "{n} fotografias ({size})"
        )
        i18n.set_language("fr")
        # French plural rule: 0 and 1 are singular.
        assert i18n.ngettext("{n} minute ago", "{n} minutes ago", 0) == "il y a {n} minute"
        i18n.set_language("es")
        assert i18n._("Sync now") == "Sincronizar"
        assert heard == ["pt", "fr", "es"]
        with pytest.raises(i18n.UnknownLanguage, match="choose one of en, fr, pt, es"):
            i18n.set_language("de")
        assert i18n.language() == "es"
    finally:
        i18n.remove_listener(heard.append)
        i18n.set_language("en")
    assert i18n._("Save") == "Save"


@pytest.mark.parametrize("language", TRANSLATED)
def test_settings_names_every_device_fact_in_the_language(language: str, tmp_path: Path) -> None:
    # Settings listed "Platform", "Machine" and "Python" in English in every language: the
    # labels were the device's dictionary keys, capitalised.
    from field_app.device import Device
    from field_app.session import FieldSession
    from tests.field_app.fakes import MemoryBackend

    backend = MemoryBackend()
    backend.enrol_as("amina", "https://pilot.example.org")
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path)
    try:
        i18n.set_language(language)
        labels = [label for label, _value in session.device_facts()]
        english = set(Device().facts()) | {key.capitalize() for key in Device().facts()}
        assert not english & set(labels), labels
        i18n.set_language("en")
        assert "System" in [label for label, _value in session.device_facts()]
    finally:
        i18n.set_language("en")


def _lesotho_form() -> Any:
    """An empty activity form of a Lesotho project, for the figures its totals line writes."""
    from field_app.controllers.form import ActivityForm

    return ActivityForm(
        project={
            "id": "p",
            "code": "LSO-CPP-01",
            "country": "LSO",
            "solutions": ["S1"],
            "start_date": "2024-01-01",
            "end_date": "2030-12-31",
        },
        sites=[],
        today=date(2025, 3, 14),
    )


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_a_percentage_never_breaks_from_its_sign(language: str) -> None:
    # "47 %" was built with an ordinary space: a narrow label could end a line on "47" and put
    # the "%" alone on the next. The tablet binds it as it groups numbers (i18n.GROUP_SPACE).
    from field_app.controllers.attendance import Cell, format_share
    from field_app.controllers.progress import ProgressLine
    from field_app.controllers.status import UploadNow, upload_text

    form = _lesotho_form()
    form.set_attendance(Cell("farmer", False, "female", "adult"), "3")
    form.set_attendance(Cell("farmer", False, "male", "adult"), "1")
    share = ProgressLine("WOMEN_SHARE", None, "2025", actual=47.4, target=50)
    try:
        i18n.set_language(language)
        shown = {
            "share": format_share(47.4),
            "progress": share.figures(),
            "totals": form.totals_text(),
            "upload": upload_text(UploadNow("p1", sent=120_000, size=310_000)),
        }
    finally:
        i18n.set_language("en")
    assert shown["share"] == "47\u00a0%"
    assert shown["progress"] == "47\u00a0% / 50\u00a0%"
    assert "(75\u00a0%)" in shown["totals"], shown
    assert "(38\u00a0%)" in shown["upload"], shown
    assert not any(" %" in text for text in shown.values()), shown


@pytest.mark.parametrize(
    ("language", "waiting", "summary"),
    [
        (
            "en",
            "Waiting to be sent: 1,234 records, 2 photos (4.2 MB)",
            "12,345 participants · 6,000 women (49\u00a0%)",
        ),
        (
            "fr",
            "En attente d’envoi\u00a0: 1\u00a0234 enregistrements, 2 photos (4,2 Mo)",
            "12\u00a0345 participants · 6\u00a0000 femmes (49\u00a0%)",
        ),
        (
            "pt",
            "À espera de envio: 1\u00a0234 registos, 2 fotografias (4,2 MB)",
            "12\u00a0345 participantes · 6\u00a0000 mulheres (49\u00a0%)",
        ),
        (
            "es",
            "Pendiente de envío: 1234 registros, 2 fotos (4,2 MB)",
            "12.345 participantes · 6000 mujeres (49\u00a0%)",
        ),
    ],
)
def test_numbers_are_written_the_way_the_language_writes_them(
    language: str, waiting: str, summary: str
) -> None:
    # In French the sync bar read "1,234 enregistrements … (4.2 Mo)": a French reader takes
    # "1,234" for one and a quarter.
    from field_app.controllers.attendance import Cell
    from field_app.controllers.status import SyncStatus, waiting_text

    status = SyncStatus(
        pending=1234, last_success=None, last_error=None, photos=2, photo_bytes=4_200_000
    )
    form = _lesotho_form()
    form.set_attendance(Cell("farmer", False, "female", "adult"), "6000")
    form.set_attendance(Cell("farmer", False, "male", "adult"), "6345")
    try:
        i18n.set_language(language)
        assert waiting_text(status) == waiting
        assert form.totals_text() == summary
    finally:
        i18n.set_language("en")


@pytest.mark.parametrize(
    ("language", "signed_in"),
    [
        ("en", "amina (Field expert)"),
        ("pt", "amina (Perito de campo)"),
        ("es", "amina (Experto de campo)"),
    ],
)
def test_settings_name_the_accounts_role_in_the_tablets_language(
    tmp_path: Path, language: str, signed_in: str
) -> None:
    # Settings showed "Sessão iniciada como: amina (field_expert)": the role's code.
    from field_app.device import Device
    from field_app.session import FieldSession
    from tests.field_app.fakes import MemoryBackend

    backend = MemoryBackend()
    backend.enrol_as("amina")
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path)
    i18n.set_language(language)
    try:
        facts = dict(session.device_facts())
    finally:
        i18n.set_language("en")
    assert signed_in in facts.values(), facts


def test_an_error_shown_to_the_field_expert_reads_in_the_language_it_is_shown_in(
    tmp_path: Path,
) -> None:
    # "No QR scanner…", "Choose a JPEG…", "Cannot reach…" were translated when raised: a
    # screen that showed one again after a switch to Portuguese still read English.
    from field_app import enrolment, photos
    from field_app.device import Device, DeviceUnavailable
    from field_app.session import EnrolError

    with pytest.raises(DeviceUnavailable) as no_scanner:
        Device().scan_qr(lambda _code: None)
    with pytest.raises(photos.PhotoError) as not_a_photo:
        photos.downscale(tmp_path / "notes.txt", tmp_path / "photos")
    with pytest.raises(EnrolError) as unreachable:
        enrolment.enrol(
            server="http://127.0.0.1:9", device_id="d", label="t", app_version="0", code="ABCD"
        )
    assert str(no_scanner.value) == "No QR scanner: type the code printed under the QR"
    try:
        i18n.set_language("pt")
        assert str(no_scanner.value) == "Sem leitor QR: escreva o código impresso por baixo do QR"
        assert str(not_a_photo.value) == "Escolha uma fotografia JPEG, PNG ou WebP"
        assert str(unreachable.value).startswith("Não é possível contactar http://127.0.0.1:9")
    finally:
        i18n.set_language("en")
    assert str(not_a_photo.value) == "Choose a JPEG, PNG or WebP photo"


def test_every_character_the_tablet_writes_is_in_its_font() -> None:
    # Kivy draws a box for a character its font lacks: French and Portuguese numbers were
    # grouped with U+202F ("1 234" with a box in it) and warnings began with "⚠", neither
    # in Kivy's Roboto, the font the tablet draws every text with.
    import kivy
    from babel.messages.pofile import read_po
    from fontTools.ttLib import TTFont

    fonts = Path(kivy.__file__).parent / "data" / "fonts"
    drawn = {"Roboto-Regular.ttf", "Roboto-Bold.ttf"}
    covered = set.intersection(*(set(TTFont(fonts / name).getBestCmap()) for name in drawn))
    texts: dict[str, str] = {}
    for po in sorted(Path(i18n.__file__).parent.glob("locale/*/LC_MESSAGES/*.po")):
        with po.open("rb") as file:
            for message in read_po(file):
                strings = message.string
                written = strings if isinstance(strings, str) else "".join(strings or ())
                texts[f"{po.parts[-3]}: {message.id!r}"] = written
    for source in Path(i18n.__file__).parent.rglob("*.kv"):
        texts[str(source)] = source.read_text(encoding="utf-8")
    for source in Path(i18n.__file__).parent.rglob("*.py"):
        texts[str(source)] = source.read_text(encoding="utf-8")
    previous = i18n.language()
    try:
        for language in ("en", "fr", "pt", "es"):
            i18n.set_language(language)
            for value in (-1_234_567, 12_345, 1_234):
                texts[f"{language}: {value}"] = i18n.number(value) + i18n.decimal(value - 0.5)
    finally:
        i18n.set_language(previous)
    missing = {
        f"U+{ord(c):04X} in {where}"
        for where, text in texts.items()
        for c in text
        if c not in "\n\r\t" and ord(c) not in covered
    }
    assert not missing, sorted(missing)


def test_every_cause_of_a_failed_round_has_its_words() -> None:
    """A cause the client gives (``sync.errors.CAUSES``) and the app does not word would show
    the client's English detail to a field expert reading Portuguese."""
    from field_app.controllers.status import CAUSE_WORDS
    from sync.errors import CAUSES

    assert set(CAUSE_WORDS) == set(CAUSES)
