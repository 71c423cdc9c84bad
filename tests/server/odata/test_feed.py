"""The OData feed as HQ analysts and country officers use it from Excel and Power BI: a real
OData v4 client (python-odata) reads $metadata, pages through @odata.nextLink and filters; the
results must equal what the REST API gives for the same question, in the caller's scope."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from odata import ODataService
from sqlmodel import Session

from server.accounts import tokens
from server.activities.service import ActivityWrite, Writer, write_activities
from server.odata.entities import MONTHLY_INDICATORS
from tests.conftest import seeded_module
from tests.factories import World, detach, make_activity, make_observation_form
from tests.server.odata.transport import session_for

BASE = "http://testserver/api/v1/odata/"
PAGE = 2  # small pages, so every set takes several
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


class FeedWorld(World):
    """The two-country world with enough activities for several pages of each set."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        for i, (project, date) in enumerate(
            [
                (self.project_lso, "2025-01-20"),
                (self.project_lso, "2025-02-03"),
                (self.project_lso, "2025-03-30"),
                (self.project_ken, "2025-02-11"),
                (self.project_ken, "2025-04-02"),
            ]
        ):
            make_activity(
                session,
                project,
                start_date=date,
                end_date=date,
                type="farmer_training" if i % 2 else "demonstration",
                title=f"Session {i}",
            )
        session.commit()
        detach(session)


# The module's world, built once per backend and put back before each test: its tests only
# read it (tests/conftest.py seeded_module).
db_url, world = seeded_module(FeedWorld)


def _token(client: TestClient, world: World, role: str, name: str = "Power BI") -> str:
    response = client.post("/api/v1/tokens", json={"name": name}, headers=world.auth(role))
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def _basic(world: World, role: str, token: str) -> tuple[str, str]:
    return (world.users[role].username, token)


def _service(client: TestClient, world: World, role: str) -> ODataService:
    auth = _basic(world, role, _token(client, world, role))
    return ODataService(
        BASE, session=session_for(client, auth=auth, page_size=PAGE), reflect_entities=True
    )


def _rest(client: TestClient, world: World, role: str, path: str, **params: Any) -> Any:
    response = client.get(path, headers=world.auth(role), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _rows(service: ODataService, name: str, query: Any = None) -> list[dict[str, Any]]:
    entity = service.entities[name]
    q = query if query is not None else service.query(entity)
    return [dict(row) if isinstance(row, dict) else dict(row.__odata__.data) for row in q]


# --- $metadata ----------------------------------------------------------------------------------


def test_metadata_is_csdl_that_a_client_reflects(
    client: TestClient, session: Session, world: FeedWorld
) -> None:
    # a published form is a set of its own (docs/odata.md#observations), a draft none
    make_observation_form(session, code="FEED_FORM")
    make_observation_form(session, code="FEED_DRAFT", status="draft")
    session.commit()
    detach(session)
    auth = _basic(world, "hq", _token(client, world, "hq"))
    response = client.get(BASE + "$metadata", auth=auth)
    assert response.status_code == 200
    assert response.headers["OData-Version"] == "4.0"
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False))
    assert root.tag == EDMX + "Edmx" and root.get("Version") == "4.0"
    schema = root.find(f"{EDMX}DataServices/{EDM}Schema")
    assert schema is not None
    types = {t.get("Name"): t for t in schema.findall(EDM + "EntityType")}
    sets = {s.get("Name"): s.get("EntityType") for s in schema.iter(EDM + "EntitySet")}
    assert set(sets) == {
        *("Activities", "Attendance", "Projects", "Sites", "IndicatorValues"),
        "Observations_FEED_FORM",
    }
    for entity_type in sets.values():
        definition = types[entity_type.split(".")[-1]]
        keys = [k.get("Name") for k in definition.iter(EDM + "PropertyRef")]
        props = {p.get("Name"): p.get("Type") for p in definition.iter(EDM + "Property")}
        assert keys and all(k in props for k in keys)
        assert all(t.startswith("Edm.") for t in props.values())
    # The service document lists the same sets.
    document = client.get(BASE, auth=auth).json()
    assert {s["name"] for s in document["value"]} == set(sets)
    # A real OData v4 client reflects every set from it.
    service = ODataService(
        BASE, session=session_for(client, auth=auth, page_size=PAGE), reflect_entities=True
    )
    assert set(service.entities) == set(sets)


# --- paging to the REST API's totals, in scope --------------------------------------------------


@pytest.mark.parametrize("role", ["hq", "officer_lso"])
def test_every_set_pages_to_the_rest_totals(
    client: TestClient, world: FeedWorld, role: str
) -> None:
    service = _service(client, world, role)

    activities = _rows(service, "Activities")
    rest = _rest(client, world, role, "/api/v1/activities")
    assert len(activities) > PAGE  # it took several pages
    assert sorted(a["Id"] for a in activities) == sorted(a["id"] for a in rest["items"])
    assert len(activities) == rest["total"]
    by_id = {a["id"]: a for a in rest["items"]}
    for row in activities:
        assert row["Participants"] == by_id[row["Id"]]["participants"]
        assert row["ProjectCode"] == by_id[row["Id"]]["project_code"]

    attendance = _rows(service, "Attendance")
    assert len(attendance) > PAGE
    assert sum(r["Count"] for r in attendance) == sum(a["participants"] for a in rest["items"])
    per_activity: Counter[str] = Counter()
    for r in attendance:
        per_activity[r["ActivityId"]] += r["Count"]
    assert per_activity == Counter({a["id"]: a["participants"] for a in rest["items"]})

    projects = _rows(service, "Projects")
    rest_projects = _rest(client, world, role, "/api/v1/projects")
    assert sorted(p["Id"] for p in projects) == sorted(p["id"] for p in rest_projects["items"])

    sites = _rows(service, "Sites")
    rest_sites = _rest(client, world, role, "/api/v1/sites")
    assert sorted(s["Id"] for s in sites) == sorted(s["id"] for s in rest_sites["items"])

    values = _rows(service, "IndicatorValues")
    assert len(values) > PAGE
    expected = []
    for code in MONTHLY_INDICATORS:
        rows = client.get(
            f"/api/v1/indicators/{code}/values",
            headers=world.auth(role),
            params={"group_by": "project,country,period:month"},
        ).json()["rows"]
        expected += [(code, r["project"], r["country"], r["period"], r["value"]) for r in rows]
    got = [
        (v["Indicator"], v["ProjectCode"], v["Country"], v["Month"][:7], v["Value"]) for v in values
    ]
    assert sorted(got, key=str) == sorted(expected, key=str)

    countries = {r["Country"] for r in [*activities, *attendance, *projects, *values]}
    assert countries == ({"LSO"} if role == "officer_lso" else {"LSO", "KEN"})
    if role == "officer_lso":
        assert str(world.site_ken.id) not in {s["Id"] for s in sites}


def test_filter_and_select_equal_the_rest_api(client: TestClient, world: FeedWorld) -> None:
    service = _service(client, world, "hq")
    activities = service.entities["Activities"]
    query = (
        service.query(activities)
        .filter(activities.Country == "LSO")
        .filter(activities.Type == "demonstration")
        .select(activities.Id, activities.Title)
    )
    rows = _rows(service, "Activities", query)
    rest = _rest(
        client, world, "hq", "/api/v1/activities", country="LSO", activity_type="demonstration"
    )
    assert sorted(r["Id"] for r in rows) == sorted(a["id"] for a in rest["items"])
    assert len(rows) >= 2

    # The same through the raw URL: dates, `in`, `or`, and only the selected properties.
    auth = _basic(world, "hq", _token(client, world, "hq", "Excel"))
    response = client.get(
        BASE + "Activities",
        auth=auth,
        params={
            "$filter": "StartDate ge 2025-02-01 and StartDate le 2025-03-31 and "
            "(Country in ('KEN') or Type eq 'farmer_training')",
            "$select": "Id,StartDate",
            "$count": "true",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert all(set(r) == {"Id", "StartDate"} for r in body["value"])
    rest_range = _rest(
        client, world, "hq", "/api/v1/activities", **{"from": "2025-02-01", "to": "2025-03-31"}
    )
    wanted = {
        a["id"]
        for a in rest_range["items"]
        if a["country"] == "KEN" or a["type"] == "farmer_training"
    }
    assert {r["Id"] for r in body["value"]} == wanted and body["@odata.count"] == len(wanted)

    # Attendance filtered by sex sums to the women participants indicator's values.
    women = client.get(
        BASE + "Attendance",
        auth=auth,
        params={"$filter": "Sex eq 'female' and ActivityStatus in ('submitted','approved')"},
    ).json()["value"]
    indicator = client.get(
        "/api/v1/indicators/WOMEN_PARTICIPANTS/values", headers=world.auth("hq")
    ).json()["rows"]
    assert sum(r["Count"] for r in women) == sum(r["value"] for r in indicator)

    # IndicatorValues (computed, filtered in memory) equal the indicator API's rows.
    values = client.get(
        BASE + "IndicatorValues",
        auth=auth,
        params={
            "$filter": "Indicator eq 'PARTICIPANTS' and Country in ('LSO') and Month ge 2025-02-01",
            "$select": "ProjectCode,Month,Value",
        },
    ).json()["value"]
    rest_values = client.get(
        "/api/v1/indicators/PARTICIPANTS/values",
        headers=world.auth("hq"),
        params={"group_by": "project,period:month", "country": "LSO", "from": "2025-02-01"},
    ).json()["rows"]
    assert len(values) >= 2
    assert sorted((v["ProjectCode"], v["Month"][:7], v["Value"]) for v in values) == sorted(
        (r["project"], r["period"], r["value"]) for r in rest_values
    )


def test_a_time_with_an_offset_filters_on_its_instant(client: TestClient, world: FeedWorld) -> None:
    """``UpdatedAt ge 2025-03-01T10:00:00+02:00`` means 08:00 UTC on every backend (SQLite
    compares the text written, so the instant must be bound in UTC as times are stored)."""
    auth = _basic(world, "hq", _token(client, world, "hq"))
    times = sorted(
        {
            datetime.fromisoformat(r["UpdatedAt"].replace("Z", "+00:00"))
            for r in client.get(BASE + "Activities", auth=auth).json()["value"]
        }
    )
    assert len(times) >= 2
    pivot = times[len(times) // 2]

    def ids_from(moment: datetime) -> set[str]:
        answer = client.get(
            BASE + "Activities",
            auth=auth,
            params={"$filter": f"UpdatedAt ge {moment.isoformat()}", "$select": "Id"},
        )
        assert answer.status_code == 200, answer.text
        return {r["Id"] for r in answer.json()["value"]}

    in_utc = ids_from(pivot)
    assert in_utc, "nothing at or after the middle time"
    for hours in (2, -5, 5.75):
        local = pivot.astimezone(timezone(timedelta(hours=hours)))
        assert ids_from(local) == in_utc, hours


def test_orderby_top_and_skip_page_in_order(client: TestClient, world: FeedWorld) -> None:
    auth = _basic(world, "hq", _token(client, world, "hq"))
    everything = client.get(BASE + "Activities", auth=auth).json()["value"]
    expected = sorted(everything, key=lambda a: (a["StartDate"], a["Id"]))[::-1]
    # descending start date, then the key ascending, one row a page
    seen: list[dict[str, Any]] = []
    url: str | None = BASE + "Activities?$orderby=StartDate desc&$select=Id,StartDate"
    while url is not None:
        body = client.get(url, auth=auth, headers={"Prefer": "odata.maxpagesize=1"}).json()
        assert len(body["value"]) <= 1
        seen += body["value"]
        url = body.get("@odata.nextLink")
    assert [a["StartDate"] for a in seen] == [a["StartDate"] for a in expected]
    assert len({a["Id"] for a in seen}) == len(everything)
    # $top stops the paging; $skip skips on the first page only
    body = client.get(
        BASE + "Activities",
        auth=auth,
        params={"$top": "3", "$skip": "1"},
        headers={"Prefer": "odata.maxpagesize=2"},
    ).json()
    rest_of = client.get(
        body["@odata.nextLink"], auth=auth, headers={"Prefer": "odata.maxpagesize=2"}
    ).json()
    ids = [a["Id"] for a in everything]
    assert [a["Id"] for a in body["value"] + rest_of["value"]] == ids[1:4]
    assert "@odata.nextLink" not in rest_of


# --- tokens -------------------------------------------------------------------------------------


def test_one_token_too_many_is_a_409_with_its_code_and_limit(
    client: TestClient, world: FeedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "MAX_TOKENS_PER_PERSON", 1)
    _token(client, world, "officer_lso")
    response = client.post(
        "/api/v1/tokens", json={"name": "Excel"}, headers=world.auth("officer_lso")
    )
    assert response.status_code == 409
    assert response.json()["code"] == "too_many"


def test_a_revoked_token_and_a_disabled_account_get_401(
    client: TestClient, world: FeedWorld
) -> None:
    token = _token(client, world, "officer_lso")
    auth = _basic(world, "officer_lso", token)
    assert client.get(BASE + "Projects", auth=auth).status_code == 200
    listed = client.get("/api/v1/tokens", headers=world.auth("officer_lso")).json()
    assert [t["name"] for t in listed] == ["Power BI"] and "token" not in listed[0]
    # a token reads the feed only: never the REST API, never a write
    assert (
        client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    # someone else cannot revoke it; its owner can
    assert (
        client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=world.auth("admin")).status_code
        == 404
    )
    assert (
        client.delete(
            f"/api/v1/tokens/{listed[0]['id']}", headers=world.auth("officer_lso")
        ).status_code
        == 204
    )
    response = client.get(BASE + "Projects", auth=auth)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/api/v1/tokens", headers=world.auth("officer_lso")).json()[0]["revoked_at"]

    # disabling the account revokes its tokens
    token = _token(client, world, "expert_lso")
    auth = _basic(world, "expert_lso", token)
    assert client.get(BASE + "Activities", auth=auth).status_code == 200
    user_id = world.users["expert_lso"].id
    assert (
        client.patch(
            f"/api/v1/users/{user_id}", json={"is_active": False}, headers=world.auth("admin")
        ).status_code
        == 200
    )
    assert client.get(BASE + "Activities", auth=auth).status_code == 401
    assert (
        client.patch(
            f"/api/v1/users/{user_id}", json={"is_active": True}, headers=world.auth("admin")
        ).status_code
        == 200
    )
    assert client.get(BASE + "Activities", auth=auth).status_code == 401  # still revoked


def test_a_new_password_revokes_the_personal_tokens(client: TestClient, world: FeedWorld) -> None:
    # A token made by someone who had the password must not outlive the owner's reset.
    token = _token(client, world, "officer_lso")
    auth = _basic(world, "officer_lso", token)
    assert client.get(BASE + "Projects", auth=auth).status_code == 200
    user_id = world.users["officer_lso"].id
    changed = client.patch(
        f"/api/v1/users/{user_id}",
        json={"password": "a much longer passphrase 7"},
        headers=world.auth("officer_lso"),
    )
    assert changed.status_code == 200, changed.text
    assert client.get(BASE + "Projects", auth=auth).status_code == 401
    [listed] = client.get("/api/v1/tokens", headers=world.auth("officer_lso")).json()
    assert listed["revoked_at"] is not None
    # a token made after the change works
    fresh = _basic(world, "officer_lso", _token(client, world, "officer_lso", name="Excel"))
    assert client.get(BASE + "Projects", auth=fresh).status_code == 200


def test_failed_basic_attempts_lock_the_username_like_logins(
    client: TestClient, world: FeedWorld
) -> None:
    token = _token(client, world, "hq")
    username = world.users["hq"].username
    statuses = [client.get(BASE, auth=(username, f"wrong{i}")).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = client.get(BASE, auth=(username, token))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert locked.json()["error"]["code"] == "too_many_attempts"


def _nested(levels: int) -> str:
    """A condition nested ``levels`` deep, and and or in turn: "Late eq true or (… and (…))"."""
    condition = "Late eq true"
    for level in range(levels):
        condition = f"Late eq true {'and' if level % 2 else 'or'} ({condition})"
    return condition


def test_a_long_chain_of_or_is_one_level_not_a_hundred(
    client: TestClient, world: FeedWorld
) -> None:
    # Power BI writes a filter on a list of values as "Id eq 1 or Id eq 2 or …": 150 terms were
    # refused as "nested more than 100 conditions deep". Real nesting still is (_nested).
    auth = _basic(world, "hq", _token(client, world, "hq"))
    rows = client.get(BASE + "Attendance", auth=auth, params={"$select": "Id"}).json()["value"]
    ids = [r["Id"] for r in rows][:3]
    chain = " or ".join(f"Id eq {i}" for i in [*ids, *range(10**9, 10**9 + 147)])
    response = client.get(BASE + "Attendance", auth=auth, params={"$filter": chain})
    assert response.status_code == 200, response.text
    assert sorted(r["Id"] for r in response.json()["value"]) == sorted(ids)
    both = client.get(
        BASE + "Attendance", auth=auth, params={"$filter": f"({chain}) and Id eq {ids[0]}"}
    )
    assert [r["Id"] for r in both.json()["value"]] == [ids[0]]


@pytest.mark.parametrize(
    ("path", "params", "code", "target"),
    [
        ("Activities", {"$filter": "contains(Title,'x')"}, "unsupported_filter", "$filter"),
        ("Activities", {"$filter": "Title eq"}, "bad_filter", "$filter"),
        ("Activities", {"$filter": "Secret eq 1"}, "unknown_property", "$filter"),
        ("Activities", {"$filter": "Participants eq 'many'"}, "bad_filter", "$filter"),
        ("Activities", {"$filter": "Participants add 1 gt 2"}, "unsupported_filter", "$filter"),
        ("Activities", {"$filter": "not (Late eq true)"}, "unsupported_filter", "$filter"),
        ("Activities", {"$filter": "StartDate gt 2025-13-45"}, "bad_filter", "$filter"),
        ("Activities", {"$filter": "Participants gt null"}, "bad_filter", "$filter"),
        ("Activities", {"$select": "Id,Nope"}, "unknown_property", "$select"),
        ("Activities", {"$orderby": "Nope"}, "unknown_property", "$orderby"),
        ("Activities", {"$orderby": "Title sideways"}, "bad_option", "$orderby"),
        ("Activities", {"$top": "-1"}, "bad_option", "$top"),
        ("Activities", {"$skip": "lots"}, "bad_option", "$skip"),
        ("Activities", {"$count": "yes"}, "bad_option", "$count"),
        ("Activities", {"$expand": "Project"}, "unsupported_option", "$expand"),
        ("Activities", {"$search": "potato"}, "unsupported_option", "$search"),
        ("Activities", {"$format": "xml"}, "unsupported_option", "$format"),
        ("Activities", {"$skiptoken": "bm90IGEgdG9rZW4"}, "bad_option", "$skiptoken"),
        ("Attendance", {"$skiptoken": "WyJ4Il0"}, "bad_option", "$skiptoken"),
        ("IndicatorValues", {"$filter": "Value gt 'x'"}, "bad_filter", "$filter"),
        ("Attendance", {"$filter": "Count gt 99999999999"}, "bad_filter", "$filter"),
        ("Attendance", {"$filter": "Id gt 99999999999999999999999"}, "bad_filter", "$filter"),
        ("Activities", {"$filter": "Title eq 'a\x00b'"}, "bad_filter", "$filter"),
        ("Sites", {"$filter": "Lat gt 1e999"}, "bad_filter", "$filter"),
        ("Activities", {"$filter": _nested(120)}, "bad_filter", "$filter"),
        ("Activities", {"$filter": "x" * 5000}, "bad_filter", "$filter"),
        ("Activities", {"$skiptoken": "W251bGxd"}, "bad_option", "$skiptoken"),
    ],
)
def test_bad_options_get_400_in_the_odata_error_shape(
    client: TestClient, world: FeedWorld, path: str, params: dict[str, str], code: str, target: str
) -> None:
    _assert_refused(client, world, path, params, code, target)


def test_a_key_of_too_many_digits_is_out_of_range_not_a_non_number(
    client: TestClient, world: FeedWorld
) -> None:
    auth = _basic(world, "hq", _token(client, world, "hq"))
    for key in ("99999999999999999999999", "9" * 5000):
        error = client.get(BASE + f"Attendance({key})", auth=auth).json()["error"]
        assert error["code"] == "bad_key" and "out of range" in error["message"], error
        assert len(error["message"]) < 200  # not the digits back


def test_an_option_given_twice_is_refused(client: TestClient, world: FeedWorld) -> None:
    # $top=1&$top=2 answered two rows: one of the two was read, without a word.
    auth = _basic(world, "hq", _token(client, world, "hq"))
    response = client.get(BASE + "Activities?$top=1&$top=2", auth=auth)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("bad_option", "$top")
    assert "more than once" in error["message"]


def _assert_refused(
    client: TestClient, world: FeedWorld, path: str, params: dict[str, str], code: str, target: str
) -> None:
    """HQ's GET of ``path`` is a 400 in the OData error shape, with ``code`` at ``target``."""
    auth = _basic(world, "hq", _token(client, world, "hq"))
    response = client.get(BASE + path, auth=auth, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == (code, target) and error["message"]


def test_unknown_sets_and_bad_credentials_answer_in_the_odata_shape(
    client: TestClient, world: FeedWorld
) -> None:
    auth = _basic(world, "hq", _token(client, world, "hq"))
    missing = client.get(BASE + "Observations", auth=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    garbled = client.get(
        BASE, headers={"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}
    )
    assert garbled.status_code == 401 and garbled.json()["error"]["message"]
    anonymous = client.get(BASE + "$metadata")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith(
        "Basic"
    )


def test_a_write_to_the_read_only_feed_is_a_405_in_the_odata_shape(
    client: TestClient, world: FeedWorld
) -> None:
    """A POST with a body answered 401 "missing bearer token: log in first" in the REST shape
    (the body guard asked for a bearer token before reading it); the feed takes no body at all,
    so every write is told it is read-only, with or without credentials, its body never read."""
    auth = _basic(world, "hq", _token(client, world, "hq"))
    for method, path, body in (
        ("POST", "Activities", {"Title": "x"}),
        ("POST", "Activities", None),
        ("PATCH", f"Activities({world.activity_lso.id})", {"Title": "x"}),
        ("DELETE", "Attendance", None),
        ("PUT", "", b"x" * 100_000),
    ):
        for credentials in (auth, None):
            if isinstance(body, bytes):
                answer = client.request(method, BASE + path, content=body, auth=credentials)
            else:
                answer = client.request(method, BASE + path, json=body, auth=credentials)
            assert answer.status_code == 405, (method, path, answer.text)
            assert answer.json()["error"] == {
                "code": "method_not_allowed",
                "message": "this feed is read-only: read it with GET",
                "target": None,
            }
            assert "Bearer" not in answer.headers.get("WWW-Authenticate", "")


# Malformed filters an analyst types, and the text each message must name.
_MALFORMED_FILTERS = [
    ("StartDate ge 2025-13-01", ["2025-13-01", "month 13"]),
    ("StartDate ge 2025-01-32", ["2025-01-32", "day 32"]),
    ("StartDate ge 2025-02-30", ["2025-02-30", "28 days"]),
    ("StartDate eq 2025-1-01", ["2025-1-01", "YYYY-MM-DD"]),
    ("UpdatedAt ge 2025-01-01T25:00:00Z", ["2025-01-01T25:00:00Z", "hour 25"]),
    ("StartDate eq 'yesterday'", ["yesterday", "not a date"]),
    ("Title eq 'unclosed", ["'unclosed", "quote"]),
    ('Title eq "double"', ['"double"']),
    ("Participants gt 12abc", ["12abc", "position 17"]),
    ("Title eq foo bar", ["bar", "position 14"]),
    ("Participants gt 1 or or Late eq true", ["or", "position 22"]),
    ("Participants gt 1)", ["')'", "position 18"]),
    ("(Participants gt 1", ["'('", "not closed"]),
    ("Participants gt 1 and", ["and", "ends"]),
    ("Participants ## 3", ["##", "position 14"]),
    ("Id eq 'nope'", ["nope", "GUID"]),
    ("Participants gt 1.2.3", ["1.2.3"]),
    ('Title eq "unclosed', ["'\"'", "position 10", "single quotes"]),
    ("StartDate ge 2025-02-29Title", ["'2025-02-29Title'", "position 14"]),
]


@pytest.mark.parametrize(("text", "named"), _MALFORMED_FILTERS)
def test_bad_filter_messages_say_what_is_wrong_and_where_in_plain_words(
    client: TestClient, world: FeedWorld, text: str, named: list[str]
) -> None:
    """Excel and Power BI show the message to an analyst: it names the offending text and its
    place, never the parser's tokens, trees or Python class names."""
    auth = _basic(world, "hq", _token(client, world, "hq"))
    response = client.get(BASE + "Activities", auth=auth, params={"$filter": text})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_filter" and error["target"] == "$filter"
    message = error["message"]
    for internal in ("Token(", "Tree(", "Identifier(", "Integer(", "type=", "Exception", "Error"):
        assert internal not in message, message
    for words in named:
        assert words in message, message


# --- one entity by its key --------------------------------------------------------------------


def test_one_entity_by_key_as_a_client_follows_it(client: TestClient, world: FeedWorld) -> None:
    """``Activities(<id>)`` and every set's entity by key answer the entity that the set lists,
    with its ``@odata.context``; python-odata's own URL of each row (quoted or bare GUIDs,
    integers, a compound key) reaches it, and ``$select`` applies."""
    auth = _basic(world, "hq", _token(client, world, "hq"))
    service = _service(client, world, "hq")
    http = session_for(client, auth=auth, page_size=PAGE)
    for name in ("Activities", "Attendance", "Projects", "Sites", "IndicatorValues"):
        entity = service.entities[name]
        listed = list(service.query(entity))
        assert listed, name
        for row in listed[:3]:
            url = row.__odata__.instance_url
            answer = http.get(url)
            assert answer.status_code == 200, (url, answer.text)
            body = answer.json()
            assert body.pop("@odata.context") == f"{BASE}$metadata#{name}/$entity"
            assert body == row.__odata__.data, url

    everything = client.get(BASE + "Activities", auth=auth).json()["value"]
    one = everything[0]
    for key in (one["Id"], f"'{one['Id']}'", f"Id={one['Id']}", one["Id"].upper()):
        body = client.get(BASE + f"Activities({key})", auth=auth).json()
        assert body["Id"] == one["Id"] and body["Title"] == one["Title"], key
    selected = client.get(
        BASE + f"Activities({one['Id']})", auth=auth, params={"$select": "Title,Id"}
    ).json()
    assert selected == {
        "@odata.context": f"{BASE}$metadata#Activities(Id,Title)/$entity",
        "Id": one["Id"],
        "Title": one["Title"],
    }
    value = client.get(BASE + "IndicatorValues", auth=auth).json()["value"][0]
    compound = (
        f"IndicatorValues(Month={value['Month']},Indicator='{value['Indicator']}',"
        f"ProjectCode='{value['ProjectCode']}')"
    )
    assert client.get(BASE + compound, auth=auth).json()["Value"] == value["Value"]


def test_an_entity_out_of_scope_deleted_or_missing_is_the_same_404(
    client: TestClient, session: Session, world: FeedWorld
) -> None:
    """Lesotho's officer gets Lesotho's activity; Kenya's answers exactly as an id that does
    not exist, so the answer tells nothing of other countries' records."""
    auth = _basic(world, "officer_lso", _token(client, world, "officer_lso"))
    mine = client.get(BASE + f"Activities({world.activity_lso.id})", auth=auth)
    assert mine.status_code == 200 and mine.json()["Country"] == "LSO"
    nobody = "0e350ba6-4d94-4bec-9eba-cf4653020000"
    for name, kenyan_id in (
        ("Activities", world.activity_ken.id),
        ("Projects", world.project_ken.id),
        ("Sites", world.site_ken.id),
    ):
        kenyan = client.get(BASE + f"{name}({kenyan_id})", auth=auth)
        missing = client.get(BASE + f"{name}({nobody})", auth=auth)
        assert kenyan.status_code == missing.status_code == 404, name
        assert kenyan.json() == missing.json(), name
        assert kenyan.json()["error"]["code"] == "not_found"
    missing = client.get(BASE + f"Activities({nobody})", auth=auth)
    # a deleted activity is left out of the set, so out of its entities too
    activity = make_activity(session, world.project_lso)
    session.commit()
    found = client.get(BASE + f"Activities({activity.id})", auth=auth)
    assert found.status_code == 200
    write_activities(
        session, [ActivityWrite(existing=activity, delete=True)], writer=Writer(source="api")
    )
    session.commit()
    assert client.get(BASE + f"Activities({activity.id})", auth=auth).json() == missing.json()


@pytest.mark.parametrize(
    ("path", "params", "code", "target"),
    [
        ("Activities(nope)", {}, "bad_key", "Id"),
        ("Activities('nope')", {}, "bad_key", "Id"),
        ("Activities()", {}, "bad_key", "Activities"),
        ("Activities(Title='x')", {}, "bad_key", "Activities"),
        ("Activities(0e350ba6-4d94-4bec-9eba-cf4653020000,x)", {}, "bad_key", "Activities"),
        ("Activities(Id=0e350ba6-4d94-4bec-9eba-cf4653020000,Id=x)", {}, "bad_key", "Activities"),
        ("Attendance('1')", {}, "bad_key", "Id"),
        ("Attendance(\uff13)", {}, "bad_key", "Id"),  # a fullwidth 3
        ("Attendance(\u0663)", {}, "bad_key", "Id"),  # an Arabic-Indic 3
        ("Attendance(99999999999999999999999)", {}, "bad_key", "Id"),
        ("Attendance(" + "9" * 5000 + ")", {}, "bad_key", "Id"),
        ("Projects(1)", {}, "bad_key", "Id"),
        ("IndicatorValues('PARTICIPANTS')", {}, "bad_key", "IndicatorValues"),
        (
            "IndicatorValues(Indicator='PARTICIPANTS',ProjectCode='X',Month=2025-13-01)",
            {},
            "bad_key",
            "Month",
        ),
        (
            "IndicatorValues(Indicator=PARTICIPANTS,ProjectCode='X',Month=2025-01-01)",
            {},
            "bad_key",
            "Indicator",
        ),
        ("Attendance(1)", {"$filter": "Count gt 1"}, "bad_option", "$filter"),
        ("Attendance(1)", {"$top": "1"}, "bad_option", "$top"),
        ("Attendance(1)", {"$expand": "Activity"}, "unsupported_option", "$expand"),
        ("Attendance(1)", {"$select": "Nope"}, "unknown_property", "$select"),
    ],
)
def test_a_malformed_key_or_option_of_one_entity_is_a_400(
    client: TestClient, world: FeedWorld, path: str, params: dict[str, str], code: str, target: str
) -> None:
    _assert_refused(client, world, path, params, code, target)


# --- integers in digits 0-9 only ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "code"),
    [
        ("$top", "\u0663", "bad_option"),  # Arabic-Indic 3: int() reads it as 3
        ("$top", "\uff13", "bad_option"),  # fullwidth 3
        ("$skip", "\u0661", "bad_option"),
        ("$top", "\u00b2", "bad_option"),  # superscript 2: isdigit() but not int(): was a 500
        ("$skip", "9" * 5000, "bad_option"),  # beyond int()'s digits: was a 500
        ("$filter", "Participants gt \uff13", "bad_filter"),
        ("$filter", "Participants in (\u0661,2)", "bad_filter"),
    ],
)
def test_numbers_in_other_digits_than_0_to_9_are_a_400(
    client: TestClient, world: FeedWorld, option: str, value: str, code: str
) -> None:
    """OData's digits are 0-9; Python's int() and isdigit() take any script's."""
    auth = _basic(world, "hq", _token(client, world, "hq"))
    response = client.get(BASE + "Activities", auth=auth, params={option: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["target"] == option


def test_a_page_size_preference_in_other_digits_is_ignored(
    client: TestClient, world: FeedWorld
) -> None:
    """``Prefer: odata.maxpagesize`` is a preference: one the server does not read is
    ignored (never a 500), and the page is the full one. A header is Latin-1, where the
    superscripts ¹ and ² are digits to str.isdigit() but not to int()."""
    auth = _basic(world, "hq", _token(client, world, "hq"))
    total = len(client.get(BASE + "Activities", auth=auth).json()["value"])
    for value in (b"\xb9", b"\xb2", b"1" * 5000):
        response = client.get(
            BASE + "Activities", auth=auth, headers={"Prefer": b"odata.maxpagesize=" + value}
        )
        assert response.status_code == 200, (value, response.text)
        assert len(response.json()["value"]) == total
        assert "@odata.nextLink" not in response.json()
    one = client.get(BASE + "Activities", auth=auth, headers={"Prefer": "odata.maxpagesize=1"})
    assert len(one.json()["value"]) == 1
