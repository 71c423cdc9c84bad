"""The app's session and store backend against a live server: enrol, pull, save, push, the
returned-and-resubmitted flow, rejections kept on the record, enrolment errors in words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from field_app.backend import StoreBackend
from field_app.controllers.attendance import Cell
from field_app.controllers.form import ActivityForm
from field_app.controllers.settings import log_line
from field_app.controllers.status import sync_bar
from field_app.device import Device
from field_app.session import EnrolError, FieldSession
from sync import errors
from sync.client import BusyAwareRetry
from tests.field_app.conftest import PASSWORD, LiveServer


def make_session(tmp_path: Path) -> FieldSession:
    data_dir = tmp_path / "tablet"
    return FieldSession(backend=StoreBackend(data_dir), device=Device(), data_dir=data_dir)


def filled_form(
    session: FieldSession, project_id: str, *, women: str = "12", men: str = "8"
) -> ActivityForm:
    project = session.project(project_id)
    assert project is not None
    form = ActivityForm(
        project=project, sites=session.backend.sites(project_id), today=session.today()
    )
    form.set("type", "demonstration")
    form.set("title", "Seed potato storage demonstration")
    form.set("topic", "S1.T2")
    form.set_attendance(Cell("farmer", False, "female", "adult"), women)
    form.set_attendance(Cell("farmer", False, "male", "youth"), men)
    return form


@pytest.fixture
def enrolled(live_server: LiveServer, tmp_path: Path) -> FieldSession:
    session = make_session(tmp_path)
    session.enrol(server_url=live_server.url, code=live_server.codes[0])
    session.backend.sync_once()
    return session


def test_enrol_with_a_code_then_pull_brings_projects_sites_and_targets(
    enrolled: FieldSession, live_server: LiveServer
) -> None:
    assert enrolled.enrolled
    enrolment = enrolled.enrolment()
    assert enrolment is not None and enrolment.username == live_server.expert
    assert [p["id"] for p in enrolled.projects()] == [live_server.project_id]
    assert [s["id"] for s in enrolled.backend.sites(live_server.project_id)] == [
        live_server.site_id
    ]
    assert enrolled.backend.targets(live_server.project_id)[0]["indicator"] == "PARTICIPANTS"
    status = enrolled.status()
    assert status.pending == 0 and status.last_error is None and status.last_success is not None
    enrolled.close()


def test_enrol_with_username_and_password(live_server: LiveServer, tmp_path: Path) -> None:
    session = make_session(tmp_path)
    enrolment = session.enrol(
        server_url=live_server.url, username=live_server.expert, password=PASSWORD
    )
    assert enrolment.username == live_server.expert
    session.close()


def test_a_saved_activity_is_pending_then_synced_and_on_the_server(
    enrolled: FieldSession, live_server: LiveServer
) -> None:
    form = filled_form(enrolled, live_server.project_id)
    enrolled.save(form)
    record = enrolled.backend.activity(form.id)
    assert record is not None and record.state == "pending"
    assert enrolled.status().pending == 1

    enrolled.backend.sync_once()

    record = enrolled.backend.activity(form.id)
    assert record is not None and record.state == "synced"
    assert enrolled.status().pending == 0
    on_server = live_server.activity(form.id)
    assert on_server["title"] == "Seed potato storage demonstration"
    counts = sorted(row["count"] for row in on_server["attendance"])
    assert counts == [8, 12]
    enrolled.close()


def test_returned_activity_shows_the_comment_and_resubmits(
    enrolled: FieldSession, live_server: LiveServer
) -> None:
    form = filled_form(enrolled, live_server.project_id)
    enrolled.save(form)
    enrolled.backend.sync_once()
    live_server.return_activity(form.id, "Please count the young men separately")

    enrolled.backend.sync_once()

    record = enrolled.backend.activity(form.id)
    assert record is not None and record.state == "returned"
    assert record.comment == "Please count the young men separately"
    assert [r.id for r in enrolled.backend.attention()] == [form.id]

    project = enrolled.project(live_server.project_id)
    assert project is not None
    again = ActivityForm(
        project=project,
        sites=enrolled.backend.sites(live_server.project_id),
        today=enrolled.today(),
        record=record.data,
    )
    again.set_attendance(Cell("farmer", False, "male", "youth"), "5")
    again.set_attendance(Cell("farmer", False, "male", "adult"), "3")
    enrolled.save(again)
    assert enrolled.backend.activity(form.id).state == "pending"  # type: ignore[union-attr]
    enrolled.backend.sync_once()

    record = enrolled.backend.activity(form.id)
    assert record is not None and record.state == "synced"
    assert enrolled.backend.attention() == []
    on_server = live_server.activity(form.id)
    assert on_server["status"] == "submitted"
    assert sorted(r["count"] for r in on_server["attendance"]) == [3, 5, 12]
    enrolled.close()


def test_an_unchanged_record_saved_again_queues_nothing(
    enrolled: FieldSession, live_server: LiveServer
) -> None:
    form = filled_form(enrolled, live_server.project_id)
    enrolled.save(form)
    enrolled.backend.sync_once()
    record = enrolled.backend.activity(form.id)
    project = enrolled.project(live_server.project_id)
    assert record is not None and project is not None
    again = ActivityForm(
        project=project,
        sites=enrolled.backend.sites(live_server.project_id),
        today=enrolled.today(),
        record=record.data,
    )
    enrolled.save(again)  # opened and saved without a change (empty notes included)
    assert enrolled.status().pending == 0
    assert enrolled.backend.activity(form.id).state == "synced"  # type: ignore[union-attr]
    enrolled.close()


def test_a_new_site_travels_with_its_activity(
    enrolled: FieldSession, live_server: LiveServer
) -> None:
    form = filled_form(enrolled, live_server.project_id)
    form.set("site", "__new__")
    form.set("new_site_name", "Roma valley plot")
    form.set("lat", "-29.45")
    form.set("lon", "27.72")
    enrolled.save(form)
    enrolled.backend.sync_once()
    record = enrolled.backend.activity(form.id)
    assert record is not None and record.state == "synced"
    assert live_server.activity(form.id)["site_id"] == form.new_site_id
    enrolled.close()


def test_a_rejected_change_stays_on_the_tablet_with_the_reason(
    enrolled: FieldSession, live_server: LiveServer
) -> None:
    # The form refuses a date out of the project's range, so the tablet saves through the
    # store directly, as an older app version might have: the server must refuse and keep it.
    form = filled_form(enrolled, live_server.project_id)
    data = {**form.wire(), "start_date": "2023-06-01", "end_date": "2023-06-01"}
    enrolled.backend.store.save("activity", data)  # type: ignore[attr-defined]
    enrolled.backend.sync_once()
    record = enrolled.backend.activity(form.id)
    assert record is not None and record.state == "rejected"
    assert record.errors and any("date" in e["field"] for e in record.errors)
    assert record.data["title"] == "Seed potato storage demonstration"
    enrolled.close()


def test_wrong_code_says_so_in_words(live_server: LiveServer, tmp_path: Path) -> None:
    session = make_session(tmp_path)
    # In words chosen by the answer's code (enrolment_code_unknown), not the server's English.
    with pytest.raises(EnrolError, match=r"^Unknown enrolment code: check it, or ask your country"):
        session.enrol(server_url=live_server.url, code="NOT-A-CODE")
    assert not session.enrolled
    session.close()


def test_a_used_code_cannot_enrol_a_second_tablet(live_server: LiveServer, tmp_path: Path) -> None:
    first = make_session(tmp_path / "one")
    first.enrol(server_url=live_server.url, code=live_server.codes[1])
    second = make_session(tmp_path / "two")
    with pytest.raises(EnrolError, match=r"^This enrolment code was already used: ask your"):
        second.enrol(server_url=live_server.url, code=live_server.codes[1])
    first.close()
    second.close()


def test_wrong_password_says_so(live_server: LiveServer, tmp_path: Path) -> None:
    session = make_session(tmp_path)
    with pytest.raises(EnrolError, match="Wrong username or password"):
        session.enrol(
            server_url=live_server.url, username=live_server.expert, password="not the password"
        )
    session.close()


def test_an_address_where_no_server_listens_says_so(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    with pytest.raises(EnrolError, match=r"Cannot reach http://127\.0\.0\.1:9"):
        session.enrol(server_url="http://127.0.0.1:9", code="ABCD")
    session.close()


def test_an_address_that_is_not_a_pilot_monitor_server_says_so(
    live_server: LiveServer, tmp_path: Path
) -> None:
    session = make_session(tmp_path)
    with pytest.raises(EnrolError, match="does not answer like a Pilot Monitor server"):
        session.enrol(server_url=f"{live_server.url}/somewhere-else", code="ABCD")
    session.close()


def test_sync_failure_is_kept_in_words_and_records_stay(
    enrolled: FieldSession, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = filled_form(enrolled, live_server.project_id)
    enrolled.save(form)
    live_server.stop()
    # The client's quick retries wait between attempts; recorded here instead of slept.
    waits: list[float] = []
    monkeypatch.setattr(BusyAwareRetry, "pause", lambda _retry, seconds: waits.append(seconds))
    with pytest.raises(errors.ServerUnreachable, match="refused the connection"):
        enrolled.backend.sync_once()
    assert waits, "the tablet gave up without trying again"
    status = enrolled.status()
    assert status.pending == 1 and status.error_cause == "unreachable"
    assert status.last_error is not None and "refused the connection" in status.last_error
    assert sync_bar(status, datetime.now(UTC)).error == (
        "Last sync failed: the server cannot be reached (it may be down). "
        "The tablet tries again by itself."
    )
    assert enrolled.backend.activity(form.id) is not None
    log = enrolled.backend.log(5)
    assert log[0].ok is False and log[0].cause == "unreachable"
    assert log_line(log[0], datetime.now(UTC))[1].startswith(
        "Failed: the server cannot be reached (it may be down)."
    )
    enrolled.close()


def test_today_follows_the_server_clock(enrolled: FieldSession) -> None:
    # The offset learnt at the last sync is small here (same machine): today is today.
    assert abs((enrolled.today() - date.today()).days) <= 1
    enrolled.close()


def two_tablets(live_server: LiveServer, tmp_path: Path) -> tuple[FieldSession, FieldSession]:
    first, second = make_session(tmp_path / "a"), make_session(tmp_path / "b")
    first.enrol(server_url=live_server.url, code=live_server.codes[0])
    second.enrol(server_url=live_server.url, code=live_server.codes[1])
    first.backend.sync_once()
    second.backend.sync_once()
    return first, second


def edit_title(session: FieldSession, activity_id: str, title: str) -> None:
    record = session.backend.activity(activity_id)
    assert record is not None
    project = session.project(str(record.data["project_id"]))
    assert project is not None
    form = ActivityForm(
        project=project,
        sites=session.backend.sites(str(project["id"])),
        today=session.today(),
        record=record.data,
    )
    form.set("title", title)
    session.save(form)


def conflicting(live_server: LiveServer, tmp_path: Path) -> tuple[FieldSession, FieldSession, str]:
    """Two tablets of the same expert change the same title offline; the second to sync gets
    a conflict."""
    first, second = two_tablets(live_server, tmp_path)
    form = filled_form(first, live_server.project_id)
    first.save(form)
    first.backend.sync_once()
    second.backend.sync_once()
    edit_title(first, form.id, "Storage demonstration, Roma")
    edit_title(second, form.id, "Storage demonstration, Maseru")
    first.backend.sync_once()
    second.backend.sync_once()
    second.backend.sync_once()  # the conflict itself comes with the next pull
    return first, second, form.id


def test_a_conflict_shows_both_values_and_keep_mine_wins(
    live_server: LiveServer, tmp_path: Path
) -> None:
    first, second, activity_id = conflicting(live_server, tmp_path)
    record = second.backend.activity(activity_id)
    assert record is not None and record.state == "conflict"
    assert record.conflict_fields == ["title"]
    assert record.mine == {"title": "Storage demonstration, Maseru"}
    assert record.theirs == {"title": "Storage demonstration, Roma"}
    assert [r.id for r in second.backend.attention()] == [activity_id]

    second.backend.keep_mine(activity_id)
    assert second.backend.activity(activity_id).state == "pending"  # type: ignore[union-attr]
    second.backend.sync_once()
    second.backend.sync_once()

    assert second.backend.activity(activity_id).state == "synced"  # type: ignore[union-attr]
    assert second.backend.attention() == []
    assert live_server.activity(activity_id)["title"] == "Storage demonstration, Maseru"
    first.close()
    second.close()


def test_keep_theirs_reaches_the_server_and_closes_the_conflict_for_the_office(
    live_server: LiveServer, tmp_path: Path
) -> None:
    first, second, activity_id = conflicting(live_server, tmp_path)
    record = second.backend.activity(activity_id)
    assert record is not None and record.state == "conflict"
    conflict_id = record.conflict_ids[0]
    assert live_server.api("GET", f"/conflicts/{conflict_id}").json()["status"] == "open"

    second.backend.keep_theirs(activity_id)
    # At once on the tablet: the server's values, no conflict shown, the decision queued.
    record = second.backend.activity(activity_id)
    assert record is not None and record.state == "pending"
    assert record.data["title"] == "Storage demonstration, Roma" and record.conflict_ids == []
    assert second.backend.attention() == []
    assert second.status().pending == 1

    second.backend.sync_once()

    record = second.backend.activity(activity_id)
    assert record is not None and record.state == "synced"
    assert second.status().pending == 0 and second.status().attention == 0
    on_server = live_server.api("GET", f"/conflicts/{conflict_id}").json()
    assert on_server["status"] == "resolved"
    assert on_server["resolution"]["keep"] == "server"
    assert on_server["resolution"]["by"] == live_server.expert
    audit = live_server.api(
        "GET", "/audit", params={"entity": "conflict", "entity_id": conflict_id}
    ).json()
    assert [e["action"] for e in audit["items"]] == ["resolve"]
    assert live_server.activity(activity_id)["title"] == "Storage demonstration, Roma"
    # The other tablet hears of it too, and nothing is left to do on either.
    first.backend.sync_once()
    assert first.backend.activity(activity_id).state == "synced"  # type: ignore[union-attr]
    second.backend.sync_once()
    assert second.backend.activity(activity_id).state == "synced"  # type: ignore[union-attr]
    first.close()
    second.close()


def test_a_conflict_kept_theirs_by_an_older_app_is_sent_when_the_app_opens(
    live_server: LiveServer, tmp_path: Path
) -> None:
    import json

    first, second, activity_id = conflicting(live_server, tmp_path)
    record = second.backend.activity(activity_id)
    assert record is not None
    backend = second.backend
    assert isinstance(backend, StoreBackend)
    # What "keep theirs" left before it reached the server: a list in the tablet's meta.
    backend.store.set_meta(**{"field_app.accepted_conflicts": json.dumps(record.conflict_ids)})
    second.close()
    reopened = make_session(tmp_path / "b")
    assert reopened.backend.activity(activity_id).state == "pending"  # type: ignore[union-attr]
    reopened.backend.sync_once()
    conflict = live_server.api("GET", f"/conflicts/{record.conflict_ids[0]}").json()
    assert conflict["status"] == "resolved"
    first.close()
    reopened.close()


def test_editing_a_conflicting_field_sends_the_new_value_and_closes_the_conflict(
    live_server: LiveServer, tmp_path: Path
) -> None:
    first, second, activity_id = conflicting(live_server, tmp_path)
    [conflict_id] = second.backend.activity(activity_id).conflict_ids  # type: ignore[union-attr]
    # Needs attention -> Edit: the form opens on the server's values; the user types a third.
    edit_title(second, activity_id, "Storage demonstration, Roma and Maseru")
    record = second.backend.activity(activity_id)
    assert record is not None and record.state == "pending" and record.conflict_ids == []
    assert second.backend.attention() == []

    second.backend.sync_once()

    record = second.backend.activity(activity_id)
    assert record is not None and record.state == "synced"
    assert live_server.activity(activity_id)["title"] == "Storage demonstration, Roma and Maseru"
    assert live_server.api("GET", f"/conflicts/{conflict_id}").json()["status"] in (
        "superseded",
        "resolved",
    )
    first.close()
    second.close()


def test_editing_other_fields_of_a_conflict_keeps_the_servers_value_of_the_clash(
    live_server: LiveServer, tmp_path: Path
) -> None:
    first, second, activity_id = conflicting(live_server, tmp_path)
    [conflict_id] = second.backend.activity(activity_id).conflict_ids  # type: ignore[union-attr]
    record = second.backend.activity(activity_id)
    assert record is not None
    project = second.project(str(record.data["project_id"]))
    assert project is not None
    form = ActivityForm(
        project=project,
        sites=second.backend.sites(str(project["id"])),
        today=second.today(),
        record=record.data,
    )
    assert form.values["title"].text == "Storage demonstration, Roma"  # the server's value
    form.set("notes", "Counted twice, agreed with the office")
    second.save(form)

    second.backend.sync_once()

    on_server = live_server.activity(activity_id)
    assert on_server["title"] == "Storage demonstration, Roma"
    assert on_server["notes"] == "Counted twice, agreed with the office"
    conflict = live_server.api("GET", f"/conflicts/{conflict_id}").json()
    assert conflict["status"] == "resolved" and conflict["resolution"]["keep"] == "server"
    assert second.backend.activity(activity_id).state == "synced"  # type: ignore[union-attr]
    first.close()
    second.close()


def test_offline_bundle_holds_what_waits(
    enrolled: FieldSession, live_server: LiveServer, tmp_path: Path
) -> None:
    import json
    import zipfile

    form = filled_form(enrolled, live_server.project_id)
    enrolled.save(form)
    path = enrolled.backend.export_bundle(tmp_path / "bundles")
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("bundle.json"))
    assert [m["id"] for m in manifest["mutations"]] == [form.id]
    assert enrolled.status().pending == 1  # exporting changes nothing on the tablet
    enrolled.close()


# -- captions of saved photos ------------------------------------------------------------------


def photo_on_server(live_server: LiveServer, attachment_id: str) -> tuple[str, int, int]:
    """(caption, version, revisions) of a photo in the server's database."""
    import uuid

    from sqlmodel import Session, col, func, select

    from server.activities.models import Attachment
    from server.records.models import RecordRevision

    with Session(live_server.engine) as db:
        found = db.get(Attachment, uuid.UUID(attachment_id))
        assert found is not None
        revisions = db.exec(
            select(func.count())
            .select_from(RecordRevision)
            .where(
                col(RecordRevision.entity) == "attachment",
                col(RecordRevision.entity_id) == uuid.UUID(attachment_id),
            )
        ).one()
        return found.caption, found.version, int(revisions)


def test_the_caption_of_a_saved_photo_can_be_changed_and_the_server_versions_it(
    enrolled: FieldSession, live_server: LiveServer, tmp_path: Path
) -> None:
    from dataclasses import replace

    from field_app.photos import downscale
    from tests.field_app.test_responsiveness import two_colour_png

    source = tmp_path / "shed.png"
    two_colour_png(source, 300, 200)
    form = filled_form(enrolled, live_server.project_id)
    photo = replace(downscale(source, enrolled.photos_dir), caption="Storage shed")
    form.add_photo(photo)
    enrolled.save(form)
    enrolled.backend.sync_once()
    assert [a["caption"] for a in live_server.activity(form.id)["attachments"]] == ["Storage shed"]
    caption, version, revisions = photo_on_server(live_server, photo.id)
    assert caption == "Storage shed"

    # Later, the record opened again: its photo, and a new caption typed under it.
    record = enrolled.backend.activity(form.id)
    project = enrolled.project(live_server.project_id)
    assert record is not None and project is not None
    again = ActivityForm(
        project=project,
        sites=enrolled.backend.sites(live_server.project_id),
        today=enrolled.today(),
        record=record.data,
        photos=enrolled.photos_of(form.id),
    )
    assert [(p.id, p.caption) for p in again.photos] == [(photo.id, "Storage shed")]
    again.photos[0] = replace(again.photos[0], caption="Storage shed, north side")
    enrolled.save(again)
    assert enrolled.status().pending == 1  # the caption alone; the activity did not change
    assert enrolled.photos_of(form.id)[0].caption == "Storage shed, north side"

    enrolled.backend.sync_once()

    assert enrolled.status().pending == 0
    assert [a["caption"] for a in live_server.activity(form.id)["attachments"]] == [
        "Storage shed, north side"
    ]
    # A new version with its revision, like any field's change.
    assert photo_on_server(live_server, photo.id) == (
        "Storage shed, north side",
        version + 1,
        revisions + 1,
    )
    assert enrolled.photos_of(form.id)[0].caption == "Storage shed, north side"
    enrolled.close()


def test_a_caption_changed_before_the_first_sync_arrives_with_the_photo(
    enrolled: FieldSession, live_server: LiveServer, tmp_path: Path
) -> None:
    from dataclasses import replace

    from field_app.photos import downscale
    from tests.field_app.test_responsiveness import two_colour_png

    source = tmp_path / "plot.png"
    two_colour_png(source, 300, 200)
    form = filled_form(enrolled, live_server.project_id)
    photo = replace(downscale(source, enrolled.photos_dir), caption="Plot")
    form.add_photo(photo)
    enrolled.save(form)
    form.photos[0] = replace(form.photos[0], caption="Demonstration plot")
    enrolled.save(form)  # offline, twice: both metadata mutations wait in the outbox
    enrolled.backend.sync_once()
    assert enrolled.status().pending == 0
    assert [a["caption"] for a in live_server.activity(form.id)["attachments"]] == [
        "Demonstration plot"
    ]
    enrolled.close()


def test_a_photo_taken_off_a_saved_record_is_deleted_on_the_tablet_and_the_server(
    enrolled: FieldSession, live_server: LiveServer, tmp_path: Path
) -> None:
    from dataclasses import replace

    from field_app.photos import downscale
    from tests.field_app.test_responsiveness import two_colour_png

    form = filled_form(enrolled, live_server.project_id)
    kept, wrong = (tmp_path / "plot.png"), (tmp_path / "thumb.png")
    two_colour_png(kept, 300, 200)
    two_colour_png(wrong, 200, 300)
    form.add_photo(replace(downscale(kept, enrolled.photos_dir), caption="Plot"))
    form.add_photo(replace(downscale(wrong, enrolled.photos_dir), caption="My thumb"))
    enrolled.save(form)
    enrolled.backend.sync_once()
    assert sorted(a["caption"] for a in live_server.activity(form.id)["attachments"]) == [
        "My thumb",
        "Plot",
    ]
    [thumb] = [p for p in enrolled.photos_of(form.id) if p.caption == "My thumb"]

    record = enrolled.backend.activity(form.id)
    project = enrolled.project(live_server.project_id)
    assert record is not None and project is not None
    again = ActivityForm(
        project=project,
        sites=enrolled.backend.sites(live_server.project_id),
        today=enrolled.today(),
        record=record.data,
        photos=enrolled.photos_of(form.id),
    )
    again.remove_photo(thumb.id)
    enrolled.save(again)
    assert enrolled.status().pending == 1  # the photo's delete alone
    assert [p.caption for p in enrolled.photos_of(form.id)] == ["Plot"]
    assert Path(thumb.path).exists()  # until the server takes the delete

    enrolled.backend.sync_once()
    assert enrolled.status().pending == 0
    assert not Path(thumb.path).exists()
    assert [a["caption"] for a in live_server.activity(form.id)["attachments"]] == ["Plot"]
    assert [p.caption for p in enrolled.photos_of(form.id)] == ["Plot"]
    enrolled.close()


# -- the home screen's figures, without whole records --------------------------------------------


def test_home_progress_from_light_reads_equals_progress_from_whole_records(tmp_path: Path) -> None:
    import uuid
    from collections import Counter

    from field_app.controllers.home import project_card
    from field_app.controllers.progress import counted
    from sync.protocol import Change, Op
    from tests.field_app.fakes import activity

    backend = StoreBackend(tmp_path / "tablet")
    today = date.today()
    project = {
        "id": str(uuid.uuid4()),
        "code": "LSO-CPP-01",
        "name": "Potato value chain",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "solutions": ["S1"],
        "start_date": "2020-01-01",
        "end_date": f"{today.year + 1}-12-31",
    }
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    targets = [
        {
            "id": str(uuid.uuid4()),
            "project_id": project["id"],
            "indicator": indicator,
            "period": quarter,
            "value": 50,
            "sex": sex,
        }
        for indicator, sex in (
            ("ACTIVITIES", None),
            ("PARTICIPANTS", None),
            ("PARTICIPANTS", "male"),
            ("YOUTH_PARTICIPANTS", None),
            ("WOMEN_SHARE", None),
            ("EXPERT_DAYS", None),
            ("UNIQUE_PARTICIPANTS", None),
        )
    ]
    records = []
    for i in range(40):  # this quarter, last year, returned, approved, a deleted one
        start = today.replace(day=1) if i % 4 else date(today.year - 1, 6, 1)
        status = ("submitted", "approved", "returned", "submitted")[i % 4]
        data = activity(
            project,
            start=start,
            women=i % 5,
            men=3,
            status=status,
            type=("demonstration", "expert_deployment")[i % 2],
            experts_count=2,
            participant_ids=[f"p{i % 7}"],
            version=1,
        )
        data["attendance"].append(
            {
                "sex": "male",
                "age_band": "youth",
                "category": "farmer",
                "disability": True,
                "count": i % 3,
            }
        )
        records.append(data)
    backend.store.apply_pull(
        [Change(entity="project", id=project["id"], op=Op.UPSERT, version=1, data=project)]
        + [Change(entity="target", id=t["id"], op=Op.UPSERT, version=1, data=t) for t in targets]
        + [Change(entity="activity", id=r["id"], op=Op.UPSERT, version=1, data=r) for r in records],
        "c1",
    )
    backend.store.delete("activity", records[1]["id"])
    backend.store.save("activity", {**records[5], "title": "Changed on the tablet"})

    project_id = str(project["id"])
    light = backend.progress_activities(project_id, today.year)
    assert {a["id"] for a in light} == {
        r["id"] for r in records[2:] if counted(r) and r["start_date"][:4] == str(today.year)
    }
    assert set(light[0]) == {
        "id",
        "type",
        "status",
        "start_date",
        "end_date",
        "experts_count",
        "attendance",
        "participant_ids",
    }
    states = backend.activity_states(project_id)
    assert states == {"synced": 28, "pending": 1, "returned": 10}
    whole = backend.activities(project_id)
    assert states == dict(Counter(r.state for r in whole))
    by_light = project_card(
        project, activities=light, states=states, targets=targets, participants=[], today=today
    )
    by_whole = project_card(
        project,
        activities=[r.data for r in whole],
        states=dict(Counter(r.state for r in whole)),
        targets=targets,
        participants=[],
        today=today,
    )
    assert by_light == by_whole
    assert [line.actual for line in by_light.lines if line.indicator == "ACTIVITIES"] != [0]
    assert (by_light.activities, by_light.pending, by_light.attention) == (39, 1, 10)
    backend.close()


def test_a_record_whose_photo_has_not_gone_is_photos_pending_and_the_log_counts_bytes(
    enrolled: FieldSession, live_server: LiveServer, tmp_path: Path
) -> None:
    from field_app.photos import downscale
    from tests.field_app.test_responsiveness import two_colour_png

    source = tmp_path / "plot.png"
    two_colour_png(source, 900, 600)
    form = filled_form(enrolled, live_server.project_id)
    photo = downscale(source, enrolled.photos_dir)
    form.add_photo(photo)
    enrolled.save(form)
    backend = enrolled.backend
    assert isinstance(backend, StoreBackend)
    # The records go (a push alone), the photo's bytes do not: the finding was "synced" and
    # "Everything is sent" here.
    backend.engine().push()
    assert backend.activity(form.id).state == "photos_pending"  # type: ignore[union-attr]
    status = enrolled.status()
    assert (status.pending, status.photos, status.photo_bytes) == (0, 1, photo.size)
    assert sync_bar(status, datetime.now(UTC)).headline.startswith("Waiting to be sent: 1 photo (")
    heard: list[tuple[str, int, int]] = []
    original = backend.uploads.__call__

    def spy(attachment_id: str, held: int, size: int) -> None:
        heard.append((attachment_id, held, size))
        original(attachment_id, held, size)

    backend.engine().on_progress = spy
    before = backend.engine().client.bytes_sent
    backend.sync_once()
    assert heard[0] == (photo.id, 0, photo.size) and heard[-1] == (photo.id, photo.size, photo.size)
    assert backend.activity(form.id).state == "synced"  # type: ignore[union-attr]
    assert enrolled.status().everything_sent
    entry = backend.log(1)[0]
    assert entry.ok and entry.photos == 1
    # The socket's count: the photo, with the requests' headers around it.
    assert entry.bytes_sent == backend.engine().client.bytes_sent - before > photo.size
    assert entry.bytes_received > 0
    enrolled.close()
