"""The form editor names each aggregate in the reader's language, sending its code (a country
officer's review: "Agrégation: sum, mean, median, min, max, count, share, ratio")."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from shared.forms import AGGREGATES
from tests.server.dashboard.conftest import main_of, sqlite_only, token_for

NAMES = {
    "en": {
        "sum": "Sum of a field",
        "count": "Number of observations",
        "ratio": "Ratio of two fields",
    },
    "fr": {
        "sum": "Somme d’un champ",
        "count": "Nombre d’observations",
        "ratio": "Rapport de deux champs",
    },
    "pt": {
        "sum": "Soma de um campo",
        "count": "Número de observações",
        "ratio": "Rácio de dois campos",
    },
    "es": {
        "sum": "Suma de un campo",
        "count": "Número de observaciones",
        "ratio": "Razón de dos campos",
    },
}


@sqlite_only
@pytest.mark.parametrize("language", sorted(NAMES))
def test_a_new_indicators_aggregates_are_words_with_their_codes_as_values(
    officer: TestClient, language: str
) -> None:
    officer.cookies.set("pilotmon_lang", language)
    csrf = token_for(officer, "/forms/new")
    page = officer.post(
        "/forms/new",
        data={"csrf_token": csrf, "nfields": "0", "nindicators": "0", "action": "add_indicator"},
    )
    assert page.status_code == 200
    html = main_of(page.text)
    select = html[html.index('id="i0.aggregate"') :]
    options = dict(
        re.findall(
            r'<option value="([^"]+)"[^>]*>([^<]+)</option>', select[: select.index("</select>")]
        )
    )
    assert list(options) == list(AGGREGATES)  # the values stay the codes
    for code, name in options.items():
        assert name != code, f"{code} is shown as its code"
    for code, name in NAMES[language].items():
        assert options[code] == name
