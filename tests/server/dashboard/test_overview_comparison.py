"""The overview compares like with like: on day 66 of a quarter its headlines set the quarter so
far against the first 66 days of the last quarter, and say so. A fixed "today" makes the
arithmetic checkable."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session

from server.accounts.auth import Caller, caller_from_access_token, issue_access_token
from server.dashboard import service
from server.dashboard.i18n import Translator
from server.db import make_engine, write_engine
from tests.server.dashboard.world import World, build_world

TODAY = date(2026, 3, 7)  # day 66 of 2026Q1 (90 days)


@pytest.fixture
def fixed(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Session, World, Caller]]:
    """A world seeded as if today were TODAY; a read-only session and the officer's caller."""
    path = tmp_path / "overview.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with Session(write_engine(engine), expire_on_commit=False) as writer:
        world = build_world(writer, today=TODAY)
        token, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
    with Session(engine) as session:
        yield session, world, caller_from_access_token(session, token=token)
    engine.dispose()


def _value(session: Session, caller: Caller, code: str, first: date, last: date) -> float:
    rows = service.indicator_rows(session, caller=caller, code=code, date_from=first, date_to=last)
    return rows[0]["value"] if rows else 0


def test_day_66_is_compared_with_day_66_of_the_last_quarter(
    fixed: tuple[Session, World, Caller],
) -> None:
    session, _, caller = fixed
    data = service.overview(session, caller=caller, t=Translator("en"), today=TODAY)
    assert (data.quarter, data.quarter_day, data.quarter_days) == ("2026Q1", 66, 90)
    assert data.previous_quarter == "2025Q4"
    assert data.previous_until == date(2025, 12, 5)  # 1 October + 65 days

    activities = next(h for h in data.headlines if h.code == "ACTIVITIES")
    same_days = _value(session, caller, "ACTIVITIES", date(2025, 10, 1), date(2025, 12, 5))
    whole = _value(session, caller, "ACTIVITIES", date(2025, 10, 1), date(2025, 12, 31))
    assert activities.previous == same_days
    assert same_days < whole  # the world has activities after day 66: the old bug shows
    assert activities.value == _value(session, caller, "ACTIVITIES", date(2026, 1, 1), TODAY)

    share = next(h for h in data.headlines if h.code == "WOMEN_SHARE")
    assert share.previous == _value(
        session, caller, "WOMEN_SHARE", date(2025, 10, 1), date(2025, 12, 5)
    )


def test_the_last_quarter_is_cut_at_its_end_when_it_was_shorter(
    fixed: tuple[Session, World, Caller],
) -> None:
    session, _, caller = fixed
    # 30 June is day 91 of 2026Q2; 2026Q1 has only 90 days.
    data = service.overview(session, caller=caller, t=Translator("en"), today=date(2026, 6, 30))
    assert data.quarter_day == 91
    assert data.previous_until == date(2026, 3, 31)


def test_the_page_says_what_it_compares(
    fixed: tuple[Session, World, Caller], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.config import Settings
    from server.dashboard import routes
    from tests.server.dashboard.conftest import main_of, sign_in

    session, world, _ = fixed
    session.close()  # the page's server writes its session row
    engine = session.get_bind()
    url = engine.url.render_as_string(hide_password=False)  # type: ignore[union-attr]
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=url,
        secret_key="overview-test-secret-key-long-enough-0123456789",
    )
    settings.ensure_data_dir()
    monkeypatch.setattr(routes, "_today", lambda: TODAY)
    with TestClient(create_app(settings, make_engine(url))) as client:
        sign_in(client, make_engine(url), world.officer)
        html = main_of(client.get("/overview").text)
    assert "day 66 of 90" in html
    assert "against the same 66 days of the last (2025Q4, up to Dec\u00a05,\u00a02025)" in html
    assert html.count("vs 2025Q4 to day 66:") == len(service.HEADLINES)
