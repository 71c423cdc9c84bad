"""Where a country officer finds the sync conflicts to settle: the overview and the review page
list the open ones of the scope, each linked to the page where it is settled. Before, a conflict
showed only on its activity's page, which nothing pointed to."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.auth import issue_access_token
from server.activities.models import Activity, Attachment
from server.activities.service import ActivityWrite, Writer, write_activities
from server.db import write_engine
from server.projects.models import Participant, Project, Site
from server.records.models import AuditEntry, RecordRevision
from server.results.models import Observation
from server.results.observations import write_observation
from server.sync.models import SyncConflict
from tests.factories import make_observation_form, observation_data
from tests.server.dashboard.conftest import fresh, main_of, sign_in, sqlite_only, token_for
from tests.server.dashboard.world import World


def _conflicts_card(html: str) -> str:
    start = html.find('id="open-conflicts"')
    assert start >= 0, "no list of open conflicts"
    return html[start : html.index("</section>", start)]


def test_the_review_page_lists_the_open_conflicts_with_a_link_to_settle_each(
    officer: TestClient, world: World
) -> None:
    assert world.conflict is not None
    disputed = world.submitted[1]
    card = _conflicts_card(main_of(officer.get("/review").text))
    assert "1 sync conflict to settle" in card
    assert f'href="/activities/{disputed.id}#conflict-{world.conflict.id}"' in card
    assert disputed.title in card
    assert "Title" in card  # the field both sides changed
    assert "Tablet A — Maseru" in card


def test_the_overview_says_how_many_conflicts_wait(officer: TestClient, world: World) -> None:
    html = main_of(officer.get("/overview").text)
    assert "1 sync conflict to settle" in html
    assert 'href="/review#open-conflicts"' in html


@sqlite_only
def test_a_settled_conflict_leaves_the_list(
    officer: TestClient, engine: Engine, world: World
) -> None:
    assert world.conflict is not None
    disputed = world.submitted[1]
    officer.post(
        f"/conflicts/{world.conflict.id}/resolve",
        data={"csrf_token": token_for(officer, f"/activities/{disputed.id}"), "keep": "server"},
    )
    assert 'id="open-conflicts"' not in main_of(officer.get("/review").text)
    assert "sync conflict" not in main_of(officer.get("/overview").text)


@sqlite_only
def test_the_list_keeps_to_the_readers_scope_and_language(
    client: TestClient, engine: Engine, world: World
) -> None:
    # Ethiopia's officer does not see Lesotho's conflict.
    sign_in(client, engine, world.officer_eth)
    assert 'id="open-conflicts"' not in main_of(client.get("/review").text)
    # Lesotho's officer reads it in French.
    sign_in(client, engine, world.officer)
    client.cookies.set("pilotmon_lang", "fr")
    with Session(write_engine(engine)) as writer:
        writer.add(
            SyncConflict(
                entity="activity",
                entity_id=world.submitted[0].id,
                project_id=world.submitted[0].project_id,
                fields=["notes"],
                base_values={"notes": ""},
                server_values={"notes": "a"},
                device_values={"notes": "b"},
            )
        )
        writer.commit()
    card = _conflicts_card(main_of(client.get("/review").text))
    assert "2 conflits de synchronisation à régler" in card


def test_a_conflicts_long_values_show_whole_so_the_officer_sees_what_differs(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Two long notes that differ only at the end read the same once cut at 120 characters:
    the officer would pick a side blind."""
    shared = "Attendance checked against the sign-in sheet at the Leribe site; " * 3
    server_notes, tablet_notes = shared + "16 farmers came.", shared + "166 farmers came."
    activity = world.submitted[0]
    with Session(write_engine(engine)) as writer:
        writer.add(
            SyncConflict(
                entity="activity",
                entity_id=activity.id,
                project_id=activity.project_id,
                fields=["notes"],
                base_values={"notes": ""},
                server_values={"notes": server_notes},
                device_values={"notes": tablet_notes},
            )
        )
        writer.commit()
    html = main_of(officer.get(f"/activities/{activity.id}").text)
    table = html[html.index('id="conflicts"') :]
    assert server_notes.replace("'", "&#39;") in table
    assert tablet_notes.replace("'", "&#39;") in table


@sqlite_only
def test_a_field_expert_is_not_asked_to_settle_conflicts(
    client: TestClient, engine: Engine, world: World
) -> None:
    """Only the office settles a conflict: the expert's pages do not list them as work."""
    sign_in(client, engine, world.expert)
    assert 'id="open-conflicts"' not in main_of(client.get("/review").text)
    assert "sync conflict" not in main_of(client.get("/overview").text)


# --- every kind settled on the dashboard: conflicts raised by real pushes from two tablets ---


class Tablets:
    """The Lesotho expert's two tablets pushing through the sync API, each with its own seq."""

    def __init__(self, client: TestClient, world: World) -> None:
        self.client = TestClient(client.app)  # no session cookie: a tablet
        self.world = world
        self.seq = {
            label: world.tablets[label].last_seq
            for label in ("Tablet A — Maseru", "Tablet B — Leribe")
        }

    def push(
        self,
        label: str,
        entity: str,
        data: dict[str, Any],
        *,
        record_id: str | None = None,
        base_version: int = 0,
    ) -> str:
        self.seq[label] += 1
        mutation = {
            "seq": self.seq[label],
            "entity": entity,
            "op": "upsert",
            "id": record_id or data["id"],
            "base_version": base_version,
            "data": data,
        }
        body = {
            "protocol": 1,
            "device_id": str(self.world.tablets[label].id),
            "mutations": [mutation],
        }
        response = self.client.post(
            "/api/v1/sync/push",
            json=body,
            headers={"Authorization": f"Bearer {self.world.tablet_tokens[label]}"},
        )
        assert response.status_code == 200, response.text
        self.last: dict[str, Any] = response.json()["results"][0]
        status: str = self.last["status"]
        return status

    def clash(self, entity: str, new: dict[str, Any], b: dict[str, Any], a: dict[str, Any]) -> None:
        """Tablet A adds the record; tablet B changes it (version 2); tablet A, still at version
        1, changes the same fields otherwise: a conflict."""
        assert self.push("Tablet A — Maseru", entity, new) == "applied"
        assert self.push("Tablet B — Leribe", entity, b, record_id=new["id"], base_version=1) in (
            "applied",
            "merged",
        )
        status = self.push("Tablet A — Maseru", entity, a, record_id=new["id"], base_version=1)
        assert status == "conflict"


def _open_conflict(engine: Engine, entity_id: str) -> SyncConflict:
    with Session(engine) as reader:
        found = reader.exec(
            select(SyncConflict).where(col(SyncConflict.entity_id) == uuid.UUID(entity_id))
        ).one()
        reader.expunge(found)
        return found


def _settle(client: TestClient, page: str, conflict_id: uuid.UUID, **data: str) -> Any:
    return client.post(
        f"/conflicts/{conflict_id}/resolve",
        data={"csrf_token": token_for(client, page), **data},
        follow_redirects=False,
    )


def _photo(activity_id: uuid.UUID, content: bytes) -> dict[str, Any]:
    """A photo's record as a tablet pushes it, captioned "Demo plot"."""
    return {
        "id": str(uuid.uuid4()),
        "activity_id": str(activity_id),
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "content_type": "image/jpeg",
        "caption": "Demo plot",
    }


def test_a_photo_caption_chosen_when_settling_is_checked_like_a_pushed_one(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Security audit: settling a photo conflict wrote the chosen caption unchecked, where a
    push refuses it: a NUL was a 500 on PostgreSQL (and stored on SQLite), a control character
    or a list was stored, a long caption cut short without a word. Now each is refused at its
    field (422, code as a push's), the conflict stays open and nothing is written."""
    activity = world.submitted[0]
    photo = _photo(activity.id, b"a photo captioned twice")
    Tablets(officer, world).clash("attachment", photo, {"caption": "B"}, {"caption": "A"})
    conflict = _open_conflict(engine, photo["id"])
    with Session(write_engine(engine)) as writer:
        bearer, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
    api = TestClient(officer.app, raise_server_exceptions=False)
    for caption, code in [
        ("a\x00b", "control_character"),
        ("a\x01b", "control_character"),
        (["a", "b"], "not_text"),
        ("x" * 501, "too_long"),
    ]:
        refused = api.post(
            f"/api/v1/conflicts/{conflict.id}/resolve",
            json={"keep": "custom", "values": {"caption": caption}},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["field"] == "values.caption"
        assert refused.json()["detail"][0]["code"] == code
    page = f"/activities/{activity.id}"
    typed = _settle(
        officer,
        page,
        conflict.id,
        on="record",
        keep="custom",
        **{"choice.caption": "custom", "value.caption": "x" * 501},
    )
    assert typed.status_code == 422
    stored = fresh(engine, Attachment, uuid.UUID(photo["id"]))
    assert (stored.caption, stored.version) == ("B", 2)
    assert fresh(engine, SyncConflict, conflict.id).status == "open"


def test_a_site_chosen_when_settling_an_activity_must_be_one_of_its_project(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Security audit: settling an activity's conflict checked the chosen values without the
    project's sites (a push checks them), so Lesotho's officer could put a Lesotho activity at
    an Ethiopian site, whose name its page then showed to everyone who reads Lesotho."""
    activity = world.submitted[0]
    elsewhere = next(s for s in world.sites if s.project_id == world.eth.id)
    with Session(write_engine(engine)) as writer:
        conflict = SyncConflict(
            entity="activity",
            entity_id=activity.id,
            project_id=activity.project_id,
            fields=["site_id"],
            base_values={"site_id": str(activity.site_id)},
            server_values={"site_id": str(activity.site_id)},
            device_values={"site_id": str(elsewhere.id)},
        )
        writer.add(conflict)
        bearer, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
        conflict_id = conflict.id
    for keep in ({"keep": "custom", "values": {"site_id": str(elsewhere.id)}}, {"keep": "device"}):
        refused = TestClient(officer.app).post(
            f"/api/v1/conflicts/{conflict_id}/resolve",
            json=keep,
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["field"] == "values.site_id"
        assert refused.json()["detail"][0]["code"] == "site_not_in_project"
    assert fresh(engine, Activity, activity.id).site_id == activity.site_id
    assert elsewhere.name not in main_of(officer.get(f"/activities/{activity.id}").text)
    # Nor may it count an Ethiopian participant at a Lesotho activity (a push: not_on_roster).
    with Session(write_engine(engine)) as writer:
        stranger = Participant(project_id=world.eth.id, code="ETH-0001")
        on_roster = SyncConflict(
            entity="activity",
            entity_id=activity.id,
            project_id=activity.project_id,
            fields=["participant_ids"],
            base_values={"participant_ids": []},
            server_values={"participant_ids": []},
            device_values={"participant_ids": []},
        )
        writer.add_all([stranger, on_roster])
        writer.commit()
        stranger_id, on_roster_id = str(stranger.id), on_roster.id
    refused = TestClient(officer.app).post(
        f"/api/v1/conflicts/{on_roster_id}/resolve",
        json={"keep": "custom", "values": {"participant_ids": [stranger_id]}},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["field"] == "values.participant_ids"
    assert refused.json()["detail"][0]["code"] == "not_on_roster"


def _api_settle(app: Any, bearer: str, conflict_id: uuid.UUID, body: dict[str, Any]) -> Any:
    return TestClient(app).post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json=body,
        headers={"Authorization": f"Bearer {bearer}"},
    )


def _problems(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return {(d["field"], d["code"]) for d in response.json()["detail"]}


def test_settling_answers_every_problem_at_once_with_the_checks_of_a_push(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Settling a conflict answered a bad request in rounds: a missing field, then (once given)
    a site of another project, then (once fixed) a participant not on the roster. Each round
    cost the officer a submit. Now every problem of the request comes at once, each at its
    field with a push's code (the same check function as a push), on the API and the form."""
    activity = world.submitted[0]
    elsewhere = next(s for s in world.sites if s.project_id == world.eth.id)
    with Session(write_engine(engine)) as writer:
        stranger = Participant(project_id=world.eth.id, code="ETH-0002")
        writer.add(stranger)
        writer.flush()
        stranger_id = str(stranger.id)
        conflict = SyncConflict(
            entity="activity",
            entity_id=activity.id,
            project_id=activity.project_id,
            fields=["participant_ids", "project_id", "site_id", "title"],
            base_values={"site_id": str(activity.site_id), "participant_ids": [], "title": "x"},
            server_values={"site_id": str(activity.site_id), "participant_ids": [], "title": "x"},
            device_values={
                "project_id": str(world.eth.id),
                "site_id": str(elsewhere.id),
                "participant_ids": [stranger_id],
                "title": "",
            },
        )
        writer.add(conflict)
        bearer, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
        conflict_id = conflict.id
    given = {"site_id": str(elsewhere.id), "participant_ids": [stranger_id], "bogus": 1}
    assert _problems(
        _api_settle(officer.app, bearer, conflict_id, {"keep": "custom", "values": given})
    ) == {
        ("values.site_id", "site_not_in_project"),
        ("values.participant_ids", "not_on_roster"),
        ("values.title", "required"),
        ("values.project_id", "required"),
        ("values.bogus", "unknown_field"),
    }
    assert _problems(_api_settle(officer.app, bearer, conflict_id, {"keep": "device"})) == {
        ("values.site_id", "site_not_in_project"),
        ("values.participant_ids", "not_on_roster"),
        ("values.title", "required"),
        ("values.project_id", "not_changeable"),  # a record stays in its project, as a push
    }
    # The form marks each field in conflict with its own problem, in one submit.
    page = f"/activities/{activity.id}"
    refused = _settle(
        officer,
        page,
        conflict_id,
        on="record",
        keep="custom",
        **{"choice.site_id": "device", "choice.participant_ids": "device"},
        **{"choice.project_id": "device"},  # and no choice made for the title
    )
    assert refused.status_code == 422
    shown = main_of(refused.text)
    assert shown.count('class="field-error"') == 4, shown
    for said in (
        "This is required.",
        "This site is not one of the project&#39;s sites.",
        "Some participants are not on the project&#39;s roster yet.",
        "This cannot be changed once recorded",
    ):
        assert said in shown, said
    assert fresh(engine, Activity, activity.id).site_id == activity.site_id
    assert fresh(engine, SyncConflict, conflict_id).status == "open"


def test_a_participant_settled_is_checked_like_a_pushed_one_every_problem_at_once(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """A participant's code taken by another was heard of only once its other fields were
    right, and a settled participant could be given any column of the table (its project
    too), where a push changes only a participant's own fields."""
    with Session(write_engine(engine)) as writer:
        taken = Participant(project_id=world.lso.id, code="LSO-TAKEN")
        person = Participant(project_id=world.lso.id, code="LSO-MINE", birth_year=1990)
        writer.add_all([taken, person])
        writer.flush()
        conflict = SyncConflict(
            entity="participant",
            entity_id=person.id,
            project_id=world.lso.id,
            fields=["birth_year", "code", "project_id"],
            base_values={"code": "LSO-MINE", "birth_year": 1990},
            server_values={"code": "LSO-MINE", "birth_year": 1990},
            device_values={
                "code": "LSO-TAKEN",
                "birth_year": 1800,
                "project_id": str(world.eth.id),
            },
        )
        writer.add(conflict)
        bearer, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
        conflict_id, person_id = conflict.id, person.id
    assert _problems(_api_settle(officer.app, bearer, conflict_id, {"keep": "device"})) == {
        ("values.code", "already_exists"),
        ("values.birth_year", "birth_year_range"),
        ("values.project_id", "unknown_field"),
    }
    stored = fresh(engine, Participant, person_id)
    assert (stored.code, stored.project_id, stored.version) == ("LSO-MINE", world.lso.id, 1)
    assert fresh(engine, SyncConflict, conflict_id).status == "open"


def _tablet_a_captions(tablets: Tablets, photo: dict[str, Any]) -> list[tuple[str, str]]:
    """Tablet A pushes its caption of ``photo`` (from version 2), which is refused: the
    (field, code) of each error."""
    pushed = tablets.push(
        "Tablet A — Maseru", "attachment", {"caption": "A"}, record_id=photo["id"], base_version=2
    )
    assert pushed == "rejected"
    return [(e["field"], e["code"]) for e in tablets.last["errors"]]


def test_a_photo_of_a_deleted_activity_is_not_found_when_settling_as_for_a_push(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Two tablets captioned a photo otherwise, then its activity was deleted. A push of the
    tablet's caption is refused (``not_found`` at ``activity_id``); settling the conflict with
    the tablet's or a custom caption wrote it anyway, on a photo of a deleted activity. Now it
    is refused the same way (422, nothing written, the conflict open); keeping the server's
    values still closes it."""
    activity = world.submitted[0]
    photo = _photo(activity.id, b"a photo of an activity deleted since")
    tablets = Tablets(officer, world)
    tablets.clash("attachment", photo, {"caption": "B"}, {"caption": "A"})
    conflict = _open_conflict(engine, photo["id"])
    with Session(write_engine(engine)) as writer:
        stored = writer.get(Activity, activity.id)
        assert stored is not None
        write_activities(
            writer, [ActivityWrite(existing=stored, delete=True)], writer=Writer(source="api")
        )
        bearer, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
    assert _tablet_a_captions(tablets, photo) == [("activity_id", "not_found")]
    for body in ({"keep": "device"}, {"keep": "custom", "values": {"caption": "Other"}}):
        refused = _api_settle(officer.app, bearer, conflict.id, body)
        assert _problems(refused) == {("activity_id", "not_found")}
    page = f"/conflicts/{conflict.id}"
    typed = _settle(officer, page, conflict.id, on="conflict", keep="device")
    assert typed.status_code == 422
    assert "Activity: Not found on the server" in main_of(typed.text)
    kept = fresh(engine, Attachment, uuid.UUID(photo["id"]))
    assert (kept.caption, kept.version, kept.deleted) == ("B", 2, False)
    assert fresh(engine, SyncConflict, conflict.id).status == "open"
    closed = _api_settle(officer.app, bearer, conflict.id, {"keep": "server"})
    assert closed.status_code == 200, closed.text
    assert fresh(engine, SyncConflict, conflict.id).status == "resolved"
    assert fresh(engine, Attachment, uuid.UUID(photo["id"])).version == 2


def test_a_photo_of_a_deleted_observation_is_not_found_when_settling_as_for_a_push(
    officer: TestClient, engine: Engine, world: World, session: Session
) -> None:
    """As for an activity's photo: its observation deleted since, the tablet's caption is
    refused at ``observation_id`` (not_found) when settling, as a push of it is."""
    form = make_observation_form(session)
    session.commit()
    data = observation_data(world.lso, form)
    tablets = Tablets(officer, world)
    assert tablets.push("Tablet A — Maseru", "observation", data) == "applied"
    photo = {**_photo(world.submitted[0].id, b"a photo of an observation"), "activity_id": None}
    photo["observation_id"] = data["id"]
    tablets.clash("attachment", photo, {"caption": "B"}, {"caption": "A"})
    conflict = _open_conflict(engine, photo["id"])
    with Session(write_engine(engine)) as writer:
        observation = writer.get(Observation, uuid.UUID(data["id"]))
        project = writer.get(Project, world.lso.id)
        assert observation is not None and project is not None
        write_observation(
            writer,
            existing=observation,
            project=project,
            changes={},
            source="api",
            author_id=None,
            deleted=True,
        )
        bearer, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
    assert _tablet_a_captions(tablets, photo) == [("observation_id", "not_found")]
    refused = _api_settle(officer.app, bearer, conflict.id, {"keep": "device"})
    assert _problems(refused) == {("observation_id", "not_found")}
    kept = fresh(engine, Attachment, uuid.UUID(photo["id"]))
    assert (kept.caption, kept.version) == ("B", 2)
    assert fresh(engine, SyncConflict, conflict.id).status == "open"


def test_a_photo_of_an_approved_activity_is_locked_when_settling_as_for_a_push(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """A push refuses a caption change on a photo of an approved activity (locked); settling
    its conflict wrote it anyway, changing an approved record behind its reviewer's back."""
    approved = world.approved[0]
    with Session(write_engine(engine)) as writer:
        photo = Attachment(
            id=uuid.uuid4(),
            activity_id=approved.id,
            sha256=hashlib.sha256(b"an approved photo").hexdigest(),
            size=17,
            content_type="image/jpeg",
            caption="Approved caption",
        )
        writer.add(photo)
        writer.flush()
        conflict = SyncConflict(
            entity="attachment",
            entity_id=photo.id,
            project_id=approved.project_id,
            fields=["caption"],
            base_values={"caption": "Approved caption"},
            server_values={"caption": "Approved caption"},
            device_values={"caption": "Changed after approval"},
        )
        writer.add(conflict)
        bearer, _ = issue_access_token(writer, user=world.officer, minutes=60)
        writer.commit()
        conflict_id, photo_id = conflict.id, photo.id
    for body in ({"keep": "device"}, {"keep": "custom", "values": {"caption": "Other"}}):
        refused = _api_settle(officer.app, bearer, conflict_id, body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "locked"
    assert fresh(engine, Attachment, photo_id).caption == "Approved caption"
    assert fresh(engine, SyncConflict, conflict_id).status == "open"


def test_a_site_conflict_is_settled_field_by_field_on_its_own_page(
    officer: TestClient, engine: Engine, world: World
) -> None:
    site: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(world.lso.id),
        "name": "Ha Mohale plot",
        "admin_area": "Maseru",
        "lat": -29.3,
        "lon": 27.5,
    }
    Tablets(officer, world).clash(
        "site",
        site,
        {"name": "Ha Mohale demo plot", "lat": -29.41},
        {"name": "Mohale plot", "lat": -29.35},
    )
    conflict = _open_conflict(engine, site["id"])
    assert conflict.entity == "site" and conflict.fields == ["lat", "name"]
    page = f"/conflicts/{conflict.id}"
    card = _conflicts_card(main_of(officer.get("/review").text))
    assert f'href="{page}"' in card and "Site · Ha Mohale demo plot" in card
    assert "Latitude, Name" in card and "Tablet A — Maseru" in card

    officer.cookies.set("pilotmon_lang", "fr")
    html = main_of(officer.get(page).text)
    assert world.lso.code in html and "Tablet A — Maseru" in html and "(expert.lso)" in html
    # each side in the reader's language: French decimals, the minus sign (U+2212)
    assert "<td>−29,3</td><td>−29,41</td><td>−29,35</td>" in html
    assert 'value="−29,41"' in html  # the value to edit, which reads back (below)
    assert "<td>Ha Mohale plot</td><td>Ha Mohale demo plot</td><td>Mohale plot</td>" in html
    assert 'name="choice.name"' in html and 'value="custom"' in html
    # French typography: a narrow no-break space before the colon, never a bare colon
    assert "Serveur\u202f:" in html and "Tablette\u202f:" in html and "Serveur:" not in html

    # A latitude outside Lesotho: refused with its message in French, nothing written.
    refused = _settle(
        officer,
        page,
        conflict.id,
        keep="custom",
        **{"choice.name": "custom", "value.name": "Mohale's plot", "choice.lat": "custom"},
        **{"value.lat": "12,5"},
    )
    assert refused.status_code == 422
    shown = main_of(refused.text)
    assert "Ces coordonnées sont hors du pays du projet." in shown
    assert 'value="12,5"' in shown and 'value="Mohale&#39;s plot"' in shown  # kept
    assert fresh(engine, SyncConflict, conflict.id).status == "open"
    assert fresh(engine, Site, uuid.UUID(site["id"])).version == 2

    # Another name typed, the tablet's latitude copied from the page (its minus sign, U+2212,
    # read as a minus): written as a new version.
    done = _settle(
        officer,
        page,
        conflict.id,
        keep="custom",
        **{"choice.name": "custom", "value.name": "Mohale's plot", "choice.lat": "custom"},
        **{"value.lat": "−29,35"},
    )
    assert done.status_code == 303 and done.headers["location"] == page
    stored = fresh(engine, Site, uuid.UUID(site["id"]))
    assert (stored.name, stored.lat, stored.version) == ("Mohale's plot", -29.35, 3)
    with Session(engine) as reader:  # the API's write path: a revision tablets pull, an audit
        revision = reader.exec(
            select(RecordRevision).where(
                col(RecordRevision.entity_id) == stored.id, col(RecordRevision.version) == 3
            )
        ).one()
        assert (revision.source, revision.author_id) == ("resolve", world.officer.id)
        audit = reader.exec(
            select(AuditEntry).where(col(AuditEntry.entity_id) == str(conflict.id))
        ).one()
        assert (audit.after or {}).get("values") == {"name": "Mohale's plot", "lat": -29.35}
    assert fresh(engine, SyncConflict, conflict.id).status == "resolved"
    after = main_of(officer.get(page).text)
    assert "Résolu par officer.lso" in after and 'name="keep"' not in after
    assert f'href="{page}"' not in main_of(officer.get("/review").text)


def test_a_participant_conflict_is_settled_by_the_office_of_its_country_only(
    client: TestClient, engine: Engine, world: World
) -> None:
    person: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(world.lso.id),
        "code": "LSO-QR-42",
        "sex": "female",
        "birth_year": 1990,
        "category": "farmer",
        "disability": False,
    }
    tablets = Tablets(client, world)
    neighbour = {**person, "id": str(uuid.uuid4()), "code": "LSO-QR-0041"}
    assert tablets.push("Tablet A — Maseru", "participant", neighbour) == "applied"
    tablets.clash(
        "participant",
        person,
        {"birth_year": 1989, "code": "LSO-QR-0042"},
        {"birth_year": 1991, "code": "LSO-QR-042"},
    )
    conflict = _open_conflict(engine, person["id"])
    page = f"/conflicts/{conflict.id}"
    # Outside the officer's countries: no such page; HQ and the expert may read, not settle.
    sign_in(client, engine, world.officer_eth)
    assert client.get(page).status_code == 404
    assert _settle(client, "/overview", conflict.id, keep="device").status_code == 404
    for reader in (world.expert, world.hq):
        sign_in(client, engine, reader)
        html = main_of(client.get(page).text)
        assert "LSO-QR-0042" in html and 'name="keep"' not in html
        assert _settle(client, page, conflict.id, keep="device").status_code == 403
    assert fresh(engine, SyncConflict, conflict.id).status == "open"

    sign_in(client, engine, world.officer)
    card = _conflicts_card(main_of(client.get("/review").text))
    assert f'href="{page}"' in card and "Participant · LSO-QR-0042" in card
    html = main_of(client.get(page).text)
    assert "<td>1990</td><td>1989</td><td>1991</td>" in html  # a year, not "1,990"
    # Another participant's code: refused at the field (as a push would be), nothing written.
    taken = _settle(
        client,
        page,
        conflict.id,
        keep="custom",
        **{"choice.birth_year": "device", "choice.code": "custom", "value.code": "LSO-QR-0041"},
    )
    assert taken.status_code == 422 and "This already exists." in taken.text
    assert fresh(engine, Participant, uuid.UUID(person["id"])).version == 2
    done = _settle(client, page, conflict.id, keep="device")
    assert done.status_code == 303
    stored = fresh(engine, Participant, uuid.UUID(person["id"]))
    assert (stored.birth_year, stored.code, stored.version) == (1991, "LSO-QR-042", 3)
    assert fresh(engine, SyncConflict, conflict.id).status == "resolved"
    # Settled: said so, by whom, instead of the form; settling again is refused.
    after = main_of(client.get(page).text)
    assert "Resolved by officer.lso, " in after and "kept the tablet&#39;s values" in after
    again = _settle(client, page, conflict.id, keep="server")
    assert again.status_code == 409 and "Resolved by officer.lso" in again.text


def test_an_observation_conflict_is_settled_on_the_observation_page(
    officer: TestClient, engine: Engine, world: World, session: Session
) -> None:
    form = make_observation_form(session)
    session.commit()
    data = observation_data(world.lso, form)
    Tablets(officer, world).clash(
        "observation",
        data,
        {"values": {**data["values"], "harvest_kg": 450}},
        {"values": {**data["values"], "harvest_kg": 470}},
    )
    conflict = _open_conflict(engine, data["id"])
    assert conflict.fields == ["values.harvest_kg"]
    page = f"/observations/{data['id']}"
    card = _conflicts_card(main_of(officer.get("/review").text))
    assert f'href="{page}#conflict-{conflict.id}"' in card and "Observation · Harvest" in card

    officer.cookies.set("pilotmon_lang", "fr")
    html = main_of(officer.get(page).text)
    block = html[html.index(f'id="conflict-{conflict.id}"') :]
    assert "<td>420,5</td><td>450</td><td>470</td>" in block
    # A harvest below the form's minimum: refused in French at the field, the form as typed.
    refused = _settle(
        officer,
        page,
        conflict.id,
        on="record",
        keep="custom",
        **{"choice.values.harvest_kg": "custom", "value.values.harvest_kg": "-1"},
    )
    assert refused.status_code == 422
    shown = main_of(refused.text)
    assert "Cette valeur est hors des limites." in shown and 'value="-1"' in shown
    assert fresh(engine, SyncConflict, conflict.id).status == "open"
    version = fresh(engine, Observation, uuid.UUID(data["id"])).version

    done = _settle(
        officer,
        page,
        conflict.id,
        on="record",
        keep="custom",
        **{"choice.values.harvest_kg": "custom", "value.values.harvest_kg": "465,5"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{page}#conflict-{conflict.id}"
    stored = fresh(engine, Observation, uuid.UUID(data["id"]))
    assert stored.values["harvest_kg"] == 465.5 and stored.version == version + 1
    assert fresh(engine, SyncConflict, conflict.id).status == "resolved"


def test_a_photo_conflict_is_settled_on_its_activitys_page(
    officer: TestClient, engine: Engine, world: World
) -> None:
    """Two tablets captioned the same photo otherwise: the caption is the one field a push may
    change on a photo (its bytes and its activity are fixed), so the conflict is on it."""
    activity = world.submitted[0]
    photo = _photo(activity.id, b"demo plot photo")
    Tablets(officer, world).clash(
        "attachment",
        photo,
        {"caption": "Demo plot, maize rows"},
        {"caption": "Demo plot after weeding"},
    )
    conflict = _open_conflict(engine, photo["id"])
    assert (conflict.entity, conflict.fields) == ("attachment", ["caption"])
    page = f"/activities/{activity.id}"
    card = _conflicts_card(main_of(officer.get("/review").text))
    assert f'href="{page}#conflict-{conflict.id}"' in card
    assert f"Photo · {activity.title}" in card and "Caption" in card
    html = main_of(officer.get(page).text)
    block = html[html.index(f'id="conflict-{conflict.id}"') :]
    assert "<td>Demo plot</td><td>Demo plot, maize rows</td><td>Demo plot after weeding</td>" in (
        block
    )

    done = _settle(officer, page, conflict.id, on="record", keep="device")
    assert done.status_code == 303
    assert done.headers["location"] == f"{page}#conflict-{conflict.id}"
    stored = fresh(engine, Attachment, uuid.UUID(photo["id"]))
    assert (stored.caption, stored.version, stored.deleted) == ("Demo plot after weeding", 3, False)
    assert (stored.sha256, stored.activity_id) == (photo["sha256"], activity.id)
    assert fresh(engine, SyncConflict, conflict.id).status == "resolved"
