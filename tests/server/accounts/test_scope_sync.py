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
