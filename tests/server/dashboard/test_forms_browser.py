"""The forms pages in Debian's headless Chromium (docs/results.md#dashboard-forms): a country
officer browses the forms, previews the harvest form, builds a draft with a select field and a
field shown for one of its choices (a bound error first, shown next to its input, then fixed),
publishes it, and uploads an XLSForm that is refused with its problems per row. Each page is
saved at 1280 and 390 px under artifacts/screenshots/dashboard/forms-*.png."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.accounts.auth import issue_access_token
from server.app import create_app
from server.dashboard import session as cookies
from server.db import write_engine
from server.results.forms import ensure_shipped_forms
from server.results.models import Form
from server.results.shipped import SHIPPED_FORMS
from tests.server.dashboard.browser import (
    browser_database,
    chromium,
    live_server,
    screenshot,
    set_width,
)
from tests.server.dashboard.world import World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_SECONDS = 20


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, World, Engine]]:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        ensure_shipped_forms(session, SHIPPED_FORMS)
        session.commit()
    with live_server(create_app(settings, engine)) as base:
        yield base, world, engine
    engine.dispose()


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver,
        WAIT_SECONDS,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(condition)


def _text_on_page(text: str) -> Any:
    # Read in one script call: an element handle taken while a form's POST redirects can
    # belong to the page being left (chromedriver: "Node ... does not belong to the document").
    return lambda driver: (
        text in driver.execute_script("return document.body ? document.body.innerText : ''")
    )


def _shoot(d: Any, name: str) -> None:
    for width in (1280, 390):
        screenshot(d, f"forms-{name}-{width}", width=width)
        sideways = d.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert sideways <= 0, f"{name} scrolls {sideways} px sideways at {width} px"
    set_width(d, 1280)


def _type(d: Any, name: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = d.find_element(By.ID, name)
    box.clear()
    box.send_keys(text)


def _choose(d: Any, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(d.find_element(By.ID, name)).select_by_value(value)


def _click(d: Any, selector: str) -> None:
    from selenium.webdriver.common.by import By

    button = d.find_element(By.CSS_SELECTOR, selector)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def _stored(engine: Engine, code: str) -> list[Form]:
    with Session(engine) as reader:
        return list(reader.exec(select(Form).where(Form.code == code)).all())


def _bad_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label"])
    survey.append(["decimal", "harvest_kg", "Harvest"])
    survey.append(["geopoint", "where", "Where"])
    survey.append(["select_one crops", "crop", "Crop"])
    book.create_sheet("settings").append(["form_id", "form_title"])
    book["settings"].append(["upload_check", "Upload check"])
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())
    return path


def test_an_officer_previews_builds_publishes_and_uploads_forms(
    site: tuple[str, World, Engine], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base, world, engine = site
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(tmp_path / "profile", downloads, width=1280) as driver:
        d: Any = driver
        d.get(base + "/login")
        with Session(write_engine(engine)) as writer:
            token, _ = issue_access_token(writer, user=world.officer, minutes=60)
            writer.commit()
        d.add_cookie({"name": cookies.SESSION_COOKIE, "value": token, "path": "/"})

        # The list: the five shipped global forms, from the menu.
        d.get(base + "/overview")
        d.find_element(By.CSS_SELECTOR, "nav.mainnav a[href='/forms']").click()
        _wait(d, _text_on_page("DEMO_PLOT_HARVEST"))
        assert len(d.find_elements(By.CSS_SELECTOR, "table.forms-table tbody tr")) == 5
        _shoot(d, "01-list")

        # The preview of the harvest form: touch-sized choices, relevance, the indicator.
        d.find_element(By.PARTIAL_LINK_TEXT, "Demonstration plot harvest").click()
        _wait(d, _text_on_page("Preview: as the tablet shows it"))
        body = d.find_element(By.TAG_NAME, "body").text
        assert "Shown only when" in body
        assert "Yield (kg/ha) = 10,000 × Σ harvest_kg / Σ plot_area_m2" in body
        touch = d.find_element(By.CSS_SELECTOR, ".touch")
        assert touch.size["height"] >= 48  # a finger-sized target, as on the tablet
        assert not d.find_elements(By.CSS_SELECTOR, "form[action$='/retire']")  # global: admins
        _shoot(d, "02-preview")

        # A new draft for the Lesotho project: a select field, then a field shown for "demo".
        d.get(base + "/forms")
        d.find_element(By.LINK_TEXT, "New form").click()
        _wait(d, lambda drv: drv.find_elements(By.ID, "code"))
        _type(d, "code", "PLOT_CHECK")
        _choose(d, "project", str(world.lso.id))
        _type(d, "title.en", "Plot check")
        _type(d, "title.fr", "Contrôle de parcelle")
        _type(d, "f0.name", "plot")
        _choose(d, "f0.type", "select_one")
        _type(d, "f0.label.en", "Plot")
        _type(d, "f0.choices", "demo | Demonstration | Démonstration\ncontrol | Control | Témoin")
        _click(d, "button[value=add_field]")
        _wait(d, lambda drv: drv.find_elements(By.ID, "f1.name"))
        assert d.find_element(By.ID, "f0.choices").get_attribute("value").startswith("demo |")
        _type(d, "f1.name", "harvest_kg")
        _choose(d, "f1.type", "decimal")
        _type(d, "f1.label.en", "Harvest")
        _type(d, "f1.unit", "kg")
        _type(d, "f1.min", "900")
        _type(d, "f1.max", "10")
        _choose(d, "f1.rel_field", "plot")
        _type(d, "f1.rel_in", "demo")
        _click(d, "button[value=save]")
        _wait(d, lambda drv: drv.find_elements(By.ID, "f1.min-error"))
        assert "minimum" in d.find_element(By.ID, "f1.min-error").text.lower()
        assert d.find_element(By.ID, "f1.min").get_attribute("aria-invalid") == "true"
        assert _stored(engine, "PLOT_CHECK") == []
        _shoot(d, "03-editor-error")
        _type(d, "f1.min", "0")
        _type(d, "f1.max", "5000")
        _click(d, "button[value=save]")
        _wait(d, _text_on_page("Saved the draft of PLOT_CHECK"))
        assert (
            "Shown only when “Plot” is “Demonstration”." in d.find_element(By.TAG_NAME, "body").text
        )
        _shoot(d, "04-draft-preview")
        _click(d, "form[action$='/publish'] button")
        d.switch_to.alert.accept()
        _wait(d, _text_on_page("tablets receive it at their next sync"))
        (form,) = _stored(engine, "PLOT_CHECK")
        assert form.status == "published" and form.project_id == world.lso.id
        assert form.fields[1]["relevant"] == {"field": "plot", "in": ["demo"]}

        # An XLSForm outside the subset: refused, with each problem's sheet and row.
        d.get(base + "/forms")
        d.find_element(By.ID, "u-file").send_keys(str(_bad_workbook(tmp_path / "bad.xlsx")))
        _choose(d, "u-project", world.lso.code)
        _click(d, "form[action='/forms/import'] button[type=submit]")
        _wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, "table.problems tbody tr"))
        rows = [
            [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in d.find_elements(By.CSS_SELECTOR, "table.problems tbody tr")
        ]
        assert any(r[0] == "survey" and r[1] == "3" for r in rows), rows
        assert _stored(engine, "UPLOAD_CHECK") == []
        _shoot(d, "05-upload-refused")
