"""The server's reasons on the tablet: chosen by error code, in the tablet's language, for every
code the server may send (shared.errors.ErrorCode)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from field_app import i18n
from field_app.controllers.attention import describe, server_message
from field_app.controllers.messages import server_reason
from field_app.session import LocalRecord
from shared.errors import EXPLANATIONS, ErrorCode
from tests.field_app.fakes import activity
from tests.field_app.test_controllers import PROJECT

TRANSLATED = ("fr", "pt", "es")


@pytest.fixture
def language() -> Iterator[None]:
    yield
    i18n.set_language("en")


def test_every_error_code_has_words() -> None:
    assert set(EXPLANATIONS) == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
@pytest.mark.parametrize("name", TRANSLATED)
def test_every_error_code_has_tablet_translations(
    code: ErrorCode, name: str, language: None
) -> None:
    i18n.set_language(name)
    english = EXPLANATIONS[code]
    said = server_reason({"field": "title", "code": code.value, "message": "English detail"})
    assert said and said != english, f"{code} has no {name} translation in field_app/locale"
    assert "English detail" not in said


def test_a_rejection_reads_in_the_tablets_language_whatever_the_english_says(
    language: None,
) -> None:
    i18n.set_language("pt")
    error = {
        "field": "title",
        "code": "too_long",
        "message": "title is 250 characters long; at most 200 are allowed",
    }
    assert server_message(error) == "É demasiado longo."
    rejected = describe(LocalRecord(activity(PROJECT), "rejected", errors=[error]))
    assert rejected.errors == (("Título", "É demasiado longo."),)


def test_a_server_without_codes_or_with_an_unknown_one_is_shown_in_its_own_words() -> None:
    old = {"field": "start_date", "message": "start_date: 2031-01-01 is in the future"}
    assert server_reason(old) is None
    assert server_message(old) == "2031-01-01 is in the future"
    newer = {"field": "title", "code": "some_future_code", "message": "said in English"}
    assert server_message(newer) == "said in English"
