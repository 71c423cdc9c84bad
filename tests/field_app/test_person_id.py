"""One way for the tablet to know its person (docs/protocol.md#enrolment): the id the
enrolment answer names, kept; for a tablet enrolled before the answer named it, the one author
of its records the server accepted; else unknown, and the server decides. Needs attention, the
sync bar and the form all ask ``Backend.person_id``, so a field expert's tablet enrolled with
an id tells a colleague's record from its person's from its first minute."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from field_app import APP_VERSION, enrolment
from field_app.i18n import set_language
from field_app.session import known_person
from sync.protocol import Change, Op
from tests.field_app import kivy_driver
from tests.field_app.fakes import MemoryBackend, activity
from tests.field_app.quiet_tablet import QuietTablet
from tests.field_app.test_attention_mine import colleagues, returned
from tests.field_app.test_ui import make_app, on_screen

ME, COLLEAGUE, THIRD = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
SERVER = "https://pm.example.org"
ENROL = enrolment.enrol  # the app's own, before a test plays its server


class Enrolling(BaseAdapter):
    """A server that answers ``POST /devices/enrol`` with ``user`` (any device id echoed)."""

    def __init__(self, user: dict[str, Any]) -> None:
        super().__init__()
        self.user = user

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_kwargs: Any
    ) -> requests.Response:
        sent = json.loads(request.body or b"{}")
        response = requests.Response()
        response.request, response.url, response.status_code = request, str(request.url), 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(
            {
                "device_token": "a-device-token",
                "device_id": sent["device_id"],
                "server_time": "2025-03-14T08:00:00Z",
                "bundle_key": "00" * 32,
                "bundle_key_id": "k1",
                "receipt_keys": [],
                "user": self.user,
            }
        ).encode()
        return response

    def close(self) -> None:
        pass


def _http(**user: Any) -> requests.Session:
    http = requests.Session()
    http.mount("https://", Enrolling({"username": "amina", "role": "field_expert", **user}))
    return http


def _enrolled(http: requests.Session) -> enrolment.Enrolled:
    return enrolment.enrol(
        server=SERVER,
        device_id=str(uuid.uuid4()),
        label="Maseru tablet 2",
        app_version=APP_VERSION,
        code="ABCDE-FGHIJ",
        session=http,
    )


def test_the_tablet_reads_the_persons_id_from_the_enrolment_answer() -> None:
    assert _enrolled(_http(id=ME)).user_id == ME
    assert _enrolled(_http(id=ME.upper())).user_id == ME  # as pulled records write it
    # A server that names no id, or names it oddly: unknown, never a made-up id.
    for user in ({}, {"id": None}, {"id": "amina"}, {"id": 7}):
        assert _enrolled(_http(**user)).user_id is None


@pytest.mark.parametrize(
    ("enrolled", "accepted", "person"),
    [
        (ME, set(), ME),  # enrolled with an id: known from the first minute
        (ME, {COLLEAGUE}, ME),  # the enrolment's id wins over any guess
        (None, {ME}, ME),  # enrolled before: the one author of accepted records
        (None, set(), None),  # nothing accepted yet: unknown
        (None, {ME, THIRD}, None),  # two authors name nobody: unknown, the server decides
    ],
    ids=["enrolled", "enrolled-wins", "one-author", "nothing-accepted", "two-authors"],
)
def test_the_person_is_the_enrolments_else_the_one_accepted_author(
    enrolled: str | None, accepted: set[str], person: str | None
) -> None:
    assert known_person(enrolled, accepted) == person


@pytest.fixture
def tablet(tmp_path: Path) -> QuietTablet:
    set_language("en")
    return QuietTablet(tmp_path / "tablet")


def _enrol(tablet: QuietTablet, http: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tablet enrolled again through the app's own path, answered by ``http``."""

    def played(**given: Any) -> enrolment.Enrolled:
        return ENROL(**{**given, "session": http})

    monkeypatch.setattr(enrolment, "enrol", played)
    tablet.backend.enrol(
        server_url=SERVER, code="ABCDE-FGHIJ", username=None, password=None, label="Tab 2"
    )


def _mine_returned(tablet: QuietTablet) -> dict[str, Any]:
    """My activity, recorded on another tablet of mine and returned to me, pulled: nothing of
    mine went through from this tablet."""
    record = returned(activity(tablet.project, title="Seed potato storage"), by=ME)
    tablet.pull(Change(entity="activity", id=record["id"], op=Op.UPSERT, version=2, data=record))
    return record


def test_enrolled_with_an_id_a_colleagues_returned_record_is_not_mine_from_the_first_minute(
    tablet: QuietTablet, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = _mine_returned(tablet)
    theirs = colleagues(tablet, "Webinar: input credit for potato growers")
    observed = returned(tablet.observation(), by=COLLEAGUE)
    tablet.pull(
        Change(entity="observation", id=observed["id"], op=Op.UPSERT, version=2, data=observed)
    )
    # Enrolled before the answer named the person, nothing accepted from here: every
    # returned record counts, as before.
    assert tablet.backend.person_id() is None
    assert {r.id for r in tablet.backend.attention()} == {mine["id"], theirs["id"]}
    assert tablet.backend.status().attention == 3

    _enrol(tablet, _http(id=ME), monkeypatch)
    assert tablet.backend.person_id() == ME
    assert [r.id for r in tablet.backend.attention()] == [mine["id"]]
    assert tablet.backend.observation_attention() == []
    assert tablet.backend.status().attention == 1
    states = tablet.backend.activity_states(tablet.project["id"])
    assert states["returned"] == 1 and states["synced"] == 1


def test_a_country_officer_enrolled_with_an_id_may_correct_any_returned_record(
    tablet: QuietTablet, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = colleagues(tablet, "Webinar: input credit for potato growers")
    _enrol(tablet, _http(id=ME, role="country_officer"), monkeypatch)
    assert [r.id for r in tablet.backend.attention()] == [theirs["id"]]


def test_enrolled_again_by_a_server_that_names_no_id_the_tablet_falls_back(
    tablet: QuietTablet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enrol(tablet, _http(id=ME), monkeypatch)
    _enrol(tablet, _http(), monkeypatch)
    # No id kept from before: the accepted records decide (none yet), as on an old tablet.
    assert tablet.backend.person_id() is None


@pytest.mark.kivy
@pytest.mark.slow
def test_enrolled_with_an_id_a_colleagues_activity_opens_read_only_at_once(
    kivy_window: None, tmp_path: Path
) -> None:
    from field_app.device import Device
    from field_app.session import FieldSession

    backend = MemoryBackend()
    backend.enrol_as("amina", user_id=ME)
    project = backend.add_project()
    # Nothing signed for on this tablet: only the enrolment names the person.
    theirs = backend.add_record(activity(project, title="Their training", created_by_id=COLLEAGUE))
    mine = backend.add_record(activity(project, title="My training", created_by_id=ME))
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    with kivy_driver.running(make_app(session)) as driver:
        driver.app.show("form", activity_id=theirs.id)
        form = on_screen(driver, "form")
        assert form.not_yours and form.read_only
        assert form.banner == "Recorded by a colleague: only they can change it."
        assert form.ids.save_top.disabled
        driver.app.back()
        driver.app.show("form", activity_id=mine.id)
        form = on_screen(driver, "form")
        assert not form.read_only and form.banner == ""
        assert not form.ids.save_top.disabled
