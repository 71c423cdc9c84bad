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

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.dashboard import session as dashboard_cookies
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


@pytest.fixture
def setup(client: TestClient, session: Session) -> Setup:
    world = World(session)
    secret = {
        **_definition(SECRET, "Lesotho secret survey", "Secret"),
        "project": world.project_lso.code,
    }
    return Setup(
        world,
        secret_id=_publish(client, world, "officer_lso", secret),
        global_id=_publish(client, world, "admin", _definition(GLOBAL, "Everyone's check", "All")),
    )


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
