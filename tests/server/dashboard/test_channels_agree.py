"""One figure, every channel: an HQ analyst who asks for the same indicator, scope and quarter
through the API, ``pilotmon pull``, the indicator CSV and XLSX exports, the HQ summary, the OData
feed, the quarterly report and the dashboard's overview gets the same number everywhere
(docs/indicators.md, docs/odata.md, docs/results.md#quarterly-report)."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts.auth import Caller, issue_access_token
from server.cli import main
from server.columns import utcnow
from server.dashboard import report, service
from server.dashboard.i18n import Translator
from server.db import write_engine
from shared.indicators import INDICATORS
from tests.server.dashboard.browser import live_server
from tests.server.dashboard.conftest import sign_in
from tests.server.dashboard.world import World

# The indicators a quarter's summary and report quote, every one of them additive or not.
CODES = (
    "ACTIVITIES",
    "DEMONSTRATIONS",
    "TRAININGS",
    "EXPERT_DAYS",
    "PARTICIPANTS",
    "WOMEN_PARTICIPANTS",
    "YOUTH_PARTICIPANTS",
    "PWD_PARTICIPANTS",
    "WOMEN_SHARE",
    "UNIQUE_PARTICIPANTS",
)


def _token(engine: Engine, world: World) -> str:
    with Session(write_engine(engine)) as writer:
        token, _ = issue_access_token(writer, user=world.hq, minutes=60)
        writer.commit()
    return token


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def _empty(code: str) -> float | None:
    return None if code == "WOMEN_SHARE" else 0.0


class Channels:
    def __init__(self, client: TestClient, token: str, url: str, tmp_path: Path) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.url = url
        self.tmp_path = tmp_path

    def params(self, country: str, first: date, last: date) -> dict[str, str]:
        found = {"from": first.isoformat(), "to": last.isoformat()}
        if country:
            found["country"] = country
        return found

    def api(self, code: str, country: str, first: date, last: date) -> float | None:
        response = self.client.get(
            f"/api/v1/indicators/{code}/values",
            params=self.params(country, first, last),
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        return _number(rows[0]["value"]) if rows else _empty(code)

    def pull(self, code: str, country: str, first: date, last: date) -> float | None:
        out = self.tmp_path / f"{code}-{country}.json"
        args = ["pull", "--server", self.url, "--indicator", code, "--format", "json"]
        for key, value in self.params(country, first, last).items():
            args += ["--filter", f"{key}={value}"]
        assert main([*args, "--out", str(out)]) == 0
        rows = json.loads(out.read_text())["rows"]
        return _number(rows[0]["value"]) if rows else _empty(code)

    def export_csv(self, code: str, country: str, first: date, last: date) -> float | None:
        response = self.client.get(
            "/api/v1/exports/indicators.csv",
            params={"indicator": code, **self.params(country, first, last)},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        return _number(rows[0]["value"]) if rows else _empty(code)

    def export_xlsx(self, code: str, country: str, first: date, last: date) -> float | None:
        response = self.client.get(
            "/api/v1/exports/indicators.xlsx",
            params={"indicator": code, **self.params(country, first, last)},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert sheet is not None
        rows = [[c.value for c in r] for r in sheet.iter_rows()]
        assert rows[0] == ["value"]
        if len(rows) == 1:
            return _empty(code)
        value = rows[1][0]
        assert value is None or isinstance(value, int | float), "a number cell, not text"
        return _number(value)

    def summary(self, quarter: str, country: str) -> dict[str, Any]:
        response = self.client.get(
            "/api/v1/reports/summary",
            params={"period": quarter, **({"country": country} if country else {})},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        totals: dict[str, Any] = response.json()["totals"]
        return totals

    def odata_months(self, code: str, country: str, first: date, last: date) -> list[float]:
        """The IndicatorValues rows of the quarter's months, every page followed."""
        condition = f"Indicator eq '{code}' and Month ge {first} and Month le {last}"
        if country:
            condition += f" and Country eq '{country}'"
        url: str | None = "/api/v1/odata/IndicatorValues"
        params: dict[str, str] | None = {"$filter": condition, "$select": "Value"}
        values: list[float] = []
        while url:
            response = self.client.get(
                url, params=params, headers={**self.headers, "Prefer": "odata.maxpagesize=2"}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            values += [float(r["Value"]) for r in body["value"] if r["Value"] is not None]
            url, params = body.get("@odata.nextLink"), None
        return values


@pytest.fixture
def channels(
    client: TestClient,
    engine: Engine,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    token = _token(engine, world)
    monkeypatch.setenv("PILOTMON_TOKEN", token)
    with live_server(client.app) as url:  # type: ignore[arg-type]
        yield Channels(client, token, url, tmp_path)


@pytest.mark.parametrize("country", ["LSO", ""])
def test_a_quarters_figures_agree_across_every_channel(
    channels: Channels, session: Session, world: World, country: str
) -> None:
    quarter = report.shift_quarter(report.quarter_of(world.today), -1)  # the last whole quarter
    _, first, last = report.parse_quarter(quarter)
    summary = channels.summary(quarter, country)
    built = report.build_report(
        session,
        caller=Caller(user=world.hq),
        t=Translator("en"),
        quarter=quarter,
        scope=report.ReportScope(country=country),
        now=utcnow(),
    )
    headlines = {h.code: h.value for h in built.headlines}
    for code in CODES:
        api = channels.api(code, country, first, last)
        seen = {
            "pull": channels.pull(code, country, first, last),
            "indicators.csv": channels.export_csv(code, country, first, last),
            "indicators.xlsx": channels.export_xlsx(code, country, first, last),
            "summary": _number(summary[code]),
        }
        if code in headlines:
            seen["report"] = _number(headlines[code])
        if INDICATORS[code].additive:
            # OData's monthly rows add up to the quarter for the additive indicators only
            # (docs/odata.md: never sum the others).
            seen["odata"] = sum(channels.odata_months(code, country, first, last))
        assert all(v == api for v in seen.values()), (code, country or "all", api, seen)
    assert channels.api("ACTIVITIES", country, first, last), "the world has activities then"


def test_the_overviews_cards_equal_the_api(
    channels: Channels, client: TestClient, engine: Engine, world: World
) -> None:
    """The overview's headline cards (this quarter so far, Lesotho) say what the API says."""
    sign_in(client, engine, world.hq)
    page = client.get("/overview", params={"country": "LSO"}).text
    cards = re.findall(r'<p class="kpi-label">([^<]+)</p>\s*<p class="kpi-value">([^<]+)</p>', page)
    t = Translator("en")
    today = utcnow().date()  # the page's today (the world's, unless midnight passed since)
    first = service.quarter_start(today)
    shown = {html.unescape(k): html.unescape(v) for k, v in cards}
    assert shown, "the overview shows its cards"
    for code in service.HEADLINES:
        value = channels.api(code, "LSO", first, today)
        expected = t.percent(value, 1) if code == "WOMEN_SHARE" else t.number(value)
        assert shown[t.label("indicator", code)] == expected, (code, shown)


@pytest.mark.parametrize("key", ["country", "thematic_area"])
def test_the_summarys_breakdowns_equal_the_grouped_api_and_pull(
    channels: Channels, client: TestClient, world: World, key: str
) -> None:
    """Comparing countries, or the women's share by thematic area, for a quarter: the summary's
    rows equal the API's and ``pilotmon pull``'s rows grouped by the same key."""
    # the quarter of Ethiopia's one activity, which also holds Lesotho's of both thematic areas
    assert world.eth_activity is not None
    quarter = report.quarter_of(world.eth_activity.start_date)
    _, first, last = report.parse_quarter(quarter)
    response = client.get(
        "/api/v1/reports/summary", params={"period": quarter}, headers=channels.headers
    )
    assert response.status_code == 200, response.text
    breakdown = response.json()[f"by_{key}"]
    assert len(breakdown) >= 2, "the world spans several of them"
    for code in CODES:
        api = client.get(
            f"/api/v1/indicators/{code}/values",
            params={"group_by": key, **channels.params("", first, last)},
            headers=channels.headers,
        ).json()["rows"]
        out = channels.tmp_path / f"{code}-by-{key}.csv"
        assert (
            main(
                [
                    "pull",
                    "--server",
                    channels.url,
                    "--indicator",
                    code,
                    "--group-by",
                    key,
                    "--filter",
                    f"from={first}",
                    "--filter",
                    f"to={last}",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        pulled = {
            r[key]: _number(r["value"])
            for r in csv.DictReader(io.StringIO(out.read_text("utf-8-sig")))
        }
        grouped = {r[key]: _number(r["value"]) for r in api}
        assert pulled == grouped, (code, key)
        summarised = {r[key]: _number(r[code]) for r in breakdown}
        # a group with nothing counted is absent from the API's rows, present in the summary
        assert {k: v for k, v in summarised.items() if k in grouped} == grouped, (code, key)
        assert all(v in (0, None) for k, v in summarised.items() if k not in grouped), code
