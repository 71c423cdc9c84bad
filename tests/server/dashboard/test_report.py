"""The quarterly report (docs/results.md#quarterly-report): who may download it, for which
scope, and that its PDF opens and says what the API says.

The PDF is read back with poppler's ``pdftotext``/``pdfinfo``; WeasyPrint needs Pango. Both come
from Debian (``.ci/run`` installs them): without them these tests skip and say how to enable.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller, issue_access_token
from server.accounts.models import User
from server.columns import utcnow
from server.dashboard import report
from server.dashboard import session as cookies
from server.dashboard.i18n import Translator
from server.db import write_engine
from server.projects.models import Target
from tests.factories import make_activity
from tests.server.dashboard.conftest import main_of, sign_in, sqlite_only
from tests.server.dashboard.test_results import CODE as RESULT_CODE
from tests.server.dashboard.test_results import add_results
from tests.server.dashboard.world import World
from tests.server.test_cli import assert_one_line_error, run_cli

ENABLE = (
    "install Debian's libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core and poppler-utils "
    "(.ci/run does) to run the PDF report's tests"
)


def _missing() -> str | None:
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        return f"WeasyPrint cannot load Pango ({exc})"
    for tool in ("pdftotext", "pdfinfo"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


MISSING = _missing()
SHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots" / "report"
needs_pdf = pytest.mark.skipif(MISSING is not None, reason=f"{MISSING}: {ENABLE}")


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def pdf_info(pdf: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def this_quarter(world: World) -> str:
    return report.quarter_of(world.today)


def download(client: TestClient, **params: str) -> Any:
    return client.get("/reports/quarterly.pdf", params=params)


def bearer(engine: Engine, user: User) -> dict[str, str]:
    with Session(write_engine(engine)) as writer:
        token, _ = issue_access_token(writer, user=user, minutes=60)
        writer.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def hq(client: TestClient, engine: Engine, world: World) -> Iterator[TestClient]:
    sign_in(client, engine, world.hq)
    yield client


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    """The officer's report of Lesotho this quarter, per backend: laid out once and read by
    the tests that look at what it says and how it looks (each of them starts from the same
    seeded world, so the report each would download is this one)."""
    return {}


@pytest.fixture
def lso_report(officer: TestClient, engine: Engine, world: World, rendered: dict[str, Any]) -> Any:
    """The answer to the officer's download of Lesotho's report of this quarter."""
    backend = engine.dialect.name
    if backend not in rendered:
        rendered[backend] = download(officer, quarter=this_quarter(world), country="LSO")
    return rendered[backend]


# --- who may download what ---------------------------------------------------------------


@needs_pdf
def test_the_officer_gets_their_country_and_nothing_else(
    officer: TestClient, world: World, lso_report: Any, tmp_path: Path
) -> None:
    quarter = this_quarter(world)
    response = lso_report
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/pdf"
    assert (
        f'filename="pilotmon-report-LSO-{quarter}.pdf"' in response.headers["content-disposition"]
    )
    text = pdf_text(response.content, tmp_path)
    assert "Lesotho" in text and quarter in text
    assert "LSO-CPP-POTATO" in text
    # This quarter runs still: said, and its column is "so far"; a past one says neither.
    assert "This quarter is not over" in text and f"{quarter} so far" in text
    past = pdf_text(
        download(officer, quarter=report.shift_quarter(quarter, -1), country="LSO").content,
        tmp_path,
    )
    assert "This quarter is not over" not in past
    assert f"{report.shift_quarter(quarter, -1)} so far" not in past
    # Without a country: all of the officer's countries, which are Lesotho's alone (and the
    # file is named after it, not "all").
    everything = download(officer, quarter=quarter)
    assert (
        f'filename="pilotmon-report-LSO-{quarter}.pdf"' in everything.headers["content-disposition"]
    )
    mine = pdf_text(everything.content, tmp_path)
    # Titled with the officer's country, never "All countries" (which are not theirs).
    assert "All countries" not in mine and "Lesotho" in mine
    for leak in ("ETH-CPP-CLIMATE", "Drought-tolerant teff trial", "Ethiopia"):
        assert leak not in text and leak not in mine
    # Another country is refused outright, not answered empty.
    other = download(officer, quarter=quarter, country="ETH")
    assert other.status_code == 403
    assert "application/pdf" not in other.headers["content-type"]


def test_a_field_expert_gets_no_report(client: TestClient, engine: Engine, world: World) -> None:
    sign_in(client, engine, world.expert)
    assert client.get("/reports").status_code == 403
    assert download(client, quarter=this_quarter(world), country="LSO").status_code == 403
    overview = client.get("/overview").text
    assert 'id="download-report"' not in overview and 'href="/reports"' not in overview


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get(
        "/reports/quarterly.pdf", params={"quarter": "2026Q3"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@needs_pdf
def test_hq_reports_on_any_scope(hq: TestClient, world: World, tmp_path: Path) -> None:
    quarter = this_quarter(world)
    everything = pdf_text(download(hq, quarter=quarter).content, tmp_path)
    assert "All countries" in everything
    assert "ETH-CPP-CLIMATE" in everything and "LSO-CPP-POTATO" in everything
    ethiopia = pdf_text(download(hq, quarter=quarter, country="ETH").content, tmp_path)
    assert "Ethiopia" in ethiopia and "LSO-CPP-POTATO" not in ethiopia
    area = pdf_text(download(hq, quarter=quarter, thematic_area="TA2").content, tmp_path)
    assert "LSO-DAA-STORE" in area and "LSO-CPP-POTATO" not in area


@sqlite_only
def test_bad_input_is_shown_on_the_reports_page(hq: TestClient, world: World) -> None:
    for params, field in (
        ({"quarter": "2026Q5"}, "quarter"),
        ({"quarter": "last"}, "quarter"),
        ({"quarter": "2026Q3", "country": "XYZ"}, "country"),
        ({"quarter": "2026Q3", "country": "LSO", "thematic_area": "TA1"}, "country"),
        ({"quarter": "2026Q3", "region": "RBJ", "thematic_area": "TA1"}, "region"),
    ):
        response = download(hq, **params)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith("text/html")
        assert f'id="{field}-error"' in main_of(response.text), params


def _field_errors(response: Any) -> dict[str, str]:
    return dict(
        re.findall(r'<p class="field-error" id="([\w-]+)-error">([^<]+)</p>', response.text)
    )


def test_a_quarter_to_come_and_two_scopes_are_said_plainly(hq: TestClient, world: World) -> None:
    """A quarter that has not begun is refused (400 in_future at quarter, as the API's summary)
    rather than printed as a report of zeros; a country and a region together are said to be
    one too many; both at once, in the reader's language."""
    ahead = report.shift_quarter(this_quarter(world), 1)
    response = download(hq, quarter=ahead, country="LSO", region="RBJ")
    assert response.status_code == 400
    assert "application/pdf" not in response.headers["content-type"]
    assert _field_errors(response) == {
        "quarter": "This quarter has not begun yet: choose one that has.",
        "country": "Choose a country, a region or a thematic area: one of them, not two.",
    }
    hq.cookies.set("pilotmon_lang", "fr")
    french = _field_errors(download(hq, quarter=ahead, region="RBJ", thematic_area="TA1"))
    assert french == {
        "quarter": "Ce trimestre n’a pas encore commencé\u202f: choisissez-en un qui a commencé.",
        "region": "Choisissez un pays, une région ou un domaine thématique\u202f: "
        "un seul, pas deux.",
    }


@sqlite_only
def test_the_reports_page_offers_the_scope_and_the_quarters(
    officer: TestClient, world: World
) -> None:
    html = main_of(officer.get("/reports").text)
    assert 'action="/reports/quarterly.pdf"' in html
    assert f'<option value="{this_quarter(world)}"' in html
    assert '<option value="LSO"' in html and '<option value="ETH"' not in html
    assert 'name="region"' not in html  # an officer reports on their countries
    overview = officer.get("/overview").text
    assert f"/reports/quarterly.pdf?quarter={this_quarter(world)}" in overview


# --- what the PDF says --------------------------------------------------------------------


def _headline(text: str, label: str) -> list[str]:
    """The cells of a headline row: this quarter, previous, change, last year, change."""
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in:\n{text[:3000]}")


def _one_decimal(value: float) -> str:
    """``value`` to one decimal as the dashboard writes numbers (Babel: from its decimal digits,
    half to even: the API's 38.85 % is "38.8"), not as Python formats a float (from its binary
    value, just above 38.85: "38.9"). Which share ends in 5 depends on the day's data."""
    return f"{Decimal(str(value)).quantize(Decimal('0.1'), rounding=ROUND_HALF_EVEN):,}"


def _api_value(
    client: TestClient, headers: dict[str, str], code: str, quarter: str, country: str
) -> Any:
    _, first, last = report.parse_quarter(quarter)
    response = client.get(
        f"/api/v1/indicators/{code}/values",
        params={"country": country, "from": first.isoformat(), "to": last.isoformat()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    return rows[0]["value"] if rows else None


@needs_pdf
def test_the_headline_figures_equal_the_api(
    officer: TestClient, engine: Engine, world: World, lso_report: Any, tmp_path: Path
) -> None:
    quarter = this_quarter(world)
    text = pdf_text(lso_report.content, tmp_path)
    headers = bearer(engine, world.officer)
    cookie = officer.cookies.get(cookies.SESSION_COOKIE)
    officer.cookies.clear()  # the API by its bearer token alone
    checked = 0
    for code, label in (
        ("ACTIVITIES", "Activities"),
        ("PARTICIPANTS", "Participants"),
        ("WOMEN_PARTICIPANTS", "Women participants"),
        ("YOUTH_PARTICIPANTS", "Youth participants"),
        ("TRAININGS", "Farmer trainings"),
        ("WOMEN_SHARE", "Women's share"),
    ):
        cells = _headline(text, label)
        for column, q in ((0, quarter), (1, report.shift_quarter(quarter, -1)), (3, None)):
            q = q or report.shift_quarter(quarter, -4)
            value = _api_value(officer, headers, code, q, "LSO")
            if code == "WOMEN_SHARE":
                expected = "–" if value is None else f"{_one_decimal(value)}\u00a0%"
            else:
                expected = f"{value or 0:,}"
            assert cells[column].replace(" %", "\u00a0%") == expected, (code, q, cells)
            checked += 1
    # The derived youth share is youth participants over participants.
    youth = _api_value(officer, headers, "YOUTH_PARTICIPANTS", quarter, "LSO")
    people = _api_value(officer, headers, "PARTICIPANTS", quarter, "LSO")
    assert people, "the world has participants this quarter"
    share = _headline(text, "Youth share")[0]
    assert (
        share.replace(" %", "\u00a0%") == f"{_one_decimal(round(100 * youth / people, 2))}\u00a0%"
    )
    # The change against the previous quarter, as a relative %.
    now, before = (
        _api_value(officer, headers, "ACTIVITIES", q, "LSO") or 0
        for q in (quarter, report.shift_quarter(quarter, -1))
    )
    change = _headline(text, "Activities")[2]
    if before:
        delta = 100 * (now - before) / before
        shown = f"{abs(delta):,.0f}"
        sign = "±" if shown.strip("0") == "" else ("+" if delta > 0 else "−")  # U+2212
        assert change.replace(" %", "\u00a0%") == f"{sign}{shown}\u00a0%"
    else:
        assert change == "–"
    assert checked == 18
    officer.cookies.set(cookies.SESSION_COOKIE, cookie or "")


@needs_pdf
def test_achievement_against_targets_equals_target_achievement(
    hq: TestClient, engine: Engine, world: World, tmp_path: Path
) -> None:
    quarter = this_quarter(world)
    text = pdf_text(download(hq, quarter=quarter, country="LSO").content, tmp_path)
    response = hq.get(
        "/api/v1/indicators/TARGET_ACHIEVEMENT/values",
        params={
            "group_by": "project",
            "country": "LSO",
            "from": f"{world.today.year}-01-01",
            "to": f"{world.today.year}-12-31",
        },
        headers=bearer(engine, world.hq),
    )
    rows = [r for r in response.json()["rows"] if r["period"] in (quarter, str(world.today.year))]
    assert rows, "the world has targets this year"
    lines = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
    for row in rows:
        # "7 %" as written; the PDF's text layer may lose the narrow space of a short figure
        achieved = "–" if row["value"] is None else f"{row['value']:,.0f}%"
        wanted = [row["project"], row["period"], achieved]
        assert any(
            cells[0] == row["project"]
            and row["period"] in cells
            and re.sub(r"\s", "", cells[-1]) == achieved
            for cells in lines
        ), (wanted, text[:2000])


def test_an_earlier_quarters_year_target_counts_up_to_the_quarters_end(
    hq: TestClient, engine: Engine, world: World, session: Session
) -> None:
    """A year's achievement in the report of a quarter that has ended is the year so far at
    that quarter's end, not at the day the report is made: an activity dated after the quarter
    does not count, one inside it does (docs/results.md#quarterly-report)."""
    # The first quarter of this year (of last year in a first quarter): a quarter that ended,
    # with days of the same year after it and before today.
    year = world.today.year if world.today.month > 3 else world.today.year - 1
    quarter = f"{year}Q1"
    _, _, last = report.parse_quarter(quarter)
    storage, site = world.lso_storage, world.sites[3]
    session.add(
        Target(project_id=storage.id, indicator="DEMONSTRATIONS", period=str(year), value=4)
    )
    for title, day in (("Inside the quarter", last), ("After the quarter", last + timedelta(1))):
        make_activity(
            session,
            storage,
            author=world.expert,
            status="approved",
            title=title,
            type="demonstration",
            start_date=day.isoformat(),
            end_date=day.isoformat(),
            site_id=str(site.id),
            topic="S5.T1",
        )
    session.commit()

    def demonstrations(to: date) -> int:
        response = hq.get(
            "/api/v1/indicators/DEMONSTRATIONS/values",
            params={"project": storage.code, "from": f"{year}-01-01", "to": to.isoformat()},
            headers=bearer(engine, world.hq),
        )
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        return int(rows[0]["value"]) if rows else 0

    so_far = demonstrations(last)
    assert so_far >= 1  # the one inside the quarter
    assert demonstrations(date(year, 12, 31)) >= so_far + 1  # and the one after it
    data = report.build_report(
        session,
        caller=Caller(user=world.hq),
        t=Translator("en"),
        quarter=quarter,
        scope=report.ReportScope(country="LSO"),
        now=utcnow(),
    )
    rows = [
        r
        for r in data.targets
        if r.project == storage.code and r.indicator == "DEMONSTRATIONS" and r.period == str(year)
    ]
    assert len(rows) == 1, data.targets
    assert (rows[0].target, rows[0].actual) == (4, so_far)
    assert rows[0].achievement == round(100 * so_far / 4, 2)


@needs_pdf
@sqlite_only  # the layout: the report's queries run on PostgreSQL in the tests above
def test_the_pdf_is_a4_with_page_numbers_and_a_footer(
    engine: Engine, lso_report: Any, tmp_path: Path
) -> None:
    pdf = lso_report.content
    assert pdf.startswith(b"%PDF-")
    info = pdf_info(pdf, tmp_path)
    pages = int(info["Pages"])
    assert pages >= 3
    assert "(A4)" in info["Page size"]
    # Every page renders (poppler's pdftoppm), into artifacts/ for a person to look at.
    if shutil.which("pdftoppm"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        name = f"officer-lso-{engine.dialect.name}"
        for old in SHOTS.glob(f"{name}-*.png"):
            old.unlink()
        (tmp_path / "r.pdf").write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "50", str(tmp_path / "r.pdf"), str(SHOTS / name)],
            check=True,
            timeout=120,
        )
        rendered = sorted(SHOTS.glob(f"{name}-*.png"))
        assert len(rendered) == pages
        assert all(p.stat().st_size > 2000 for p in rendered)  # not blank
    text = pdf_text(pdf, tmp_path)
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "Generated on" in text and "officer.lso" in text
    for section in (
        "Headline figures",
        "Achievement against targets",
        "Activities and participants",
        "Results",
        "Activities of the quarter",
    ):
        assert section in text


@needs_pdf
@sqlite_only  # the wording: the same queries as the officer's report on PostgreSQL above
def test_the_report_speaks_the_dashboards_language(
    officer: TestClient, world: World, tmp_path: Path
) -> None:
    officer.cookies.set("pilotmon_lang", "fr")
    try:
        text = pdf_text(
            download(officer, quarter=this_quarter(world), country="LSO").content, tmp_path
        )
    finally:
        officer.cookies.delete("pilotmon_lang")
    assert "Rapport trimestriel" in text and "Chiffres clés" in text
    assert "Page 1 sur" in text
    assert "Headline figures" not in text
    # A quarter begins on the 1st, which French writes as an ordinal: "1er juillet 2026", not
    # "1 juillet 2026" (the title block of every report); a date's spaces are no-break ones.
    first = re.search(r"(?<!\d)1(er)?\s(janvier|avril|juillet|octobre)\s\d{4} – ", text)
    assert first is not None and first.group(1) == "er", text[:600]


# A region's report on both backends in French; the other languages change its wording alone.
@needs_pdf
@pytest.mark.parametrize(
    ("db_url", "language", "region"),
    [
        ("sqlite", "fr", "Afrique australe (Johannesburg)"),
        ("postgresql", "fr", "Afrique australe (Johannesburg)"),
        ("sqlite", "pt", "África Austral (Joanesburgo)"),
        ("sqlite", "es", "África Meridional (Johannesburgo)"),
    ],
    indirect=["db_url"],
)
def test_a_regions_report_names_the_region_in_the_readers_language(
    hq: TestClient, world: World, tmp_path: Path, language: str, region: str
) -> None:
    # The report of a region was titled "Southern Africa (Johannesburg)" whatever the language.
    hq.cookies.set("pilotmon_lang", language)
    try:
        response = download(hq, quarter=this_quarter(world), region="RBJ")
    finally:
        hq.cookies.delete("pilotmon_lang")
    assert response.status_code == 200
    text = pdf_text(response.content, tmp_path)
    assert region in text and "LSO-CPP-POTATO" in text
    assert "Southern Africa" not in text and "Johannesburg)" not in text.replace(region, "")
    assert region in pdf_info(response.content, tmp_path)["Title"]
    # The scope line lists the region's countries by name, in the reader's language.
    lesotho = Translator(language).country("LSO")
    assert f"{region} ({lesotho}" in " ".join(text.split())
    assert "(LSO" not in text
    # The note under the headline figures names the abbreviation the shares' changes are
    # written with: Portuguese and Spanish wrote "−18,4 pp" over a note saying "(pts)".
    points = Translator(language).gettext("pts")
    assert f"({points})" in text, text


@needs_pdf
def test_a_quarter_without_data(hq: TestClient, tmp_path: Path) -> None:
    response = download(hq, quarter="2015Q2")
    assert response.status_code == 200
    text = pdf_text(response.content, tmp_path)
    assert "No activity was recorded in this quarter." in text
    assert "No results recorded for this quarter." in text
    assert "No target is set for this quarter." in text
    assert _headline(text, "Activities")[:5] == ["0", "0", "–", "0", "–"]
    assert _headline(text, "Women's share")[:5] == ["–", "–", "–", "–", "–"]


@needs_pdf
def test_the_activities_table_stops_with_and_n_more(
    hq: TestClient,
    engine: Engine,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    quarter = this_quarter(world)
    _, first, last = report.parse_quarter(quarter)
    everything = hq.get(
        "/api/v1/indicators/ACTIVITIES/values",
        params={"from": first.isoformat(), "to": last.isoformat()},
        headers=bearer(engine, world.hq),
    ).json()["rows"][0]["value"]
    # A cap below what the quarter holds (submitted and approved), whatever day of the quarter
    # today is: on its first days the world has only a few activities in it.
    assert everything >= 2, "the world records activities in the current quarter"
    shown = min(3, everything - 1)
    monkeypatch.setattr(report, "MAX_ACTIVITY_ROWS", shown)
    text = pdf_text(download(hq, quarter=quarter).content, tmp_path)
    table = text[text.index("Activities of the quarter") :]
    listed = re.findall(r"^\s*\w{3}\s\d{1,2},\s\d{4}\s{2,}", table, flags=re.MULTILINE)
    assert len(listed) == shown
    found = re.search(r"… and (\d+) more activit", table)
    assert found, table
    # as many more as the quarter holds beyond those shown
    assert int(found.group(1)) == everything - shown


# --- results (result indicators listed by GET /api/v1/indicators) ---------------------------


@needs_pdf
@sqlite_only
def test_results_follow_the_listing_and_the_values(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Results section reads the indicator listing and the values API's function: a
    result indicator with values gets its chart, its figures and its target and baseline."""
    quarter = this_quarter(world)
    previous = report.shift_quarter(quarter, -1)
    listing = [
        *report.indicators.indicator_definitions(),
        {
            "code": "YIELD_KG_HA",
            "name": "Yield",
            "names": {"en": "Yield", "fr": "Rendement"},
            "unit": "kg/ha",
            "kind": "result",
            "form": "DEMO_PLOT_HARVEST",
            "additive": False,
        },
    ]
    monkeypatch.setattr(
        report.indicators, "indicator_definitions", lambda session=None, caller=None: listing
    )
    real_rows = report.service.indicator_rows

    def rows(session: Session, *, caller: Caller, code: str, **kw: Any) -> list[dict[str, Any]]:
        if code == "YIELD_KG_HA":
            assert kw["group_by"] == ("period:quarter",)
            return [
                {"period": previous, "value": 1800.0},
                {"period": quarter, "value": 2150.5, "uplift": -23.4},
            ]
        return real_rows(session, caller=caller, code=code, **kw)

    monkeypatch.setattr(report.service, "indicator_rows", rows)
    # Targets and baselines as /api/v1/targets lists them (kind "baseline": Results part 1).
    real_targets = report.projects_service.list_targets
    year = str(world.today.year)

    def targets(session: Session, *, caller: Caller, indicator: str | None = None, **kw: Any):
        if indicator != "YIELD_KG_HA":
            return real_targets(session, caller=caller, indicator=indicator, **kw)
        found = [
            SimpleNamespace(project_id=world.lso.id, period=year, value=2400.0, kind="target"),
            SimpleNamespace(project_id=world.lso_storage.id, period=year, value=2000.0),
            SimpleNamespace(project_id=world.lso.id, period="2019", value=1500.0, kind="baseline"),
            SimpleNamespace(project_id=world.eth.id, period=year, value=9999.0, kind="target"),
        ]
        return found, len(found)

    monkeypatch.setattr(report.projects_service, "list_targets", targets)
    t = Translator("fr")
    data = report.build_report(
        session,
        caller=Caller(user=world.officer, project_ids=frozenset()),
        t=t,
        quarter=quarter,
        scope=report.ReportScope(country="LSO"),
        now=utcnow(),
    )
    assert [r.code for r in data.results] == ["YIELD_KG_HA"]
    section = data.results[0]
    assert (section.name, section.value, section.previous, section.uplift) == (
        "Rendement",
        2150.5,
        1800.0,
        -23.4,
    )
    assert not section.chart.empty
    # not additive: the mean of the Lesotho projects' targets (Ethiopia's is out of scope)
    assert (section.target, section.baseline) == (2200.0, 1500.0)
    assert [name for name, _ in section.chart.legend] == [
        "Rendement",
        "Cible",
        "Référence de départ",
    ]
    # Below the control: the minus sign, as every negative number ("-23,4 %" had a hyphen).
    assert "\u221223,4\u00a0%" in report.render_html(data, t)
    text = pdf_text(report.render_pdf(data, t), tmp_path)
    assert "Rendement" in text and "kg/ha" in text and "DEMO_PLOT_HARVEST" in text
    assert "Aucun résultat" not in text


# French on both backends; English, the same queries, on SQLite.
@needs_pdf
@pytest.mark.parametrize(
    ("db_url", "language", "name"),
    [
        ("sqlite", "fr", "Rendement du tableau"),
        ("postgresql", "fr", "Rendement du tableau"),
        ("sqlite", "en", "Dashboard yield"),
    ],
    indirect=["db_url"],
)
def test_result_indicators_are_named_in_the_readers_language(
    hq: TestClient, world: World, session: Session, tmp_path: Path, language: str, name: str
) -> None:
    # A French report named the result indicators in English ("Adoption rate", "Yield") in
    # its Results section and its table of targets: the listing's "name" is the English label,
    # the translations are in its "names".
    year = add_results(session, world).year
    hq.cookies.set("pilotmon_lang", language)
    try:
        response = download(hq, quarter=f"{year}Q3", country="LSO")
    finally:
        hq.cookies.delete("pilotmon_lang")
    assert response.status_code == 200
    lines = [" ".join(line.split()) for line in pdf_text(response.content, tmp_path).splitlines()]
    other = {"fr": "Dashboard yield", "en": "Rendement du tableau"}[language]
    assert not any(other in line for line in lines)
    # the Results section's title, and the yearly target's row of the targets table
    assert any(line.startswith(f"{name} (kg/ha)") for line in lines), lines
    assert any(line.startswith(f"LSO-CPP-POTATO {name} {year}") for line in lines), lines


def test_no_result_indicator_means_no_results_section(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = [d for d in report.indicators.indicator_definitions() if d["kind"] != "result"]
    monkeypatch.setattr(
        report.indicators, "indicator_definitions", lambda session=None, caller=None: listing
    )
    data = report.build_report(
        session,
        caller=Caller(user=world.hq),
        t=Translator("en"),
        quarter=this_quarter(world),
        scope=report.ReportScope(),
        now=utcnow(),
    )
    assert data.results == []


@needs_pdf
def test_every_listed_result_indicator_is_reported_as_the_api_gives_it(
    hq: TestClient, engine: Engine, world: World, session: Session, tmp_path: Path
) -> None:
    """Each result indicator with a value in the quarter appears in the Results section with
    the API's figure (observations of a compared yield in Q3 of last year, docs/results.md)."""
    year = add_results(session, world).year
    headers = bearer(engine, world.hq)
    listed = [d for d in hq.get("/api/v1/indicators", headers=headers).json()]
    results = [d for d in listed if d.get("kind") == "result"]
    assert RESULT_CODE in {d["code"] for d in results}
    quarter = f"{year}Q3"
    text = pdf_text(download(hq, quarter=quarter).content, tmp_path)
    _, first, last = report.parse_quarter(quarter)
    reported = 0
    for definition in results:
        response = hq.get(
            f"/api/v1/indicators/{definition['code']}/values",
            params={"from": first.isoformat(), "to": last.isoformat()},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        rows = [r for r in response.json()["rows"] if r.get("value") is not None]
        if rows:
            name = report._text_of(definition.get("name"), "en")
            assert name in text
            value = float(rows[0]["value"])  # written as the pages write it: 2 decimals at most
            shown = f"{value:,.2f}".rstrip("0").rstrip(".")
            assert f"{quarter}: {shown}" in text
            reported += 1
    assert reported >= 1  # the yield: 10 000 × (2 500 + 1 200) kg / 2 000 m² = 18 500


# --- the command line ---------------------------------------------------------------------


@needs_pdf
def test_the_command_line_writes_the_report(
    db_url: str, world: World, tmp_path: Path, engine: Engine
) -> None:
    out = tmp_path / "lso.pdf"
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
    quarter = this_quarter(world)
    engine.dispose()  # the command writes nothing, but SQLite's file must be readable to it
    result = run_cli("report", "--country", "lso", "--quarter", quarter, "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "[1/6] headline figures" in result.stderr
    assert f"wrote {out}" in result.stderr
    text = pdf_text(out.read_bytes(), tmp_path)
    assert "Lesotho" in text and "LSO-CPP-POTATO" in text and "ETH-CPP-CLIMATE" not in text
    everything = tmp_path / "all.pdf"
    result = run_cli(
        "report", "--quarter", quarter, "--lang", "es", "--out", str(everything), env=env
    )
    assert result.returncode == 0, result.stderr
    text = pdf_text(everything.read_bytes(), tmp_path)
    assert "Informe trimestral" in text and "ETH-CPP-CLIMATE" in text


@sqlite_only
def test_the_command_line_refuses_bad_input_in_one_line(db_url: str, tmp_path: Path) -> None:
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}
    out = str(tmp_path / "r.pdf")
    for args, needle in (
        (("--quarter", "2026Q5"), "not a quarter"),
        (("--quarter", "2026-07"), "not a quarter"),
        (("--quarter", "2026Q3", "--country", "XYZ"), "unknown country XYZ"),
        (("--quarter", "2026Q3", "--region", "NOWHERE"), "unknown region"),
        (("--quarter", "2099Q1"), "2099Q1 has not begun"),
        (("--quarter", "2026Q3", "--lang", "de"), "--lang"),
        ((), "--quarter"),
    ):
        result = run_cli("report", *args, "--out", out, env=env)
        assert_one_line_error(result, needle)
    result = run_cli(
        "report", "--quarter", "2026Q3", "--out", str(tmp_path / "no" / "r.pdf"), env=env
    )
    assert_one_line_error(result, "cannot write")
    assert not Path(out).exists()


def test_quarters_parse_and_shift() -> None:
    assert report.parse_quarter(" 2026q3 ") == ("2026Q3", date(2026, 7, 1), date(2026, 9, 30))
    assert report.shift_quarter("2026Q1", -1) == "2025Q4"
    assert report.shift_quarter("2026Q3", -4) == "2025Q3"
    assert report.default_quarter(date(2026, 1, 15)) == "2025Q4"
    row = report.HeadlineRow("ACTIVITIES", 10, 0, None)
    assert row.change(row.previous) is None and row.change(row.last_year) is None
    assert report.HeadlineRow("ACTIVITIES", 15, 10, 20).change(10) == 50.0
    assert report.HeadlineRow("WOMEN_SHARE", 55.0, 50.0, None).change(50.0) == 5.0


@needs_pdf
def test_rendering_a_report_writes_no_weasyprint_progress_to_the_log(
    hq: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """WeasyPrint's ~25 INFO steps ("Step 5 - Creating layout") per report are noise in the
    server log and the CLI's output: none reaches a log handler set to INFO."""
    caplog.set_level(logging.INFO)
    response = download(hq, quarter=this_quarter(world))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    noisy = [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.name.split(".")[0] in ("weasyprint", "fontTools") and r.levelno < logging.WARNING
    ]
    assert noisy == []


@needs_pdf
def test_weasyprint_warnings_still_reach_the_log(
    session: Session,
    world: World,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the progress is quietened: a real problem in the report's CSS is still logged."""
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(report, "render_html", lambda *a: "<p style='colour: red'>x</p>")
    t = Translator("en")
    data = report.build_report(
        session,
        caller=Caller(user=world.hq, project_ids=frozenset()),
        t=t,
        quarter=this_quarter(world),
        scope=report.ReportScope(),
        now=utcnow(),
    )
    assert report.render_pdf(data, t).startswith(b"%PDF-")
    warned = [r for r in caplog.records if r.name == "weasyprint" and r.levelno == logging.WARNING]
    assert warned and "colour" in warned[0].getMessage()
