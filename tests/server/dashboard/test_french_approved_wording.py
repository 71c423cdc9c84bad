"""French says "approuvé" for approved everywhere, as the status does ("Approuvée"): the
overview said "Les activités soumises et validées comptent" (a country officer's review),
and the catalogue's "validation" is the review, which can also return a record."""

from __future__ import annotations

from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from server.dashboard.i18n import _po_path
from tests.server.dashboard.conftest import main_of, sqlite_only


def _messages() -> list[tuple[str, str]]:
    with _po_path("fr").open("rb") as po:
        catalog = read_po(po, locale="fr")
    found = []
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [
            (str(ids[min(i, len(ids) - 1)]), str(s)) for i, s in enumerate(strings) if message.id
        ]
    return found


def test_every_approved_is_approuve_in_french() -> None:
    for english, french in _messages():
        if "approved" in english.lower():
            assert "approuv" in french.lower(), (english, french)
        # "validé" would read as approved: the review's outcome is not always an approval
        assert "validé" not in french.lower(), (english, french)


@sqlite_only
def test_the_overview_counts_submitted_and_approved_activities_in_french(
    officer: TestClient,
) -> None:
    officer.cookies.set("pilotmon_lang", "fr")
    html = main_of(officer.get("/overview").text)
    assert "Les activités soumises et approuvées comptent." in html
