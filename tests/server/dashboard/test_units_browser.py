"""Units and XLSForm refusals in French in Debian's headless Chromium
(docs/results.md#units): a French officer previews a form of counts, reads an observation
("1 ménage", "6 agriculteurs") and the project's results, opens the editor with the unit's
translations, and uploads a workbook refused in French. Each page is saved at 1280 and 390 px
under artifacts/screenshots/dashboard/forms-units-*.png."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import issue_access_token
from server.dashboard import session as cookies
from server.db import write_engine
from server.results.forms import create_draft
from tests.server.dashboard.browser import chromium
from tests.server.dashboard.test_forms_browser import _click, _shoot, _text_on_page, _wait, site
from tests.server.dashboard.test_units import FIELDS, INDICATOR, add_counted
from tests.server.dashboard.world import World

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["site"]  # the live server fixture, shared with the forms pages' browser test


def _refused_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    for row in (
        ["type", "name", "label", "unit", "unit::French (fr)", "appearance"],
        ["integer", "sacks", "Sacks", "sacks", "sacs de jute", None],
        ["geopoint", "where", "Where", None, None, None],
        ["integer", "n", "N", None, None, "numbers"],
    ):
        survey.append(row)
    book.create_sheet("settings").append(["form_id", "form_title"])
    book["settings"].append(["sack_count", "Sack count"])
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())
    return path


def test_a_french_officer_reads_units_and_refusals_in_french(
    site: tuple[str, World, Engine], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base, world, engine = site
    with Session(write_engine(engine), expire_on_commit=False) as writer:
        counted = add_counted(writer, world, french_title="Comptage des ménages")
        form, observation = counted.form, counted.observation
        draft = create_draft(
            writer,
            data={
                "code": "SACK_DRAFT",
                "title": {"en": "Sacks"},
                "fields": FIELDS,
                "indicators": [],
            },
            project=world.lso,
            actor_id=None,
        )
        token, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
    with chromium(tmp_path / "profile", tmp_path / "downloads", width=1280) as driver:
        d: Any = driver
        d.get(base + "/login")
        d.add_cookie({"name": cookies.SESSION_COOKIE, "value": token, "path": "/"})
        d.add_cookie({"name": cookies.LANGUAGE_COOKIE, "value": "fr", "path": "/"})

        d.get(f"{base}/forms/{form.id}")
        _wait(d, _text_on_page("Comptage des ménages"))
        units = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".preview-input .unit")]
        assert units == ["ménages", "agriculteurs", "m²", "sacs de jute", "bundles"]
        assert (
            "Ménages atteints (ménages) = Σ households" in d.find_element(By.TAG_NAME, "body").text
        )
        _shoot(d, "units-fr-01-preview")

        d.get(f"{base}/observations/{observation.id}")
        _wait(d, _text_on_page("Comptage des ménages"))
        body = d.find_element(By.TAG_NAME, "body").text
        assert "1 ménage" in body and "6 agriculteurs" in body and "120 m²" in body
        _shoot(d, "units-fr-02-observation")

        d.get(f"{base}/projects/{world.lso.id}#results")
        _wait(d, _text_on_page("Ménages atteints"))
        panel = d.find_element(By.ID, f"result-{INDICATOR.lower()}").text
        assert ": 1 ménage" in panel, panel
        _shoot(d, "units-fr-03-project")

        d.get(f"{base}/forms/{draft.id}/edit")
        _wait(d, lambda drv: drv.find_elements(By.ID, "f3.unit_label.fr"))
        assert d.find_element(By.ID, "f3.unit_label.fr").get_attribute("value") == "sacs de jute"
        labels = [e.text for e in d.find_elements(By.CSS_SELECTOR, "label[for='f3.unit_label.pt']")]
        assert labels == ["Unité (portugais)"], labels
        _shoot(d, "units-fr-04-editor")

        d.get(base + "/forms")
        d.find_element(By.ID, "u-file").send_keys(str(_refused_workbook(tmp_path / "bad.xlsx")))
        _click(d, "form[action='/forms/import'] button[type=submit]")
        _wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, "table.problems tbody tr"))
        table = d.find_element(By.CSS_SELECTOR, "table.problems").text
        question = "Le type de question «\u202fgeopoint\u202f» n’est pas pris en charge."
        assert question in table, table
        assert "La colonne «\u202fappearance\u202f» n’est pas prise en charge." in table
        assert "is not supported" not in table
        _shoot(d, "units-fr-05-upload-refused")
