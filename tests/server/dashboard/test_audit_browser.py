"""What an outside audit checks, in Debian's headless Chromium, on every page for every role:
axe-core finds no serious or critical violation, a phone (390 px) never scrolls sideways, the
main navigation shows every entry whole, and the enrolment QR decodes at its displayed size.

One server and one browser serve the whole module. Each page is saved at 1366 and 390 px under
artifacts/screenshots/dashboard/audit/ for a person to look at.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.accounts.auth import Caller, issue_access_token
from server.accounts.devices import qr_payload
from server.accounts.models import User
from server.app import create_app
from server.dashboard import session as cookies
from server.db import write_engine
from server.projects import service as projects_service
from server.results.forms import create_draft, ensure_shipped_forms
from server.results.models import Form
from server.results.shipped import SHIPPED_FORMS
from tests.factories import office_edit
from tests.server.dashboard.browser import (
    SCREENSHOTS,
    browser_database,
    chromium,
    live_server,
    screenshot,
    set_width,
)
from tests.server.dashboard.world import World, add_photo, build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (1366, 390)
AUDIT_SHOTS = SCREENSHOTS / "audit"
# A name as long as real ones get: the menu must still show every entry whole beside it.
LONG_NAME = "Maria Fernanda Rodrigues da Conceição Albuquerque"
BLOCKING = ("serious", "critical")
# What field experts paste into a title: one word wider than a phone.
LONG_WORD = "https://extension.example.org/lesotho/potato-seed-storage/demonstration-plots-2026"
# A site's name as tablets send them.
LONG_SITE = "Ha Mohlalefi community seed potato multiplication plot (upper terrace)"
# Two sentences glued together ("in your scope.Country officers"), as a reader sees them.
RUN_ON = re.compile(r"[a-z]{2}\.[A-Z][a-z]{2}")


@dataclass
class Audit:
    base: str
    world: World
    engine: Engine
    driver: Any
    forms: dict[str, str] = field(default_factory=dict)  # the forms pages' paths


@pytest.fixture(scope="module")
def audit(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audit]:
    folder = tmp_path_factory.mktemp("audit")
    settings, engine = browser_database(sqlite_template, folder)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        world.hq.full_name = LONG_NAME
        session.add(world.hq)
        session.commit()
        add_photo(session, world, settings.attachments_dir)
        forms = _add_forms(session, world)
        # A site found in the field, waiting for approval: its pill and buttons on the project
        # page and the review queue.
        projects_service.create_site(
            session,
            caller=Caller(user=world.expert, project_ids=frozenset({world.lso.id})),
            data={"project_id": str(world.lso.id), "name": LONG_SITE, "admin_area": "Maseru"},
        )
        session.commit()
    # A title of one unbroken word, on the review queue, the overview and its own page.
    office_edit(engine, world.submitted[0].id, title=f"Seed storage {LONG_WORD}")
    downloads = folder / "downloads"
    downloads.mkdir()
    with (
        live_server(create_app(settings, engine)) as base,
        chromium(folder / "profile", downloads, fresh=True) as driver,
    ):
        _preload_axe(driver)
        yield Audit(base, world, engine, driver, forms)
    engine.dispose()


def _sign_in(audit: Audit, user: User | None, language: str = "en") -> None:
    d = audit.driver
    d.delete_all_cookies()
    d.get(audit.base + "/login")
    d.add_cookie({"name": cookies.LANGUAGE_COOKIE, "value": language, "path": "/"})
    if user is None:
        return
    with Session(write_engine(audit.engine)) as writer:
        token, _ = issue_access_token(writer, user=user, minutes=60)
        writer.commit()
    d.add_cookie({"name": cookies.SESSION_COOKIE, "value": token, "path": "/"})


def _add_forms(session: Session, world: World) -> dict[str, str]:
    """The shipped forms, and a draft of a Lesotho form: the forms pages' paths."""
    ensure_shipped_forms(session, SHIPPED_FORMS)
    harvest = session.exec(select(Form).where(Form.code == "DEMO_PLOT_HARVEST")).one()
    draft = create_draft(
        session,
        data={
            **SHIPPED_FORMS[0],
            "code": "LSO_HARVEST",
            "title": {"en": f"Harvest {LONG_WORD}"},
            "indicators": [
                {**i, "code": f"LSO_{i['code']}"} for i in SHIPPED_FORMS[0]["indicators"]
            ],
        },
        project=world.lso,
        actor_id=None,
    )
    session.commit()
    return {"harvest": str(harvest.id), "draft": str(draft.id)}


def _pages(world: World, role: str, forms: dict[str, str] | None = None) -> dict[str, str]:
    assert world.returned is not None and world.conflict is not None
    pages = {
        "overview": "/overview",
        "projects": "/projects",
        "project": f"/projects/{world.lso.id}",
        "review": "/review",
        "activity": f"/activities/{world.submitted[0].id}",
        "activity-conflict": f"/activities/{world.conflict.entity_id}",
        "tablets": "/tablets",
        "exports": "/exports",
        "observations": "/observations",
        "not-found": "/activities/00000000-0000-4000-8000-000000000000",
    }
    if role == "officer":  # a conflict's own page, with the form to settle it
        pages["conflict"] = f"/conflicts/{world.conflict.id}"
    if role in ("admin", "officer", "hq"):
        pages["people"] = "/people"
        pages["person"] = f"/people/{world.expert.id}"
        pages["reports"] = "/reports"
    if forms:
        pages["forms"] = "/forms"
        pages["form"] = f"/forms/{forms['harvest']}"
        pages["form-draft"] = f"/forms/{forms['draft']}"
        if role in ("admin", "officer"):
            pages["form-new"] = "/forms/new"
            pages["form-edit"] = f"/forms/{forms['draft']}/edit"
    return pages


def _user(world: World, role: str) -> User:
    users: dict[str, User] = {
        "admin": world.admin,
        "hq": world.hq,
        "officer": world.officer,
        "expert": world.expert,
    }
    return users[role]


def _show(d: Any, url: str, width: int) -> None:
    set_width(d, width)
    d.get(url)
    d.find_element("tag name", "footer")  # the whole page arrived


def _sideways(d: Any) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    width, client = d.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return max(0, int(width) - int(client))


def _cut_at_the_left(d: Any) -> list[str]:
    """Elements pushed past the window's left edge (overflow there makes no scrollbar)."""
    found: list[str] = d.execute_script(
        """
        const out = [];
        for (const el of document.querySelectorAll('body *')) {
          const r = el.getBoundingClientRect();
          if (r.width > 0 && r.height > 0 && r.left < -1 && !el.closest('.skip, .sr-only'))
            out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
        }
        return out.slice(0, 5);
        """
    )
    return found


def _axe_source() -> str:
    from axe_selenium_python.axe import _DEFAULT_SCRIPT

    return Path(_DEFAULT_SCRIPT).read_text(encoding="utf8")


def _preload_axe(d: Any) -> None:
    """axe-core in every page the driver opens from now on, before the page's own scripts:
    ``_axe`` then has nothing to inject (sending its 555 KB per page took 0.15 s)."""
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _axe_source()})


# Only the violations, and of them only what a problem line says: axe skips gathering the
# nodes that pass (every node of the page), and the answer crossing WebDriver is a few lines
# rather than megabytes of JSON. (0.9 s a page before, 0.5 s after.)
_AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({
  id: v.id, impact: v.impact, count: v.nodes.length,
  targets: v.nodes.slice(0, 3).map(n => n.target[0]),
}))));
"""


def _axe(d: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    if d.execute_script("return typeof window.axe") != "object":
        d.execute_script(_axe_source())
    found = []
    for v in d.execute_async_script(_AXE_RUN):
        if v["impact"] in BLOCKING:
            found.append(f"{v['id']} ({v['impact']}, {v['count']}×): {v['targets']}")
    return found


def _shoot(d: Any, name: str, width: int) -> None:
    screenshot(d, f"{name}-{width}", width=width, folder=AUDIT_SHOTS)


def _check_pages(
    audit: Audit,
    role: str,
    pages: dict[str, str],
    widths: tuple[int, ...] = WIDTHS,
    *,
    axe: bool = True,
) -> list[str]:
    """Each page loaded once and checked at every width (the dashboard's layout is its CSS
    alone, no script measures the window, so resizing lays it out as loading at that width
    does; loading it again for each width cost a request and a render per page and width)."""
    problems = []
    d = audit.driver
    for name, path in pages.items():
        _show(d, audit.base + path, widths[0])
        for width in widths:
            set_width(d, width)
            where = f"{role} {name} at {width} px"
            if overflow := _sideways(d):
                problems.append(f"{where}: scrolls {overflow} px sideways")
            if cut := _cut_at_the_left(d):
                problems.append(f"{where}: cut at the left edge: {cut}")
            if axe:
                problems += [f"{where}: {v}" for v in _axe(d)]
            text = d.find_element("tag name", "body").text
            problems += [f"{where}: no space in “{m}”" for m in RUN_ON.findall(text)]
            _shoot(d, f"{role}-{name}", width)
        # What opens in place (a chart's numbers, a form's details) must fit too.
        if d.execute_script(
            "const closed = [...document.querySelectorAll('details:not([open])')];"
            "closed.forEach(x => { x.open = true; }); return closed.length;"
        ):
            for width in widths:
                set_width(d, width)
                if overflow := _sideways(d):
                    problems.append(
                        f"{role} {name} at {width} px, its details open: "
                        f"scrolls {overflow} px sideways"
                    )
    return problems


@pytest.mark.parametrize("role", ["admin", "hq", "officer", "expert"])
def test_every_page_passes_axe_and_fits_a_phone(audit: Audit, role: str) -> None:
    _sign_in(audit, _user(audit.world, role))
    problems = _check_pages(audit, role, _pages(audit.world, role, audit.forms))
    assert not problems, "\n".join(problems)


def test_the_sign_in_page_passes_axe_and_fits_a_phone(audit: Audit) -> None:
    _sign_in(audit, None)
    problems = _check_pages(audit, "anonymous", {"login": "/login"})
    assert not problems, "\n".join(problems)


def _clipped_menu_entries(d: Any) -> list[str]:
    """Menu entries not shown whole: cut by the menu's box, the window, or their own width."""
    found: list[str] = d.execute_script(
        """
        const nav = document.querySelector('nav.mainnav');
        const box = nav.getBoundingClientRect();
        const cut = [];
        for (const a of nav.querySelectorAll('a')) {
          const r = a.getBoundingClientRect();
          if (r.width === 0 || r.left < box.left - 0.5 || r.right > box.right + 0.5
              || r.right > document.documentElement.clientWidth + 0.5
              || a.scrollWidth > a.clientWidth + 1) cut.push(a.textContent.trim());
        }
        if (nav.scrollWidth > nav.clientWidth + 1) cut.push('(the menu scrolls)');
        return cut;
        """
    )
    return found


@pytest.mark.parametrize("language", ["pt", "es"])
def test_portuguese_and_spanish_pages_fit_a_phone(audit: Audit, language: str) -> None:
    """The longest of the four languages still fits: no page scrolls sideways at 390 px."""
    _sign_in(audit, audit.world.officer, language)
    pages = _pages(audit.world, "officer", audit.forms)
    # Longer words, same colours: axe has checked these pages in English already.
    problems = _check_pages(audit, f"officer-{language}", pages, widths=(390,), axe=False)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("role", "width", "language"),
    [
        ("officer", 1024, "en"),
        ("hq", 1024, "en"),
        ("hq", 1920, "en"),
        ("admin", 390, "en"),
        ("hq", 1024, "pt"),
        ("admin", 1024, "es"),
    ],
)
def test_the_menu_shows_every_entry_whole(
    audit: Audit, role: str, width: int, language: str
) -> None:
    _sign_in(audit, _user(audit.world, role), language)
    _show(audit.driver, audit.base + "/overview", width)
    assert _clipped_menu_entries(audit.driver) == []
    assert audit.driver.find_element(
        "css selector", "nav.mainnav a[href='/exports']"
    ).is_displayed()


def test_review_buttons_are_on_screen_on_a_phone(audit: Audit) -> None:
    _sign_in(audit, audit.world.officer)
    d = audit.driver
    _show(d, audit.base + "/review", 390)
    approve = d.find_element("css selector", "button[name=only]")
    back = d.find_element("css selector", "a[href$='#review']")
    site = d.find_elements("css selector", "#pending-sites button[name=action]")
    assert len(site) == 2  # Approve and Reject of the pending site
    for button in (approve, back, *site):
        left, right = d.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right]", button
        )
        assert left >= 0 and right <= 390, (button.text, left, right)


def test_the_enrolment_qr_decodes_at_its_displayed_size(audit: Audit) -> None:
    import zxingcpp
    from PIL import Image
    from selenium.webdriver.support.ui import Select, WebDriverWait

    _sign_in(audit, audit.world.officer)
    d = audit.driver
    for width in WIDTHS:
        _show(d, audit.base + "/tablets", width)
        Select(d.find_element("id", "username")).select_by_value(audit.world.expert.username)
        d.find_element("css selector", "form[action='/tablets/enrol'] button[type=submit]").click()
        # The answer is a new page: wait for it rather than race the click.
        WebDriverWait(d, 20).until(
            lambda drv: drv.find_elements("css selector", "#enrolment .qr svg")
        )
        qr = d.find_element("css selector", "#enrolment .qr svg")
        code = d.find_element("css selector", "#enrolment .code").text
        shown = qr.size
        assert 150 <= shown["width"] <= 400 and shown["width"] == shown["height"], shown
        image = Image.open(io.BytesIO(qr.screenshot_as_png))
        decoded = [b.text for b in zxingcpp.read_barcodes(image)]
        assert decoded == [qr_payload(code, audit.base)], f"at {width} px"
        _shoot(d, "officer-tablets-enrolment", width)


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_the_people_filter_shows_its_role_whole_on_a_phone(audit: Audit, language: str) -> None:
    # At 390 px the role filter was squeezed beside the name and the button: it read "Todc".
    _sign_in(audit, audit.world.officer, language)
    d = audit.driver
    _show(d, audit.base + "/people", 390)
    width, longest = d.execute_script(
        "const s = document.getElementById('p-role');"
        "const c = document.createElement('canvas').getContext('2d');"
        "c.font = getComputedStyle(s).font;"
        "return [s.getBoundingClientRect().width,"
        " Math.max(...[...s.options].map(o => c.measureText(o.text).width))];"
    )
    # The text, the select's padding and its arrow.
    assert width >= longest + 40, (width, longest)


@pytest.mark.parametrize("language", ["en", "fr", "pt", "es"])
def test_every_language_button_is_whole_on_a_phone(audit: Audit, language: str) -> None:
    # In Portuguese and Spanish at 390 px the language switch was squeezed by the account
    # links and cut "ES" in half (narrower, it hid it): a Spanish reader could not choose it.
    _sign_in(audit, audit.world.officer, language)
    d = audit.driver
    for width in (360, 390):
        _show(d, audit.base + "/overview", width)
        clipped = d.execute_script(
            "const s = document.querySelector('.lang-switch').getBoundingClientRect();"
            "return [...document.querySelectorAll('.lang-switch button')]"
            ".map(b => [b.textContent.trim(), b.getBoundingClientRect()])"
            ".filter(([_, r]) => r.left < s.left - 0.5 || r.right > s.right + 0.5)"
            ".map(([name, _]) => name);"
        )
        assert clipped == [], (width, clipped)
        assert _sideways(d) == 0, width
