"""One definition of which activities count (submitted and approved, docs/indicators.md): the
Projects list, the project page, the exports page's files and the API give the same numbers
for the same filters, and the IATI file follows the form's "Count" choice."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.dashboard import session as cookies
from server.projects.models import Project, Target
from tests.server.dashboard.conftest import main_of, sign_in
from tests.server.dashboard.world import World


def _api(client: TestClient, engine: Engine, world: World) -> TestClient:
    api = TestClient(client.app)
    sign_in(api, engine, world.officer)
    api.headers["Authorization"] = f"Bearer {api.cookies.get(cookies.SESSION_COOKIE)}"
    api.cookies.clear()
    return api


def _indicator(api: TestClient, code: str, **params: str) -> float:
    answer = api.get(f"/api/v1/indicators/{code}/values", params=params)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    return float(rows[0]["value"]) if rows else 0.0


def _number(text: str) -> int:
    return int(text.replace(",", "").replace("\u202f", "").replace("\xa0", ""))


def test_the_projects_list_and_project_page_count_as_the_api(
    officer: TestClient, engine: Engine, world: World
) -> None:
    api = _api(officer, engine, world)
    assert world.returned is not None and world.returned.project_id == world.lso.id
    listing = main_of(officer.get("/projects").text)
    row = re.search(rf"/projects/{world.lso.id}\".*?</tr>", listing, re.S)
    assert row is not None
    cells = dict(re.findall(r'data-label="([^"]+)" class="num">([\d,]+)<', row.group(0)))
    activities = _indicator(api, "ACTIVITIES", project=world.lso.code)
    participants = _indicator(api, "PARTICIPANTS", project=world.lso.code)
    assert _number(cells["Activities"]) == activities
    assert _number(cells["Participants"]) == participants
    assert "count submitted and approved activities" in listing  # said where it applies

    page = main_of(officer.get(f"/projects/{world.lso.id}").text)
    kpi = re.search(r'kpi-label">Activities</p><p class="kpi-value">([\d,]+)<', page)
    assert kpi is not None and _number(kpi.group(1)) == activities


def test_the_activities_file_holds_the_rows_of_the_api(
    officer: TestClient, engine: Engine, world: World
) -> None:
    api = _api(officer, engine, world)
    for status in ("", "approved"):
        page = officer.get(
            "/exports/download", params={"format": "activities-csv", "status": status}
        )
        assert page.status_code == 200, page.text[-300:]
        params = {"status": status} if status else {}
        answer = api.get("/api/v1/exports/activities.csv", params=params)
        assert answer.status_code == 200, answer.text
        mine = list(csv.DictReader(io.StringIO(page.content.decode("utf-8-sig"))))
        theirs = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert sorted(r["id"] for r in mine) == sorted(r["id"] for r in theirs)
        wanted = {"approved"} if status else {"submitted", "approved"}
        assert {r["status"] for r in mine} == wanted  # returned ones count nowhere


def _iati_actuals(body: bytes, project_code: str) -> tuple[float, list[ET.Element]]:
    root = ET.fromstring(body)  # noqa: S314
    for activity in root.iter("iati-activity"):
        identifier = activity.findtext("iati-identifier") or ""
        if not identifier.endswith(project_code):
            continue
        for result in activity.iter("result"):
            if result.findtext("title/narrative") == "Activities":
                periods = list(result.iter("period"))
                total = sum(
                    float(a.get("value", 0))
                    for p in periods
                    for a in p.findall("actual")
                    if a.find("dimension") is None
                )
                return total, periods
    raise AssertionError(f"{project_code} has no Activities result")


def test_the_iati_file_follows_the_count_choice(
    officer: TestClient, engine: Engine, world: World
) -> None:
    api = _api(officer, engine, world)
    for status in ("", "approved"):
        response = officer.get("/exports/download", params={"format": "iati", "status": status})
        assert response.status_code == 200
        total, _ = _iati_actuals(response.content, world.lso.code)
        params = {"project": world.lso.code, **({"status": status} if status else {})}
        assert total == _indicator(api, "ACTIVITIES", **params), status
    default = api.get("/api/v1/exports/iati.xml", params={"project": world.lso.code})
    assert _iati_actuals(default.content, world.lso.code)[0] == _indicator(
        api, "ACTIVITIES", project=world.lso.code
    )


def _dates(period: ET.Element) -> tuple[date, date]:
    start, end = period.find("period-start"), period.find("period-end")
    assert start is not None and end is not None
    return date.fromisoformat(start.get("iso-date", "")), date.fromisoformat(
        end.get("iso-date", "")
    )


def test_iati_periods_lie_inside_the_project_and_future_ones_have_no_actual(
    officer: TestClient, session: Session, world: World
) -> None:
    year = world.today.year
    session.add(
        Target(project_id=world.lso.id, indicator="ACTIVITIES", period=str(year + 1), value=40)
    )
    storage = session.get(Project, world.lso_storage.id)
    assert storage is not None
    storage.start_date = date(year - 1, 7, 1)  # began mid-year
    session.add(storage)
    session.add(
        Target(project_id=storage.id, indicator="ACTIVITIES", period=str(year - 1), value=3)
    )
    session.commit()

    response = officer.get("/exports/download", params={"format": "iati"})
    _, lso_periods = _iati_actuals(response.content, world.lso.code)
    _, storage_periods = _iati_actuals(response.content, storage.code)
    coming = [p for p in lso_periods if _dates(p)[0] > world.today]
    assert [_dates(p) for p in coming] == [(date(year + 1, 1, 1), date(year + 1, 12, 31))]
    assert coming[0].find("actual") is None  # not yet happened: a target, no "0" actual
    assert coming[0].find("target") is not None
    assert _dates(storage_periods[0]) == (date(year - 1, 7, 1), date(year - 1, 12, 31))
    # Each project's periods against its own dates (early in a year, the Lesotho project has
    # a period of last year that begins before the storage project did).
    for project, periods in ((world.lso, lso_periods), (storage, storage_periods)):
        for period in periods:
            first, last = _dates(period)
            assert project.start_date <= first <= last <= project.end_date
            if first <= world.today:
                assert period.find("actual") is not None
