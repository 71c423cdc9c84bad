"""A person's new scope reaches their tablet (docs/roles.md#changing-a-persons-scope): the
real sync client against the in-process server, the scope changed over the API in between."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.activities.service import write_activity
from tests.factories import detach, make_access_token, make_user
from tests.server.sync.conftest import Field, field, mutation, push  # noqa: F401
from tests.sync.conftest import Tablet, make_tablet  # noqa: F401


def _office_records(engine: Engine, data: dict[str, object]) -> None:
    """An activity the office records on the server (not a tablet)."""
    with Session(engine) as session:
        write_activity(session, data=data, existing=None, source="api", author_id=None)
        session.commit()


def _move_to_the_other_project(client: TestClient, session: Session, field: Field) -> None:  # noqa: F811
    """An admin gives the field expert the other project instead of theirs."""
    admin = make_user(session, role="admin", countries=[])
    token = make_access_token(session, admin)
    session.commit()
    detach(session)
    moved = client.patch(
        f"/api/v1/users/{field.expert.id}",
        json={"projects": [field.other_project.code]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert moved.status_code == 200, moved.text


def test_after_a_scope_change_the_next_pull_brings_the_new_project_and_not_the_old(
    client: TestClient,
    session: Session,
    engine: Engine,
    field: Field,  # noqa: F811
    make_tablet: Callable[..., Tablet],  # noqa: F811
) -> None:
    store, tablet, _ = make_tablet(str(field.device.id), field.token)
    ours = field.activity(title="Potato storage day")
    store.save("activity", ours)
    assert tablet.sync_once().pushed == {"applied": 1}
    kenyan = field.activity(project_id=str(field.other_project.id), title="Hermetic bags")
    _office_records(engine, kenyan)
    tablet.sync_once()
    assert store.get("project", str(field.project.id)) is not None
    assert store.get("project", str(field.other_project.id)) is None
    assert store.get("activity", kenyan["id"]) is None

    _move_to_the_other_project(client, session, field)

    # The next pull starts again (the cursor's scope digest no longer matches) and brings the
    # new project with its records, made before the change.
    report = tablet.sync_once()
    assert report.error is None, report.error
    assert store.get("project", str(field.other_project.id)) is not None
    pulled = store.get("activity", kenyan["id"])
    assert pulled is not None and pulled["title"] == "Hermetic bags"
    # The project taken away is forgotten with its records, as its activity is safe on the
    # server: its receipt, kept as proof, came with the first sync.
    assert store.receipt("activity", ours["id"]) is not None
    assert store.get("activity", ours["id"]) is None
    assert store.get("project", str(field.project.id)) is None
    assert store.custody().safe_to_wipe

    # The project taken away sends nothing more: the teammate's new day there stays away …
    teammates = field.activity(title="Teammate's field day")
    answer = push(
        client,
        field,
        [mutation(1, teammates)],
        device=field.teammate_device,
        token=field.teammate_token,
    )
    assert answer.status_code == 200, answer.text
    tablet.sync_once()
    assert store.get("activity", teammates["id"]) is None
    # … and what the tablet records for it now is refused, kept on the tablet with the reason.
    late = field.activity(title="Recorded after the move")
    store.save("activity", late)
    tablet.sync_once()
    assert store.state("activity", late["id"]) == "rejected"
    assert [e["code"] for e in store.errors("activity", late["id"])] == ["out_of_scope"]


def test_a_record_taken_just_before_its_project_was_taken_away_gets_its_receipt(
    client: TestClient,
    session: Session,
    field: Field,  # noqa: F811
    make_tablet: Callable[..., Tablet],  # noqa: F811
) -> None:
    """The server took the tablet's record, then the person lost its project before the tablet
    pulled: the record's change no longer reaches the tablet, its receipt does, on the page
    that restarts it, and the tablet can forget the record as safe."""
    store, tablet, _ = make_tablet(str(field.device.id), field.token)
    tablet.sync_once()  # enrolled keys, a first pull
    last = field.activity(title="Last day before the move")
    store.save("activity", last)
    assert tablet.push().pushed == {"applied": 1}
    assert store.receipt("activity", last["id"]) is None
    assert not store.custody().safe_to_wipe

    _move_to_the_other_project(client, session, field)
    report = tablet.sync_once()
    assert report.error is None, report.error
    receipt = store.receipt("activity", last["id"])
    assert receipt is not None and receipt["version"] == 1
    assert store.get("activity", last["id"]) is None
    assert store.get("project", str(field.project.id)) is None
    assert store.custody().safe_to_wipe

    # Receipts of the project left behind come on that page only, not on every pull.
    pulled = client.get(
        "/api/v1/sync/pull",
        params={"cursor": store.cursor},
        headers={"Authorization": f"Bearer {field.token}"},
    )
    assert pulled.status_code == 200, pulled.text
    assert [c for c in pulled.json()["changes"] if c["entity"] == "receipt"] == []
