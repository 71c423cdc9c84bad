"""What waits to be sent, per project (``DeviceStore.waiting_by_project``): counted exactly as
the sync bar counts it for the whole tablet (docs/protocol.md, "What the app shows"), so that
Home's project cards add up to the bar."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.protocol import Change, MutationResult, Op, ResultStatus
from sync.store import DeviceStore, NewPhoto, Waiting


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeviceStore]:
    found = DeviceStore(tmp_path / "tablet.sqlite3")
    yield found
    found.close()


def _activity(project_id: str, title: str = "Field day") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "type": "field_day",
        "title": title,
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "attendance": [],
    }


def _sum(found: dict[str, Waiting]) -> tuple[int, int, int, int]:
    return (
        sum(w.records for w in found.values()),
        sum(w.mutations for w in found.values()),
        sum(w.photos for w in found.values()),
        sum(w.photo_bytes for w in found.values()),
    )


def _whole(store: DeviceStore) -> tuple[int, int, int, int]:
    w = store.waiting()
    return w.records, w.mutations, w.photos, w.photo_bytes


def test_an_unsent_activity_deleted_offline_still_counts_as_waiting(store: DeviceStore) -> None:
    """The field report: two activities saved offline, one deleted: the sync bar said
    "2 records" (the delete waits too), the project card "1 waiting to be sent"."""
    project = str(uuid.uuid4())
    kept, deleted = _activity(project, "Kept"), _activity(project, "Deleted")
    store.save("activity", kept)
    store.save("activity", deleted)
    store.delete_record("activity", deleted["id"])
    assert store.waiting().records == 2
    assert store.waiting_by_project() == {
        project: Waiting(records=2, mutations=3, photos=0, photo_bytes=0)
    }


def test_each_project_counts_its_records_photos_and_decisions_as_the_bar_does(
    store: DeviceStore, tmp_path: Path
) -> None:
    first, second, idle = (str(uuid.uuid4()) for _ in range(3))
    # First project: an activity with two photos, sent and answered; the photos' bytes wait.
    with_photos = _activity(first, "With photos")
    sources = []
    for n in range(2):
        path = tmp_path / f"camera-{n}.jpg"
        path.write_bytes(b"\xff\xd8\xff" + bytes([n + 1]) * (1000 * (n + 1)))
        sources.append(path)
    photos = [
        NewPhoto(id=str(uuid.uuid4()), activity_id=with_photos["id"], source=s, content_type="x")
        for s in sources
    ]
    store.save_all([("activity", with_photos)], photos=photos)
    store.acknowledge(
        [
            MutationResult(seq=m.seq, id=m.id, status=ResultStatus.APPLIED, version=1)
            for m in store.pending()
        ]
    )
    # Then one caption changed: a photo's details count as its activity.
    store.set_caption(photos[0].id, "Seed store")
    # A new site and its activity, and a participant.
    site = {"id": str(uuid.uuid4()), "project_id": first, "name": "Ha Mokhalinyane"}
    store.save_all([("site", site), ("activity", {**_activity(first), "site_id": site["id"]})])
    store.save(
        "participant",
        {"id": str(uuid.uuid4()), "project_id": first, "code": "P-1", "sex": "female"},
    )
    # Second project: a conflict settled "keep theirs" (the decision counts as its record) and
    # an observation.
    clash = _activity(second, "Clash")
    conflict_id = str(uuid.uuid4())
    store.apply_pull(
        [
            Change(entity="activity", id=clash["id"], op=Op.UPSERT, version=2, data=clash),
            Change(
                entity="conflict",
                id=conflict_id,
                op=Op.UPSERT,
                version=1,
                data={
                    "id": conflict_id,
                    "entity": "activity",
                    "entity_id": clash["id"],
                    "status": "open",
                    "fields": ["title"],
                },
            ),
        ],
        cursor="c1",
    )
    store.keep_theirs("activity", clash["id"])
    store.save(
        "observation",
        {"id": str(uuid.uuid4()), "project_id": second, "form_id": str(uuid.uuid4())},
    )
    # A project with nothing waiting is not listed.
    store.apply_pull(
        [
            Change(
                entity="activity", id=(a := _activity(idle))["id"], op=Op.UPSERT, version=1, data=a
            )
        ],
        cursor="c2",
    )

    found = store.waiting_by_project()
    assert found == {
        first: Waiting(records=4, mutations=4, photos=2, photo_bytes=1003 + 2003),
        second: Waiting(records=2, mutations=2, photos=0, photo_bytes=0),
    }
    assert _sum(found) == _whole(store)
