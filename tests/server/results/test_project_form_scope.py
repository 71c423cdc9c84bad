"""A project's form is read only within the project's scope (docs/roles.md: "a project form
outside the caller's scope is 404"; docs/results.md#forms), on every surface that names forms
or their result indicators: its code, title, fields, labels and indicators never reach another
country, and asking for it by its code is answered exactly as an unknown code is, so that its
existence is not revealed either. Global forms are everyone's; HQ analysts and admins read
every form.

The world: the Lesotho country officer creates and publishes a form of a Lesotho project
through the API (``LSO_SECRET``, a field ``secret_kg``, a result indicator ``LSO_SECRET_KG``);
an admin a global form (``ALL_CHECK``). The Kenyan country officer and field expert are the
outsiders.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.config import Settings
from server.dashboard import session as dashboard_cookies
from tests.conftest import app_for, seeded_url, seeded_world
from tests.factories import World

SECRET = "LSO_SECRET"
SECRET_KG = "LSO_SECRET_KG"
UNKNOWN = "LSO_NEVER_MADE"  # a code no form has: what an outsider's answer must equal
UNKNOWN_KG = "LSO_NEVER_MADE_KG"
GLOBAL = "ALL_CHECK"
GLOBAL_KG = "ALL_CHECK_KG"
# What names the Lesotho form: none of it may reach a Kenyan (the code only where they typed it).
SECRET_WORDS = (SECRET, "secret_kg", "Secret harvest", "Lesotho secret survey", "Secret plot")

OUTSIDERS = ("officer_ken", "expert_ken")
READERS = ("officer_lso", "expert_lso", "hq", "admin")


def _definition(code: str, title: str, prefix: str) -> dict[str, Any]:
    return {
        "code": code,
        "title": {"en": title},
        "fields": [
            {
                "name": "plot",
                "type": "select_one",
                "label": {"en": f"{prefix} plot"},
                "choices": [
                    {"code": "demo", "label": {"en": "Demo"}},
                    {"code": "control", "label": {"en": "Control"}},
                ],
            },
            {
                "name": f"{prefix.lower()}_kg",
                "type": "decimal",
                "label": {"en": f"{prefix} harvest"},
                "unit": "kg",
            },
        ],
        "indicators": [
            {
                "code": f"{code}_KG",
                "name": {"en": f"{prefix} harvest total"},
                "unit": "kg",
                "aggregate": "sum",
                "field": f"{prefix.lower()}_kg",
            }
        ],
    }


@dataclass(frozen=True)
class Setup:
    world: World
    secret_id: str
    global_id: str


def _publish(client: TestClient, world: World, who: str, body: dict[str, Any]) -> str:
    created = client.post("/api/v1/forms", json=body, headers=world.auth(who))
    assert created.status_code == 201, created.text
    form_id = str(created.json()["id"])
    published = client.post(f"/api/v1/forms/{form_id}/publish", headers=world.auth(who))
    assert published.status_code == 200, published.text
    return form_id


def _build(session: Session, data_dir: Path) -> Setup:
    world = World(session)
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    settings = Settings(
        environment="test",
        data_dir=data_dir,
        database_url=engine.url.render_as_string(hide_password=False),
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    settings.ensure_data_dir()
    secret = {
        **_definition(SECRET, "Lesotho secret survey", "Secret"),
        "project": world.project_lso.code,
    }
    with TestClient(app_for(settings, engine)) as client:
        return Setup(
            world,
            secret_id=_publish(client, world, "officer_lso", secret),
            global_id=_publish(
                client, world, "admin", _definition(GLOBAL, "Everyone's check", "All")
            ),
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The suite's database holding the world and its two published forms: built once per
    module and backend, put back before each test (the tests only read it)."""
    return seeded_url(request, tmp_path, lambda session: _build(session, tmp_path / "seeding"))


@pytest.fixture
def setup(request: pytest.FixtureRequest, engine: Engine) -> Setup:
    built: Setup = seeded_world(request, engine)
    return built


def _same_as_unknown(secret: Any, unknown: Any) -> None:
    """The answer about the Lesotho form equals the answer about a code no form has (the code
    asked for aside), and names nothing of the form."""
    assert secret.status_code == unknown.status_code
    assert secret.text.replace(SECRET, UNKNOWN) == unknown.text, (secret.text, unknown.text)
    assert not [w for w in SECRET_WORDS[1:] if w in secret.text]


def _sign_in(client: TestClient, world: World, role: str) -> None:
    """The dashboard's session cookie of ``role`` (its access token, as the login sets it)."""
    client.cookies.clear()
    client.cookies.set(dashboard_cookies.SESSION_COOKIE, world.tokens[role])


# --- 1. the observations export: /api/v1/exports/observations.{csv,xlsx} -----------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("role", OUTSIDERS)
def test_another_countrys_project_form_is_an_unknown_form_to_the_export(
    client: TestClient, setup: Setup, role: str, fmt: str
) -> None:
    auth = setup.world.auth(role)
    path = f"/api/v1/exports/observations.{fmt}"
    secret = client.get(path, params={"form": SECRET}, headers=auth)
    unknown = client.get(path, params={"form": UNKNOWN}, headers=auth)
    assert secret.status_code == 400, secret.text[:300]
    body = secret.json()
    assert body["code"] == "unknown_code"
    assert [(d["field"], d["code"]) for d in body["detail"]] == [("form", "unknown_code")]
    _same_as_unknown(secret, unknown)


def _header_rows(fmt: str, content: bytes) -> list[list[Any]]:
    if fmt == "csv":
        return [content.decode("utf-8-sig").splitlines()[0].split(",")]
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(min_row=1, max_row=2, values_only=True)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_export_serves_a_project_form_in_scope_and_a_global_form_to_everyone(
    client: TestClient, setup: Setup, fmt: str
) -> None:
    path = f"/api/v1/exports/observations.{fmt}"
    for role in READERS:
        response = client.get(path, params={"form": SECRET}, headers=setup.world.auth(role))
        assert response.status_code == 200, (role, response.text[:300])
        assert "secret_kg" in _header_rows(fmt, response.content)[0], role
    for role in OUTSIDERS:
        response = client.get(path, params={"form": GLOBAL}, headers=setup.world.auth(role))
        assert response.status_code == 200, (role, response.text[:300])
        assert "all_kg" in _header_rows(fmt, response.content)[0], role


# --- 2. the dashboard's download of a form's observations -------------------------------------


@pytest.mark.parametrize("role", OUTSIDERS)
def test_the_dashboard_refuses_another_countrys_project_form_as_an_unknown_one(
    client: TestClient, setup: Setup, role: str
) -> None:
    _sign_in(client, setup.world, role)
    for fmt in ("xlsx", "csv"):
        secret = client.get("/observations/download", params={"form": SECRET, "format": fmt})
        unknown = client.get("/observations/download", params={"form": UNKNOWN, "format": fmt})
        assert secret.status_code == 400, (fmt, secret.headers.get("content-type"))
        _same_as_unknown(secret, unknown)


def test_the_dashboard_downloads_a_project_form_in_scope_and_a_global_form_for_everyone(
    client: TestClient, setup: Setup
) -> None:
    for role, form in [*((r, SECRET) for r in READERS), *((r, GLOBAL) for r in OUTSIDERS)]:
        _sign_in(client, setup.world, role)
        download = client.get("/observations/download", params={"form": form, "format": "csv"})
        assert download.status_code == 200, (role, form)
        assert ("secret_kg" if form == SECRET else "all_kg") in download.text, (role, form)


# --- 3. the indicators: listing, values, and their export ---------------------------------------


def _result_codes(client: TestClient, world: World, role: str) -> set[str]:
    response = client.get("/api/v1/indicators", headers=world.auth(role))
    assert response.status_code == 200, response.text
    return {d["code"] for d in response.json() if d["kind"] == "result"}


def test_the_indicator_list_holds_the_result_indicators_of_the_forms_in_scope(
    client: TestClient, setup: Setup
) -> None:
    for role in OUTSIDERS:
        listed = client.get("/api/v1/indicators", headers=setup.world.auth(role)).text
        assert not [w for w in SECRET_WORDS if w in listed], role
        assert _result_codes(client, setup.world, role) == {GLOBAL_KG}, role
    for role in READERS:
        assert _result_codes(client, setup.world, role) == {GLOBAL_KG, SECRET_KG}, role


@pytest.mark.parametrize("role", OUTSIDERS)
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/indicators/{code}/values", {}),
        # a key of the form's own: refused as unknown before the form's keys could be named
        ("/api/v1/indicators/{code}/values", {"group_by": "choice:nothing"}),
        ("/api/v1/exports/indicators.csv", {"indicator": "{code}", "group_by": "project"}),
        ("/api/v1/exports/indicators.xlsx", {"indicator": "{code}"}),
    ],
    ids=["values", "values-choice", "export-csv", "export-xlsx"],
)
def test_another_countrys_result_indicator_is_an_unknown_indicator(
    client: TestClient, setup: Setup, role: str, path: str, params: dict[str, str]
) -> None:
    def ask(code: str) -> Any:
        filled = {k: v.format(code=code) for k, v in params.items()}
        return client.get(path.format(code=code), params=filled, headers=setup.world.auth(role))

    secret, unknown = ask(SECRET_KG), ask(UNKNOWN_KG)
    assert secret.status_code == 404, secret.text[:300]
    assert secret.json()["code"] == "not_found"
    assert secret.text.replace(SECRET_KG, UNKNOWN_KG) == unknown.text
    assert not [w for w in SECRET_WORDS[1:] if w in secret.text]


def test_a_result_indicator_is_read_in_scope_and_a_global_forms_by_everyone(
    client: TestClient, setup: Setup
) -> None:
    for role in READERS:
        response = client.get(
            f"/api/v1/indicators/{SECRET_KG}/values", headers=setup.world.auth(role)
        )
        assert response.status_code == 200, (role, response.text[:300])
    for role in OUTSIDERS:
        for path, params in (
            (f"/api/v1/indicators/{GLOBAL_KG}/values", {"group_by": "choice:plot"}),
            ("/api/v1/exports/indicators.csv", {"indicator": GLOBAL_KG}),
        ):
            response = client.get(path, params=params, headers=setup.world.auth(role))
            assert response.status_code == 200, (role, path, response.text[:300])


# --- 4. the dashboard's observations page: its Form select -----------------------------------


def _form_choices(html: str) -> list[str]:
    """The values of the observations page's Form select."""
    found = re.search(r'<select[^>]*name="form"[^>]*>(.*?)</select>', html, re.S)
    assert found, "the page has no Form select"
    return re.findall(r'<option value="([^"]*)"', found.group(1))


def test_the_observations_form_select_lists_the_forms_the_reader_may_read(
    client: TestClient, setup: Setup
) -> None:
    for role in (*OUTSIDERS, *READERS):
        _sign_in(client, setup.world, role)
        page = client.get("/observations")
        assert page.status_code == 200, role
        choices = _form_choices(page.text)
        assert GLOBAL in choices, role
        if role in OUTSIDERS:
            assert SECRET not in choices, role
            assert not [w for w in SECRET_WORDS if w in page.text], role
        else:
            assert SECRET in choices and "Lesotho secret survey" in page.text, role


# --- the form itself and the OData feed: already hidden, kept so --------------------------------


@pytest.mark.parametrize("role", OUTSIDERS)
def test_the_form_and_its_feed_are_hidden_from_another_country(
    client: TestClient, setup: Setup, role: str
) -> None:
    auth = setup.world.auth(role)
    assert client.get(f"/api/v1/forms/{setup.secret_id}", headers=auth).status_code == 404
    listed = client.get("/api/v1/forms", headers=auth)
    assert listed.status_code == 200 and not [w for w in SECRET_WORDS if w in listed.text]
    assert client.get(f"/api/v1/forms/{setup.global_id}", headers=auth).status_code == 200
    metadata = client.get("/api/v1/odata/$metadata", headers=auth)
    assert metadata.status_code == 200
    assert not [w for w in SECRET_WORDS if w in metadata.text]
    assert f"Observations_{GLOBAL}" in metadata.text
    _same_as_unknown(
        client.get(f"/api/v1/odata/Observations_{SECRET}", headers=auth),
        client.get(f"/api/v1/odata/Observations_{UNKNOWN}", headers=auth),
    )
    values = client.get("/api/v1/odata/IndicatorValues", headers=auth)
    assert values.status_code == 200 and SECRET not in values.text
    secret, unknown = (
        client.get(
            "/api/v1/odata/IndicatorValues",
            params={"$filter": f"Indicator eq '{code}'"},
            headers=auth,
        )
        for code in (SECRET_KG, UNKNOWN_KG)
    )
    assert secret.status_code == unknown.status_code
    assert secret.text.replace(SECRET_KG, UNKNOWN_KG) == unknown.text


def test_the_form_and_its_feed_are_read_in_scope(client: TestClient, setup: Setup) -> None:
    for role in READERS:
        auth = setup.world.auth(role)
        assert client.get(f"/api/v1/forms/{setup.secret_id}", headers=auth).status_code == 200
        metadata = client.get("/api/v1/odata/$metadata", headers=auth)
        assert f"Observations_{SECRET}" in metadata.text, role


# --- the dashboard's exports and the targets: the same scope ----------------------------------


@pytest.mark.parametrize("role", OUTSIDERS)
def test_the_dashboards_exports_page_offers_the_indicators_of_the_forms_in_scope(
    client: TestClient, setup: Setup, role: str
) -> None:
    _sign_in(client, setup.world, role)
    page = client.get("/exports")
    assert page.status_code == 200
    assert GLOBAL_KG in page.text
    assert not [w for w in SECRET_WORDS if w in page.text]
    for fmt in ("csv", "xlsx"):
        secret, unknown = (
            client.get("/exports/download", params={"format": fmt, "indicator": code})
            for code in (SECRET_KG, UNKNOWN_KG)
        )
        assert secret.status_code == unknown.status_code == 400, secret.status_code


def test_a_target_of_another_countrys_result_indicator_is_an_unknown_indicator(
    client: TestClient, setup: Setup
) -> None:
    world = setup.world

    def target(code: str) -> Any:
        body = {"project_id": str(world.project_ken.id), "indicator": code, "period": "2025"}
        return client.post(
            "/api/v1/targets", json={**body, "value": 5}, headers=world.auth("officer_ken")
        )

    secret, unknown = target(SECRET_KG), target(UNKNOWN_KG)
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_code"
    assert SECRET_KG not in unknown.text  # the codes it offers are those in scope
    assert secret.status_code == 422 and secret.json()["code"] == "unknown_code"


@pytest.mark.parametrize("role", OUTSIDERS)
def test_the_observations_list_refuses_a_form_it_does_not_know(
    client: TestClient, setup: Setup, role: str
) -> None:
    # ?form=NOPE answered 200 with nothing, which reads "nothing observed with it"; the
    # export already refused it. Another country's project form is as unknown.
    auth = setup.world.auth(role)
    secret, unknown = (
        client.get("/api/v1/observations", params={"form": code}, headers=auth)
        for code in (SECRET, UNKNOWN)
    )
    assert unknown.status_code == 400
    assert [(e["field"], e["code"]) for e in unknown.json()["detail"]] == [("form", "unknown_code")]
    assert secret.status_code == 400
    assert secret.text.replace(SECRET, UNKNOWN) == unknown.text
    known = client.get("/api/v1/observations", params={"form": GLOBAL.lower()}, headers=auth)
    assert known.status_code == 200, known.text
    # with FastAPI's own limits refused, in the same answer
    both = client.get("/api/v1/observations", params={"form": UNKNOWN, "limit": "0"}, headers=auth)
    assert both.status_code == 400
    assert {(e["field"], e["code"]) for e in both.json()["detail"]} == {
        ("form", "unknown_code"),
        ("limit", "value_range"),
    }
