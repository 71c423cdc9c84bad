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
