"""The dashboard's forms pages (docs/results.md#dashboard-forms): the list in scope, a form's
preview with its indicators in words, the draft editor with its errors next to the inputs,
publishing and retiring from the page, and the XLSForm upload with its problems per row."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.dashboard import session as cookies
from server.db import write_engine
from server.results.forms import create_draft, publish
from server.results.models import Form
from server.results.shipped import SHIPPED_FORMS
from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World

HARVEST = next(f for f in SHIPPED_FORMS if f["code"] == "DEMO_PLOT_HARVEST")


def _form(
    engine: Engine, data: dict[str, Any], project: Any = None, *, published: bool
) -> uuid.UUID:
    with Session(write_engine(engine)) as writer:
        form = create_draft(writer, data=data, project=project, actor_id=None)
        if published:
            publish(writer, form, actor_id=None, country=project.country if project else None)
        writer.commit()
        return form.id


def _simple(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "title": {"en": f"Form {code}", "fr": f"Formulaire {code}"},
        "fields": [{"name": "harvest_kg", "type": "decimal", "label": {"en": "Harvest"}}],
    }


def _stored(engine: Engine, code: str) -> list[Form]:
    with Session(engine) as reader:
        rows = reader.exec(
            select(Form).where(col(Form.code) == code).order_by(col(Form.version))
        ).all()
        for row in rows:
            reader.expunge(row)
        return list(rows)


def test_the_list_shows_global_forms_and_the_callers_projects_only(
    client: TestClient, engine: Engine, world: World
) -> None:
    _form(engine, HARVEST, published=True)
    _form(engine, _simple("LSO_SOIL"), world.lso, published=True)
    _form(engine, _simple("ETH_SOIL"), world.eth, published=False)
    sign_in(client, engine, world.officer)
    html = main_of(client.get("/forms").text)
    assert "DEMO_PLOT_HARVEST" in html and "LSO_SOIL" in html
    assert "ETH_SOIL" not in html  # Ethiopia is outside the Lesotho officer's countries
    assert world.lso.code in html and "Global" in html
    assert "8 fields" in html and "1 indicator" in html  # DEMO_PLOT_HARVEST
    assert "1 field · 0 indicators" in html  # LSO_SOIL
    only_drafts = main_of(client.get("/forms", params={"status": "draft"}).text)
    assert "LSO_SOIL" not in only_drafts and "DEMO_PLOT_HARVEST" not in only_drafts
    by_project = main_of(client.get("/forms", params={"project": str(world.lso.id)}).text)
    assert "LSO_SOIL" in by_project and "DEMO_PLOT_HARVEST" not in by_project
    sign_in(client, engine, world.hq)
    assert "ETH_SOIL" in client.get("/forms").text


def test_the_preview_shows_the_form_as_the_tablet_will(
    client: TestClient, engine: Engine, world: World
) -> None:
    form_id = _form(engine, HARVEST, published=True)
    sign_in(client, engine, world.expert)
    html = main_of(client.get(f"/forms/{form_id}").text)
    for field in HARVEST["fields"]:
        assert field["label"]["en"] in html
    assert '<span class="touch">' in html  # choices as touch targets
    assert "Shown only when" in html  # the field "practice" depends on the plot
    assert (
        "Yield (kg/ha) = 10,000 × Σ harvest_kg / Σ plot_area_m2, Demonstration against Control "
        "(usual practice), higher is better" in html
    )
    assert "higher is better" in html
    # a field expert sees no edit control
    assert "/publish" not in html and "/retire" not in html and "/new-version" not in html
    client.cookies.set(cookies.LANGUAGE_COOKIE, "fr")
    french = main_of(client.get(f"/forms/{form_id}").text)
    assert HARVEST["fields"][0]["label"]["fr"] in french


def test_a_bound_naming_another_field_is_shown_by_its_label(
    client: TestClient, engine: Engine, world: World
) -> None:
    """``"max": "${visited}"`` in the preview is the other field's label (it was read as a
    number), and the editor takes it as typed."""
    form = {
        "code": "ADOPTION_CHECK",
        "title": {"en": "Adoption"},
        "fields": [
            {"name": "visited", "type": "integer", "label": {"en": "Farmers visited"}},
            {
                "name": "applying",
                "type": "integer",
                "label": {"en": "Applying"},
                "min": 0,
                "max": "${visited}",
            },
        ],
    }
    form_id = _form(engine, form, published=True)
    sign_in(client, engine, world.expert)
    response = client.get(f"/forms/{form_id}")
    assert response.status_code == 200, response.text
    assert "“Farmers visited”" in main_of(response.text)


def _editor_post(code: str, project: str, **changes: str) -> dict[str, str]:
    """The editor's inputs for a form with a select field and a field shown for one choice."""
    data = {
        "nfields": "2",
        "nindicators": "1",
        "code": code,
        "project": project,
        "title.en": "Plot check",
        "title.fr": "Contrôle de parcelle",
        "f0.name": "plot",
        "f0.type": "select_one",
        "f0.label.en": "Plot",
        "f0.label.fr": "Parcelle",
        "f0.required": "1",
        "f0.choices": "demo | Demonstration | Démonstration\ncontrol | Control | Témoin",
        "f1.name": "harvest_kg",
        "f1.type": "decimal",
        "f1.label.en": "Harvest",
        "f1.unit": "kg",
        "f1.min": "0",
        "f1.max": "5000",
        "f1.rel_field": "plot",
        "f1.rel_in": "demo",
        "i0.code": "PLOT_CHECK_HARVEST",
        "i0.name.en": "Harvest",
        "i0.unit": "kg",
        "i0.aggregate": "sum",
        "i0.field": "harvest_kg",
        "i0.compare": "plot",
        "i0.direction": "increase",
        "action": "save",
    }
    data.update(changes)
    return data


def test_the_editor_shows_errors_next_to_their_inputs_then_saves_and_publishes(
    officer: TestClient, engine: Engine, world: World
) -> None:
    csrf = token_for(officer, "/forms/new")
    bad = _editor_post(
        "PLOT_CHECK",
        str(world.lso.id),
        csrf_token=csrf,
        **{
            "f1.min": "9000",
            "f1.rel_in": "other",
            "f0.choices": "demo | Demonstration\ndemo | Again",
            "i0.field": "nope",
        },
    )
    refused = officer.post("/forms/new", data=bad)
    assert refused.status_code == 422
    html = main_of(refused.text)
    # each error under its own input, in the reader's words, found by its field path
    for name in ("f1.min", "f1.rel_in", "f0.choices", "i0.field"):
        assert f'id="{name}-error"' in html, name
    assert 'id="f0.choices-error">Line 2:' in html
    assert 'value="9000"' in html  # what was typed is kept
    assert _stored(engine, "PLOT_CHECK") == []

    # a row button re-shows the editor without saving
    more = officer.post("/forms/new", data={**bad, "action": "add_field"})
    assert more.status_code == 200 and 'name="f2.name"' in more.text
    assert _stored(engine, "PLOT_CHECK") == []

    saved = officer.post(
        "/forms/new", data=_editor_post("PLOT_CHECK", str(world.lso.id), csrf_token=csrf)
    )
    assert saved.status_code == 200, main_of(saved.text)[:2000]
    (draft,) = _stored(engine, "PLOT_CHECK")
    assert draft.status == "draft" and draft.project_id == world.lso.id
    assert draft.fields[1]["relevant"] == {"field": "plot", "in": ["demo"]}
    assert draft.fields[0]["choices"][1] == {
        "code": "control",
        "label": {"en": "Control", "fr": "Témoin"},
    }
    assert draft.fields[1]["max"] == 5000
    assert "Shown only when “Plot” is “Demonstration”." in saved.text

    # edit the draft: rename a label, move a field (refused: the relevance points backwards)
    edit = officer.get(f"/forms/{draft.id}/edit")
    assert edit.status_code == 200 and 'value="Harvest"' in edit.text
    moved = officer.post(
        f"/forms/{draft.id}/edit",
        data=_editor_post("PLOT_CHECK", "", csrf_token=csrf, action="down:0"),
    )
    assert moved.status_code == 200 and 'id="f0.name" name="f0.name"' in moved.text
    assert moved.text.index('value="harvest_kg"') < moved.text.index('value="plot"')

    published = officer.post(f"/forms/{draft.id}/publish", data={"csrf_token": csrf})
    assert published.status_code == 200 and "tablets receive it" in published.text
    assert _stored(engine, "PLOT_CHECK")[0].status == "published"

    # "edit" on a published version makes the draft of version 2
    nxt = officer.post(f"/forms/{draft.id}/new-version", data={"csrf_token": csrf})
    assert nxt.status_code == 200 and "Draft of version 2" in nxt.text
    assert [f.status for f in _stored(engine, "PLOT_CHECK")] == ["published", "draft"]
    second = _stored(engine, "PLOT_CHECK")[1]
    first_page = main_of(officer.get(f"/forms/{draft.id}").text)
    assert f'href="/forms/{second.id}/edit"' in first_page  # the draft under way, not another
    assert "/new-version" not in first_page

    retired = officer.post(f"/forms/{draft.id}/retire", data={"csrf_token": csrf})
    assert retired.status_code == 200 and "Retired PLOT_CHECK" in retired.text
    assert [f.status for f in _stored(engine, "PLOT_CHECK")] == ["retired", "draft"]


def test_who_may_write_which_forms(client: TestClient, engine: Engine, world: World) -> None:
    global_id = _form(engine, _simple("GLOBAL_DRAFT"), published=False)
    lso_id = _form(engine, _simple("LSO_DRAFT"), world.lso, published=False)
    eth_id = _form(engine, _simple("ETH_DRAFT"), world.eth, published=False)
    # the field expert and HQ read, and get no control and a 403 on every write
    for user in (world.expert, world.hq):
        sign_in(client, engine, user)
        csrf = token_for(client, "/forms")
        html = main_of(client.get(f"/forms/{lso_id}").text)
        assert "/publish" not in html and "/edit" not in html
        assert 'href="/forms/new"' not in client.get("/forms").text
        assert client.get("/forms/new").status_code == 403
        assert client.get(f"/forms/{lso_id}/edit").status_code == 403
        for action in ("publish", "edit", "retire", "new-version"):
            response = client.post(f"/forms/{lso_id}/{action}", data={"csrf_token": csrf})
            assert response.status_code == 403, (user.username, action)
        assert (
            client.post("/forms/new", data=_editor_post("X_FORM", "", csrf_token=csrf)).status_code
            == 403
        )
    # the Lesotho officer writes Lesotho's forms, not global ones, and cannot see Ethiopia's
    sign_in(client, engine, world.officer)
    csrf = token_for(client, "/forms")
    assert client.post(f"/forms/{global_id}/publish", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"/forms/{eth_id}/publish", data={"csrf_token": csrf}).status_code == 404
    assert client.get(f"/forms/{eth_id}").status_code == 404
    refused = client.post("/forms/new", data=_editor_post("OFFICER_GLOBAL", "", csrf_token=csrf))
    assert refused.status_code == 403
    assert client.post(f"/forms/{lso_id}/publish", data={"csrf_token": csrf}).status_code == 200
    # the admin writes global forms
    sign_in(client, engine, world.admin)
    csrf = token_for(client, "/forms")
    assert client.post(f"/forms/{global_id}/publish", data={"csrf_token": csrf}).status_code == 200
    assert [f.status for f in _stored(engine, "GLOBAL_DRAFT")] == ["published"]
    assert [f.status for f in _stored(engine, "ETH_DRAFT")] == ["draft"]


def _xlsx(rows: list[list[Any]], form_id: str = "uploaded_check") -> bytes:
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    for row in [["type", "name", "label", "constraint"], *rows]:
        survey.append(row)
    book.create_sheet("settings").append(["form_id", "form_title"])
    book["settings"].append([form_id, "Uploaded check"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsform_upload_shows_its_problems_per_row_or_makes_a_form(
    officer: TestClient, engine: Engine, world: World
) -> None:
    csrf = token_for(officer, "/forms")
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    bad = _xlsx(
        [
            ["decimal", "harvest_kg", "Harvest", ". >= 10 and . <= 1"],
            ["geopoint", "where", "Where", ""],
        ]
    )
    refused = officer.post(
        "/forms/import",
        data={"csrf_token": csrf, "project": world.lso.code},
        files={"file": ("bad.xlsx", bad, xlsx)},
    )
    assert refused.status_code == 422
    rows = re.findall(r"<tr><td>(\w+)</td><td class=\"num\">(\d+|–)</td>", main_of(refused.text))
    assert ("survey", "3") in rows, rows  # the geopoint row, by sheet and row
    assert _stored(engine, "UPLOADED_CHECK") == []

    good = _xlsx([["decimal", "harvest_kg", "Harvest", ". >= 0"]])
    done = officer.post(
        "/forms/import",
        data={"csrf_token": csrf, "project": world.lso.code, "publish": "1"},
        files={"file": ("good.xlsx", good, xlsx)},
    )
    assert done.status_code == 200 and "Imported and published" in done.text
    (form,) = _stored(engine, "UPLOADED_CHECK")
    assert form.status == "published" and form.project_id == world.lso.id


@sqlite_only
def test_a_global_upload_needs_an_admin(client: TestClient, engine: Engine, world: World) -> None:
    sign_in(client, engine, world.officer)
    csrf = token_for(client, "/forms")
    response = client.post(
        "/forms/import",
        data={"csrf_token": csrf, "project": ""},
        files={"file": ("good.xlsx", _xlsx([["decimal", "harvest_kg", "Harvest", ""]]))},
    )
    assert response.status_code == 403
    assert client.post("/forms/import", data={"project": ""}).status_code == 403  # no CSRF
    sign_in(client, engine, world.admin)
    csrf = token_for(client, "/forms")
    empty = client.post("/forms/import", data={"csrf_token": csrf, "project": ""})
    assert empty.status_code == 422 and "Choose an XLSForm" in empty.text


@sqlite_only
def test_a_large_form_fits_through_the_editor(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """80 fields are some 1 200 inputs, past Starlette's default limit of 1 000."""
    data = {"csrf_token": token_for(officer, "/forms/new"), "code": "BIG_FORM"}
    data |= {"project": str(world.lso.id), "title.en": "Big", "action": "save"}
    data |= {"nfields": "80", "nindicators": "0"}
    for i in range(80):
        data |= {f"f{i}.name": f"n{i}", f"f{i}.type": "integer", f"f{i}.label.en": f"N {i}"}
        data |= {f"f{i}.{k}": "" for k in ("unit", "min", "max", "choices", "rel_field", "rel_in")}
        data |= {f"f{i}.hint.{lang}": "" for lang in ("en", "fr", "pt", "es")}
        data |= {f"f{i}.label.{lang}": "" for lang in ("fr", "pt", "es")}
    assert len(data) > 1000
    response = officer.post("/forms/new", data=data)
    assert response.status_code == 200, response.text[:300]
    (form,) = _stored(engine, "BIG_FORM")
    assert len(form.fields) == 80


def test_a_bound_copied_from_the_preview_reads_as_a_number() -> None:
    # The preview writes "−10" with the minus sign (U+2212); pasted back into the editor it
    # read as text and was refused as not a number.
    from server.dashboard.forms import _bound_value

    assert _bound_value("−10", "integer", "en") == -10
    assert _bound_value("−2.5", "decimal", "en") == -2.5
    assert _bound_value("-2.5", "decimal", "en") == -2.5
    # French pages group thousands with U+202F: "100 000" copied back read as text too
    assert _bound_value("100\u202f000", "integer", "fr") == 100_000


def test_a_french_reader_sees_french_quotation_marks_around_labels_in_the_preview(
    client: TestClient, engine: Engine, world: World
) -> None:
    # The sentences were translated with « », the labels put in them with “ ” by the code:
    # « “Parcelle” » side by side on one line.
    form = {
        "code": "PLOT_CHECK",
        "title": {"en": "Plots"},
        "fields": [
            {
                "name": "plot",
                "type": "select_one",
                "label": {"en": "Plot", "fr": "Parcelle"},
                "choices": [
                    {"code": "demo", "label": {"en": "Demonstration", "fr": "Démonstration"}},
                    {"code": "control", "label": {"en": "Control", "fr": "Témoin"}},
                ],
            },
            {"name": "visited", "type": "integer", "label": {"en": "Visited", "fr": "Visités"}},
            {
                "name": "applying",
                "type": "integer",
                "label": {"en": "Applying", "fr": "Appliquant"},
                "min": 0,
                "max": "${visited}",
                "relevant": {"field": "plot", "in": ["demo"]},
            },
        ],
    }
    form_id = _form(engine, form, published=True)
    sign_in(client, engine, world.expert)
    client.cookies.set(cookies.LANGUAGE_COOKIE, "fr")
    page = main_of(client.get(f"/forms/{form_id}").text)
    assert (
        "Affiché seulement quand «\u202fParcelle\u202f» vaut «\u202fDémonstration\u202f»." in page
    )
    assert "«\u202fVisités\u202f»" in page
    assert "“" not in page and "”" not in page
