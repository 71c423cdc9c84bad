"""A result indicator that targets or baselines hold cannot be dropped or renamed by a new form
version (docs/results.md#targets-of-result-indicators): the update (PATCH, an XLSForm
re-import) and the publication that would do it are refused with 409 ``state_conflict`` on
``indicators``, naming the indicator and how many targets and baselines hold it. A database
already holding targets of an indicator no form defines any more (made before this rule) still
answers every reader: such targets count in no achievement, and the targets API lists,
changes and deletes them so that they can be repaired.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.dashboard import session as dashboard_cookies
from server.projects.models import Target
from tests.factories import World
from tests.server.dashboard.conftest import token_for
from tests.server.results.test_forms_api import _import, _workbook

CODE = "REV_DROP_SUM"
GONE = "GONE_LONG_AGO"  # an indicator no form defines (a database from before the rule)
READERS = ("officer_lso", "hq", "admin")


def _definition(project: str, indicators: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "code": "REV_DROP",
        "title": {"en": "Revenue"},
        "project": project,
        "fields": [{"name": "n", "type": "integer", "label": {"en": "N"}}],
        "indicators": (
            indicators
            if indicators is not None
            else [
                {"code": CODE, "name": {"en": "Sum"}, "unit": "", "aggregate": "sum", "field": "n"}
            ]
        ),
    }


def _published(client: TestClient, world: World) -> str:
    created = client.post(
        "/api/v1/forms",
        json=_definition(world.project_lso.code),
        headers=world.auth("officer_lso"),
    )
    assert created.status_code == 201, created.text
    form_id = str(created.json()["id"])
    published = client.post(f"/api/v1/forms/{form_id}/publish", headers=world.auth("officer_lso"))
    assert published.status_code == 200, published.text
    return form_id


def _hold(client: TestClient, world: World, kind: str = "target") -> None:
    body = {
        "project_id": str(world.project_lso.id),
        "indicator": CODE,
        "period": "2026",
        "value": 10,
        **({"kind": kind} if kind != "target" else {}),
    }
    made = client.post("/api/v1/targets", json=body, headers=world.auth("officer_lso"))
    assert made.status_code == 201, made.text


def _refused(answer: Any, held: str) -> None:
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["code"] == "state_conflict"
    [entry] = body["detail"]
    assert entry["field"] == "indicators" and entry["code"] == "state_conflict"
    assert CODE in entry["message"] and held in entry["message"], entry["message"]


@pytest.mark.parametrize("kind", ["target", "baseline"])
def test_a_new_version_dropping_a_held_indicator_is_refused(
    client: TestClient, session: Session, kind: str
) -> None:
    world = World(session)
    form_id = _published(client, world)
    _hold(client, world, kind)
    answer = client.patch(
        f"/api/v1/forms/{form_id}", json={"indicators": []}, headers=world.auth("officer_lso")
    )
    _refused(answer, f"1 {kind}")
    # nothing was made: no draft of version 2
    forms = client.get("/api/v1/forms?code=REV_DROP", headers=world.auth("officer_lso"))
    assert [f["version"] for f in forms.json()["items"]] == [1]


def test_renaming_a_held_indicator_is_refused(client: TestClient, session: Session) -> None:
    world = World(session)
    form_id = _published(client, world)
    _hold(client, world)
    renamed = [{"code": "REV_NEW_SUM", "name": {"en": "Sum"}, "aggregate": "sum", "field": "n"}]
    answer = client.patch(
        f"/api/v1/forms/{form_id}", json={"indicators": renamed}, headers=world.auth("officer_lso")
    )
    _refused(answer, "1 target")


def test_publishing_a_draft_that_drops_an_indicator_held_since_is_refused(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    form_id = _published(client, world)
    draft = client.patch(
        f"/api/v1/forms/{form_id}", json={"indicators": []}, headers=world.auth("officer_lso")
    )
    assert draft.status_code == 200, draft.text  # nobody held it yet
    _hold(client, world)
    _hold(client, world, "baseline")
    answer = client.post(
        f"/api/v1/forms/{draft.json()['id']}/publish", headers=world.auth("officer_lso")
    )
    _refused(answer, "1 target and 1 baseline")
    values = client.get(
        "/api/v1/indicators/TARGET_ACHIEVEMENT/values", headers=world.auth("officer_lso")
    )
    assert values.status_code == 200, values.text


def test_an_xlsform_reimport_renaming_a_held_indicator_is_refused(
    client: TestClient, session: Session
) -> None:
    world = World(session)

    def workbook(code: str) -> bytes:
        return _workbook(
            survey=[["type", "name", "label::English (en)"], ["integer", "n", "N"]],
            settings=[["form_id", "form_title"], ["rev_drop", "Revenue"]],
            indicators=[
                ["code", "name::English (en)", "aggregate", "field"],
                [code, "S", "sum", "n"],
            ],
        )

    first = _import(
        client, world, workbook(CODE), who="officer_lso", project=world.project_lso.code
    )
    assert first.status_code == 201, first.text
    published = client.post(
        f"/api/v1/forms/{first.json()['id']}/publish", headers=world.auth("officer_lso")
    )
    assert published.status_code == 200, published.text
    _hold(client, world)
    again = _import(
        client, world, workbook("REV_NEW_SUM"), who="officer_lso", project=world.project_lso.code
    )
    _refused(again, "1 target")


# --- a database already holding targets of an unknown indicator -------------------------------


def _orphans(session: Session, world: World) -> tuple[uuid.UUID, uuid.UUID]:
    target = Target(project_id=world.project_lso.id, indicator=GONE, period="2026", value=10)
    baseline = Target(
        project_id=world.project_lso.id, indicator=GONE, period="2025", value=3, kind="baseline"
    )
    session.add_all([target, baseline])
    session.flush()
    ids = target.id, baseline.id
    session.commit()  # and no read after it: the requests write beside this session
    return ids


@pytest.mark.parametrize("who", READERS)
def test_the_readers_answer_beside_a_target_of_an_unknown_indicator(
    client: TestClient, session: Session, who: str
) -> None:
    world = World(session)
    _orphans(session, world)
    auth = world.auth(who)
    values = client.get("/api/v1/indicators/TARGET_ACHIEVEMENT/values", headers=auth)
    assert values.status_code == 200, values.text
    codes = {r["indicator"] for r in values.json()["rows"]}
    assert GONE not in codes and "PARTICIPANTS" in codes  # left out; the others still there
    export = client.get(
        "/api/v1/exports/indicators.csv?indicator=TARGET_ACHIEVEMENT&group_by=project",
        headers=auth,
    )
    assert export.status_code == 200, export.text
    assert GONE not in export.text


@pytest.mark.parametrize("who", READERS)
def test_the_dashboard_pages_answer_beside_a_target_of_an_unknown_indicator(
    client: TestClient, session: Session, who: str
) -> None:
    world = World(session)
    _orphans(session, world)
    client.cookies.clear()
    client.cookies.set(dashboard_cookies.SESSION_COOKIE, world.tokens[who])
    for path in ("/overview", f"/projects/{world.project_lso.id}"):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[-2000:])


def test_a_target_of_an_unknown_indicator_can_be_listed_changed_and_deleted(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    target_id, baseline_id = _orphans(session, world)
    auth = world.auth("officer_lso")
    listed = client.get(f"/api/v1/targets?indicator={GONE}", headers=auth)
    assert listed.status_code == 200, listed.text
    assert {t["id"] for t in listed.json()["items"]} == {str(target_id), str(baseline_id)}
    changed = client.patch(f"/api/v1/targets/{target_id}", json={"value": 12}, headers=auth)
    assert changed.status_code == 200 and changed.json()["value"] == 12, changed.text
    for gone in (target_id, baseline_id):
        assert client.delete(f"/api/v1/targets/{gone}", headers=auth).status_code == 204
    assert client.get("/api/v1/targets", headers=auth).json()["total"] == 1  # PARTICIPANTS
    # once no target holds it, the code is as unknown as one nobody ever used
    for code in (GONE, "NEVER_USED_CODE"):
        unknown = client.get(f"/api/v1/targets?indicator={code}", headers=auth)
        assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_code"


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", f"Targets or baselines hold {CODE}: delete them"),
        ("fr", f"Des cibles ou des références de départ portent sur {CODE}"),
    ],
)
def test_the_dashboard_names_the_held_indicator_when_publishing_is_refused(
    client: TestClient, session: Session, language: str, words: str
) -> None:
    # The dashboard said only "not possible in the record's current state".
    world = World(session)
    form_id = _published(client, world)
    draft = client.patch(
        f"/api/v1/forms/{form_id}", json={"indicators": []}, headers=world.auth("officer_lso")
    )
    assert draft.status_code == 200, draft.text
    _hold(client, world)
    draft_id = draft.json()["id"]
    client.cookies.set(dashboard_cookies.SESSION_COOKIE, world.tokens["officer_lso"])
    client.cookies.set(dashboard_cookies.LANGUAGE_COOKIE, language)
    csrf = token_for(client, f"/forms/{draft_id}")
    answer = client.post(f"/forms/{draft_id}/publish", data={"csrf_token": csrf})
    assert answer.status_code == 409, answer.text
    assert words in html.unescape(answer.text)
    published = client.get(f"/api/v1/forms/{draft_id}", headers=world.auth("officer_lso"))
    assert published.json()["status"] == "draft"
