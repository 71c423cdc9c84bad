"""The results features' leftovers from the M&E officer's review (docs/results.md), as the
dashboard shows them: the form editor's words for a reference to a later field."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.dashboard.i18n import Translator
from server.dashboard.session import LANGUAGE_COOKIE
from shared.errors import EXPLANATIONS, ErrorCode
from tests.server.dashboard.conftest import main_of, token_for
from tests.server.dashboard.test_forms_pages import _editor_post, _stored
from tests.server.dashboard.world import World


def test_a_relevance_naming_a_later_field_says_to_move_it_up_in_each_language(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Field 1 shown only when field 2 holds a choice: the editor says the field comes later
    (not that the form lacks it), under the relevance input, in the reader's language."""
    csrf = token_for(officer, "/forms/new")
    later = _editor_post(
        "ORDER_CHECK",
        str(world.lso.id),
        csrf_token=csrf,
        nindicators="0",
        **{
            "f0.rel_field": "harvest_kg",
            "f0.rel_in": "x",
            "f1.rel_field": "",
            "f1.rel_in": "",
            "f1.type": "select_one",
            "f1.choices": "x | X",
            "f1.min": "",
            "f1.max": "",
            "f1.unit": "",
        },
    )
    said = {
        "en": "This refers to a field that comes later in the form: choose an earlier field, "
        "or move that one up.",
        "fr": "Ceci renvoie à un champ qui vient plus loin dans le formulaire\u202f: choisissez "
        "un champ précédent, ou remontez celui-là.",
        "pt": "Isto refere-se a um campo que vem mais à frente no formulário: escolha um campo "
        "anterior ou mova esse campo para cima.",
        "es": "Esto se refiere a un campo que viene más adelante en el formulario: elija un "
        "campo anterior o suba ese campo.",
    }
    for language, words in said.items():
        officer.cookies.set(LANGUAGE_COOKIE, language)
        refused = officer.post("/forms/new", data=later)
        assert refused.status_code == 422, language
        html = re.sub(r"[ \n]+", " ", main_of(refused.text))  # as wrapped in the page
        assert words in html, (language, html[:3000])
        lacking = Translator(language).gettext(EXPLANATIONS[ErrorCode.UNKNOWN_FIELD_REF])
        assert lacking not in html
    assert _stored(engine, "ORDER_CHECK") == []
