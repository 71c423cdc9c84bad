"""The fleet view (the Tablets page) and the overview's line on what waits on the tablets, by
scope, against the statuses the tablets posted (docs/protocol.md#tablet-status)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.fleet import flag_pending_tablets
from server.dashboard.i18n import Translator
from server.dashboard.service import REPORT_AGE_BUCKETS, report_age_bucket
from server.dashboard.session import LANGUAGE_COOKIE
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.fleet import ORDER, add_fleet
from tests.server.dashboard.world import World


def _rows(html: str) -> list[str]:
    """The tablet labels of the fleet table, in order."""
    return re.findall(r'<tr data-device="[^"]+"[^>]*>\s*<th scope="row">([^<]+)<', html)


def test_the_tablets_that_need_a_call_come_first(
    client: TestClient, engine: Engine, world: World, session: Session
) -> None:
    add_fleet(session, world)
    session.commit()
    sign_in(client, engine, world.officer)
    html = main_of(client.get("/tablets").text)
    assert _rows(html) == [*ORDER, "Old tablet"]  # revoked last; Ethiopia's not listed
    assert "Tablet E — Adama" not in html
    assert "2 tablets need a call." in html
    assert "8 records and 2 photos wait on 2 tablets, not yet on the server." in html
    leribe = re.search(r'<tr data-device="[^"]+" class="silent">.*?</tr>', html, re.S)
    assert leribe is not None and "Tablet B — Leribe" in leribe.group(0)
    for pill in ("Unsynced data for more than 7 days", "Silent for 12 days", "Last sync failed"):
        assert pill in leribe.group(0)
    assert "the server did not answer in time" in leribe.group(0)
    mafeteng = re.search(r'<tr data-device="[^"]+" class="call">.*?</tr>', html, re.S)
    assert mafeteng is not None and "Tablet C — Mafeteng" in mafeteng.group(0)
    assert "Low storage" in mafeteng.group(0) and "100\u00a0MB" in mafeteng.group(0)
    assert "Date 365 days ahead" in mafeteng.group(0)  # its clock a year ahead
    maseru = re.search(r"<tr[^>]*>\s*<th scope=\"row\">Tablet A — Maseru.*?</tr>", html, re.S)
    assert maseru is not None
    assert "5 records" in maseru.group(0) and "2 photos" in maseru.group(0)
    assert "5\u00a0MB" in maseru.group(0) and "9.0\u00a0GB" in maseru.group(0)
    assert 'figure class="chart' in html and "Tablets by their last report" in html

    client.cookies.set(LANGUAGE_COOKIE, "fr")
    french = main_of(client.get("/tablets").text)
    assert "Date en avance de 365 jours" in french


def test_the_overview_says_what_waits_on_the_tablets_by_scope(
    client: TestClient, engine: Engine, world: World, session: Session
) -> None:
    add_fleet(session, world)
    session.commit()
    sign_in(client, engine, world.officer)
    html = main_of(client.get("/overview").text)
    assert "8 records and 2 photos on 2 tablets not yet synced." in html
    assert 'id="flagged-tablets"' not in html  # the job has not run yet

    flag_pending_tablets(session, days=7)
    session.commit()
    html = main_of(client.get("/overview").text)
    flagged = re.search(r'id="flagged-tablets".*?</ul>', html, re.S)
    assert flagged is not None
    assert "1 tablet has held unsynced data for more than 7 days:" in flagged.group(0)
    assert "Tablet B — Leribe" in flagged.group(0) and "3 records" in flagged.group(0)

    client.cookies.clear()
    sign_in(client, engine, world.hq)
    html = main_of(client.get("/overview").text)
    assert "15 records and 3 photos on 3 tablets not yet synced." in html
    # HQ narrowed to Ethiopia: only the tablets of Ethiopia's people.
    html = main_of(client.get("/overview", params={"country": "ETH"}).text)
    assert "7 records and 1 photo on 1 tablet not yet synced." in html

    client.cookies.clear()
    sign_in(client, engine, world.officer_eth)
    html = main_of(client.get("/overview").text)
    assert "7 records and 1 photo on 1 tablet not yet synced." in html
    assert "Tablet B — Leribe" not in html


def test_revoking_a_tablet_that_holds_unsynced_data_says_what_will_not_arrive(
    client: TestClient, engine: Engine, world: World, session: Session
) -> None:
    """A lost tablet is revoked: the officer is told, before and after, how much of its work has
    not reached the server and will not (the overview stops counting it once revoked)."""
    tablets = add_fleet(session, world)
    session.commit()
    sign_in(client, engine, world.officer)
    maseru = tablets["Tablet A — Maseru"]
    html = client.get("/tablets").text
    form = re.search(rf'action="/tablets/{maseru.id}/revoke"[^>]*data-confirm="([^"]+)"', html)
    assert form is not None
    asked = form.group(1)
    assert "5 records and 2 photos" in asked and "will not reach the server" in asked
    # A tablet with nothing waiting gets the short question.
    quthing = tablets["Tablet D — Quthing"]
    plain = re.search(rf'action="/tablets/{quthing.id}/revoke"[^>]*data-confirm="([^"]+)"', html)
    assert plain is not None and "records" not in plain.group(1).replace("unsent records", "")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    done = client.post(f"/tablets/{maseru.id}/revoke", data={"csrf_token": token.group(1)})
    notice = main_of(done.text)
    assert "Revoked “Tablet A — Maseru”" in notice
    assert "5 records and 2 photos" in notice and "will not reach the server" in notice


def test_the_chart_puts_each_tablet_where_the_list_says_it_last_reported() -> None:
    """A tablet the list says reported "2 days ago" is not drawn as "today or yesterday"."""
    now = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    t = Translator("en")
    labels = [label for _, label in REPORT_AGE_BUCKETS]
    for hours in range(0, 24 * 40, 3):
        received = now - timedelta(hours=hours)
        said = t.ago(received, now)  # "5 hours ago", "1 day ago", "2 days ago", "3 weeks ago"
        found = re.search(r"(\d+) (\w+)", said)
        assert found is not None, said
        number, unit = found.groups()
        drawn = labels[report_age_bucket(received, now)]
        if unit.startswith(("second", "minute", "hour")) or said == "1 day ago":
            assert drawn == "today or yesterday", said
        elif unit.startswith("day"):
            assert drawn == "2–7 days", said
        elif unit.startswith("week") and int(number) <= 4:
            assert drawn in ("2–7 days", "8–30 days"), said
        else:
            assert drawn in ("8–30 days", "more than 30 days"), said
    assert labels[report_age_bucket(now - timedelta(hours=44), now)] == "2–7 days"
