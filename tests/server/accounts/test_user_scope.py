"""Changing a person's projects and countries over the API (docs/roles.md#changing-a-persons-scope):
who may give what, the rules shared with creating a person, the audit entry, and a new scope
holding at once for the tokens the person already has."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from server.accounts.models import User, UserProject
from server.records.models import AuditEntry
from tests.factories import World, detach, make_access_token, make_project, make_user, rows


def _patch(client: TestClient, world: World, who: str, user_id: Any, **body: Any) -> Any:
    return client.patch(f"/api/v1/users/{user_id}", json=body, headers=world.auth(who))


def _scope(session: Session, user_id: uuid.UUID) -> tuple[list[str], list[str]]:
    """The person's countries and project codes as the database holds them now."""
    from server.projects.models import Project

    session.expire_all()
    user = session.get(User, user_id)
    assert user is not None
    codes = session.exec(
        select(Project.code)
        .join(UserProject, col(UserProject.project_id) == Project.id)
        .where(UserProject.user_id == user_id)
        .order_by(col(Project.code))
    ).all()
    countries = list(user.countries)
    session.rollback()  # no transaction left open (SQLite's write lock)
    return countries, list(codes)


def _scope_entries(session: Session, user_id: uuid.UUID) -> list[AuditEntry]:
    return [
        e
        for e in rows(
            session,
            select(AuditEntry).where(
                AuditEntry.entity == "user", AuditEntry.entity_id == str(user_id)
            ),
        )
        if e.after and {"projects", "countries"} & set(e.after)
    ]


def test_an_admin_gives_a_field_expert_a_second_project_in_another_country(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    token = world.tokens["expert_lso"]  # issued before the change
    ken = f"/api/v1/activities/{world.activity_ken.id}"
    assert client.get(ken, headers=world.auth("expert_lso")).status_code == 404

    response = _patch(
        client,
        world,
        "admin",
        expert.id,
        projects=[world.project_lso.code, world.project_ken.code],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(p["code"] for p in body["projects"]) == sorted(
        [world.project_lso.code, world.project_ken.code]
    )
    assert body["countries"] == ["KEN", "LSO"]  # a field expert's follow from their projects
    # The token the person already held reads the new scope on its next request.
    answer = client.get(ken, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text

    [entry] = _scope_entries(session, expert.id)
    assert entry.actor_id == world.users["admin"].id and entry.action == "update"
    assert entry.before == {"projects": [world.project_lso.code], "countries": ["LSO"]}
    assert entry.after == {
        "projects": sorted([world.project_lso.code, world.project_ken.code]),
        "countries": ["KEN", "LSO"],
    }
    assert entry.country is None  # two countries: found through the person (audit.md)


def test_taking_a_project_away_ends_its_access_at_once(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    lso = f"/api/v1/activities/{world.activity_lso.id}"
    assert client.get(lso, headers=world.auth("expert_lso")).status_code == 200
    response = _patch(client, world, "admin", expert.id, projects=[world.project_ken.code])
    assert response.status_code == 200, response.text
    assert response.json()["countries"] == ["KEN"]
    assert client.get(lso, headers=world.auth("expert_lso")).status_code == 404
    # The person moved with their project: Kenya's office sees them now, Lesotho's no longer.
    assert _patch(client, world, "officer_ken", expert.id, full_name="Moved").status_code == 200
    assert client.get(
        f"/api/v1/users/{expert.id}", headers=world.auth("officer_lso")
    ).status_code == (404)
    # Both offices' officers were able to read the move while it was theirs: Kenya's now.
    audit = client.get(
        "/api/v1/audit", params={"entity": "user"}, headers=world.auth("officer_ken")
    ).json()
    assert any(
        e["entity_id"] == str(expert.id) and "projects" in (e["after"] or {})
        for e in audit["items"]
    )


def test_an_officer_gives_and_takes_projects_of_its_country(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    storage = make_project(session, country="LSO", code="LSO-DAA-STORE", name="Storage")
    session.commit()
    detach(session)
    expert = world.users["expert_lso"]
    response = _patch(
        client, world, "officer_lso", expert.id, projects=[world.project_lso.code, storage.code]
    )
    assert response.status_code == 200, response.text
    assert _scope(session, expert.id) == (["LSO"], sorted([world.project_lso.code, storage.code]))
    response = _patch(client, world, "officer_lso", expert.id, projects=[storage.code])
    assert response.status_code == 200, response.text
    assert _scope(session, expert.id) == (["LSO"], [storage.code])
    [gave, took] = sorted(_scope_entries(session, expert.id), key=lambda e: e.id or 0)
    assert gave.actor_id == took.actor_id == world.users["officer_lso"].id
    assert took.before == {"projects": sorted([world.project_lso.code, storage.code])}
    assert took.after == {"projects": [storage.code]} and took.country == "LSO"


def test_an_officer_changes_an_officers_countries_within_its_own(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    officer = make_user(session, role="country_officer", countries=["LSO", "KEN"])
    colleague = make_user(session, role="country_officer", countries=["LSO"])
    token = make_access_token(session, officer)
    session.commit()
    detach(session)
    headers = {"Authorization": f"Bearer {token}"}
    response = client.patch(
        f"/api/v1/users/{colleague.id}", json={"countries": ["ken", "LSO"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["countries"] == ["KEN", "LSO"]
    # Lesotho's officer may no longer manage them (they reach Kenya too) …
    refused = _patch(client, world, "officer_lso", colleague.id, countries=["LSO"])
    assert refused.status_code == 403 and refused.json()["code"] == "person_out_of_scope"
    # … and may give no one a country that is not theirs.
    other = make_user(session, role="country_officer", countries=["LSO"])
    session.commit()
    detach(session)
    refused = _patch(client, world, "officer_lso", other.id, countries=["LSO", "KEN"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "out_of_scope"
    [issue] = refused.json()["detail"]
    assert (issue["field"], issue["code"]) == ("countries", "out_of_scope")
    assert "KEN" in issue["message"]
    assert _scope(session, other.id)[0] == ["LSO"]


def test_what_an_officer_may_not_change(client: TestClient, session: Session) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    before = _scope(session, expert.id)
    # another country's project is unknown to them, as when creating a person
    response = _patch(client, world, "officer_lso", expert.id, projects=[world.project_ken.code])
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert (issue["field"], issue["code"]) == ("projects", "not_found")
    # another country's person is not found; an HQ analyst's or an admin's scope is not theirs
    response = _patch(
        client,
        world,
        "officer_lso",
        world.users["expert_ken"].id,
        projects=[world.project_lso.code],
    )
    assert response.status_code == 404
    for who in ("hq", "admin"):
        response = _patch(client, world, "officer_lso", world.users[who].id, countries=["LSO"])
        assert response.status_code in (403, 404), response.text
    assert _scope(session, expert.id) == before
    assert _scope_entries(session, expert.id) == []


def test_a_person_reaching_beyond_the_officer_is_changed_by_an_admin_only(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    both = make_user(session, role="field_expert", projects=[world.project_lso, world.project_ken])
    session.commit()
    detach(session)
    refused = _patch(client, world, "officer_lso", both.id, projects=[world.project_lso.code])
    assert refused.status_code == 403 and refused.json()["code"] == "person_out_of_scope"
    assert _scope(session, both.id)[1] == sorted([world.project_lso.code, world.project_ken.code])
    allowed = _patch(client, world, "admin", both.id, projects=[world.project_lso.code])
    assert allowed.status_code == 200, allowed.text
    assert _scope(session, both.id) == (["LSO"], [world.project_lso.code])


def test_nobody_changes_their_own_scope(client: TestClient, session: Session) -> None:
    world = World(session)
    for who, body in (
        ("expert_lso", {"projects": [world.project_lso.code, world.project_ken.code]}),
        ("officer_lso", {"countries": ["LSO", "KEN"]}),
        ("officer_lso", {"countries": ["LSO"]}),
        ("admin", {"countries": ["LSO"]}),
    ):
        me = world.users[who]
        before = _scope(session, me.id)
        response = _patch(client, world, who, me.id, **body)
        assert response.status_code == 403, (who, response.text)
        assert response.json()["code"] == "forbidden"
        assert _scope(session, me.id) == before
    # HQ analysts change nobody's scope either
    response = _patch(
        client, world, "hq", world.users["expert_lso"].id, projects=[world.project_ken.code]
    )
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_unknown_codes_are_named_at_their_field(client: TestClient, session: Session) -> None:
    world = World(session)
    officer = world.users["officer_lso"]
    response = _patch(client, world, "admin", officer.id, countries=["LSO", "ZZZ"])
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_code"
    [issue] = response.json()["detail"]
    assert issue["field"] == "countries" and "ZZZ" in issue["message"]
    expert = world.users["expert_lso"]
    response = _patch(client, world, "admin", expert.id, projects=["NOPE-001"], countries=["XX"])
    assert response.status_code == 422
    found = {(i["field"], i["code"]) for i in response.json()["detail"]}
    assert found == {("countries", "unknown_code"), ("projects", "not_found")}
    assert "NOPE-001" in response.text
    # a bad list and a bad code in one answer: the body's limits and the rules together
    response = _patch(client, world, "admin", expert.id, projects="LSO", countries=["XX"])
    assert response.status_code == 422
    found = {(i["field"], i["code"]) for i in response.json()["detail"]}
    assert found == {("projects", "not_list"), ("countries", "unknown_code")}
    # a misspelt key is still refused, not dropped
    response = _patch(client, world, "admin", expert.id, project=[world.project_ken.code])
    assert response.status_code == 422 and response.json()["code"] == "unknown_field"
    assert _scope(session, expert.id) == (["LSO"], [world.project_lso.code])


def test_the_rules_of_creation_hold_for_a_change(client: TestClient, session: Session) -> None:
    world = World(session)
    expert, officer = world.users["expert_lso"], world.users["officer_lso"]
    response = _patch(client, world, "admin", expert.id, projects=[])
    assert response.status_code == 422
    assert response.json()["detail"][0] == {
        "field": "projects",
        "code": "required",
        "message": "a field expert needs at least one project",
    }
    response = _patch(client, world, "admin", officer.id, countries=[])
    assert response.status_code == 422
    assert response.json()["detail"][0]["code"] == "required"
    # HQ analysts and admins need no country (and are given none: see below)
    hq = world.users["hq"]
    assert _patch(client, world, "admin", hq.id, countries=[]).json()["countries"] == []
    # null leaves a list as it is; sending the same scope again changes (and audits) nothing
    same = _patch(client, world, "admin", expert.id, projects=None, countries=None)
    assert same.status_code == 200
    same = _patch(client, world, "admin", expert.id, projects=[world.project_lso.code])
    assert same.status_code == 200
    assert _scope_entries(session, expert.id) == []


def test_a_field_experts_countries_are_those_of_their_projects(
    client: TestClient, session: Session
) -> None:
    """A field expert's countries follow their projects: those of a project taken away go,
    those of one given come; a country named beside them is refused (it would reach nothing)."""
    world = World(session)
    expert = world.users["expert_lso"]
    response = _patch(client, world, "admin", expert.id, projects=[world.project_ken.code])
    assert response.status_code == 200, response.text
    assert response.json()["countries"] == ["KEN"]
    # naming the countries its projects give is allowed, and changes nothing
    response = _patch(client, world, "admin", expert.id, countries=["KEN"])
    assert response.status_code == 200, response.text
    assert _scope(session, expert.id) == (["KEN"], [world.project_ken.code])


def test_a_country_beside_a_field_experts_projects_is_refused(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    response = _patch(client, world, "admin", expert.id, countries=["LSO", "KEN"])
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert (issue["field"], issue["code"]) == ("countries", "not_applicable")
    assert "KEN" in issue["message"]
    # with a Kenyan project given in the same change, Kenya is theirs
    response = _patch(
        client,
        world,
        "admin",
        expert.id,
        countries=["LSO", "KEN"],
        projects=[world.project_lso.code, world.project_ken.code],
    )
    assert response.status_code == 200, response.text
    assert response.json()["countries"] == ["KEN", "LSO"]


def test_scope_that_means_nothing_for_the_role_is_refused(
    client: TestClient, session: Session
) -> None:
    """A country officer sees every project of its countries: no projects; an HQ analyst or an
    admin sees everything: neither list. Refused on a change as on creation (one rule set)."""
    world = World(session)
    colleague = make_user(session, role="country_officer", countries=["LSO"])
    other_admin = make_user(session, role="admin", countries=[])
    session.commit()
    detach(session)
    response = _patch(client, world, "officer_lso", colleague.id, projects=[world.project_lso.code])
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert (issue["field"], issue["code"]) == ("projects", "not_applicable")
    for person in (world.users["hq"], other_admin):
        response = _patch(
            client, world, "admin", person.id, countries=["LSO"], projects=[world.project_lso.code]
        )
        assert response.status_code == 422, (person.role, response.text)
        found = {(i["field"], i["code"]) for i in response.json()["detail"]}
        assert found == {("countries", "not_applicable"), ("projects", "not_applicable")}
        assert _scope(session, person.id) == ([], [])
    assert _scope(session, colleague.id) == (["LSO"], [])
    assert _scope_entries(session, colleague.id) == []
    # creating: the same rules
    for body in (
        {"role": "hq_analyst", "countries": ["LSO"]},
        {"role": "admin", "projects": [world.project_lso.code]},
        {"role": "country_officer", "countries": ["LSO"], "projects": [world.project_lso.code]},
        {"role": "field_expert", "countries": ["KEN"], "projects": [world.project_lso.code]},
    ):
        response = client.post(
            "/api/v1/users",
            json={"username": "newcomer", "password": "long enough password", **body},
            headers=world.auth("admin"),
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "not_applicable", body
    # a field expert named with its projects' country is made, as the demo makes them
    response = client.post(
        "/api/v1/users",
        json={
            "username": "newcomer",
            "password": "long enough password",
            "role": "field_expert",
            "countries": ["LSO"],
            "projects": [world.project_lso.code],
        },
        headers=world.auth("admin"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["countries"] == ["LSO"]


def test_a_country_stored_beside_a_field_experts_projects_reaches_nothing(
    client: TestClient, session: Session
) -> None:
    """A field expert given a country beside its projects before that was refused: filtering
    by it is refused as outside their scope, not answered empty."""
    world = World(session)
    expert = make_user(
        session, role="field_expert", countries=["KEN", "LSO"], projects=[world.project_lso]
    )
    token = make_access_token(session, expert)
    session.commit()
    detach(session)
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get("/api/v1/activities", params={"country": "KEN"}, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["code"] == "out_of_scope"
    assert client.get(
        "/api/v1/activities", params={"country": "LSO"}, headers=headers
    ).status_code == (200)
    # the next change of their projects leaves them their projects' countries only
    response = _patch(client, world, "admin", expert.id, projects=[world.project_lso.code])
    assert response.status_code == 200, response.text
    assert response.json()["countries"] == ["LSO"]


def test_an_officers_unknown_codes_are_rules_named_at_their_field(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    expert = world.users["expert_lso"]
    response = _patch(client, world, "officer_lso", expert.id, countries=["XXX"])
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert (issue["field"], issue["code"]) == ("countries", "unknown_code")
    response = _patch(
        client, world, "officer_lso", expert.id, countries=["lso", "XXX"], projects=["NOPE"]
    )
    assert response.status_code == 422, response.text
    found = {(i["field"], i["code"]) for i in response.json()["detail"]}
    assert found == {("countries", "unknown_code"), ("projects", "not_found")}
    assert "NOPE" in response.text and "XXX" in response.text
    # creating: the same
    response = client.post(
        "/api/v1/users",
        json={
            "username": "newcomer",
            "password": "long enough password",
            "role": "country_officer",
            "countries": ["XXX"],
        },
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["code"] == "unknown_code"
    assert _scope(session, expert.id) == (["LSO"], [world.project_lso.code])


def test_a_country_not_the_officers_is_refused_at_its_field_with_the_other_problems(
    client: TestClient, session: Session
) -> None:
    """A known country outside the officer's is a 403 ``out_of_scope`` at ``countries``; the
    request's rule problems come in the same answer, after it."""
    world = World(session)
    colleague = make_user(session, role="country_officer", countries=["LSO"])
    session.commit()
    detach(session)
    response = _patch(
        client,
        world,
        "officer_lso",
        colleague.id,
        countries=["LSO", "KEN", "XXX"],
        projects=[world.project_lso.code],
    )
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "out_of_scope"
    refusal, *problems = [(i["field"], i["code"]) for i in body["detail"]]
    assert refusal == ("countries", "out_of_scope")
    assert sorted(problems) == [("countries", "unknown_code"), ("projects", "not_applicable")]
    assert body["detail"][0]["message"].endswith("not KEN")
    # the body's limits broken too: one 422 names everything
    response = _patch(client, world, "officer_lso", colleague.id, countries=["KEN"], email=7)
    assert response.status_code == 422, response.text
    found = {(i["field"], i["code"]) for i in response.json()["detail"]}
    assert found == {("email", "not_text"), ("countries", "out_of_scope")}
    # creating: the same shape
    response = client.post(
        "/api/v1/users",
        json={
            "username": "newcomer",
            "password": "long enough password",
            "role": "country_officer",
            "countries": ["KEN", "XXX"],
        },
        headers=world.auth("officer_lso"),
    )
    assert response.status_code == 403, response.text
    assert [(i["field"], i["code"]) for i in response.json()["detail"]] == [
        ("countries", "out_of_scope"),
        ("countries", "unknown_code"),
    ]
    assert _scope(session, colleague.id) == (["LSO"], [])


def test_an_admin_refused_on_their_own_scope_is_told_where_to_go(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    admin = world.users["admin"]
    response = _patch(client, world, "admin", admin.id, countries=[])
    assert response.status_code == 403
    assert (
        "ask another administrator, or use `pilotmon users set-scope`" in response.json()["detail"]
    )
    officer = world.users["officer_lso"]
    response = _patch(client, world, "officer_lso", officer.id, countries=["LSO"])
    assert response.json()["detail"].endswith("ask an administrator")
