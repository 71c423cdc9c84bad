"""European Portuguese says "fotografia" for a photo everywhere on the tablet: the sync bar said
"1 fotografia" while the project card and the form said "foto" (a field expert's review)."""

from __future__ import annotations

import re

from field_app import catalogues

SHORT = re.compile(r"\bfotos?\b", re.IGNORECASE)


def test_the_portuguese_catalogue_says_fotografia_never_foto() -> None:
    said = []
    for message in catalogues.load("pt"):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        said += [s for s in strings if isinstance(s, str) and SHORT.search(s)]
    assert said == []


def test_a_photo_counted_on_the_bar_and_the_card_reads_alike() -> None:
    from field_app import i18n

    try:
        i18n.set_language("pt")
        assert i18n.ngettext("{n} photo", "{n} photos", 1).format(n=1) == "1 fotografia"
        assert i18n._("Photos waiting") == "Fotografias em espera"
        assert i18n._("Add a photo from a file") == "Adicionar uma fotografia de um ficheiro"
    finally:
        i18n.set_language("en")
