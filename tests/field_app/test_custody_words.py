"""The custody headline in words of each language: "Safe to wipe" read "Seguro apagar" in
Portuguese and "Seguro borrar" in Spanish, neither a sentence of its language."""

from __future__ import annotations

import pytest

from field_app.controllers.custody import custody_text
from field_app.i18n import set_language
from sync.store import Custody


@pytest.mark.parametrize(
    ("language", "headline"),
    [
        ("en", "Safe to wipe"),
        ("fr", "Prête à effacer"),
        ("pt", "Pode ser apagado com segurança"),  # was "Seguro apagar", not Portuguese
        ("es", "Se puede borrar con seguridad"),  # was "Seguro borrar"
    ],
)
def test_safe_to_wipe_reads_as_a_sentence_of_the_language(language: str, headline: str) -> None:
    custody = Custody(
        records=0,
        held_records=3,
        photos=0,
        held_photos=1,
        oldest=None,
        mutations=0,
        uploads=0,
        receipts=3,
    )
    set_language(language)
    try:
        assert custody_text(custody).headline == headline
    finally:
        set_language("en")


@pytest.mark.parametrize(
    ("language", "detail"),
    [
        (
            "en",
            "The oldest change was saved on 8 December 2026. "
            "Do not wipe or hand over this tablet yet.",
        ),
        (
            "fr",
            "La modification la plus ancienne a été enregistrée le 8 décembre 2026. "
            "N’effacez pas cette tablette et ne la remettez pas encore.",
        ),
        (
            "pt",
            "A alteração mais antiga foi guardada a 8 de dezembro de 2026. "
            "Não apague nem entregue este tablet ainda.",
        ),
        (
            "es",
            "El cambio más antiguo se guardó el 8 de diciembre de 2026. "
            "No borre ni entregue esta tableta todavía.",
        ),
    ],
)
def test_the_oldest_change_is_dated_in_words_of_each_language(language: str, detail: str) -> None:
    """The store dates the oldest change in UTC, to the second; the line says the tablet's day
    only (noon UTC is 8 December wherever the tablet is, but for the few zones past ±12 h)."""
    custody = Custody(
        records=1,
        held_records=1,
        photos=0,
        held_photos=0,
        oldest="2026-12-08T12:00:00+00:00",
        mutations=1,
        uploads=0,
        receipts=0,
    )
    set_language(language)
    try:
        assert custody_text(custody).detail == detail
    finally:
        set_language("en")
