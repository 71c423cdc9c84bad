"""``POST /api/v1/sync/status`` (docs/protocol.md#tablet-status): a tablet reports what it still
holds; the server keeps the latest per tablet with its own clock, refuses nonsense with 422
naming the field, and serves it only to the people who may see the tablet — in the device
list and as ``pending_on_tablets`` in indicator answers."""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.accounts.models import Device, DeviceStatus, User
from server.columns import as_utc, utcnow
from sync.protocol import MAX_STATUS_BYTES
from tests.factories import make_access_token, make_device, make_project, make_user

STATUS = "/api/v1/sync/status"


def status_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pending_mutations": 3,
        "pending_uploads": 2,
        "pending_upload_bytes": 4_500_000,
        "oldest_pending_captured_at": "2025-03-10T08:15:00+02:00",
        "records": 120,
        "photos": 40,
        "free_storage_bytes": 6_000_000_000,
        "app_version": "1.4.0",
        "language": "fr",
        "last_error": None,
    }
    body.update(overrides)
    return body


@dataclass
class Fleet:
    """Lesotho: expert (tablet A), teammate (tablet B), a revoked tablet R of the expert;
    Kenya: an expert with tablet K. People: HQ, the two country officers."""

    tokens: dict[str, str]  # tablet -> device token
    devices: dict[str, uuid.UUID]
    people: dict[str, str]  # role name -> access token
    users: dict[str, User]

    def tablet(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def person(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.people[name]}"}


@pytest.fixture
def fleet(session: Session) -> Fleet:
    lso = make_project(session)
    ken = make_project(
        session,
        code=f"KEN-{uuid.uuid4().hex[:6]}",
        country="KEN",
        thematic_area="TA2",
        solutions=["S4", "S5"],
    )
    users = {
        "expert": make_user(session, projects=[lso]),
        "teammate": make_user(session, projects=[lso]),
        "expert_ken": make_user(session, projects=[ken]),
        "hq": make_user(session, role="hq_analyst", countries=[]),
        "officer_lso": make_user(session, role="country_officer", countries=["LSO"]),
        "officer_ken": make_user(session, role="country_officer", countries=["KEN"]),
    }
    owners = {"A": "expert", "B": "teammate", "R": "expert", "K": "expert_ken"}
    tokens, devices = {}, {}
    for name, owner in owners.items():
        device, token = make_device(session, users[owner], label=f"Tablet {name}")
        tokens[name], devices[name] = token, device.id
    people = {
        name: make_access_token(session, users[name])
        for name in ("expert", "hq", "officer_lso", "officer_ken")
    }
    session.commit()
    return Fleet(tokens, devices, people, users)


def _revoke(engine: Engine, device_id: uuid.UUID) -> None:
    with Session(engine) as session:
        device = session.get(Device, device_id)
        assert device is not None
        device.revoked_at = utcnow()
        session.add(device)
        session.commit()


def _row(engine: Engine, device_id: uuid.UUID) -> DeviceStatus | None:
    with Session(engine) as session:
        row = session.get(DeviceStatus, device_id)
        if row is not None:
            session.expunge(row)
        return row


# --- receiving ---------------------------------------------------------------------------------


def test_the_latest_status_is_kept_with_the_servers_clock(
    client: TestClient, fleet: Fleet, engine: Engine
) -> None:
    before = utcnow()
    answer = client.post(STATUS, json=status_body(), headers=fleet.tablet("A"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "server_time" in body and answer.headers["Server-Time"]
    received = datetime.fromisoformat(body["received_at"])
    assert received >= before - timedelta(seconds=1)
    row = _row(engine, fleet.devices["A"])
    assert row is not None
    assert (row.pending_mutations, row.pending_uploads, row.records, row.photos) == (3, 2, 120, 40)
    assert as_utc(row.oldest_pending_captured_at) == datetime(2025, 3, 10, 6, 15, tzinfo=UTC)
    assert row.language == "fr" and row.app_version == "1.4.0"
    first_since = as_utc(row.pending_since)
    assert first_since is not None

    # A later post replaces it; something still pending keeps the first pending time.
    answer = client.post(
        STATUS,
        json=status_body(pending_mutations=1, last_error="the server did not answer"),
        headers=fleet.tablet("A"),
    )
    assert answer.status_code == 200
    row = _row(engine, fleet.devices["A"])
    assert row is not None and row.pending_mutations == 1
    assert row.last_error == "the server did not answer"
    assert as_utc(row.pending_since) == first_since
    with Session(engine) as session:
        assert len(session.exec(select(DeviceStatus)).all()) == 1

    # Nothing pending clears it.
    clear = status_body(
        pending_mutations=0,
        pending_uploads=0,
        pending_upload_bytes=0,
        oldest_pending_captured_at=None,
    )
    assert client.post(STATUS, json=clear, headers=fleet.tablet("A")).status_code == 200
    row = _row(engine, fleet.devices["A"])
    assert row is not None and row.pending_since is None and row.pending_mutations == 0


def test_a_status_lands_on_the_posting_tablet_only(
    client: TestClient, fleet: Fleet, engine: Engine
) -> None:
    """The device token says whose status it is; a body naming another tablet changes nothing
    (unknown keys are ignored)."""
    body = status_body(device_id=str(fleet.devices["B"]))
    assert client.post(STATUS, json=body, headers=fleet.tablet("A")).status_code == 200
    assert _row(engine, fleet.devices["A"]) is not None
    assert _row(engine, fleet.devices["B"]) is None


def test_a_gzipped_status_is_read(client: TestClient, fleet: Fleet, engine: Engine) -> None:
    raw = gzip.compress(json.dumps(status_body(records=7)).encode())
    answer = client.post(
        STATUS,
        content=raw,
        headers={**fleet.tablet("A"), "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    row = _row(engine, fleet.devices["A"])
    assert row is not None and row.records == 7


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"pending_mutations": -1}, "pending_mutations", "value_range"),
        ({"pending_uploads": 10_000_001}, "pending_uploads", "value_range"),
        ({"records": "12"}, "records", "not_integer"),
        ({"photos": 3.5}, "photos", "not_integer"),
        ({"pending_mutations": True}, "pending_mutations", "not_integer"),
        ({"free_storage_bytes": 2**60}, "free_storage_bytes", "value_range"),
        ({"pending_upload_bytes": -5}, "pending_upload_bytes", "value_range"),
        ({"oldest_pending_captured_at": "yesterday"}, "oldest_pending_captured_at", "bad_datetime"),
        ({"oldest_pending_captured_at": 1741594500}, "oldest_pending_captured_at", "invalid"),
        (
            {"oldest_pending_captured_at": "2025-03-10T08:15:00"},
            "oldest_pending_captured_at",
            "bad_datetime",
        ),
        (
            {"oldest_pending_captured_at": "2099-01-01T00:00:00+00:00"},
            "oldest_pending_captured_at",
            "in_future",
        ),
        (
            {"oldest_pending_captured_at": "1970-01-01T00:00:00+00:00"},
            "oldest_pending_captured_at",
            "date_implausible",
        ),
        (
            {"pending_uploads": 0, "pending_upload_bytes": 100},
            "pending_upload_bytes",
            "invalid",
        ),
        ({"app_version": 14}, "app_version", "not_text"),
        ({"app_version": "x" * 41}, "app_version", "too_long"),
        ({"app_version": "1.0\x00"}, "app_version", "control_character"),
        ({"language": "français"}, "language", "invalid"),
        ({"last_error": "e" * 501}, "last_error", "too_long"),
        ({"tablet_time": "now"}, "tablet_time", "bad_datetime"),
        ({"tablet_time": 1741594500}, "tablet_time", "invalid"),
        ({"tablet_time": "2025-03-10T08:15:00"}, "tablet_time", "bad_datetime"),
        # Judged against the tablet's own clock when it says it: a record dated after it.
        (
            {
                "tablet_time": "2025-03-10T08:15:00+00:00",
                "oldest_pending_captured_at": "2025-03-12T08:15:00+00:00",
            },
            "oldest_pending_captured_at",
            "in_future",
        ),
    ],
)
def test_nonsense_gets_422_naming_the_field(
    client: TestClient,
    fleet: Fleet,
    engine: Engine,
    change: dict[str, Any],
    field: str,
    code: str,
) -> None:
    answer = client.post(STATUS, json=status_body(**change), headers=fleet.tablet("A"))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in detail
    ], detail
    assert _row(engine, fleet.devices["A"]) is None  # nothing kept


def test_a_missing_key_is_refused_as_required(client: TestClient, fleet: Fleet) -> None:
    body = status_body()
    del body["free_storage_bytes"]
    answer = client.post(STATUS, json=body, headers=fleet.tablet("A"))
    assert answer.status_code == 422
    assert answer.json()["detail"][0] | {"message": ""} == {
        "field": "free_storage_bytes",
        "code": "required",
        "message": "",
    }


@pytest.mark.parametrize(("raw", "code"), [(b"[1, 2]", "not_object"), (b"{not json", "bad_body")])
def test_a_body_that_is_not_an_object_is_refused(
    client: TestClient, fleet: Fleet, raw: bytes, code: str
) -> None:
    answer = client.post(
        STATUS, content=raw, headers={**fleet.tablet("A"), "Content-Type": "application/json"}
    )
    assert answer.status_code in (400, 422)
    assert answer.json()["detail"][0]["code"] == code


def test_a_large_body_is_refused_before_it_is_read(client: TestClient, fleet: Fleet) -> None:
    body = status_body(padding="x" * MAX_STATUS_BYTES)
    answer = client.post(STATUS, json=body, headers=fleet.tablet("A"))
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"
    assert answer.json()["limit"] == MAX_STATUS_BYTES
    # A gzip bomb of a status inflates no further than the limit.
    bomb = gzip.compress(b" " * (MAX_STATUS_BYTES * 100))
    answer = client.post(
        STATUS, content=bomb, headers={**fleet.tablet("A"), "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 413


def test_only_a_tablet_may_post_a_status(client: TestClient, fleet: Fleet, engine: Engine) -> None:
    assert client.post(STATUS, json=status_body()).status_code == 401
    person = client.post(STATUS, json=status_body(), headers=fleet.person("officer_lso"))
    assert person.status_code == 401
    _revoke(engine, fleet.devices["R"])
    revoked = client.post(STATUS, json=status_body(), headers=fleet.tablet("R"))
    assert revoked.status_code == 403
    assert _row(engine, fleet.devices["R"]) is None


# --- reading: the device list and pending_on_tablets, by scope ---------------------------------


def _post_all(client: TestClient, fleet: Fleet) -> None:
    posts = {
        "A": status_body(pending_mutations=3, pending_uploads=2),
        "B": status_body(
            pending_mutations=0, pending_uploads=0, pending_upload_bytes=0, free_storage_bytes=None
        ),
        "R": status_body(pending_mutations=50, pending_uploads=9),
        "K": status_body(pending_mutations=7, pending_uploads=1),
    }
    for name, body in posts.items():
        answer = client.post(STATUS, json=body, headers=fleet.tablet(name))
        assert answer.status_code == 200, answer.text


def _devices(client: TestClient, fleet: Fleet, person: str) -> dict[str, dict[str, Any]]:
    answer = client.get("/api/v1/devices", headers=fleet.person(person))
    assert answer.status_code == 200, answer.text
    return {item["label"]: item for item in answer.json()["items"]}


def test_the_device_list_shows_each_tablets_latest_status_by_scope(
    client: TestClient, fleet: Fleet, engine: Engine
) -> None:
    _post_all(client, fleet)
    _revoke(engine, fleet.devices["R"])
    hq = _devices(client, fleet, "hq")
    assert set(hq) == {"Tablet A", "Tablet B", "Tablet R", "Tablet K"}
    assert hq["Tablet A"]["status"]["pending_mutations"] == 3
    assert hq["Tablet A"]["status"]["received_at"]
    assert hq["Tablet K"]["status"]["pending_mutations"] == 7
    assert hq["Tablet B"]["status"]["free_storage_bytes"] is None
    assert hq["Tablet A"]["attention"] == []

    assert set(_devices(client, fleet, "officer_lso")) == {"Tablet A", "Tablet R", "Tablet B"}
    assert set(_devices(client, fleet, "officer_ken")) == {"Tablet K"}
    # A field expert sees its own tablets only: never a teammate's status.
    assert set(_devices(client, fleet, "expert")) == {"Tablet A", "Tablet R"}


def test_a_tablet_that_needs_a_call_says_why(
    client: TestClient, fleet: Fleet, engine: Engine
) -> None:
    body = status_body(free_storage_bytes=100_000_000, last_error="timed out")
    assert client.post(STATUS, json=body, headers=fleet.tablet("A")).status_code == 200
    with Session(engine) as session:
        row = session.get(DeviceStatus, fleet.devices["A"])
        assert row is not None
        row.pending_since = utcnow() - timedelta(days=30)
        session.add(row)
        session.commit()
    assert _devices(client, fleet, "hq")["Tablet A"]["attention"] == [
        "pending_old",
        "low_storage",
        "error",
    ]


def _pending(client: TestClient, fleet: Fleet, person: str) -> dict[str, Any]:
    answer = client.get("/api/v1/indicators/ACTIVITIES/values", headers=fleet.person(person))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["pending_on_tablets"]
    return found


def test_pending_on_tablets_sums_the_statuses_in_the_callers_scope(
    client: TestClient, fleet: Fleet, engine: Engine
) -> None:
    nothing = _pending(client, fleet, "hq")
    assert nothing == {"records": 0, "photos": 0, "tablets": 0, "oldest_report_at": None}

    _post_all(client, fleet)
    _revoke(engine, fleet.devices["R"])  # a revoked tablet no longer counts
    hq = _pending(client, fleet, "hq")
    assert (hq["records"], hq["photos"], hq["tablets"]) == (3 + 7, 2 + 1, 2)
    with Session(engine) as session:
        reports = {
            row.device_id: as_utc(row.received_at) for row in session.exec(select(DeviceStatus))
        }
    first, second = reports[fleet.devices["A"]], reports[fleet.devices["K"]]
    assert first is not None and second is not None
    oldest = min(first, second)
    assert datetime.fromisoformat(hq["oldest_report_at"]) == oldest

    lso = _pending(client, fleet, "officer_lso")
    assert (lso["records"], lso["photos"], lso["tablets"]) == (3, 2, 1)
    ken = _pending(client, fleet, "officer_ken")
    assert (ken["records"], ken["photos"], ken["tablets"]) == (7, 1, 1)
    expert = _pending(client, fleet, "expert")
    assert (expert["records"], expert["photos"], expert["tablets"]) == (3, 2, 1)


def test_every_problem_of_a_status_is_named_at_once(
    client: TestClient, fleet: Fleet, engine: Engine
) -> None:
    """A limit problem (the app version) beside the plausibility rules (docs/errors.md)."""

    def problems(**change: Any) -> set[tuple[str, str]]:
        answer = client.post(STATUS, json=status_body(**change), headers=fleet.tablet("A"))
        assert answer.status_code == 422, answer.text
        assert "server_time" in answer.json()
        return {(d["field"], d["code"]) for d in answer.json()["detail"]}

    future = "2099-01-01T00:00:00+00:00"
    assert problems(app_version="x" * 41, oldest_pending_captured_at=future) == {
        ("app_version", "too_long"),
        ("oldest_pending_captured_at", "in_future"),
    }
    # two rules, no limit problem
    assert problems(
        oldest_pending_captured_at=future, pending_uploads=0, pending_upload_bytes=100
    ) == {("oldest_pending_captured_at", "in_future"), ("pending_upload_bytes", "invalid")}
    # a rule on a refused field is not judged again
    assert problems(pending_uploads=-1, pending_upload_bytes=100) == {
        ("pending_uploads", "value_range")
    }
    assert problems(pending_uploads=0, pending_upload_bytes=100) == {
        ("pending_upload_bytes", "invalid")
    }
    assert _row(engine, fleet.devices["A"]) is None  # nothing kept


def test_a_tablet_whose_date_is_wrong_is_kept_and_needs_a_call(
    client: TestClient, fleet: Fleet, engine: Engine
) -> None:
    """A tablet a year ahead holds records dated a year ahead. Judged against the server's
    clock its status would be refused and the office would not see it; with its own time
    (``tablet_time``) it is kept, and the office sees how far off the tablet is."""
    ahead = utcnow() + timedelta(days=365)
    body = status_body(
        tablet_time=ahead.isoformat(),
        oldest_pending_captured_at=(ahead - timedelta(days=2)).isoformat(),
    )
    assert client.post(STATUS, json=body, headers=fleet.tablet("A")).status_code == 200
    seen = _devices(client, fleet, "officer_lso")["Tablet A"]
    assert abs(seen["status"]["clock_offset_seconds"] - 365 * 86400) < 60
    assert abs(datetime.fromisoformat(seen["status"]["tablet_time"]) - ahead) < timedelta(seconds=1)
    assert seen["attention"] == ["clock"]

    # Three days behind is a call too; two hours off (a wrong time zone) is not.
    for offset, needs_call in ((timedelta(days=-3), True), (timedelta(hours=2), False)):
        body = status_body(tablet_time=(utcnow() + offset).isoformat())
        assert client.post(STATUS, json=body, headers=fleet.tablet("A")).status_code == 200
        seen = _devices(client, fleet, "hq")["Tablet A"]
        assert ("clock" in seen["attention"]) is needs_call, (offset, seen)

    # A tablet whose clock went back to 1970 holds records of 1970: kept, and a call.
    body = status_body(
        tablet_time="1970-01-05T10:00:00+00:00",
        oldest_pending_captured_at="1970-01-02T09:00:00+00:00",
    )
    assert client.post(STATUS, json=body, headers=fleet.tablet("A")).status_code == 200
    assert _devices(client, fleet, "hq")["Tablet A"]["attention"] == ["clock"]


def test_a_tablet_that_does_not_say_its_time_is_judged_as_before(
    client: TestClient, fleet: Fleet
) -> None:
    """``tablet_time`` is optional: an older app omits it, and nothing is said of its clock."""
    assert client.post(STATUS, json=status_body(), headers=fleet.tablet("A")).status_code == 200
    seen = _devices(client, fleet, "hq")["Tablet A"]
    assert seen["status"]["tablet_time"] is None
    assert seen["status"]["clock_offset_seconds"] is None
    assert seen["attention"] == []
