"""A name with no place to break (a URL pasted as a site's name, a long code) wraps inside its
card on a phone instead of widening the page: at 390 px the project page never scrolls
sideways, in Debian's headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from server.accounts.auth import issue_access_token
from server.app import create_app
from server.dashboard import session as cookies
from server.db import write_engine
from server.projects.models import Site
from tests.server.dashboard.browser import browser_database, chromium, live_server, set_width
from tests.server.dashboard.test_audit_browser import _sideways
from tests.server.dashboard.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UNBREAKABLE = '=HYPERLINK("http://example.org/?site=averylongaddresswithnoplacetobreak&A2","click")'


def test_a_site_name_without_spaces_does_not_widen_a_phones_page(
    sqlite_template: Path, tmp_path: Path
) -> None:
    settings, engine = browser_database(sqlite_template, tmp_path)
    with Session(write_engine(engine), expire_on_commit=False) as session:
        world = build_world(session)
        site = session.exec(select(Site).where(Site.project_id == world.lso.id)).first()
        assert site is not None
        site.name = UNBREAKABLE
        session.add(site)
        token, _ = issue_access_token(session, user=world.officer, minutes=60)
        session.commit()
    try:
        with (
            live_server(create_app(settings, engine)) as base,
            chromium(tmp_path / "profile", tmp_path) as driver,
        ):
            d: Any = driver
            d.get(base + "/login")
            d.add_cookie({"name": cookies.SESSION_COOKIE, "value": token, "path": "/"})
            set_width(d, 390)
            d.get(f"{base}/projects/{world.lso.id}")
            d.find_element("tag name", "footer")
            assert "averylongaddresswithnoplacetobreak" in d.page_source
            assert _sideways(d) == 0
    finally:
        engine.dispose()
