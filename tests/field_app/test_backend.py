"""The app's session and store backend against a live server: enrol, pull, save, push, the
returned-and-resubmitted flow, rejections kept on the record, enrolment errors in words."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from field_app.backend import StoreBackend
from field_app.controllers.attendance import Cell
from field_app.controllers.form import ActivityForm
from field_app.device import Device
from field_app.session import EnrolError, FieldSession
from tests.field_app.conftest import PASSWORD, LiveServer


def make_session(tmp_path: Path) -> FieldSession:
    data_dir = tmp_path / "tablet"
    return FieldSession(backend=StoreBackend(data_dir), device=Device(), data_dir=data_dir)


def filled_form(session: FieldSession, project_id: str, *, women: str = "12",
                men: str = "8") -> ActivityForm:
    project = session.project(project_id)
    assert project is not None
    form = ActivityForm(project=project, sites=session.backend.sites(project_id),
                        today=session.today())
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
        enrolled: FieldSession, live_server: LiveServer) -> None:
    assert enrolled.enrolled
    enrolment = enrolled.enrolment()
    assert enrolment is not None and enrolment.username == live_server.expert
    assert [p["id"] for p in enrolled.projects()] == [live_server.project_id]
    assert [s["id"] for s in enrolled.backend.sites(live_server.project_id)] == \
        [live_server.site_id]
    assert enrolled.backend.targets(live_server.project_id)[0]["indicator"] == "PARTICIPANTS"
    status = enrolled.status()
    assert status.pending == 0 and status.last_error is None and status.last_success is not None
    enrolled.close()


def test_enrol_with_username_and_password(live_server: LiveServer, tmp_path: Path) -> None:
    session = make_session(tmp_path)
    enrolment = session.enrol(server_url=live_server.url, username=live_server.expert,
                              password=PASSWORD)
    assert enrolment.username == live_server.expert
    session.close()


def test_a_saved_activity_is_pending_then_synced_and_on_the_server(
        enrolled: FieldSession, live_server: LiveServer) -> None:
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
        enrolled: FieldSession, live_server: LiveServer) -> None:
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
    again = ActivityForm(project=project, sites=enrolled.backend.sites(live_server.project_id),
                         today=enrolled.today(), record=record.data)
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


def test_a_new_site_travels_with_its_activity(enrolled: FieldSession,
                                              live_server: LiveServer) -> None:
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
        enrolled: FieldSession, live_server: LiveServer) -> None:
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
    with pytest.raises(EnrolError, match="wrong, expired or already used"):
        session.enrol(server_url=live_server.url, code="NOT-A-CODE")
    assert not session.enrolled
    session.close()


def test_a_used_code_cannot_enrol_a_second_tablet(live_server: LiveServer,
                                                  tmp_path: Path) -> None:
    first = make_session(tmp_path / "one")
    first.enrol(server_url=live_server.url, code=live_server.codes[1])
    second = make_session(tmp_path / "two")
    with pytest.raises(EnrolError, match="already used"):
        second.enrol(server_url=live_server.url, code=live_server.codes[1])
    first.close()
    second.close()


def test_wrong_password_says_so(live_server: LiveServer, tmp_path: Path) -> None:
    session = make_session(tmp_path)
    with pytest.raises(EnrolError, match="Wrong username or password"):
        session.enrol(server_url=live_server.url, username=live_server.expert,
                      password="not the password")
    session.close()


def test_an_address_where_no_server_listens_says_so(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    with pytest.raises(EnrolError, match=r"Cannot reach http://127\.0\.0\.1:9"):
        session.enrol(server_url="http://127.0.0.1:9", code="ABCD")
    session.close()


def test_an_address_that_is_not_a_pilot_monitor_server_says_so(
        live_server: LiveServer, tmp_path: Path) -> None:
    session = make_session(tmp_path)
    with pytest.raises(EnrolError, match="does not answer like a Pilot Monitor server"):
        session.enrol(server_url=f"{live_server.url}/somewhere-else", code="ABCD")
    session.close()


def test_sync_failure_is_kept_in_words_and_records_stay(enrolled: FieldSession,
                                                        live_server: LiveServer) -> None:
    form = filled_form(enrolled, live_server.project_id)
    enrolled.save(form)
    live_server.stop()
    with pytest.raises(Exception, match="cannot reach the server"):
        enrolled.backend.sync_once()
    status = enrolled.status()
    assert status.pending == 1
    assert status.last_error is not None and "cannot reach the server" in status.last_error
    assert enrolled.backend.activity(form.id) is not None
    log = enrolled.backend.log(5)
    assert log[0].ok is False and "cannot reach" in log[0].error
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
    form = ActivityForm(project=project, sites=session.backend.sites(str(project["id"])),
                        today=session.today(), record=record.data)
    form.set("title", title)
    session.save(form)


def conflicting(live_server: LiveServer, tmp_path: Path) -> tuple[FieldSession, FieldSession,
                                                                   str]:
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


def test_a_conflict_shows_both_values_and_keep_mine_wins(live_server: LiveServer,
                                                          tmp_path: Path) -> None:
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


def test_keep_theirs_leaves_the_server_value_and_clears_the_tablet(
        live_server: LiveServer, tmp_path: Path) -> None:
    first, second, activity_id = conflicting(live_server, tmp_path)
    second.backend.keep_theirs(activity_id)
    record = second.backend.activity(activity_id)
    assert record is not None and record.state == "synced"
    assert record.data["title"] == "Storage demonstration, Roma"
    assert second.backend.attention() == []
    assert second.status().pending == 0
    assert live_server.activity(activity_id)["title"] == "Storage demonstration, Roma"
    first.close()
    second.close()


def test_offline_bundle_holds_what_waits(enrolled: FieldSession, live_server: LiveServer,
                                         tmp_path: Path) -> None:
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
