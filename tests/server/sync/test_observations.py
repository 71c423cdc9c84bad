"""Observations through sync (docs/results.md#observations, docs/protocol.md#push): exactly
once, checked against their form version, merged per answer, reviewed, deleted by tombstone,
with photos; pulled with the forms to the devices of their projects only."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.activities.models import Attachment
from server.columns import as_utc
from server.records.models import AuditEntry, Change, RecordRevision
from server.results.models import Form, Observation
from server.results.observations import (
    observation_wire,
    register_after_write,
    unregister_after_write,
)
from server.sync.models import KeptMutation, SyncConflict
from tests.factories import (
    make_access_token,
    make_device,
    make_observation_form,
    make_user,
    observation_data,
)
from tests.photos import PNG_HEAD
from tests.server.sync.conftest import Field, mutation, pull_all, push

PNG = PNG_HEAD + b"\x00" * 200


@pytest.fixture
def form(engine: Engine) -> Form:
    with Session(engine, expire_on_commit=False) as session:
        form = make_observation_form(session)
        session.commit()
        return form


def _officer(engine: Engine, field: Field) -> dict[str, str]:
    with Session(engine) as session:
        token = make_access_token(session, field.officer)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def _observation(engine: Engine, observation_id: str) -> Observation:
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Observation, uuid.UUID(observation_id))
        assert row is not None
        session.expunge(row)
        return row


def _result(response: Any, index: int = 0) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["results"][index]


def _new(client: TestClient, field: Field, form: Form, seq: int = 1, **over: Any) -> str:
    data = observation_data(field.project, form, **over)
    answer = _result(push(client, field, [mutation(seq, data, entity="observation")]))
    assert answer["status"] == "applied", answer
    assert answer["version"] == 1
    return str(data["id"])


def test_a_new_observation_sent_approved_or_on_a_base_the_server_lacks_is_rejected(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    approved = observation_data(field.project, form, status="approved")
    ahead = observation_data(field.project, form)
    batch = [
        mutation(1, approved, entity="observation"),
        mutation(2, ahead, entity="observation", base_version=3),
    ]
    response = push(client, field, batch)
    assert [[(e["field"], e["code"]) for e in _result(response, n)["errors"]] for n in (0, 1)] == [
        [("status", "status_not_allowed")],
        [("base_version", "base_ahead")],
    ]
    with Session(engine) as session:
        ids = [uuid.UUID(str(approved["id"])), uuid.UUID(str(ahead["id"]))]
        assert session.execute(select(Observation).where(col(Observation.id).in_(ids))).all() == []


# --- exactly once: new, edit, delete --------------------------------------------------------


def test_a_new_observation_is_written_once_with_revision_change_and_audit(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    data = observation_data(field.project, form, site_id=str(field.site.id))
    batch = [mutation(1, data, entity="observation")]
    first = _result(push(client, field, batch))
    again = _result(push(client, field, batch))
    assert first["status"] == "applied" and again["status"] == "duplicate"
    row = _observation(engine, data["id"])
    assert row.version == 1 and row.status == "submitted"
    assert row.values == {
        "plot": "demo",
        "harvest_kg": 420.5,
        "plot_area_m2": 1000,
        "practice": "CA",
    }
    assert row.created_by_id == field.expert.id and row.device_id == field.device.id
    with Session(engine) as session:
        revisions = (
            session.execute(select(RecordRevision).where(col(RecordRevision.entity_id) == row.id))
            .scalars()
            .all()
        )
        # Version 1 lives in the row until a later version supersedes it.
        assert revisions == [] and row.created_via == "push"
        logged = session.execute(
            select(col(Change.entity), col(Change.project_id), col(Change.device_id))
            .where(col(Change.entity_id) == row.id)
            .order_by(col(Change.seq))
        ).all()
        # The version for every tablet of the project; the pushing tablet's custody receipt
        # travels with it (docs/protocol.md#custody-receipts).
        assert logged == [("observation", field.project.id, None)]
        audit = session.execute(
            select(AuditEntry).where(col(AuditEntry.entity_id) == str(row.id))
        ).scalar_one()
        assert audit.action == "create" and audit.device_id == field.device.id
    [first] = _history(client, engine, field, data["id"])
    assert first["data"] == observation_wire(row)
    assert first["data"]["values"] == row.values and first["data"]["status"] == "submitted"
    assert (first["version"], first["source"], first["author"], first["device_id"]) == (
        1,
        "push",
        field.expert.username,
        str(field.device.id),
    )


def _history(client: TestClient, engine: Engine, field: Field, observation_id: str) -> Any:
    response = client.get(
        f"/api/v1/observations/{observation_id}/revisions", headers=_officer(engine, field)
    )
    assert response.status_code == 200, response.text
    return response.json()


def _stored_versions(engine: Engine, observation_id: str) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        return [
            (r.version, r.source, r.author_id, r.device_id, r.data)
            for r in session.execute(
                select(RecordRevision)
                .where(col(RecordRevision.entity_id) == uuid.UUID(observation_id))
                .order_by(col(RecordRevision.version))
            ).scalars()
        ]


def test_an_edit_and_a_delete_move_the_version_and_a_replay_changes_nothing(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    observation_id = _new(client, field, form)
    [first] = _history(client, engine, field, observation_id)
    assert _stored_versions(engine, observation_id) == []
    edit = mutation(
        2,
        {"values": {"plot": "demo", "harvest_kg": 500, "practice": "CA"}, "notes": "re-weighed"},
        entity="observation",
        id=observation_id,
        base_version=1,
    )
    assert _result(push(client, field, [edit]))["version"] == 2
    row = _observation(engine, observation_id)
    # The whole values replace the answers: plot_area_m2 was cleared by the tablet.
    assert row.values == {"plot": "demo", "harvest_kg": 500, "practice": "CA"}
    assert row.notes == "re-weighed"
    # The edit wrote version 1's revision (the state before it, as the history showed it), then
    # its own; the history answers the same for version 1.
    stored = _stored_versions(engine, observation_id)
    assert [v[:4] for v in stored] == [
        (1, "push", field.expert.id, field.device.id),
        (2, "push", field.expert.id, field.device.id),
    ]
    assert stored[0][4] == first["data"] and stored[1][4]["notes"] == "re-weighed"
    history = _history(client, engine, field, observation_id)
    assert history[0] == first and [h["version"] for h in history] == [1, 2]
    delete = mutation(3, None, entity="observation", op="delete", id=observation_id, base_version=2)
    assert _result(push(client, field, [delete]))["status"] == "applied"
    assert _result(push(client, field, [edit, delete]), 1)["status"] == "duplicate"
    row = _observation(engine, observation_id)
    assert row.deleted and row.version == 3
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["id"] == observation_id and c["entity"] == "observation"]
    assert pulled["op"] == "delete" and pulled["version"] == 3


def test_the_capture_time_keeps_its_instant_whatever_its_offset(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    """A tablet five hours behind UTC saves at 23:30 on the 21st: that is 04:30 UTC on the
    22nd, on both backends, new and edited (SQLite keeps no offset: the server must write the
    instant in UTC, not the wall time)."""
    observation_id = _new(client, field, form, captured_at="2026-11-21T23:30:00-05:00")
    row = _observation(engine, observation_id)
    assert as_utc(row.captured_at) == datetime(2026, 11, 22, 4, 30, tzinfo=UTC)
    answer = client.get(f"/api/v1/observations/{observation_id}", headers=_officer(engine, field))
    assert answer.status_code == 200, answer.text
    seen = datetime.fromisoformat(answer.json()["captured_at"].replace("Z", "+00:00"))
    assert seen == datetime(2026, 11, 22, 4, 30, tzinfo=UTC)

    edit = mutation(
        2,
        {"captured_at": "2026-11-23T09:15:00+05:45"},
        entity="observation",
        id=observation_id,
        base_version=1,
    )
    assert _result(push(client, field, [edit]))["version"] == 2
    row = _observation(engine, observation_id)
    assert as_utc(row.captured_at) == datetime(2026, 11, 23, 3, 30, tzinfo=UTC)


# --- bad input: rejected with codes, the data kept ------------------------------------------


@pytest.mark.parametrize(
    ("values", "field_name", "code"),
    [
        (
            {"plot": "demo", "harvest_kg": 1, "practice": "CA", "colour": "red"},
            "values.colour",
            "unknown_field",
        ),
        (
            {"plot": "demo", "harvest_kg": "heavy", "practice": "CA"},
            "values.harvest_kg",
            "not_number",
        ),
        (
            {"plot": "demo", "harvest_kg": 1, "practice": "CA", "plot_area_m2": 2.5},
            "values.plot_area_m2",
            "not_integer",
        ),
        ({"plot": "demo", "harvest_kg": -3, "practice": "CA"}, "values.harvest_kg", "value_range"),
        ({"plot": "control", "harvest_kg": 1, "practice": "CA"}, "values.practice", "not_asked"),
        ({"plot": "demo", "harvest_kg": 1}, "values.practice", "required"),
        ({"plot": "mixed", "harvest_kg": 1}, "values.plot", "unknown_code"),
        (
            {"plot": "demo", "harvest_kg": 1, "practice": "CA", "irrigated": "yes"},
            "values.irrigated",
            "not_boolean",
        ),
        (
            {"plot": "demo", "harvest_kg": 1, "practice": "CA", "harvest_date": "2019-12-31"},
            "values.harvest_date",
            "date_implausible",
        ),
    ],
)
def test_answers_that_do_not_fit_the_form_version_are_rejected_and_kept(
    client: TestClient,
    field: Field,
    form: Form,
    engine: Engine,
    values: dict[str, Any],
    field_name: str,
    code: str,
) -> None:
    data = observation_data(field.project, form, values=values)
    answer = _result(push(client, field, [mutation(1, data, entity="observation")]))
    assert answer["status"] == "rejected"
    assert (field_name, code) in [(e["field"], e["code"]) for e in answer["errors"]], answer
    with Session(engine) as session:
        assert session.get(Observation, uuid.UUID(data["id"])) is None
        kept = session.execute(select(KeptMutation)).scalar_one()
        assert kept.entity == "observation" and kept.data == data


def test_an_answer_above_the_answer_bounding_it_is_rejected(
    client: TestClient, field: Field, engine: Engine
) -> None:
    """12 farmers applying a practice of 5 visited: refused on the server as on the tablet."""
    with Session(engine, expire_on_commit=False) as session:
        form = make_observation_form(
            session,
            fields=[
                {"name": "visited", "type": "integer", "label": {"en": "Visited"}, "min": 0},
                {
                    "name": "applying",
                    "type": "integer",
                    "label": {"en": "Applying"},
                    "min": 0,
                    "max": "${visited}",
                },
            ],
        )
        session.commit()
    too_many = observation_data(field.project, form, values={"visited": 5, "applying": 12})
    fine = observation_data(field.project, form, values={"visited": 5, "applying": 5})
    response = push(
        client,
        field,
        [mutation(1, too_many, entity="observation"), mutation(2, fine, entity="observation")],
    )
    refused, applied = _result(response, 0), _result(response, 1)
    assert refused["status"] == "rejected"
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("values.applying", "above_field")
    ]
    assert applied["status"] == "applied", applied
    assert _observation(engine, fine["id"]).values == {"visited": 5, "applying": 5}


def test_unknown_forms_versions_and_retired_forms(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    unknown = observation_data(field.project, form, form_id=str(uuid.uuid4()))
    no_version = observation_data(field.project, form, form_version=7)
    with Session(engine, expire_on_commit=False) as session:
        draft = make_observation_form(session, code=form.code, version=2, status="draft")
        foreign = make_observation_form(session, project=field.other_project)
        session.commit()
    drafted = observation_data(field.project, form, form_id=str(draft.id), form_version=2)
    theirs = observation_data(field.project, foreign)
    batch = [
        mutation(i + 1, d, entity="observation")
        for i, d in enumerate([unknown, no_version, drafted, theirs])
    ]
    results = push(client, field, batch).json()["results"]
    assert [(r["status"], r["errors"][0]["field"], r["errors"][0]["code"]) for r in results] == [
        ("rejected", "form_id", "unknown_form"),
        ("rejected", "form_version", "unknown_form_version"),
        ("rejected", "form_version", "unknown_form_version"),
        ("rejected", "form_id", "unknown_form"),
    ]
    # Retired: no new observation, but an existing one stays editable.
    existing = _new(client, field, form, seq=5)
    with Session(engine) as session:
        row = session.get(Form, form.id)
        assert row is not None
        row.status = "retired"
        session.commit()
    late = observation_data(field.project, form)
    refused = _result(push(client, field, [mutation(6, late, entity="observation")]))
    assert refused["status"] == "rejected"
    assert refused["errors"][0]["code"] == "form_retired"
    edit = mutation(
        7,
        {"values": {"plot": "demo", "harvest_kg": 9, "practice": "CA"}},
        entity="observation",
        id=existing,
        base_version=1,
    )
    assert _result(push(client, field, [edit]))["status"] == "applied"


def test_malformed_observations_are_rejected_never_a_server_error(
    client: TestClient, field: Field, form: Form
) -> None:
    good = observation_data(field.project, form)
    cases = [
        {**good, "values": "many"},
        {**good, "values": {"plot": ["demo"], "harvest_kg": {"kg": 1}}},
        {**good, "form_version": "one"},
        {**good, "form_id": "nope"},
        {**good, "observed_on": "yesterday"},
        {**good, "observed_on": "2999-01-01"},
        {**good, "project_id": str(field.other_project.id)},
        {**good, "site_id": str(uuid.uuid4())},
        {**good, "activity_id": str(uuid.uuid4())},
        {**good, "values": {"plot": "demo\x00", "harvest_kg": 10**400}},
    ]
    batch = [
        mutation(i + 1, {**c, "id": str(uuid.uuid4())}, entity="observation")
        for i, c in enumerate(cases)
    ]
    response = push(client, field, batch)
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["rejected"] * len(cases)
    assert all(r["errors"] and r["errors"][0]["code"] for r in response.json()["results"])
    # Not JSON at all: Infinity.
    body = '{"protocol": 1, "device_id": "%s", "mutations": [{"seq": 11, "entity": "observation",'
    body += ' "op": "upsert", "id": "%s", "base_version": 0, "data": {"values": {"x": Infinity}}}]}'
    refused = client.post(
        "/api/v1/sync/push",
        content=body % (field.device.id, uuid.uuid4()),
        headers=field.headers(),
    )
    assert refused.status_code == 422 and refused.json()["code"] == "bad_body"


# --- the three-way merge, each answer one field ---------------------------------------------


def _edit_by_teammate_officer(
    client: TestClient, field: Field, engine: Engine, observation_id: str, changes: dict[str, Any]
) -> None:
    """Someone else (an officer's tablet) changes the observation on the server."""
    with Session(engine) as session:
        device, token = make_device(session, field.officer)
        session.commit()
        session.refresh(device)
        device_id = device.id
    body = {
        "protocol": 1,
        "device_id": str(device_id),
        "mutations": [
            mutation(1, changes, entity="observation", id=observation_id, base_version=1)
        ],
    }
    answer = client.post(
        "/api/v1/sync/push", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.json()["results"][0]["status"] == "applied", answer.text


def _answers(**values: Any) -> dict[str, Any]:
    return {"plot": "demo", "harvest_kg": 420.5, "plot_area_m2": 1000, "practice": "CA", **values}


def test_edits_of_different_answers_merge(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    observation_id = _new(client, field, form)
    _edit_by_teammate_officer(
        client, field, engine, observation_id, {"values": _answers(harvest_kg=450)}
    )
    # The tablet, still at version 1, sends its whole record with another answer changed.
    mine = observation_data(
        field.project, form, id=observation_id, values=_answers(plot_area_m2=900)
    )
    answer = _result(push(client, field, [mutation(2, mine, entity="observation", base_version=1)]))
    assert answer["status"] == "merged" and answer["version"] == 3
    row = _observation(engine, observation_id)
    assert row.values == _answers(harvest_kg=450, plot_area_m2=900)


def test_the_same_answer_changed_on_both_sides_is_a_conflict_with_three_values(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    observation_id = _new(client, field, form)
    _edit_by_teammate_officer(
        client, field, engine, observation_id, {"values": _answers(harvest_kg=450)}
    )
    mine = {"values": _answers(harvest_kg=470, plot_area_m2=900)}
    answer = _result(
        push(
            client,
            field,
            [mutation(2, mine, entity="observation", id=observation_id, base_version=1)],
        )
    )
    assert answer["status"] == "conflict"
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [
        ("values.harvest_kg", "edit_conflict")
    ]
    row = _observation(engine, observation_id)
    assert row.values == _answers(harvest_kg=450, plot_area_m2=900)  # the rest merged
    with Session(engine) as session:
        conflict = session.execute(select(SyncConflict)).scalar_one()
        assert conflict.entity == "observation" and conflict.fields == ["values.harvest_kg"]
        assert conflict.base_values == {"values.harvest_kg": 420.5}
        assert conflict.server_values == {"values.harvest_kg": 450}
        assert conflict.device_values == {"values.harvest_kg": 470}
        conflict_id = str(conflict.id)
    # The office keeps the tablet's value: a new version, checked against the form.
    headers = _officer(engine, field)
    url = f"/api/v1/conflicts/{conflict_id}/resolve"
    bad = client.post(
        url, json={"keep": "custom", "values": {"values.harvest_kg": -1}}, headers=headers
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["code"] == "value_range"
    good = client.post(url, json={"keep": "device"}, headers=headers)
    assert good.status_code == 200, good.text
    row = _observation(engine, observation_id)
    assert row.values["harvest_kg"] == 470 and row.version == 4
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["id"] == observation_id and c["entity"] == "observation"]
    assert pulled["data"]["values"]["harvest_kg"] == 470


def test_a_stale_whole_record_only_changes_what_the_tablet_changed(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    """The stale-base rule: an answer sent back as the tablet saw it is not a change."""
    observation_id = _new(client, field, form)
    _edit_by_teammate_officer(
        client,
        field,
        engine,
        observation_id,
        {"values": _answers(harvest_kg=450, irrigated=True), "notes": "office note"},
    )
    stale = observation_data(field.project, form, id=observation_id, values=_answers())
    answer = _result(
        push(client, field, [mutation(2, stale, entity="observation", base_version=1)])
    )
    assert answer["status"] == "merged", answer["errors"]
    row = _observation(engine, observation_id)
    assert row.values == _answers(harvest_kg=450, irrigated=True)
    assert row.notes == "office note" and row.version == 2  # nothing to write
    # Deleting from the stale base is a conflict: someone else changed the record.
    delete = mutation(3, None, entity="observation", op="delete", id=observation_id, base_version=1)
    assert _result(push(client, field, [delete]))["status"] == "conflict"
    assert not _observation(engine, observation_id).deleted


# --- review ---------------------------------------------------------------------------------


def test_review_flow_and_the_lock_on_approved_observations(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    observation_id = _new(client, field, form)
    headers = _officer(engine, field)
    url = f"/api/v1/observations/{observation_id}/review"
    no_comment = client.post(url, json={"action": "return"}, headers=headers)
    assert no_comment.status_code == 422 and no_comment.json()["detail"][0]["field"] == "comment"
    returned = client.post(
        url, json={"action": "return", "comment": "weigh again"}, headers=headers
    )
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    assert returned.json()["reviews"][0]["comment"] == "weigh again"
    # The tablet fixes it after seeing the return: it is submitted again.
    fix = mutation(
        2,
        {"values": _answers(harvest_kg=430)},
        entity="observation",
        id=observation_id,
        base_version=2,
    )
    assert _result(push(client, field, [fix]))["version"] == 3
    assert _observation(engine, observation_id).status == "submitted"
    approved = client.post(url, json={"action": "approve"}, headers=headers)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = client.post(url, json={"action": "return", "comment": "x"}, headers=headers)
    assert again.status_code == 409
    locked = mutation(
        3, {"notes": "late edit"}, entity="observation", id=observation_id, base_version=4
    )
    answer = _result(push(client, field, [locked]))
    assert answer["status"] == "rejected" and answer["version"] == 4
    assert answer["errors"][0] == {**answer["errors"][0], "field": "status", "code": "locked"}
    reopened = client.post(url, json={"action": "reopen"}, headers=headers)
    assert reopened.status_code == 200 and reopened.json()["status"] == "submitted"
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["id"] == observation_id and c["entity"] == "observation"]
    assert pulled["data"]["status"] == "submitted"
    assert [r["action"] for r in pulled["data"]["reviews"]] == ["return", "approve", "reopen"]
    with Session(engine) as session:
        actions = (
            session.execute(
                select(col(AuditEntry.action))
                .where(col(AuditEntry.entity_id) == observation_id)
                .order_by(col(AuditEntry.id))
            )
            .scalars()
            .all()
        )
        assert actions == ["create", "return", "update", "approve", "reopen"]


def test_field_experts_change_only_their_own_observations(
    client: TestClient, field: Field, form: Form
) -> None:
    observation_id = _new(client, field, form)
    edit = mutation(
        1, {"notes": "mine now"}, entity="observation", id=observation_id, base_version=1
    )
    answer = _result(
        push(client, field, [edit], device=field.teammate_device, token=field.teammate_token)
    )
    assert answer["status"] == "rejected" and answer["errors"][0]["code"] == "not_your_record"


# --- pull: forms and observations to the right devices only ---------------------------------


def test_pull_hands_forms_and_observations_to_the_devices_of_their_projects(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        own = make_observation_form(session, project=field.project)
        theirs = make_observation_form(session, project=field.other_project)
        draft = make_observation_form(session, status="draft")
        outsider = make_user(session, projects=[field.other_project])
        device, token = make_device(session, outsider)
        session.commit()
    observation_id = _new(client, field, form)
    changes, cursor = pull_all(client, field)
    forms = {c["id"] for c in changes if c["entity"] == "form"}
    assert {str(form.id), str(own.id)} <= forms
    assert str(theirs.id) not in forms and str(draft.id) not in forms
    [pulled] = [c for c in changes if c["entity"] == "observation"]
    assert pulled["id"] == observation_id and pulled["version"] == 1
    assert pulled["data"]["values"]["harvest_kg"] == 420.5
    assert pulled["data"]["created_by_id"] == str(field.expert.id)
    assert pulled["data"]["form_version"] == 1 and pulled["data"]["reviews"] == []
    [form_change] = [c for c in changes if c["id"] == str(form.id)]
    assert form_change["data"]["code"] == form.code and form_change["data"]["fields"]

    # The other project's tablet gets its own form and the global one, not this observation.
    other = client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {token}"}).json()
    ids = {c["id"] for c in other["changes"]}
    assert str(theirs.id) in ids and str(form.id) in ids
    assert str(own.id) not in ids and observation_id not in ids
    assert device.id

    # A global form published later reaches every tablet through the change log (project NULL),
    # a project's form only that project's tablets.
    with Session(engine, expire_on_commit=False) as session:
        later = make_observation_form(session)
        mine_later = make_observation_form(session, project=field.other_project)
        for row in (later, mine_later):
            session.add(
                Change(
                    entity="form",
                    entity_id=row.id,
                    op="upsert",
                    version=1,
                    project_id=row.project_id,
                )
            )
        session.commit()
    fresh, _ = pull_all(client, field, cursor=cursor)
    assert [c["id"] for c in fresh if c["entity"] == "form"] == [str(later.id)]


# --- photos of observations -----------------------------------------------------------------


def test_a_photo_belongs_to_an_observation(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    observation_id = _new(client, field, form)
    photo: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "observation_id": observation_id,
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "size": len(PNG),
        "content_type": "image/png",
        "caption": "the scale",
    }
    both = {**photo, "id": str(uuid.uuid4()), "activity_id": str(uuid.uuid4())}
    nowhere = {**photo, "id": str(uuid.uuid4()), "observation_id": str(uuid.uuid4())}
    results = push(
        client,
        field,
        [
            mutation(2, photo, entity="attachment"),
            mutation(3, both, entity="attachment"),
            mutation(4, nowhere, entity="attachment"),
        ],
    ).json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "rejected"]
    assert results[1]["errors"][0]["field"] == "observation_id"
    assert (results[2]["errors"][0]["field"], results[2]["errors"][0]["code"]) == (
        "observation_id",
        "not_found",
    )
    url = f"/api/v1/attachments/{photo['id']}"
    sent = client.patch(url, content=PNG, headers={**field.headers(), "Upload-Offset": "0"})
    assert sent.status_code == 200 and sent.json()["complete"], sent.text
    headers = _officer(engine, field)
    assert client.get(url, headers=headers).content == PNG
    detail = client.get(f"/api/v1/observations/{observation_id}", headers=headers).json()
    assert [a["id"] for a in detail["attachments"]] == [photo["id"]]
    # The photo's observation is fixed once sent; another person's tablet may not add bytes.
    moved = {**photo, "observation_id": str(uuid.uuid4())}
    answer = _result(push(client, field, [mutation(5, moved, entity="attachment", base_version=2)]))
    assert answer["status"] == "rejected" and answer["errors"][0]["code"] == "not_changeable"
    changes, _ = pull_all(client, field)
    [pulled] = [c for c in changes if c["id"] == photo["id"]]
    assert pulled["data"]["observation_id"] == observation_id and pulled["data"]["complete"]
    assert pulled["data"]["activity_id"] is None
    with Session(engine) as session:
        row = session.get(Attachment, uuid.UUID(photo["id"]))
        assert row is not None and row.activity_id is None


def test_an_after_write_hook_sees_each_write_before_and_after(
    client: TestClient, field: Field, form: Form
) -> None:
    seen: list[tuple[Any, Any]] = []

    def hook(session: Session, before: list[Any], after: list[Any]) -> None:
        assert session.in_transaction()
        seen.extend(zip(before, after, strict=True))

    register_after_write(hook)
    register_after_write(hook)  # once is enough
    try:
        observation_id = _new(client, field, form)
        delete = mutation(
            2, None, entity="observation", op="delete", id=observation_id, base_version=1
        )
        push(client, field, [delete])
    finally:
        unregister_after_write(hook)
    assert [(b and b["version"], a["version"], a["deleted"]) for b, a in seen] == [
        (None, 1, False),
        (1, 2, True),
    ]
    assert seen[0][1]["values"]["harvest_kg"] == 420.5


def test_no_change_log_entry_is_lost_for_observations(
    client: TestClient, field: Field, form: Form, engine: Engine
) -> None:
    ids = [_new(client, field, form, seq=i + 1) for i in range(3)]
    with Session(engine) as session:
        count = session.execute(
            select(func.count()).select_from(Change).where(col(Change.entity) == "observation")
        ).scalar_one()
    assert count == len(ids)
