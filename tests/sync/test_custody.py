"""Custody receipts on the tablet (docs/protocol.md#custody-receipts): receipts are verified
offline against the pinned keys, a record is "safe on the server" only when a receipt covers its
latest change and every photo this tablet holds of it, and the tablet is "safe to wipe" only when
nothing waits and everything it holds is covered."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.custody import RECEIPTS_FORMAT, KeyLearner, save_receipts
from sync.protocol import Change, MutationResult, Op, ResultStatus
from sync.store import DeviceStore, NewPhoto
from tests.sync.receipts import Issuer, change


def _activity(**overrides: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "type": "field_day",
        "title": "Field day at Roma",
        "start_date": "2025-03-14",
        "captured_at": "2025-03-14T09:30:00+02:00",
        **overrides,
    }


def _photo(tmp_path: Path, activity_id: str, n: int) -> NewPhoto:
    source = tmp_path / f"photo-{uuid.uuid4()}.jpg"
    source.write_bytes(b"\xff\xd8\xff" + bytes([n]) * (1000 + n))
    return NewPhoto(
        id=str(uuid.uuid4()), activity_id=activity_id, source=source, content_type="image/jpeg"
    )


def _answer_all(store: DeviceStore, versions: dict[str, int]) -> None:
    """The server applies every pending mutation: a record at the version given for it (1 by
    default), as a push answer."""
    store.acknowledge(
        [
            MutationResult(
                seq=m.seq,
                id=m.id,
                status=ResultStatus.APPLIED,
                version=versions.get(str(m.id), 1),
            )
            for m in store.pending()
        ]
    )


def _uploaded(store: DeviceStore) -> None:
    for upload in store.uploads(state="waiting"):
        store.finish_upload(upload.id, state="done")


def _pulled(store: DeviceStore, record: dict[str, Any], version: int, *more: Change) -> int:
    page = [Change(entity="activity", id=record["id"], op=Op.UPSERT, version=version, data=record)]
    return store.apply_pull([*page, *more], cursor=f"c{version}-{uuid.uuid4()}")


def _safe(store: DeviceStore, record_id: str) -> bool:
    found = store.query("activity", ids=[record_id], custody=True)
    return bool(found and found[0].safe)


def test_a_record_with_three_photos_is_safe_only_once_a_receipt_lists_all_three(
    store: DeviceStore, issuer: Issuer, tmp_path: Path
) -> None:
    record = _activity()
    photos = [_photo(tmp_path, record["id"], n) for n in range(3)]
    saved = datetime.now(UTC).replace(microsecond=0)
    store.save_all([("activity", record)], photos=photos)
    custody = store.custody()
    assert (custody.records, custody.photos, custody.safe_to_wipe) == (1, 3, False)
    # Dated by when it was saved here, not by its capture time (14 March 2025).
    assert custody.oldest is not None and datetime.fromisoformat(custody.oldest) >= saved

    _answer_all(store, {})
    _uploaded(store)
    _pulled(store, record, 1)
    assert not _safe(store, record["id"])
    assert store.custody().records == 1  # sent, but no receipt says the server holds it

    two = [p.id for p in photos[:2]]
    assert (
        _pulled(
            store, record, 1, change(issuer.covering(store, record["id"], version=1, photos=two))
        )
        == 0
    )
    custody = store.custody()
    assert not _safe(store, record["id"])
    assert (custody.records, custody.photos, custody.safe_to_wipe) == (1, 1, False)

    _pulled(store, record, 1, change(issuer.covering(store, record["id"], version=1)))
    custody = store.custody()
    assert _safe(store, record["id"])
    assert (custody.records, custody.photos, custody.oldest) == (0, 0, None)
    assert (custody.held_records, custody.held_photos, custody.receipts) == (1, 3, 1)
    assert custody.safe_to_wipe


def test_a_later_local_edit_is_unsafe_until_the_new_receipt(
    store: DeviceStore, issuer: Issuer
) -> None:
    record = _activity()
    store.save("activity", record)
    _answer_all(store, {})
    _pulled(store, record, 1, change(issuer.covering(store, record["id"], version=1)))
    assert _safe(store, record["id"]) and store.custody().safe_to_wipe

    edited = {**record, "title": "Field day at Roma, second visit"}
    store.save("activity", edited)
    assert not _safe(store, record["id"])
    assert store.custody().records == 1
    _answer_all(store, {record["id"]: 2})
    assert not _safe(store, record["id"])  # answered, but the receipt is for version 1
    _pulled(store, edited, 2)
    assert not _safe(store, record["id"]) and not store.custody().safe_to_wipe
    _pulled(store, edited, 2, change(issuer.covering(store, record["id"], version=2)))
    assert _safe(store, record["id"]) and store.custody().safe_to_wipe


def test_a_photo_whose_bytes_differ_from_the_receipt_is_not_covered(
    store: DeviceStore, issuer: Issuer, tmp_path: Path
) -> None:
    record = _activity()
    photo = _photo(tmp_path, record["id"], 1)
    store.save_all([("activity", record)], photos=[photo])
    _answer_all(store, {})
    _uploaded(store)
    upload = store.uploads(state="done")[0]
    wrong = [{"id": photo.id, "sha256": "0" * 64, "size": upload.size}]
    receipt = issuer.receipt(
        record_id=record["id"], version=1, device_id=store.device_id, attachments=wrong
    )
    _pulled(store, record, 1, change(receipt))
    assert not _safe(store, record["id"])
    assert (store.custody().records, store.custody().photos) == (1, 1)


def test_an_observation_is_safe_only_once_a_receipt_lists_every_photo_of_it(
    store: DeviceStore, issuer: Issuer, tmp_path: Path
) -> None:
    """An observation's photos count as an activity's do: listed by its receipt, waiting in
    the outbox, held on the tablet."""
    observation: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "form_id": str(uuid.uuid4()),
        "observed_on": "2025-06-02",
        "captured_at": "2025-06-02T15:10:00+02:00",
        "values": {"plot_area_m2": 400},
    }
    photos = []
    for n in range(2):
        source = tmp_path / f"plot-{n}.jpg"
        source.write_bytes(b"\xff\xd8\xff" + bytes([n]) * 900)
        photos.append(
            NewPhoto(
                id=str(uuid.uuid4()),
                activity_id=None,
                observation_id=observation["id"],
                source=source,
                content_type="image/jpeg",
            )
        )
    store.save_all([("observation", observation)], photos=photos)
    _answer_all(store, {})
    _uploaded(store)

    def pulled(*receipts: dict[str, Any]) -> None:
        page = [
            Change(
                entity="observation",
                id=observation["id"],
                op=Op.UPSERT,
                version=1,
                data=observation,
            ),
            *(change(r) for r in receipts),
        ]
        store.apply_pull(page, cursor=f"c-{uuid.uuid4()}")

    def safe() -> bool:
        found = store.query("observation", ids=[observation["id"]], custody=True)
        return bool(found and found[0].safe)

    one = [photos[0].id]
    pulled(issuer.covering(store, observation["id"], version=1, entity="observation", photos=one))
    custody = store.custody()
    assert not safe()
    assert (custody.records, custody.photos, custody.safe_to_wipe) == (1, 1, False)

    pulled(issuer.covering(store, observation["id"], version=1, entity="observation"))
    custody = store.custody()
    assert safe()
    assert (custody.records, custody.photos, custody.held_photos) == (0, 0, 2)
    assert custody.safe_to_wipe

    store.set_caption(photos[1].id, "The plot from the north corner")
    assert not safe()  # the photo's new caption waits in the outbox
    assert store.custody().records == 1 and not store.custody().safe_to_wipe


def _forgeries(issuer: Issuer, store: DeviceStore, record_id: str) -> dict[str, dict[str, Any]]:
    good = issuer.covering(store, record_id, version=1)
    other_key = Issuer().covering(store, record_id, version=1)
    byte_changed = {**good, "version": 2}
    truncated = {k: v for k, v in good.items() if k != "issued_at"}
    bad_signature = {**good, "signature": good["signature"][:-4] + "AAA="}
    not_base64 = {**good, "signature": "not base64!"}
    other_tablet = issuer.receipt(record_id=record_id, version=1, device_id=str(uuid.uuid4()))
    return {
        "other key": other_key,
        "a byte changed": byte_changed,
        "truncated": truncated,
        "bad signature": bad_signature,
        "signature not base64": not_base64,
        "another tablet": other_tablet,
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "other key",
        "a byte changed",
        "truncated",
        "bad signature",
        "signature not base64",
        "another tablet",
    ],
)
def test_a_forged_truncated_or_wrongly_keyed_receipt_is_refused_and_the_pull_goes_on(
    store: DeviceStore, issuer: Issuer, forgery: str
) -> None:
    record = _activity()
    store.save("activity", record)
    _answer_all(store, {})
    forged = _forgeries(issuer, store, record["id"])[forgery]
    unknown = Change(entity="gizmo", id=str(uuid.uuid4()), op=Op.UPSERT, version=1, data={"a": 1})
    site = {"id": str(uuid.uuid4()), "project_id": record["project_id"], "name": "Roma"}
    site_change = Change(entity="site", id=site["id"], op=Op.UPSERT, version=1, data=site)
    refused = store.apply_pull(
        [
            change(forged, record_id=record["id"]),
            unknown,
            Change(entity="activity", id=record["id"], op=Op.UPSERT, version=1, data=record),
            site_change,
        ],
        cursor="after-forgery",
    )
    assert refused == 1
    assert store.receipts() == []
    assert not _safe(store, record["id"]) and not store.custody().safe_to_wipe
    assert store.meta("receipts_refused") == "1"
    # The rest of the page is stored, with its cursor.
    assert store.cursor == "after-forgery" and store.get("site", site["id"]) is not None
    assert store.query("activity", ids=[record["id"]])[0].version == 1


def test_a_receipt_for_another_record_than_its_change_is_refused(
    store: DeviceStore, issuer: Issuer
) -> None:
    record, other = _activity(), _activity()
    for r in (record, other):
        store.save("activity", r)
    _answer_all(store, {})
    receipt = issuer.covering(store, other["id"], version=1)
    assert _pulled(store, record, 1, change(receipt, record_id=record["id"])) == 1
    assert store.receipts() == []


def test_a_later_version_replaces_the_receipt_and_an_older_one_does_not(
    store: DeviceStore, issuer: Issuer
) -> None:
    record = _activity()
    store.save("activity", record)
    _answer_all(store, {record["id"]: 3})
    third = issuer.covering(store, record["id"], version=3)
    second = issuer.covering(store, record["id"], version=2)
    _pulled(store, record, 3, change(third))
    _pulled(store, record, 3, change(second))
    assert store.receipts() == [third]
    assert _safe(store, record["id"])


def test_pinned_keys_are_never_dropped_so_old_receipts_stay_verifiable(
    store: DeviceStore, issuer: Issuer
) -> None:
    rotated = Issuer()
    # sync/info after a rotation publishes the new key (and may stop publishing the old one).
    assert store.pin_receipt_keys([rotated.published], source="sync_info") == 1
    assert store.pin_receipt_keys([rotated.published], source="sync_info") == 0
    # A key whose id does not match its bytes is not pinned.
    liar = {"key_id": issuer.key_id, "public_key": Issuer().public_key}
    assert store.pin_receipt_keys([liar, {"key_id": "x"}, "junk"], source="sync_info") == 0  # type: ignore[list-item]
    assert store.receipt_keys() == [issuer.published, rotated.published]
    old, new = _activity(), _activity()
    for r in (old, new):
        store.save("activity", r)
    _answer_all(store, {})
    assert _pulled(store, old, 1, change(issuer.covering(store, old["id"], version=1))) == 0
    assert _pulled(store, new, 1, change(rotated.covering(store, new["id"], version=1))) == 0
    assert _safe(store, old["id"]) and _safe(store, new["id"])


def test_records_that_only_came_from_the_server_need_no_receipt(store: DeviceStore) -> None:
    teammate = _activity()
    _pulled(store, teammate, 4)
    custody = store.custody()
    assert custody.safe_to_wipe and custody.held_records == 0
    assert not _safe(store, teammate["id"])  # nothing of this tablet's: no receipt to show


def test_a_draft_or_a_rejected_record_is_not_safe(store: DeviceStore, issuer: Issuer) -> None:
    draft = _activity()
    store.save("activity", draft, draft=True)
    assert store.custody().records == 1 and not store.custody().safe_to_wipe
    refused = _activity()
    store.save("activity", refused)
    store.acknowledge(
        [
            MutationResult(seq=m.seq, id=m.id, status=ResultStatus.REJECTED, version=None)
            for m in store.pending()
        ]
    )
    assert store.custody().records == 2


class _Client:
    def __init__(self, keys: list[dict[str, str]]) -> None:
        self.keys = keys
        self.asked = 0

    def receipt_keys(self) -> list[dict[str, str]]:
        self.asked += 1
        return self.keys


def test_an_unknown_key_is_learnt_from_sync_info_once_a_round(store: DeviceStore) -> None:
    """A tablet enrolled before receipts has no key: the first receipt makes it ask."""
    server = Issuer()
    record = _activity()
    store.save("activity", record)
    _answer_all(store, {})
    client = _Client([server.published])
    learner = KeyLearner(store, client)  # type: ignore[arg-type]
    quiet = [Change(entity="activity", id=record["id"], op=Op.UPSERT, version=1, data=record)]
    learner.learn_for(quiet)
    assert client.asked == 0  # no receipt, no extra request
    page = [change(server.covering(store, record["id"], version=1))]
    learner.learn_for(page)
    learner.learn_for([change(Issuer().covering(store, record["id"], version=1))])
    assert client.asked == 1
    assert store.apply_pull(page, cursor="c1") == 0 and store.receipts() != []


def test_save_receipts_writes_the_documented_format(
    store: DeviceStore, issuer: Issuer, tmp_path: Path
) -> None:
    record = _activity()
    store.save("activity", record)
    _answer_all(store, {})
    receipt = issuer.covering(store, record["id"], version=1)
    _pulled(store, record, 1, change(receipt))
    path = save_receipts(store, tmp_path / "out", server="https://pm.example.org")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document == {
        "format": RECEIPTS_FORMAT,
        "device_id": store.device_id,
        "server": "https://pm.example.org",
        "keys": [issuer.published],
        "receipts": [receipt],
    }
    assert [p.name for p in path.parent.iterdir()] == [path.name]


class _PullingClient(_Client):
    """Pages of pull changes, as the server would hand them out."""

    def __init__(self, keys: list[dict[str, str]], pages: list[list[Change]]) -> None:
        super().__init__(keys)
        self.pages = pages

    def pull(self, cursor: str | None, *, limit: int) -> Any:
        from sync.protocol import PullResponse

        index = int(cursor or 0)
        return PullResponse(
            changes=self.pages[index],
            cursor=str(index + 1),
            has_more=index + 1 < len(self.pages),
            server_time="2026-01-01T00:00:00+00:00",
        )


def test_a_pull_learns_a_rotated_key_and_counts_refused_receipts(store: DeviceStore) -> None:
    from sync.engine import SyncEngine

    old, rotated = Issuer(), Issuer()
    store.pin_receipt_keys([old.published], source="enrolment")
    first, second = _activity(), _activity()
    for r in (first, second):
        store.save("activity", r)
    _answer_all(store, {})
    forged = {**rotated.covering(store, first["id"], version=1), "version": 7}
    pages = [
        [change(old.covering(store, first["id"], version=1)), change(forged)],
        [change(rotated.covering(store, second["id"], version=1))],
    ]
    client = _PullingClient([rotated.published], pages)
    report = SyncEngine(store, client).pull()  # type: ignore[arg-type]
    assert (report.pulled, report.receipts_refused, client.asked) == (3, 1, 1)
    assert {r["id"] for r in store.receipts()} == {first["id"], second["id"]}
    assert store.receipt_keys() == [old.published, rotated.published]
