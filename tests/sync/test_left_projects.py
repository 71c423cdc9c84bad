"""A project taken from the tablet's person (docs/protocol.md#pull): the page that starts the
pull again names the projects the tablet serves now, and the tablet forgets what it holds of
any other, but never what is not safe on the server yet."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sync.protocol import Change, MutationResult, Op, ResultStatus
from sync.store import DeviceStore, NewPhoto
from tests.sync.receipts import Issuer, change

KEPT = str(uuid.uuid4())  # the project the person still works on
LEFT = str(uuid.uuid4())  # the project taken away


def _server(entity: str, project_id: str | None, **data: Any) -> Change:
    record = {"id": str(uuid.uuid4()), **data}
    if project_id is not None:
        record["project_id"] = project_id
    return Change(entity=entity, id=record["id"], op=Op.UPSERT, version=1, data=record)


def _project(project_id: str) -> Change:
    return Change(entity="project", id=project_id, op=Op.UPSERT, version=1, data={"id": project_id})


def _activity(project_id: str, title: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "type": "field_day",
        "title": title,
        "start_date": "2025-03-14",
    }


def _applied(store: DeviceStore) -> None:
    store.acknowledge(
        [
            MutationResult(seq=m.seq, id=m.id, status=ResultStatus.APPLIED, version=1)
            for m in store.pending()
        ]
    )


def _refused(store: DeviceStore, field: str, code: str, message: str) -> None:
    """The server refuses every pending mutation, at ``field``."""
    store.acknowledge(
        [
            MutationResult(
                seq=m.seq,
                id=m.id,
                status=ResultStatus.REJECTED,
                errors=[{"field": field, "code": code, "message": message}],
            )
            for m in store.pending()
        ]
    )


def _held(store: DeviceStore) -> set[tuple[str, str]]:
    entities = ("project", "site", "target", "activity", "participant", "form", "attachment")
    return {(entity, r["id"]) for entity in entities for r in store.records(entity)}


def test_what_the_server_sent_of_a_project_taken_away_is_forgotten(
    store: DeviceStore,
) -> None:
    kept = [_project(KEPT), _server("site", KEPT), _server("activity", KEPT, title="Ours")]
    left = [
        _server("site", LEFT),
        _server("target", LEFT),
        _server("activity", LEFT, title="Theirs"),
        _server("participant", LEFT, name="Mpho Mokoena"),
        _server("form", LEFT, code="yield"),
    ]
    global_form = _server("form", None, code="adoption")
    store.apply_pull([*kept, _project(LEFT), *left, global_form], "c1", projects=[KEPT, LEFT])
    assert len(_held(store)) == 10
    # The person loses the project: the pull starts again and names only the other.
    store.apply_pull(kept, "c2", projects=[KEPT])
    assert _held(store) == {(c.entity, c.id) for c in [*kept, global_form]}
    # A page that carries on says nothing of the scope: what was kept stays.
    store.apply_pull([], "c3")
    assert _held(store) == {(c.entity, c.id) for c in [*kept, global_form]}


def test_nothing_not_yet_safe_on_the_server_is_forgotten_nor_its_project(
    store: DeviceStore, issuer: Issuer, tmp_path: Path
) -> None:
    draft = _activity(LEFT, "Draft")
    waiting = _activity(LEFT, "Waiting to go")
    sent = _activity(LEFT, "Sent, no receipt yet")
    covered = _activity(LEFT, "Sent and covered")
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"\xff\xd8\xff" + b"\x01" * 2000)
    photo = NewPhoto(
        id=str(uuid.uuid4()), activity_id=covered["id"], source=source, content_type="image/jpeg"
    )
    store.apply_pull([_project(LEFT)], "c1", projects=[LEFT])
    store.save_all([("activity", sent), ("activity", covered)], photos=[photo])
    _applied(store)
    for upload in store.uploads(state="waiting"):
        store.finish_upload(upload.id, state="done")
    stored_photo = store.uploads(state="done")[0].path
    receipt = change(issuer.covering(store, covered["id"], version=1))
    store.apply_pull([receipt], "c2")
    store.save("activity", draft, draft=True)
    store.save("activity", waiting)

    store.apply_pull([], "c3", projects=[KEPT])
    assert store.get("activity", covered["id"]) is None
    assert store.get("attachment", photo.id) is None and not stored_photo.exists()
    assert store.receipt("activity", covered["id"]) is not None  # the proof stays
    for record in (draft, waiting, sent):
        assert store.get("activity", record["id"]) is not None, record["title"]
    assert store.get("project", LEFT) is not None  # its records still need it

    # The waiting one is refused (out of scope), the draft deleted, the receipt of the sent
    # one arrives: the refused record, shown with its reason, still keeps the project.
    _refused(store, "project_id", "out_of_scope", "not yours")
    store.delete_record("activity", draft["id"])
    store.apply_pull([change(issuer.covering(store, sent["id"], version=1))], "c4")
    assert store.get("activity", sent["id"]) is None
    assert store.state("activity", waiting["id"]) == "rejected"
    assert store.get("project", LEFT) is not None

    # The expert deletes the refused record; the server, which never had it, has nothing to
    # delete: nothing is left to lose, and the project goes with it.
    store.delete_record("activity", waiting["id"])
    _refused(store, "id", "not_found", "nothing to delete")
    store.apply_pull([], "c5")
    assert store.get("project", LEFT) is None
    assert store.records("activity", include_deleted=True) == []
