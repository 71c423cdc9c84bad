"""The ``reporting_lag`` flag says what it measures, so that "late" keeps one meaning on the
dashboard: arrived after its quarter was closed (a country officer's review found "⚑ Reported
late" beside a "late" filter that found nothing)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from server.dashboard.i18n import Translator
from shared.validation import REPORTING_LAG_DAYS
from tests.server.dashboard.conftest import main_of, sqlite_only
from tests.server.dashboard.world import World

WORDS = {
    "en": ("Reached the server over 30 days after it ended", "late"),
    "fr": ("Reçue par le serveur plus de 30 jours après sa fin", "retard"),
    "pt": ("Chegou ao servidor mais de 30 dias depois de terminar", "atras"),
    "es": ("Llegó al servidor más de 30 días después de terminar", "tard"),
}


def test_the_flag_names_the_limit_it_checks() -> None:
    for language, (label, _) in WORDS.items():
        assert Translator(language).label("flag", "reporting_lag") == label
        assert str(REPORTING_LAG_DAYS) in label


@sqlite_only
@pytest.mark.parametrize("language", sorted(WORDS))
def test_the_review_row_says_when_it_reached_the_server_without_calling_it_late(
    officer: TestClient, world: World, language: str
) -> None:
    assert world.late is not None
    officer.cookies.set("pilotmon_lang", language)
    html = main_of(officer.get("/review").text)
    row = html[html.index(world.late.title) :]
    row = row[: row.index("</tr>")]
    label, late = WORDS[language]
    flag = re.search(r"⚑</span>.*?</span> ([^<]+)</span>", row)
    assert flag is not None, row
    assert flag.group(1) == label
    assert late not in flag.group(1).lower()
