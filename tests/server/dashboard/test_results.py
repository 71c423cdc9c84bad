"""The dashboard's results pages (docs/results.md#dashboard-results): a project's result charts
equal the API's values, the overview's results across pilots, the observations list and page by
role and scope, and review through the page."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import issue_access_token
from server.activities.models import Attachment
from server.columns import utcnow
from server.config import Settings
from server.dashboard.results import tone_of
from server.dashboard.session import LANGUAGE_COOKIE
from server.db import write_engine
from server.projects.models import Target
from server.records.receipts import Signer
from server.results.models import Observation
from server.sync.attachments import AttachmentFiles, store_complete
from tests.factories import make_observation, make_observation_form
from tests.server.dashboard.conftest import csrf_of, fresh, main_of, sign_in
from tests.server.dashboard.world import World, field_photo

CODE = "T_DASH_YIELD"
VISITS = "T_DASH_VISITS_N"


@dataclass
class Results:
    form: Any
    lso: list[Any]
    eth: Any
    year: int  # the year of the observations and the target; the baseline is the year before


def results_year(world: World) -> int:
    """The year ``add_results`` observes in: the world's projects' second, so last year
    whatever the day (the world's projects start on 1 January two years ago)."""
    return world.lso.start_date.year + 1


@pytest.fixture
def results(world: World, session: Session) -> Results:
    return add_results(session, world)


def add_results(session: Session, world: World) -> Results:
    """A harvest form with a compared yield indicator; observations in Lesotho over two quarters
    (demo and control) and one in Ethiopia; a baseline and a yearly target in Lesotho. All in
    ``results_year(world)`` (Q1 and Q3), the baseline the year before: inside the projects,
    before "before the project" (the year a new baseline may be set for)."""
    year = results_year(world)
    form = make_observation_form(session, code="T_DASH_HARVEST")
    form.title = {"en": "Harvest check", "fr": "Contrôle de récolte"}
    form.fields = [
        {**f, "label": {"en": "Plot", "fr": "Parcelle"}} if f["name"] == "plot" else f
        for f in form.fields
    ]
    form.indicators = [
        {
            "code": CODE,
            "name": {"en": "Dashboard yield", "fr": "Rendement du tableau"},
            "unit": "kg/ha",
            "aggregate": "ratio",
            "numerator": "harvest_kg",
            "denominator": "plot_area_m2",
            "factor": 10000,
            "compare": "plot",
        }
    ]
    session.add(form)
    session.flush()

    def values(plot: str, kg: float) -> dict[str, Any]:
        out: dict[str, Any] = {"plot": plot, "harvest_kg": kg, "plot_area_m2": 1000}
        if plot == "demo":
            out["practice"] = "CA"
        return out

    lso = [
        make_observation(
            session, world.lso, form, observed_on=f"{year}-02-10", values=values("demo", 2000)
        ),
        make_observation(
            session, world.lso, form, observed_on=f"{year}-02-11", values=values("control", 1000)
        ),
        make_observation(
            session, world.lso, form, observed_on=f"{year}-08-01", values=values("demo", 2500)
        ),
        make_observation(
            session, world.lso, form, observed_on=f"{year}-08-02", values=values("control", 1200)
        ),
    ]
    eth = make_observation(
        session, world.eth, form, observed_on=f"{year}-02-10", values=values("demo", 9999)
    )
    session.add(
        Target(
            project_id=world.lso.id,
            indicator=CODE,
            kind="baseline",
            period=str(year - 1),
            value=9000,
        )
    )
    session.add(
        Target(
            project_id=world.lso.id, indicator=CODE, kind="target", period=str(year), value=18000
        )
    )
    session.commit()
    return Results(form, lso, eth, year)


def _bearer(engine: Engine, user: Any) -> dict[str, str]:
    with Session(write_engine(engine)) as writer:
        token, _ = issue_access_token(writer, user=user, minutes=60)
        writer.commit()
    return {"Authorization": f"Bearer {token}"}


def _cells(html: str, key: str) -> list[list[str]]:
    """The rows of one chart's "Show the numbers" table, as text cells."""
    start = html.index(f'id="chart-{key}"')
    table = html[html.index("<table>", start) : html.index("</table>", start)]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.S)
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
        for r in rows
    ]


def test_project_results_equal_the_api(
    client: TestClient, engine: Engine, world: World, results: Results
) -> None:
    api = client.get(
        f"/api/v1/indicators/{CODE}/values",
        params={"group_by": "period:quarter", "project": world.lso.code},
        headers=_bearer(engine, world.officer),
    ).json()["rows"]
    by_quarter = {r["period"]: r for r in api}
    q1, q3 = f"{results.year}Q1", f"{results.year}Q3"
    assert set(by_quarter) == {q1, q3}
    sign_in(client, engine, world.officer)
    html = main_of(client.get(f"/projects/{world.lso.id}").text)
    assert 'id="results"' in html and "Dashboard yield" in html
    rows = _cells(html, f"result-{CODE.lower()}")
    # quarter, value, target, baseline; the quarter without observations shows a dash
    assert [r[0] for r in rows] == [q1, f"{results.year}Q2", q3]
    assert rows[0][1] == f"{by_quarter[q1]['value']:,.0f}"
    assert rows[2][1] == f"{by_quarter[q3]['value']:,.0f}"
    assert rows[1][1] == "–"
    assert [r[2] for r in rows] == ["18,000"] * 3  # the year's target
    assert [r[3] for r in rows] == ["9,000"] * 3  # the baseline before
    compare = _cells(html, f"result-{CODE.lower()}-compare")
    first = by_quarter[q1]
    assert compare[0][:3] == [
        q1,
        f"{first['compare']['demo']:,.0f}",
        f"{first['compare']['control']:,.0f}",
    ]
    # an uplift is a change: signed as the project's line and the report write it
    assert compare[0][3] == f"{first['uplift']:+.1f}\u00a0%".replace("-", "\u2212")
    assert f"/observations?project={world.lso.id}&amp;form=T_DASH_HARVEST" in html


def test_overview_lists_results_in_scope(
    client: TestClient, engine: Engine, world: World, results: Results
) -> None:
    sign_in(client, engine, world.officer)
    html = main_of(client.get("/overview").text)
    panel = html[html.index('id="results-across-pilots"') :]
    assert world.lso.code in panel and world.eth.code not in panel
    # Q3: 10 000 × 3 700 kg / 2 000 m² = 18 500 kg/ha; the year's target of 18 000 is judged
    # by the year's 10 000 × 6 700 / 4 000 = 16 750, as its achievement counts it
    assert "18,500" in panel and f"{results.year}: 16,750 of 18,000" in panel
    assert "result-behind" in panel
    client.cookies.clear()
    sign_in(client, engine, world.admin)
    panel = main_of(client.get("/overview").text)
    assert world.eth.code in panel[panel.index('id="results-across-pilots"') :]


def test_observation_list_and_page_by_scope(
    client: TestClient, engine: Engine, session: Session, world: World, results: Results
) -> None:
    sign_in(client, engine, world.officer)
    listing = main_of(client.get("/observations", params={"form": "T_DASH_HARVEST"}).text)
    for o in results.lso:
        assert f"/observations/{o.id}" in listing
    assert str(results.eth.id) not in listing
    assert client.get(f"/observations/{results.eth.id}").status_code == 404
    queue = main_of(client.get("/review").text)
    waiting = queue[queue.index('id="observations"') :]
    assert f"/observations/{results.lso[0].id}" in waiting
    assert str(results.eth.id) not in waiting
    html = main_of(client.get(f"/observations/{results.lso[0].id}").text)
    assert "Harvest check" in html and "Demonstration" in html and "Plot" in html
    assert 'value="approve"' in html and 'value="return"' in html
    # French: the form's labels in the dashboard language
    client.cookies.set("pilotmon_lang", "fr")
    html_fr = main_of(client.get(f"/observations/{results.lso[0].id}").text)
    assert "Parcelle" in html_fr and "Contrôle de récolte" in html_fr
    # a measured decimal is shown as measured, in the reader's notation, never rounded
    weighed = make_observation(
        session,
        world.lso,
        results.form,
        observed_on=f"{results.year}-08-03",
        values={"plot": "control", "harvest_kg": 420.5, "plot_area_m2": 1000},
    )
    session.commit()
    assert "420,5" in main_of(client.get(f"/observations/{weighed.id}").text)
    client.cookies.set("pilotmon_lang", "en")
    assert "420.5" in main_of(client.get(f"/observations/{weighed.id}").text)


def test_field_expert_reads_but_cannot_review(
    client: TestClient, engine: Engine, world: World, results: Results
) -> None:
    sign_in(client, engine, world.expert)
    html = main_of(client.get(f"/observations/{results.lso[0].id}").text)
    assert 'value="approve"' not in html
    token = csrf_of(client.get(f"/observations/{results.lso[0].id}").text)
    response = client.post(
        f"/observations/{results.lso[0].id}/review",
        data={"csrf_token": token, "action": "approve"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert fresh(engine, Observation, results.lso[0].id).status == "submitted"


def test_review_through_the_page(
    client: TestClient, engine: Engine, world: World, results: Results
) -> None:
    sign_in(client, engine, world.officer)
    target = results.lso[1]
    token = csrf_of(client.get(f"/observations/{target.id}").text)
    refused = client.post(
        f"/observations/{target.id}/review",
        data={"csrf_token": token, "action": "return", "comment": ""},
    )
    assert refused.status_code == 422 and "Say what needs fixing" in refused.text
    done = client.post(
        f"/observations/{target.id}/review",
        data={"csrf_token": token, "action": "return", "comment": "Weigh again"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert fresh(engine, Observation, target.id).status == "returned"
    html = main_of(client.get(f"/observations/{target.id}").text)
    assert "Weigh again" in html
    client.post(
        f"/observations/{target.id}/review", data={"csrf_token": token, "action": "approve"}
    )
    assert fresh(engine, Observation, target.id).status == "approved"
    html = main_of(client.get(f"/observations/{target.id}").text)
    assert 'value="reopen"' in html and "Version 3" in html
    other = client.post(
        f"/observations/{results.eth.id}/review",
        data={"csrf_token": token, "action": "approve"},
        follow_redirects=False,
    )
    assert other.status_code == 404


def test_observation_photos_shown_and_served_in_scope(
    client: TestClient,
    engine: Engine,
    world: World,
    results: Results,
    session: Session,
    settings: Settings,
) -> None:
    settings.ensure_data_dir()
    data = field_photo()
    photo = Attachment(
        id=uuid.uuid4(),
        observation_id=results.lso[0].id,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type="image/png",
        caption="Weighing the demonstration plot's harvest",
    )
    session.add(photo)
    session.flush()
    refused = store_complete(
        session,
        files=AttachmentFiles(settings.attachments_dir),
        attachment=photo,
        data=data,
        project_id=world.lso.id,
        signer=Signer.generate(),
    )
    assert refused is None, refused
    session.commit()
    sign_in(client, engine, world.officer)
    html = main_of(client.get(f"/observations/{results.lso[0].id}").text)
    assert f'src="/attachments/{photo.id}"' in html
    assert "Weighing the demonstration plot" in html
    served = client.get(f"/attachments/{photo.id}")
    assert served.status_code == 200 and served.content == data
    client.cookies.clear()
    sign_in(client, engine, world.officer_eth)
    assert client.get(f"/attachments/{photo.id}").status_code == 404


def test_the_colour_follows_the_direction() -> None:
    # a loss rate (decrease) has reached its target at or below it; a yield at or above
    assert tone_of("decrease", 3.0, 5.0) == "on-track"
    assert tone_of("decrease", 7.0, 5.0) == "behind"
    assert tone_of("increase", 7.0, 5.0) == "on-track"
    assert tone_of("increase", 3.0, 5.0) == "behind"
    assert tone_of("increase", 3.0, None) == "none"


def test_targets_of_a_result_indicator_are_named_in_the_readers_language(
    client: TestClient, engine: Engine, world: World, results: Results
) -> None:
    # The targets table and the achievement chart of a project page showed a result
    # indicator's code (T_DASH_YIELD, YIELD_KG_HA in the demo) where activity indicators
    # have their names.
    sign_in(client, engine, world.officer)
    client.cookies.set(LANGUAGE_COOKIE, "fr")
    html = main_of(client.get(f"/projects/{world.lso.id}").text)
    targets = html[html.index('id="targets"') :]
    targets = targets[: targets.index("</section>")]
    row = f'<th scope="row">Rendement du tableau</th><td>{results.year}</td>'
    assert row in targets  # the table
    assert "Rendement du tableau\u202f: cible et réalisé" in targets  # its chart
    assert f">{CODE}<" not in targets and f">{CODE} " not in targets


def add_visits(session: Session, world: World) -> str:
    """A form counting farm visits (no comparison), one visit today in Lesotho against the
    quarter's target of 40; returns the quarter."""
    today = utcnow().date()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    form = make_observation_form(session, code="T_DASH_VISITS")
    form.indicators = [
        {"code": VISITS, "name": {"en": "Farm visits"}, "unit": "", "aggregate": "count"}
    ]
    session.add(form)
    session.flush()
    make_observation(session, world.lso, form, observed_on=today.isoformat())
    session.add(
        Target(project_id=world.lso.id, indicator=VISITS, kind="target", period=quarter, value=40)
    )
    session.commit()
    return quarter


def test_a_count_of_the_quarter_in_progress_is_not_judged_before_it_is_final(
    client: TestClient, engine: Engine, session: Session, world: World, results: Results
) -> None:
    # One visit counted on day one of a quarter against the quarter's target of 40 was shown red
    # with ✗ beside the "latest quarter", although the quarter had weeks to go.
    quarter = add_visits(session, world)
    sign_in(client, engine, world.officer)
    panel = main_of(client.get("/overview").text)
    panel = panel[panel.index('id="results-across-pilots"') :]
    rows = re.findall(r"<tr>(.*?)</tr>", panel, re.S)
    visits = next(r for r in rows if "Farm visits" in r)
    assert f'{quarter} <span class="muted">(in progress)</span>' in visits
    assert "result-so-far" in visits and "✗" not in visits and "✓" not in visits
    yields = next(r for r in rows if "Dashboard yield" in r)  # a ratio, of a year that ended
    assert f"{results.year}Q3" in yields and "(in progress)" not in yields
    assert "result-behind" in yields and "✗" in yields  # the year's 16 750 against 18 000
    page = main_of(client.get(f"/projects/{world.lso.id}").text)
    assert f"Latest quarter {quarter}, so far: 1" in page
    assert f"Latest quarter {results.year}Q3: 18,500" in page


def test_a_quarter_in_progress_is_judged_once_the_verdict_cannot_change() -> None:
    # a sum or count only grows until its quarter ends
    assert tone_of("increase", 3.0, 5.0, growing=True) == "so-far"
    assert tone_of("increase", 5.0, 5.0, growing=True) == "on-track"  # reached: stays reached
    assert tone_of("decrease", 7.0, 5.0, growing=True) == "behind"  # past it: stays past
    assert tone_of("decrease", 3.0, 5.0, growing=True) == "so-far"
    assert tone_of("increase", None, 5.0, growing=True) == "none"
