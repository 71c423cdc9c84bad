"""End to end in Debian's headless Chromium: a country officer signs in, reads the overview,
approves one activity, returns another with a comment, exports a CSV and is refused another
country's activity. Every page is saved under artifacts/screenshots/dashboard/."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.activities.models import Activity, Review
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
from tests.server.dashboard.world import World, add_photo, build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_SECONDS = 20


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, World, Engine]]:
    """The app with a seeded world, served on a free loopback port."""
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        add_photo(session, world, settings.attachments_dir)
    with live_server(create_app(settings, engine)) as base:
        yield base, world, engine
    engine.dispose()


def _wait(driver: Any, condition: Any) -> Any:
    """Wait for ``condition``; a page replaced mid-check is checked again, not a failure."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
    )
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


def _page_in(lang: str) -> Any:
    # As ``_text_on_page``: one script call, no element handle that the language switch's
    # reload may take from under it (CI saw "Node with given id does not belong to the
    # document" between finding <html> and reading its lang).
    return lambda driver: driver.execute_script("return document.documentElement.lang") == lang


def _status(engine: Engine, activity: Activity) -> str:
    with Session(engine) as reader:
        row = reader.get(Activity, activity.id)
        assert row is not None
        return row.status


def test_a_country_officer_reviews_exports_and_stays_in_scope(
    site: tuple[str, World, Engine], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base, world, engine = site
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(tmp_path / "profile", downloads) as driver:
        d: Any = driver
        # Signing in.
        d.get(base + "/")
        _wait(d, lambda drv: drv.find_elements(By.ID, "username"))
        screenshot(d, "01-login")
        d.find_element(By.ID, "username").send_keys(world.officer.username)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()

        # The overview of Lesotho, with its four charts.
        _wait(d, lambda drv: drv.current_url.endswith("/overview"))
        assert len(d.find_elements(By.CSS_SELECTOR, "figure.chart")) == 4
        assert "Palesa Mokoena" in d.find_element(By.CSS_SELECTOR, ".who").text
        assert not _overflows(d)
        screenshot(d, "02-overview")

        # Approve one activity from the review queue.
        d.find_element(By.CSS_SELECTOR, "nav.mainnav a[href='/review']").click()
        _wait(d, _text_on_page("4 submitted activities match."))
        screenshot(d, "03-review-queue")
        approved = world.submitted[0]
        d.find_element(By.CSS_SELECTOR, f"button[name=only][value='{approved.id}']").click()
        _wait(d, _text_on_page("Activities approved: 1."))
        assert _status(engine, approved) == "approved"
        screenshot(d, "04-review-approved")

        # Return another with a comment: first without one (refused, said next to the box).
        returned = world.submitted[2]
        d.find_element(By.LINK_TEXT, returned.title).click()
        _wait(d, _text_on_page("Comment for the field expert"))
        screenshot(d, "05-activity")
        # On a phone, where the review form is far below the page's top, the refusal is
        # brought into view with the box to type in.
        width = d.get_window_size()["width"]
        set_width(d, 390, 844)
        d.find_element(By.CSS_SELECTOR, "button[value=return]").click()
        _wait(d, lambda drv: drv.find_elements(By.ID, "comment-error"))
        assert d.switch_to.active_element.get_attribute("id") == "comment"
        assert d.execute_script(
            "const r = document.getElementById('comment-error').getBoundingClientRect();"
            "return r.top >= 0 && r.bottom <= window.innerHeight;"
        ), "the comment's error is out of sight on a phone"
        set_width(d, width)
        screenshot(d, "06-return-needs-a-comment")
        assert _status(engine, returned) == "submitted"
        comment = "Please add the photo of the attendance sheet."
        d.find_element(By.ID, "comment").send_keys(comment)
        d.find_element(By.CSS_SELECTOR, "button[value=return]").click()
        _wait(d, _text_on_page("to the field expert with your comment"))
        assert _status(engine, returned) == "returned"
        with Session(engine) as reader:
            review = reader.exec(select(Review).where(Review.activity_id == returned.id)).one()
            assert review.comment == comment
        screenshot(d, "07-activity-returned")

        # The project page.
        d.find_element(By.LINK_TEXT, world.lso.code).click()
        _wait(d, _text_on_page("Targets and actuals"))
        screenshot(d, "08-project")
        # On a phone its targets form fits the screen (docs/results.md#dashboard-results).
        set_width(d, 390)
        assert d.find_element(By.ID, "t-value").is_displayed() and not _overflows(d)
        set_width(d, 1366)

        # Tablets.
        d.find_element(By.CSS_SELECTOR, "nav.mainnav a[href='/tablets']").click()
        _wait(d, _text_on_page("Enrolled tablets"))
        screenshot(d, "09-tablets")

        # Export a CSV of participants by sex.
        d.find_element(By.CSS_SELECTOR, "nav.mainnav a[href='/exports']").click()
        _wait(d, lambda drv: drv.find_elements(By.ID, "indicator"))
        screenshot(d, "10-exports")
        from selenium.webdriver.support.ui import Select

        Select(d.find_element(By.ID, "indicator")).select_by_value("PARTICIPANTS")
        d.find_element(By.CSS_SELECTOR, "input[name=group_by][value=sex]").click()
        d.find_element(By.CSS_SELECTOR, "button[name=format][value=csv]").click()
        exported = _downloaded(downloads, ".csv")
        rows = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8-sig"))))
        assert {r["sex"] for r in rows} >= {"female", "male"}
        assert all(int(float(r["value"])) > 0 for r in rows)

        # Another country's activity is refused.
        assert world.eth_activity is not None
        d.get(f"{base}/activities/{world.eth_activity.id}")
        _wait(d, _text_on_page("Not found"))
        assert "Drought-tolerant teff trial" not in d.page_source
        screenshot(d, "11-other-country-refused")

        # And the same dashboard in French, on a tablet-sized window.
        d.find_element(By.CSS_SELECTOR, "button[value=fr]").click()
        _wait(d, _page_in("fr"))
        d.set_window_size(800, 1000)
        d.get(base + "/overview")
        _wait(d, _text_on_page("Activités par mois"))
        assert not _overflows(d)
        screenshot(d, "12-overview-fr-tablet", width=800)
        d.get(base + "/review")
        _wait(d, _text_on_page("File de validation"))
        assert not _overflows(d)
        screenshot(d, "13-review-fr-tablet", width=800)


def _overflows(driver: Any) -> bool:
    """Whether the page is wider than the window (tables may scroll inside their card)."""
    width, client = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return bool(width > client)


def _downloaded(folder: Path, suffix: str) -> Path:
    """The file the browser saved into ``folder`` (waits while it is still arriving)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == suffix]
        if done and not any(p.suffix == ".crdownload" for p in folder.iterdir()):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(
        f"no {suffix} file arrived in {folder}: {[p.name for p in folder.iterdir()]}"
    )


def test_a_country_officer_adds_and_deactivates_a_field_expert(
    site: tuple[str, World, Engine], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base, world, engine = site
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(tmp_path / "profile", downloads) as driver:
        d: Any = driver
        d.get(base + "/login")
        _wait(d, lambda drv: drv.find_elements(By.ID, "username"))
        d.find_element(By.ID, "username").send_keys(world.officer.username)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        _wait(d, lambda drv: drv.current_url.endswith("/overview"))

        d.find_element(By.CSS_SELECTOR, "nav.mainnav a[href='/people']").click()
        _wait(d, _text_on_page("Add a person"))
        assert not _overflows(d)
        screenshot(d, "14-people")

        # A password too short: refused next to the field, the rest kept.
        d.find_element(By.ID, "full_name").send_keys("Thabo Mofokeng")
        d.find_element(By.ID, "new-username").send_keys("thabo.m")
        from selenium.webdriver.support.ui import Select

        Select(d.find_element(By.ID, "new-role")).select_by_value("field_expert")
        d.find_element(By.CSS_SELECTOR, "input[name=projects][value='LSO-CPP-POTATO']").click()
        d.find_element(By.ID, "new-password").send_keys("short")
        d.find_element(By.CSS_SELECTOR, "#add button[type=submit]").click()
        _wait(d, lambda drv: drv.find_elements(By.ID, "password-error"))
        assert d.find_element(By.ID, "new-username").get_attribute("value") == "thabo.m"
        screenshot(d, "15-people-add-refused")
        d.find_element(By.ID, "new-password").send_keys("a long enough passphrase")
        d.find_element(By.CSS_SELECTOR, "#add button[type=submit]").click()
        _wait(d, _text_on_page("Added “Thabo Mofokeng” (thabo.m)."))
        screenshot(d, "16-person-added")

        # Deactivate from the list, after the confirmation.
        d.find_element(By.CSS_SELECTOR, ".eyebrow a[href='/people']").click()
        _wait(d, _text_on_page("Thabo Mofokeng"))
        row = d.find_element(By.XPATH, "//tr[.//a[text()='Thabo Mofokeng']]")
        row.find_element(By.CSS_SELECTOR, "button[name=active][value='0']").click()
        d.switch_to.alert.accept()
        _wait(d, _text_on_page("Deactivated “Thabo Mofokeng”"))
        with Session(engine) as reader:
            from server.accounts.models import User

            user = reader.exec(select(User).where(User.username == "thabo.m")).one()
            assert user.is_active is False
        screenshot(d, "17-people-deactivated")

        # The same page in French on a tablet-sized window.
        d.find_element(By.CSS_SELECTOR, "button[value=fr]").click()
        _wait(d, _page_in("fr"))
        d.set_window_size(800, 1000)
        d.get(base + "/people")
        _wait(d, _text_on_page("Ajouter une personne"))
        assert not _overflows(d)
        screenshot(d, "18-people-fr-tablet", width=800)
