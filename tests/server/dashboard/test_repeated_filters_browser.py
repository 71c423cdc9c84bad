"""In Debian's headless Chromium, on a phone (390 px) and a laptop (1280 px): a shared link to
the review queue that gives two countries and two types shows each chosen, in a list box and in
words, and a date given twice is named next to its field; nothing makes the page scroll
sideways; nor does a project's status given twice, said above its activities. The pages are
saved under artifacts/screenshots/dashboard/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from server.app import create_app
from server.db import write_engine
from tests.factories import PASSWORD
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
LINK = (
    "/review?country=LSO&country=ETH&type=demonstration&type=field_day"
    "&from=2026-01-01&from=2026-02-01"
)


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, World]]:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
    with live_server(create_app(settings, engine)) as base:
        yield base, world
    engine.dispose()


def _wait_for_text(driver: Any, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: text in d.execute_script("return document.body ? document.body.innerText : ''")
    )


def test_a_shared_link_with_repeated_filters_reads_well(
    site: tuple[str, World], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base, world = site
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(tmp_path / "profile", downloads) as driver:
        d: Any = driver
        d.get(base + "/login")
        _wait_for_text(d, "Sign in")
        d.find_element(By.ID, "username").send_keys(world.hq.username)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        _wait_for_text(d, "Overview")
        for width in (390, 1280):
            set_width(d, width)
            d.get(base + LINK)
            _wait_for_text(d, "Several chosen: Ethiopia, Lesotho.")
            countries = d.find_element(By.ID, "f-country")
            chosen = [
                o.get_attribute("value")
                for o in countries.find_elements(By.TAG_NAME, "option")
                if o.is_selected()
            ]
            assert sorted(chosen) == ["ETH", "LSO"], width
            for shown in ("country-chosen", "type-chosen", "from-error"):
                element = d.find_element(By.ID, shown)
                assert element.is_displayed(), (width, shown)
                right = d.execute_script(
                    "return arguments[0].getBoundingClientRect().right", element
                )
                assert right <= width, (width, shown, right)  # whole, not cut at the edge
            assert d.find_element(By.ID, "from-error").text == "Give one value here, not several."
            wide = d.execute_script(
                "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            assert not wide, width
            screenshot(d, f"repeated-filters-review-{width}", width=width)

            # A project's status tabs: the address's problem said above the list.
            d.get(f"{base}/projects/{world.lso.id}?status=approved&status=returned#activities")
            _wait_for_text(d, "every status is listed")
            said = d.find_element(By.ID, "status-error")
            assert said.is_displayed(), width
            right = d.execute_script("return arguments[0].getBoundingClientRect().right", said)
            assert right <= width, (width, right)
            screenshot(d, f"repeated-filters-project-{width}", width=width)
