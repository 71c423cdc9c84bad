"""In Debian's headless Chromium: a country officer changes a field expert's projects on the
person's page, and is told why an empty list is refused (docs/roles.md#changing-a-persons-scope).
The pages are saved under artifacts/screenshots/dashboard/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.models import UserProject
from server.app import create_app
from server.db import write_engine
from server.projects.models import Project
from tests.factories import PASSWORD
from tests.server.dashboard.browser import browser_database, chromium, live_server, screenshot
from tests.server.dashboard.world import World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_SECONDS = 20


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, World, Engine]]:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
    with live_server(create_app(settings, engine)) as base:
        yield base, world, engine
    engine.dispose()


def _wait_for_text(driver: Any, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    # read in one script call: the page may be replaced while a form's POST redirects
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: text in d.execute_script("return document.body ? document.body.innerText : ''")
    )


def _codes(engine: Engine, world: World) -> list[str]:
    with Session(engine) as reader:
        return list(
            reader.exec(
                select(Project.code)
                .join(UserProject, col(UserProject.project_id) == Project.id)
                .where(UserProject.user_id == world.expert.id)
                .order_by(col(Project.code))
            )
        )


def test_an_officer_changes_a_field_experts_projects(
    site: tuple[str, World, Engine], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base, world, engine = site
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(tmp_path / "profile", downloads) as driver:
        d: Any = driver
        d.get(base + "/login")
        _wait_for_text(d, "Sign in")
        d.find_element(By.ID, "username").send_keys(world.officer.username)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        _wait_for_text(d, "Overview")

        d.get(f"{base}/people/{world.expert.id}")
        _wait_for_text(d, "Save the projects")
        storage = d.find_element(By.CSS_SELECTOR, "#scope input[value='LSO-DAA-STORE']")
        assert storage.is_selected()
        storage.click()
        d.find_element(By.CSS_SELECTOR, "#scope button[type=submit]").click()
        _wait_for_text(d, "Changed the projects of “Chen Wei”")
        assert _codes(engine, world) == ["LSO-CPP-POTATO"]
        screenshot(d, "19-person-projects-changed")

        # Unticking the last one: refused next to the list, nothing changed.
        d.find_element(By.CSS_SELECTOR, "#scope input[value='LSO-CPP-POTATO']").click()
        d.find_element(By.CSS_SELECTOR, "#scope button[type=submit]").click()
        _wait_for_text(d, "A field expert needs at least one project.")
        error = d.find_element(By.ID, "projects-error")
        assert error.is_displayed()
        assert _codes(engine, world) == ["LSO-CPP-POTATO"]
        screenshot(d, "20-person-projects-refused")
