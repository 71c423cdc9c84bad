"""The fleet view and the overview's line on what waits on the tablets, in Debian's headless
Chromium, on a phone (390 px) and a laptop (1280 px): the tablets that need a call come first,
the figures equal the statuses posted, and nothing scrolls sideways on the phone. Screenshots
go to artifacts/screenshots/dashboard/fleet-*.png for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.fleet import flag_pending_tablets
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
from tests.server.dashboard.fleet import ORDER, add_fleet
from tests.server.dashboard.world import World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (390, 1280)


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, World, Engine]]:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        add_fleet(session, world)
        session.commit()
        flag_pending_tablets(session, days=settings.pending_tablet_days)
        session.commit()
    with live_server(create_app(settings, engine)) as base:
        yield base, world, engine
    engine.dispose()


def _fits(d: Any) -> bool:
    return bool(
        d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


def test_the_fleet_view_and_the_overview_line(
    site: tuple[str, World, Engine], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, world, _ = site
    with chromium(tmp_path / "profile", tmp_path / "downloads", width=1280) as driver:
        d: Any = driver
        d.get(base + "/login")
        d.find_element(By.ID, "username").send_keys(world.officer.username)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        WebDriverWait(d, 20).until(lambda drv: drv.current_url.endswith("/overview"))
        for width in WIDTHS:
            set_width(d, width)
            d.get(base + "/overview")
            line = d.find_element(By.ID, "pending-on-tablets").text
            assert "8 records and 2 photos on 2 tablets not yet synced." in line
            assert "1 tablet has held unsynced data for more than 7 days:" in line
            assert "Tablet B — Leribe" in line
            assert _fits(d), f"the overview scrolls sideways at {width} px"
            screenshot(d, f"fleet-overview-{width}", width=width)

            d.get(base + "/tablets")
            labels = [
                row.find_element(By.CSS_SELECTOR, "th[scope=row]").text.split("\n")[0]
                for row in d.find_elements(By.CSS_SELECTOR, "table.fleet tbody tr")
            ]
            assert labels == [*ORDER, "Old tablet"], labels
            mafeteng = d.find_elements(By.CSS_SELECTOR, "table.fleet tbody tr")[1].text
            assert "Date 365 days ahead" in mafeteng  # its clock a year ahead
            summary = d.find_element(By.ID, "fleet-summary").text
            assert "2 tablets need a call." in summary
            assert "8 records and 2 photos wait on 2 tablets" in summary
            assert d.find_elements(By.CSS_SELECTOR, "#fleet-summary figure.chart svg")
            assert _fits(d), f"the fleet view scrolls sideways at {width} px"
            screenshot(d, f"fleet-tablets-{width}", width=width)
