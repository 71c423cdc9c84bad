"""The activity list for people: filters, text search, pagination, scope; revision diffs."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from server.activities.queries import field_changes
from tests.factories import World, detach, make_activity


def _ids(client: TestClient, world: World, who: str = "admin", **params) -> list[str]:
    response = client.get("/api/v1/activities", params=params, headers=world.auth(who))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] >= len(body["items"])
    return [a["id"] for a in body["items"]]


def test_filters_narrow_the_list(client: TestClient, session: Session) -> None:
    world = World(session)
    lso, ken = str(world.activity_lso.id), str(world.activity_ken.id)
    training = make_activity(
        session,
        world.project_lso,
        type="farmer_training",
        title="Seed selection training",
        start_date="2024-11-05",
        end_date="2024-11-06",
        topic="S2.T1",
        modality="K",
        notes="Women's group from Ha Ramabanta",
    )
    session.commit()
    detach(session)
    old = str(training.id)

    assert set(_ids(client, world)) == {lso, ken, old}
    assert set(_ids(client, world, country="LSO")) == {lso, old}
    assert set(_ids(client, world, country="lso,ken")) == {lso, ken, old}
    assert _ids(client, world, region="RBN") == [ken]
    # Codes in any case, as the indicator values take them.
    assert _ids(client, world, region="rbn", thematic_area="ta2", topic="s4.t1") == [ken]
    assert _ids(client, world, activity_type="FARMER_TRAINING", status="SUBMITTED") == [old]
    assert _ids(client, world, modality="k", country="LSO", solution="s2") == [old]
    assert set(_ids(client, world, project=world.project_lso.code)) == {lso, old}
    assert _ids(client, world, project=str(world.project_ken.id)) == [ken]
    assert _ids(client, world, thematic_area="TA2") == [ken]
    assert _ids(client, world, solution="S2") == [old]
    assert set(_ids(client, world, solution="S1,S4")) == {lso, ken}
    assert _ids(client, world, topic="S4.T1") == [ken]
    assert _ids(client, world, modality="K", country="LSO") == [old]
    assert _ids(client, world, activity_type="farmer_training") == [old]
    assert set(_ids(client, world, status="submitted")) == {lso, ken, old}
    assert _ids(client, world, status="approved") == []
    assert _ids(client, world, **{"from": "2024-01-01", "to": "2024-12-31"}) == [old]
    assert _ids(client, world, q="RAMABANTA") == [old]  # notes, any case
    assert _ids(client, world, q="hermetic") == [ken]  # title
    assert _ids(client, world, q="100%") == []  # LIKE wildcards are literal
    assert _ids(client, world, site=str(world.site_lso.id)) == [lso]

    # Newest first, paginated, with the total of all matches.
    page = client.get(
        "/api/v1/activities", params={"limit": 2, "offset": 0}, headers=world.auth("admin")
    ).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert page["items"][-1]["start_date"] >= "2025-01-01"
    rest = client.get(
        "/api/v1/activities", params={"limit": 2, "offset": 2}, headers=world.auth("admin")
    ).json()
    assert [a["id"] for a in rest["items"]] == [old]
    summary = next(a for a in page["items"] if a["id"] == lso)
    assert summary["participants"] == 20 and summary["project_code"] == world.project_lso.code


def test_unknown_filter_codes_are_400_naming_the_filter(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    for name, value in (
        ("country", "XXX"),
        ("region", "RBZ"),
        ("thematic_area", "TA7"),
        ("solution", "S10"),
        ("topic", "S1.T9"),
        ("modality", "Z"),
        ("activity_type", "party"),
        ("status", "lost"),
    ):
        response = client.get(
            "/api/v1/activities", params={name: value}, headers=world.auth("admin")
        )
        assert response.status_code == 400, name
        assert response.json()["detail"][0]["field"] == name
    response = client.get(
        "/api/v1/activities",
        params={"from": "2025-02-01", "to": "2025-01-01"},
        headers=world.auth("admin"),
    )
    assert response.status_code == 400 and response.json()["detail"][0]["field"] == "to"
    response = client.get(
        "/api/v1/activities", params={"from": "yesterday"}, headers=world.auth("admin")
    )
    assert response.status_code == 400 and response.json()["detail"][0]["field"] == "from"
    # every bad filter at once, those FastAPI reads (a date) beside the list's own checks, in the
    # list and in its exports alike
    for path in ("/api/v1/activities", "/api/v1/exports/activities.csv"):
        response = client.get(
            path,
            params={"from": "yesterday", "status": "lost", "topic": "S1.T9", "country": "KEN"},
            headers=world.auth("officer_lso"),
        )
        assert response.status_code == 400, path
        assert {(d["field"], d["code"]) for d in response.json()["detail"]} == {
            ("from", "bad_date"),
            ("status", "unknown_code"),
            ("topic", "unknown_code"),
            ("country", "out_of_scope"),
        }


def test_the_list_never_leaks_another_country(client: TestClient, session: Session) -> None:
    world = World(session)
    lso, ken = str(world.activity_lso.id), str(world.activity_ken.id)
    assert _ids(client, world, "officer_lso") == [lso]
    assert _ids(client, world, "expert_ken") == [ken]
    # Filtering for another country's records is refused, as the indicator values refuse it
    # (docs/indicators.md): an empty list would read as "nothing happened there". The list
    # and its exports alike, every problem at once; a project that does not exist too.
    for path in ("/api/v1/activities", "/api/v1/exports/activities.csv"):
        response = client.get(
            path,
            params={"country": "lso,KEN", "project": f"{world.project_ken.code},NOPE"},
            headers=world.auth("officer_lso"),
        )
        assert response.status_code == 400, (path, response.text)
        assert [(d["field"], d["code"]) for d in response.json()["detail"]] == [
            ("country", "out_of_scope"),
            ("project", "out_of_scope"),
        ]
        assert "KEN" in response.json()["detail"][0]["message"]
        assert "NOPE" in response.json()["detail"][1]["message"]
    assert _ids(client, world, "officer_lso", country="lso") == [lso]  # its own, in any case
    assert _ids(client, world, "officer_lso", project=world.project_lso.code) == [lso]
    assert (
        client.get(f"/api/v1/activities/{ken}", headers=world.auth("officer_lso")).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/v1/activities/{ken}/revisions", headers=world.auth("expert_lso")
        ).status_code
        == 404
    )


def test_field_changes_lists_what_differs() -> None:
    base = {
        "title": "A",
        "attendance": [{"sex": "female", "count": 2}, {"sex": "male", "count": 1}],
        "status": "submitted",
    }
    reordered = {**base, "attendance": list(reversed(base["attendance"]))}
    assert field_changes(base, reordered) == []
    changed = {**base, "title": "B", "status": "approved"}
    assert [(c.field, c.before, c.after) for c in field_changes(base, changed)] == [
        ("title", "A", "B"),
        ("status", "submitted", "approved"),
    ]
    first = field_changes(None, base)
    assert {c.field for c in first} == {"title", "attendance", "status"}
    assert all(c.before is None for c in first)


def test_thematic_area_follows_the_topic_as_in_the_indicators(
    client: TestClient, session: Session
) -> None:
    world = World(session)
    # A post-harvest topic (S5, TA2) in a project whose own thematic area is another one.
    storage = make_activity(
        session, world.project_lso, title="Hermetic bag storage", topic="S5.T2", modality="T"
    )
    untopical = make_activity(
        session, world.project_lso, title="Planning meeting", topic=None, modality=None
    )
    session.commit()
    detach(session)
    project_area = world.project_lso.thematic_area
    assert project_area != "TA2"

    in_ta2 = set(_ids(client, world, thematic_area="TA2"))
    in_project_area = set(_ids(client, world, thematic_area=project_area))
    assert str(storage.id) in in_ta2
    assert str(storage.id) not in in_project_area
    assert str(untopical.id) in in_project_area
    assert str(untopical.id) not in in_ta2
