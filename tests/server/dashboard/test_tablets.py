"""The tablets page: who uses which tablet, when it last synced, silent ones standing out;
enrolling with a one-time code and its QR code; revoking."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from server.accounts.devices import code_hash
from server.accounts.models import Device, EnrolmentCode
from server.columns import as_utc, utcnow
from server.config import Settings
from tests.server.dashboard.conftest import fresh, main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World


def _codes(engine: Engine) -> int:
    with Session(engine) as reader:
        return reader.exec(select(func.count()).select_from(EnrolmentCode)).one()


def test_each_tablet_shows_its_user_app_and_last_sync(officer: TestClient, world: World) -> None:
    html = main_of(officer.get("/tablets").text)
    for label in ("Tablet A — Maseru", "Tablet B — Leribe", "Old tablet"):
        assert label in html
    assert "expert.lso" in html and "1.0.3" in html
    assert "1 day ago" in html
    assert "no report" in html  # no status posted yet (tests/server/dashboard/test_fleet.py)
    # Silent for more than 7 days: the row and its state stand out; a revoked one does not.
    silent_row = re.search(r'<tr data-device="[^"]+" class="silent">.*?</tr>', html, re.S)
    assert silent_row is not None and "Tablet B — Leribe" in silent_row.group(0)
    assert "Silent for 12 days" in silent_row.group(0)
    assert "1 has not synced for more than 7 days." in html
    assert re.search(r'<tr data-device="[^"]+" class="revoked">', html)


def test_enrolling_issues_a_one_time_code_with_its_qr(
    officer: TestClient, engine: Engine, world: World
) -> None:
    token = token_for(officer, "/tablets")
    response = officer.post(
        "/tablets/enrol", data={"csrf_token": token, "username": world.expert.username}
    )
    assert response.status_code == 200
    html = main_of(response.text)
    code = re.search(r'<p class="code">([0-9A-Z]{5}-[0-9A-Z]{5})</p>', html)
    assert code is not None
    assert "<svg" in html and "Pilot Monitor enrolment code" in html  # the QR code
    with Session(engine) as reader:
        row = reader.exec(
            select(EnrolmentCode).where(EnrolmentCode.code_hash == code_hash(code.group(1)))
        ).one()
        assert row.user_id == world.expert.id and row.used_at is None


@sqlite_only
def test_enrolling_without_choosing_someone_says_so(
    officer: TestClient, engine: Engine, world: World
) -> None:
    token = token_for(officer, "/tablets")
    response = officer.post("/tablets/enrol", data={"csrf_token": token, "username": ""})
    assert response.status_code == 422
    assert 'id="username-error"' in response.text
    stranger = officer.post("/tablets/enrol", data={"csrf_token": token, "username": "nobody.here"})
    assert stranger.status_code == 422
    assert "Not found on the server, or outside your projects." in stranger.text
    assert _codes(engine) == 0


@sqlite_only
def test_enrolling_needs_the_csrf_token_and_an_officer(
    client: TestClient, engine: Engine, world: World
) -> None:
    sign_in(client, engine, world.officer)
    assert (
        client.post("/tablets/enrol", data={"username": world.expert.username}).status_code == 403
    )
    client.cookies.clear()
    sign_in(client, engine, world.hq)
    html = main_of(client.get("/tablets").text)
    assert "Enrol a new tablet" not in html and ">Revoke</button>" not in html
    token = token_for(client, "/tablets")
    refused = client.post(
        "/tablets/enrol", data={"csrf_token": token, "username": world.expert.username}
    )
    assert refused.status_code == 403
    assert _codes(engine) == 0


def test_revoking_cuts_the_tablet_off(officer: TestClient, engine: Engine, world: World) -> None:
    tablet = world.tablets["Tablet B — Leribe"]
    token = token_for(officer, "/tablets")
    response = officer.post(
        f"/tablets/{tablet.id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert fresh(engine, Device, tablet.id).revoked_at is not None
    page = officer.get("/tablets")
    assert "Revoked “Tablet B — Leribe”" in page.text


@sqlite_only
def test_revoking_without_the_csrf_token_changes_nothing(
    officer: TestClient, engine: Engine, world: World
) -> None:
    tablet = world.tablets["Tablet A — Maseru"]
    response = officer.post(f"/tablets/{tablet.id}/revoke", data={"csrf_token": "x"})
    assert response.status_code == 403
    assert fresh(engine, Device, tablet.id).revoked_at is None


@sqlite_only
def test_an_enrolment_code_lasts_the_configured_hours_and_says_its_time_zone(
    officer: TestClient, engine: Engine, world: World, settings: Settings
) -> None:
    token = token_for(officer, "/tablets")
    before = utcnow()
    response = officer.post(
        "/tablets/enrol", data={"csrf_token": token, "username": world.expert.username}
    )
    html = main_of(response.text)
    code = re.search(r'<p class="code">([0-9A-Z]{5}-[0-9A-Z]{5})</p>', html)
    assert code is not None
    with Session(engine) as reader:
        row = reader.exec(
            select(EnrolmentCode).where(EnrolmentCode.code_hash == code_hash(code.group(1)))
        ).one()
    expires = as_utc(row.expires_at)
    assert expires is not None
    lasts = expires - before
    # as the README and `pilotmon enrol` say: 24 hours by default, not 48
    assert settings.enrolment_code_hours == 24
    assert timedelta(hours=23, minutes=59) < lasts <= timedelta(hours=24, minutes=1)
    shown = re.search(r"expires on ([^<]+?)\. It is shown only now", html)
    assert shown is not None and shown.group(1).endswith("UTC"), shown
