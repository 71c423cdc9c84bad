"""Controllers without a window: progress against targets, the activity list, the sync bar,
enrolment input, the roster, records needing attention, settings helpers."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from field_app.controllers.activities import ALL, ActivityList, Row, fold
from field_app.controllers.attention import describe
from field_app.controllers.enrol import AddressError, EnrolForm, normalise_server
from field_app.controllers.home import period_heading, project_card
from field_app.controllers.progress import ProgressLine, actual, progress, quarter_of
from field_app.controllers.roster import Roster, code_from_scan
from field_app.controllers.settings import bundle_directory, bundle_error, log_line
from field_app.controllers.status import (
    LogEntry,
    SyncStatus,
    UploadNow,
    UploadTracker,
    ago,
    sync_bar,
)
from field_app.session import LocalRecord
from tests.field_app.fakes import activity

PROJECT: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "code": "LSO-CPP-01",
    "name": "Potato value chain",
    "kind": "CPP",
    "country": "LSO",
    "thematic_area": "TA1",
    "solutions": ["S1"],
    "start_date": "2024-01-01",
    "end_date": "2027-12-31",
}
TODAY = date(2025, 3, 14)


# -- progress ----------------------------------------------------------------------------------


def test_progress_counts_submitted_and_approved_of_the_quarter_only() -> None:
    acts = [
        activity(PROJECT, start=date(2025, 1, 5), women=10, men=10),
        activity(PROJECT, start=date(2025, 3, 1), women=5, men=15, type="farmer_training"),
        activity(PROJECT, start=date(2025, 2, 1), women=100, men=0, status="returned"),
        activity(PROJECT, start=date(2024, 12, 31), women=100, men=0),
        activity(PROJECT, start=date(2025, 2, 2), women=7, men=0, status="approved"),
    ]
    targets = [
        {"indicator": "PARTICIPANTS", "period": "2025Q1", "value": 100, "sex": None},
        {"indicator": "PARTICIPANTS", "period": "2025Q1", "value": 40, "sex": "female"},
        {"indicator": "WOMEN_SHARE", "period": "2025Q1", "value": 50, "sex": None},
        {"indicator": "TRAININGS", "period": "2025Q1", "value": 2, "sex": None},
        {"indicator": "ACTIVITIES", "period": "2025", "value": 99, "sex": None},
        {"indicator": "TARGET_ACHIEVEMENT", "period": "2025Q1", "value": 1, "sex": None},
    ]
    lines = {
        (line.indicator, line.sex): line
        for line in progress(targets=targets, activities=acts, today=TODAY)
    }
    assert set(lines) == {
        ("PARTICIPANTS", None),
        ("PARTICIPANTS", "female"),
        ("WOMEN_SHARE", None),
        ("TRAININGS", None),
    }
    assert lines[("PARTICIPANTS", None)].actual == 47
    assert lines[("PARTICIPANTS", None)].percent == pytest.approx(47.0)
    assert lines[("PARTICIPANTS", "female")].actual == 22
    assert lines[("WOMEN_SHARE", None)].actual == pytest.approx(100 * 22 / 47)
    assert lines[("WOMEN_SHARE", None)].figures() == "47\u00a0% / 50\u00a0%"
    assert lines[("TRAININGS", None)].figures() == "1 / 2"
    # a share of women written as every share the tablet writes: 99.7 % is not "100 %"
    nearly = ProgressLine("WOMEN_SHARE", None, "2025Q1", 99.7, 100.0)
    assert nearly.figures() == "99.7\u00a0% / 100\u00a0%"
    assert lines[("PARTICIPANTS", "female")].label == "Participants (Women)"


def test_progress_falls_back_to_the_year_when_the_quarter_has_no_target() -> None:
    acts = [activity(PROJECT, start=date(2025, 1, 5))]
    lines = progress(
        targets=[{"indicator": "ACTIVITIES", "period": "2025", "value": 4}],
        activities=acts,
        today=TODAY,
    )
    assert [(line.period, line.actual) for line in lines] == [("2025", 1)]


def test_expert_days_and_unique_participants() -> None:
    people = [str(uuid.uuid4()) for _ in range(3)]
    acts = [
        activity(
            PROJECT,
            type="expert_deployment",
            experts_count=2,
            start=date(2025, 1, 1),
            end_date="2025-01-03",
        ),
        activity(PROJECT, participant_ids=people[:2]),
        activity(PROJECT, participant_ids=people[1:]),
    ]
    assert actual("EXPERT_DAYS", acts) == 6
    assert actual("UNIQUE_PARTICIPANTS", acts) == 3
    roster = {
        people[0]: {"sex": "female"},
        people[1]: {"sex": "male"},
        people[2]: {"sex": "female"},
    }
    assert actual("UNIQUE_PARTICIPANTS", acts, "female", roster) == 2
    assert actual("WOMEN_SHARE", []) is None
    assert quarter_of(date(2025, 12, 31)) == "2025Q4"


def test_project_card_counts_pending_and_attention() -> None:
    card = project_card(
        PROJECT,
        activities=[activity(PROJECT)],
        states={"pending": 1, "synced": 1, "returned": 1, "rejected": 1},
        targets=[],
        participants=[],
        today=TODAY,
    )
    assert (card.activities, card.pending, card.attention) == (4, 1, 2)
    assert card.meta == "CPP · Lesotho · Value Chain Development for Smallholders"
    assert period_heading(card) == "No targets for 2025Q1 yet"


def test_the_project_card_names_the_country_in_the_tablets_language() -> None:
    # A tablet in Portuguese showed "CPP · Mozambique · …": country names were English only.
    from field_app import i18n

    project = {**PROJECT, "country": "MOZ", "thematic_area": "TA3"}
    try:
        for language, name in (("pt", "Moçambique"), ("fr", "Mozambique"), ("es", "Mozambique")):
            i18n.set_language(language)
            card = project_card(
                project, activities=[], states={}, targets=[], participants=[], today=TODAY
            )
            assert card.meta.split(" · ")[1] == name, language
        i18n.set_language("pt")
        egypt = project_card(
            {**project, "country": "EGY"},
            activities=[],
            states={},
            targets=[],
            participants=[],
            today=TODAY,
        )
        assert egypt.meta.split(" · ")[1] == "Egito"
    finally:
        i18n.set_language("en")


# -- the activity list -------------------------------------------------------------------------


def rows(n: int) -> list[Row]:
    states = ["pending", "synced", "returned", "conflict", "rejected"]
    return [
        Row.of(
            activity(
                PROJECT,
                title=f"Démonstration {i}",
                start=date(2025, 1, 1) + timedelta(days=i % 300),
            ),
            state=states[i % 5],
            site_name="Réunion" if i % 2 else "Roma",
        )
        for i in range(n)
    ]


def test_list_filters_searches_and_sorts_newest_first() -> None:
    listing = ActivityList(rows(50))
    assert len(listing.visible()) == 50
    assert listing.visible()[0].start_date >= listing.visible()[-1].start_date
    listing.set_filter("returned")
    assert {r.state for r in listing.visible()} == {"returned"}
    assert listing.filter_label("returned") == "Returned (10)"
    listing.set_filter(ALL)
    listing.set_query("REUNION  démonstration 49")  # accents and case do not matter
    assert [r.title for r in listing.visible()] == ["Démonstration 49"]
    view = listing.data()[0]
    assert view["state_label"] in ("pending", "synced", "returned", "conflict", "rejected")
    assert view["figures"] == "20 participants · women 60\u00a0%"
    listing.set_query("roma 49")
    assert listing.visible() == []
    with pytest.raises(ValueError, match="unknown state filter"):
        listing.set_filter("lost")


def test_searching_ten_thousand_rows_is_one_pass() -> None:
    listing = ActivityList(rows(10_000))
    listing.set_query("roma 2025-03")
    started = time.perf_counter()
    found = listing.visible()
    elapsed = time.perf_counter() - started
    assert found and all(r.site == "Roma" and r.start_date.startswith("2025-03") for r in found)
    # Not a timing assertion: this prints the figure for people reading the test output.
    print(f"search over 10 000 rows: {elapsed * 1000:.1f} ms")


@pytest.mark.parametrize(
    ("language", "shown", "typed"),
    [
        ("en", "3 November 2026", "3 november 2026"),
        ("fr", "3 novembre 2026", "3 NOVEMBRE"),
        ("pt", "3 de novembro de 2026", "novembro de 2026"),
        ("es", "3 de noviembre de 2026", "3 de noviembre"),
    ],
)
def test_list_dates_are_in_the_readers_language_and_found_typed_either_way(
    language: str, shown: str, typed: str
) -> None:
    # The activity and measurement lists (and Needs attention) showed 2026-11-03 in every
    # language, while the form shows "3 November 2026". The search still takes the date as
    # the tablet stores it, and as the list shows it.
    from field_app import i18n
    from field_app.controllers import observations

    i18n.set_language(language)
    try:
        wanted = activity(PROJECT, title="Hermetic bags", start=date(2026, 11, 3))
        october = activity(PROJECT, title="Hermetic bags", start=date(2026, 10, 3))
        listing = ActivityList(
            [Row.of(a, state="synced", site_name="Roma") for a in (wanted, october)]
        )
        views = {v["record_id"]: v for v in listing.data()}
        assert views[wanted["id"]]["subtitle"].startswith(shown + " · "), views
        for query in ("2026-11-03", "2026-11", typed):
            listing.set_query(query)
            assert [r.id for r in listing.visible()] == [wanted["id"]], query
        measured = {"id": str(uuid.uuid4()), "observed_on": "2026-11-03", "values": {}}
        [row] = observations.rows([(measured, "synced")], [])
        assert row.subtitle.startswith(shown), row.subtitle
        returned = LocalRecord(wanted, "returned", comment="Add photos")
        assert describe(returned).subtitle.startswith(shown + " · ")
        returned_measurement = LocalRecord(measured, "returned", comment="Weigh again")
        item = observations.attention_item(returned_measurement, [])
        assert item.subtitle.startswith(shown + " · "), item.subtitle
    finally:
        i18n.set_language("en")


def test_fold_removes_accents_and_case() -> None:
    assert fold("Réunion ÉTÉ") == "reunion ete"


# -- sync bar ---------------------------------------------------------------------------------

NOW = datetime(2025, 3, 14, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=42), "42 minutes ago"),
        (timedelta(hours=3), "3 hours ago"),
        (timedelta(days=3), "3 days ago"),
    ],
)
def test_ago_in_words(delta: timedelta, words: str) -> None:
    assert ago(NOW - delta, NOW) == words
    assert ago(None, NOW) == "never"


def test_sync_bar_says_what_waits_and_what_failed() -> None:
    text = sync_bar(
        SyncStatus(
            pending=3,
            changes=3,
            last_success=NOW - timedelta(hours=2),
            last_error="cannot reach the server",
            attention=1,
        ),
        NOW,
    )
    assert text.headline == "Waiting to be sent: 3 records · 1 needs your attention"
    assert text.detail == "Last successful sync: 2 hours ago"
    # No cause recorded (a store from an older app): the client's words.
    assert text.error == "Last sync failed: cannot reach the server"
    assert text.tone == "error"
    calm = sync_bar(SyncStatus(pending=0, last_success=NOW, last_error=None), NOW)
    assert (calm.headline, calm.error, calm.tone) == ("Everything is sent", "", "ok")


def test_photos_waiting_are_not_everything_sent() -> None:
    # The records went; 3 photos (4.2 MB) did not: the finding was "Everything is sent".
    status = SyncStatus(
        pending=0, last_success=NOW, last_error=None, photos=3, photo_bytes=4_200_000
    )
    text = sync_bar(status, NOW)
    assert text.headline == "Waiting to be sent: 3 photos (4.2 MB)"
    assert (text.tone, text.progress) == ("pending", -1.0)
    one = sync_bar(
        SyncStatus(
            pending=2, changes=4, last_success=NOW, last_error=None, photos=1, photo_bytes=310_000
        ),
        NOW,
    )
    assert one.headline == "Waiting to be sent: 2 records, 1 photo (310 KB)"
    # Only a photo's details wait (no record of its own, no bytes): still not sent.
    details = sync_bar(SyncStatus(pending=0, changes=1, last_success=NOW, last_error=None), NOW)
    assert details.headline == "Waiting to be sent: 1 change"


def test_the_current_upload_shows_its_progress_and_what_is_left() -> None:
    status = SyncStatus(
        pending=0,
        last_success=NOW - timedelta(minutes=5),
        last_error=None,
        photos=2,
        photo_bytes=620_000,
        running=True,
        upload=UploadNow("p1", sent=120_000, size=310_000),
    )
    text = sync_bar(status, NOW)
    # what is left of them, said so: "2 photos (500 KB)" read as the photos' size
    assert text.headline == "Waiting to be sent: 2 photos (500 KB left)"
    assert text.detail == (
        "Sending a photo: 120 KB of 310 KB (38\u00a0%) · Last successful sync: 5 minutes ago"
    )
    assert text.progress == pytest.approx(0.38)


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        ("no_network", "no network. Check mobile data or Wi-Fi; the tablet tries again by itself."),
        ("unreachable", "the server cannot be reached (it may be down). The tablet tries again"),
        ("timeout", "the link is too slow: the server's answer did not come in time."),
        ("connection_lost", "the connection broke during the transfer."),
        ("busy", "the server is busy. The tablet tries again later."),
        ("not_the_server", "the network answered with a web page, not the server. Sign in"),
        ("refused", "the server refused a request (the server refused the request (400): x)."),
    ],
)
def test_a_failed_round_is_worded_by_its_real_cause(cause: str, words: str) -> None:
    status = SyncStatus(
        pending=1,
        changes=1,
        last_success=None,
        last_error="the server refused the request (400): x",
        error_cause=cause,
    )
    assert sync_bar(status, NOW).error.startswith(f"Last sync failed: {words}")


def test_the_sync_bar_speaks_french() -> None:
    from field_app import i18n

    i18n.set_language("fr")
    try:
        text = sync_bar(
            SyncStatus(
                pending=1,
                changes=1,
                last_success=None,
                last_error="x",
                error_cause="no_network",
                photos=2,
                photo_bytes=700_000,
            ),
            NOW,
        )
    finally:
        i18n.set_language("en")
    assert "2 photos" in text.headline and "Waiting" not in text.headline
    assert "Wi-Fi" in text.error and "no network" not in text.error


def test_the_upload_tracker_keeps_the_photo_going_now() -> None:
    calls: list[int] = []
    tracker = UploadTracker()
    tracker.on_change = lambda: calls.append(1)
    tracker("p1", 0, 300_000)
    assert tracker.current() == UploadNow("p1", 0, 300_000)
    tracker("p1", 262_144, 300_000)
    assert tracker.current() == UploadNow("p1", 262_144, 300_000)
    assert tracker.current().percent == 87  # type: ignore[union-attr]
    tracker("p1", 300_000, 300_000)  # all in: nothing going
    assert tracker.current() is None and len(calls) == 3
    tracker("p2", 10, 20)
    tracker.clear()  # the round ended
    assert tracker.current() is None


# -- enrolment input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("pilot.example.org", "https://pilot.example.org"),
        ("https://pilot.example.org/", "https://pilot.example.org"),
        ("https://pilot.example.org/api/v1", "https://pilot.example.org"),
        ("192.168.1.20:8000", "http://192.168.1.20:8000"),
        ("localhost:8000", "http://localhost:8000"),
        ("http://10.0.0.5/pilot/", "http://10.0.0.5/pilot"),
    ],
)
def test_server_address_becomes_a_url(typed: str, url: str) -> None:
    assert normalise_server(typed) == url


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "Type the server address"),
        ("pilot example", "no spaces"),
        ("ftp://pilot.example.org", "https:// or http://"),
        ("host:port", "must be a number"),
    ],
)
def test_bad_server_addresses_say_why(typed: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        normalise_server(typed)


def test_enrol_form_names_missing_fields() -> None:
    assert EnrolForm(mode="code", server="x.org").errors() == {
        "code": "Type the enrolment code from your country office"
    }
    assert set(EnrolForm(mode="password").errors()) == {"server", "username", "password"}
    assert EnrolForm(code=" ab12 - cd34 ").code_text() == "ab12-cd34"


def test_enrol_form_reads_the_dashboard_qr() -> None:
    form = EnrolForm(mode="password", server="old.example.org")
    assert form.take_qr("pilotmon:enrol?code=AB12-CD34&server=https%3A%2F%2Fpilot.example.org")
    assert (form.mode, form.code, form.server) == ("code", "AB12-CD34", "https://pilot.example.org")
    assert not EnrolForm().take_qr("AB12-CD34")
    assert not EnrolForm().take_qr("pilotmon:enrol?server=x")


# -- roster ------------------------------------------------------------------------------------


def test_roster_registers_ticks_and_fills_attendance() -> None:
    roster = Roster(project_id=PROJECT["id"], participants=[], ticked=[], today=TODAY)
    person, errors = roster.register(
        code="LSO-0001", sex="female", birth_year="1990", category="farmer", disability=False
    )
    assert errors == {} and person is not None and roster.ticked == [person["id"]]
    again, errors = roster.register(
        code="lso-0001", sex="male", birth_year="", category="official", disability=True
    )
    assert again is None and errors == {} and len(roster.people) == 1
    roster.register(
        code="pilotmon:participant?code=LSO-0002",
        sex="male",
        birth_year="1950",
        category="farmer",
        disability=True,
    )
    assert roster.by_code("LSO-0002") is not None
    grid = roster.attendance(2025)
    assert grid.total() == 2
    assert grid.total(sex="female", age_band="youth") == 1
    assert grid.total(sex="male", age_band="senior", disability=True) == 1
    roster.tick(person["id"])
    assert roster.attendance(2025).total() == 1


def test_roster_refuses_bad_input_with_reasons() -> None:
    roster = Roster(project_id=PROJECT["id"], participants=[], ticked=[], today=TODAY)
    _person, errors = roster.register(
        code="", sex="female", birth_year="1890", category="farmer", disability=False
    )
    assert errors["code"] == "Required"
    assert errors["birth_year"] == "Use a year from 1915 to 2025"
    assert roster.ticked == []


def test_code_from_scan() -> None:
    assert code_from_scan("  LSO-9 ") == "LSO-9"
    assert code_from_scan("pilotmon:participant?code=LSO-9&x=1") == "LSO-9"


# -- attention -----------------------------------------------------------------------------------


def test_conflict_shows_what_differs_side_by_side() -> None:
    record = LocalRecord(
        activity(PROJECT, title="Mine"),
        "conflict",
        conflict_fields=["title", "attendance", "type"],
        mine={"title": "Mine", "type": "workshop", "attendance": [{"sex": "female", "count": 3}]},
        theirs={"title": "Theirs", "type": "field_day", "attendance": []},
    )
    item = describe(record)
    assert [(d.label, d.mine, d.theirs) for d in item.differences] == [
        ("Title", "Mine", "Theirs"),
        ("Attendance", "3 people, 3 women", "–"),
        ("Type", "Workshop", "Field day"),
    ]
    assert item.reason.startswith("The server has another version of the same fields")


def test_returned_and_rejected_explain_themselves() -> None:
    returned = describe(LocalRecord(activity(PROJECT), "returned", comment="Add photos"))
    assert returned.reason == "Returned by the country office: Add photos"
    rejected = describe(
        LocalRecord(
            activity(PROJECT),
            "rejected",
            errors=[{"field": "attendance[0].count", "message": "out of range"}],
        )
    )
    assert rejected.errors == (("Attendance", "out of range"),)


# -- settings helpers --------------------------------------------------------------------------


def test_log_lines_in_words() -> None:
    ok = LogEntry(
        at=NOW - timedelta(minutes=5),
        ok=True,
        sent=3,
        received=10,
        photos=1,
        bytes_sent=18_300_000,
        bytes_received=41_000,
    )
    assert log_line(ok, NOW) == (
        "5 minutes ago",
        "Done: changes sent 3, photos sent 1, changes received 10; 18.3 MB up, 41 KB down",
        True,
    )
    failed = LogEntry(
        at=NOW,
        ok=False,
        cause="timeout",
        error="the link is too slow: no answer in time; will try again later",
        sent=2,
        bytes_sent=640_000,
        bytes_received=2_000,
    )
    assert log_line(failed, NOW) == (
        "just now",
        "Failed: the link is too slow: the server's answer did not come in time. The tablet "
        "tries again by itself. Before that: changes sent 2, photos sent 0, changes received "
        "0; 640 KB up, 2 KB down",
        False,
    )
    # Sent is not accepted: what the server refused or found in conflict is said.
    answered = LogEntry(at=NOW, ok=True, sent=3, refused=1, conflicts=2)
    assert log_line(answered, NOW)[1] == (
        "Done: changes sent 3, photos sent 0, changes received 0; 0 KB up, 0 KB down. "
        "Of them, 1 refused by the server, 2 in conflict: see “Needs attention”."
    )
    # An entry written before causes were kept: its words as they were.
    old = LogEntry(at=NOW, ok=False, error="the server had a problem (500)")
    assert log_line(old, NOW) == ("just now", "Failed: the server had a problem (500)", False)


def test_bundle_directory(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXTERNAL_STORAGE", raising=False)
    assert bundle_directory(tmp_path) == tmp_path / "bundles"
    monkeypatch.setenv("EXTERNAL_STORAGE", str(tmp_path / "sdcard"))
    assert bundle_directory(tmp_path) == tmp_path / "sdcard" / "Documents" / "PilotMonitor"


def test_a_tablet_without_a_bundle_key_is_told_how_to_get_one(tmp_path: Any) -> None:
    from field_app import i18n
    from sync.bundle import NoBundleKey, export_bundle
    from sync.store import DeviceStore

    store = DeviceStore(tmp_path / "old-tablet.sqlite3")
    try:
        with pytest.raises(NoBundleKey) as raised:
            export_bundle(store, tmp_path / "outbox.zip")
    finally:
        store.close()
    assert not (tmp_path / "outbox.zip").exists()
    assert "connect to the server once" in bundle_error(raised.value)
    assert bundle_error(OSError("disk full")) == "Could not write the bundle: disk full"
    try:
        i18n.set_language("fr")
        assert "connectez-vous une fois au serveur" in bundle_error(raised.value)
    finally:
        i18n.set_language("en")


# -- field details: calendar, chooser folder, coordinates, attendance chips, enrolment code ------


def test_a_month_is_weeks_starting_on_monday() -> None:
    from field_app.controllers import dates

    march = dates.weeks(2025, 3)  # 1 March 2025 is a Saturday
    assert march[0] == [None] * 5 + [date(2025, 3, 1), date(2025, 3, 2)]
    assert all(len(week) == 7 for week in march)
    assert march[-1][0] == date(2025, 3, 31)  # a Monday, alone in its week
    assert dates.weekday_names()[0] == "Mon"
    assert dates.month_title(2025, 3) == "March 2025"
    assert dates.shift_month(2025, 12, 1) == (2026, 1)
    assert dates.shift_month(2025, 1, -1) == (2024, 12)
    assert dates.in_words("2025-03-14") == "14 March 2025"
    assert dates.in_words("not a date") == "not a date"


@pytest.mark.parametrize(
    ("language", "title", "monday", "words", "first"),
    [
        ("en", "March 2025", "Mon", "14 March 2025", "1 January 2026"),
        # French writes the first of the month as an ordinal: "1er janvier", not "1 janvier".
        ("fr", "mars 2025", "lun.", "14 mars 2025", "1er janvier 2026"),
        ("pt", "março de 2025", "seg.", "14 de março de 2025", "1 de janeiro de 2026"),
        ("es", "marzo de 2025", "lun.", "14 de marzo de 2025", "1 de enero de 2026"),
    ],
)
def test_the_calendar_speaks_the_users_language(
    language: str, title: str, monday: str, words: str, first: str
) -> None:
    from field_app import i18n
    from field_app.controllers import dates

    i18n.set_language(language)
    try:
        assert dates.month_title(2025, 3) == title
        assert dates.weekday_names()[0] == monday
        assert dates.in_words("2025-03-14") == words
        assert dates.in_words("2026-01-01") == first
        assert dates.in_words("2026-01-02").startswith("2 ")
    finally:
        i18n.set_language("en")


def test_the_chooser_opens_at_the_pictures_folder(tmp_path: Any) -> None:
    from pathlib import Path

    from field_app.controllers.chooser import pictures_folder

    home = Path(tmp_path)
    assert pictures_folder(home, {}) == home  # nothing better
    (home / "Pictures").mkdir()
    assert pictures_folder(home, {}) == home / "Pictures"
    (home / "Fotos").mkdir()
    (home / ".config").mkdir()
    (home / ".config" / "user-dirs.dirs").write_text(
        '# written by xdg-user-dirs-update\nXDG_PICTURES_DIR="$HOME/Fotos"\n', encoding="utf-8"
    )
    assert pictures_folder(home, {}) == home / "Fotos"
    (home / "Shots").mkdir()
    assert pictures_folder(home, {"XDG_PICTURES_DIR": str(home / "Shots")}) == home / "Shots"
    # A setting that names a missing folder falls through to the next.
    assert pictures_folder(home, {"XDG_PICTURES_DIR": str(home / "gone")}) == home / "Fotos"


def test_the_chooser_lists_folders_then_photos_by_name(tmp_path: Any) -> None:
    from pathlib import Path

    from field_app.controllers.chooser import listing

    folder = Path(tmp_path)
    for name in ("b.JPG", "a.png", "c.webp", "notes.txt", ".hidden.jpg"):
        (folder / name).write_bytes(b"x" * 2500)
    (folder / "Zebra").mkdir()
    (folder / "april").mkdir()
    entries = listing(folder)
    assert [(e.name, e.folder) for e in entries] == [
        ("april", True),
        ("Zebra", True),
        ("a.png", False),
        ("b.JPG", False),
        ("c.webp", False),  # the server takes WebP: the tablet turns it into a JPEG
    ]
    assert entries[2].detail.startswith("2 KB · ")
    assert listing(folder / "missing") == []


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("-29.3123", "-29.3123"),
        ("-29,31", "-29.31"),
        ("\u221229,31", "-29.31"),  # the minus sign of "e.g. −29,31", pasted
        ("27.48 E", "27.48"),
        ("abc", ""),
    ],
)
def test_coordinate_boxes_keep_signs_and_decimals(typed: str, kept: str) -> None:
    from field_app.controllers.form import coordinate_keys

    assert coordinate_keys(typed) == kept


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Type a number, e.g. \u221229.31"),
        ("fr", "Saisissez un nombre, p. ex. \u221229,31"),
        ("pt", "Escreva um número, p. ex. \u221229,31"),
        ("es", "Escriba un número, p. ej. \u221229,31"),
    ],
)
def test_the_number_example_is_in_the_readers_notation(language: str, message: str) -> None:
    # "e.g. -29.31" was in English notation in every language (a comma is accepted too);
    # its minus is the minus sign (U+2212), as every negative number the app writes.
    from field_app import i18n
    from field_app.controllers.messages import field_message
    from shared.validation import Issue

    i18n.set_language(language)
    try:
        shown = field_message(Issue("lat", "not_number", "must be a number"))
    finally:
        i18n.set_language("en")
    assert shown == message


@pytest.mark.parametrize(
    ("language", "whole", "fraction"),
    [
        ("en", "\u221212,345", "\u22124.25"),
        ("fr", "\u221212\u00a0345", "\u22124,25"),
        ("es", "\u221212.345", "\u22124,25"),
    ],
)
def test_negative_figures_take_the_minus_sign(language: str, whole: str, fraction: str) -> None:
    # The tablet wrote "-12,345" with a hyphen where the dashboard writes "−12,345"; a
    # field's bounds read "-10 – 40".
    from field_app import i18n
    from field_app.controllers.observations import _bound_text
    from shared.typography import read_typed_number

    i18n.set_language(language)
    try:
        assert (i18n.number(-12345), i18n.decimal(-4.25, 2)) == (whole, fraction)
        assert i18n.decimal(-0.04) == i18n.decimal(0.0)  # no sign on what rounds to zero
        assert _bound_text(-10) == "\u221210"
    finally:
        i18n.set_language("en")
    # Copied back from the screen, in the language it was written in.
    assert read_typed_number(fraction, language) == -4.25
    assert read_typed_number(whole, language) == -12345


def test_every_attendance_chip_has_its_count_and_the_caption_names_the_grid() -> None:
    from field_app.controllers.attendance import AttendanceGrid, Cell, chip_counts, grid_caption

    grid = AttendanceGrid()
    grid.set(Cell("farmer", False, "female", "adult"), 12)
    grid.set(Cell("farmer", True, "male", "youth"), 2)
    grid.set(Cell("technician", False, "male", "adult"), 3)
    assert chip_counts(grid, "farmer") == {
        "farmer": "14",
        "technician": "3",
        "official": "0",
        "other": "0",
        "without": "12",
        "with": "2",
    }
    assert chip_counts(grid, "technician")["with"] == "0"
    assert grid_caption("technician", False) == "Counting: Technicians without a disability"
    assert grid_caption("farmer", True) == "Counting: Farmers with a disability"


def test_the_enrolment_placeholder_looks_like_a_real_code() -> None:
    from field_app.controllers.enrol import CODE_EXAMPLE
    from server.accounts.devices import CODE_ALPHABET, CODE_LENGTH, new_enrolment_code

    real = new_enrolment_code()
    assert len(CODE_EXAMPLE) == len(real) and CODE_EXAMPLE.index("-") == real.index("-")
    letters = CODE_EXAMPLE.replace("-", "")
    assert len(letters) == CODE_LENGTH and set(letters) <= set(CODE_ALPHABET)
