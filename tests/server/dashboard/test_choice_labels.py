"""A select field's choices in the dashboard's form editor (docs/results.md#dashboard-forms):
one line per choice, its cells split at bars, so a label's own bar is written ``\\|`` and the
editor's text gives back, untouched, the choices it was made from."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.dashboard.forms import _choices, choices_text
from server.db import write_engine
from server.results.forms import create_draft, publish
from server.results.models import Form
from tests.server.dashboard.conftest import csrf_of, sign_in
from tests.server.dashboard.world import World

CHOICES = [
    {"code": "control", "label": {"en": "Control | usual", "fr": "Témoin"}},
    {"code": "demo", "label": {"en": "Demo", "pt": "Demonstração \\ CA"}},
    {"code": "bags", "label": {"en": "Bags", "fr": "Sacs | PICS", "es": "Bolsas"}},
]


class _Inputs(HTMLParser):
    """What a browser posts from the page's editor form, unchanged (``action`` left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") != "submit":
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data[name] = a.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data


def test_the_text_gives_back_the_choices_it_was_made_from() -> None:
    text = choices_text(CHOICES)
    assert text.splitlines()[0] == "control | Control \\| usual | Témoin"
    assert _choices(text) == CHOICES


def test_a_typed_bar_is_a_cell_and_an_escaped_one_is_in_the_label() -> None:
    typed = "ctl | Control \\| usual | Témoin | Controlo\nx | a\\b | c\\\\d"
    assert _choices(typed) == [
        {
            "code": "ctl",
            "label": {"en": "Control | usual", "fr": "Témoin", "pt": "Controlo"},
        },
        {"code": "x", "label": {"en": "a\\b", "fr": "c\\d"}},  # a lone backslash stays
    ]


def _published(engine: Engine) -> uuid.UUID:
    data: dict[str, Any] = {
        "code": "BAR_LABELS",
        "title": {"en": "Bar labels"},
        "fields": [
            {"name": "plot", "type": "select_one", "label": {"en": "Plot"}, "choices": CHOICES}
        ],
    }
    with Session(write_engine(engine)) as writer:
        form = create_draft(writer, data=data, project=None, actor_id=None)
        publish(writer, form, actor_id=None, country=None)
        writer.commit()
        return form.id


def test_editing_a_form_and_saving_it_untouched_keeps_its_choice_labels(
    client: TestClient, engine: Engine, world: World
) -> None:
    # A published label {"en": "Control | usual", "fr": "Témoin"}, through Edit then Save
    # untouched, came back as en "Control", fr "usual", pt "Témoin".
    form_id = _published(engine)
    sign_in(client, engine, world.admin)
    csrf = csrf_of(client.get(f"/forms/{form_id}").text)
    made = client.post(f"/forms/{form_id}/new-version", data={"csrf_token": csrf})
    assert made.status_code == 200, made.text
    with Session(engine) as reader:
        draft = reader.exec(
            select(Form).where(col(Form.code) == "BAR_LABELS", col(Form.status) == "draft")
        ).one()
        draft_id = draft.id
    page = client.get(f"/forms/{draft_id}/edit")
    assert page.status_code == 200
    start = page.text.index('<form method="post"', page.text.index("<main"))
    inputs = _Inputs()
    inputs.feed(page.text[start : page.text.index("</form>", start)])
    assert "f0.choices" in inputs.data
    saved = client.post(f"/forms/{draft_id}/edit", data={**inputs.data, "action": "save"})
    assert saved.status_code == 200, saved.text
    with Session(engine) as reader:
        stored = reader.get(Form, draft_id)
        assert stored is not None
        assert stored.fields[0]["choices"] == CHOICES
