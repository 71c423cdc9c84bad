"""In Chromium: closing a quarter asks first, naming the quarter and the country chosen, and
closes nothing when the question is dismissed (a country officer's review found it closed at
once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.activities.models import ClosedPeriod
from server.app import create_app
from server.db import write_engine
from tests.factories import PASSWORD
from tests.server.dashboard.browser import browser_database, chromium, live_server
from tests.server.dashboard.world import World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, World, Engine]]:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        session.commit()
    with live_server(create_app(settings, engine)) as base:
        yield base, world, engine
    engine.dispose()


def test_the_question_names_the_quarter_and_country_and_dismissing_closes_nothing(
    site: tuple[str, World, Engine], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, world, engine = site
    with chromium(tmp_path / "profile", tmp_path / "downloads", width=1280) as driver:
        d: Any = driver
        d.get(base + "/login")
        d.find_element(By.ID, "username").send_keys(world.officer.username)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        WebDriverWait(d, 20).until(lambda drv: drv.current_url.endswith("/overview"))
        d.get(base + "/reports")
        option = Select(d.find_element(By.ID, "close-quarter")).options[1]
        option.click()
        quarter = option.text  # (read before the question holds the page)
        d.find_element(By.CSS_SELECTOR, "#closed-quarters button[type=submit]").click()
        alert = WebDriverWait(d, 10).until(lambda drv: drv.switch_to.alert)
        assert alert.text.startswith(f"Close {quarter} for Lesotho? ")
        assert "marked late" in alert.text and "cannot be reopened" in alert.text
        alert.dismiss()
        with Session(engine) as reader:
            assert reader.exec(select(ClosedPeriod)).all() == []
        # accepted, it closes the quarter named
        d.find_element(By.CSS_SELECTOR, "#closed-quarters button[type=submit]").click()
        WebDriverWait(d, 10).until(lambda drv: drv.switch_to.alert).accept()
        WebDriverWait(d, 20).until(lambda drv: f"Closed {quarter} for Lesotho" in drv.page_source)
