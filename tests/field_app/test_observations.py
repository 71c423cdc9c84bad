"""Record a measurement on the tablet (docs/results.md#observations): forms offered, relevance,
validation, the offline save, edits, returns, retired forms, photos, and the outbox mutations
in the shape the server's push accepts (checked with the server's own rules: shared
``validate_observation`` and the per-answer three-way merge of ``sync.merge``)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from field_app.backend import StoreBackend
from field_app.controllers import observations as obs
from field_app.controllers.form import Photo
from field_app.i18n import set_language
from server.results.shipped import ADOPTION_FOLLOW_UP, DEMO_PLOT_HARVEST, PREPAREDNESS_CHECK
from shared.observations import validate_observation
from sync.merge import Revision, merge_upsert
from sync.protocol import Change, Entity, Mutation, MutationResult, Op, PushRequest, ResultStatus

TODAY = date(2025, 6, 10)
PROJECT = str(uuid.uuid4())
OTHER_PROJECT = str(uuid.uuid4())


def form_wire(
    definition: dict[str, Any],
    *,
    version: int = 1,
    project_id: str | None = None,
    status: str = "published",
    form_id: str | None = None,
) -> dict[str, Any]:
    """A form version as the server's pull sends it (obs branch server/sync/pull.py
    ``form_wire``)."""
    return {
        "id": form_id or str(uuid.uuid4()),
        "code": definition["code"],
        "version": version,
        "title": definition["title"],
        "project_id": project_id,
        "status": status,
        "fields": definition["fields"],
        "indicators": definition["indicators"],
        "published_at": "2025-01-01T00:00:00+00:00",
        "retired_at": "2025-05-01T00:00:00+00:00" if status == "retired" else None,
    }


def pull(backend: StoreBackend, *changes: Change, cursor: str = "c") -> None:
    backend.store.apply_pull(list(changes), cursor)


def form_change(form: dict[str, Any]) -> Change:
    return Change(entity="form", id=form["id"], op=Op.UPSERT, version=form["version"], data=form)


def observation_change(data: dict[str, Any], version: int) -> Change:
    """An observation as the server's pull sends it (``observation_wire`` plus version,
    flags, reviews, created_by_id)."""
    wire = {
        "site_id": None,
        "activity_id": None,
        "location": None,
        "notes": "",
        "captured_at": None,
        "deleted": False,
        "status": "submitted",
        "flags": [],
        "reviews": [],
        "created_by_id": str(uuid.uuid4()),
        **data,
        "version": version,
    }
    wire["notes"] = wire.get("notes") or ""  # as observation_wire sends it
    return Change(entity="observation", id=data["id"], op=Op.UPSERT, version=version, data=wire)


def _stored(backend: StoreBackend, record_id: str) -> dict[str, Any]:
    found = backend.store.get("observation", record_id)
    assert found is not None
    return found


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[StoreBackend]:
    made = StoreBackend(tmp_path / "tablet")
    yield made
    made.close()


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def fill_demo(form: obs.ObservationForm, *, plot: str = "demo") -> None:
    form.choose("crop", "potato")
    form.choose("plot", plot)
    if plot == "demo":
        form.choose("practice", "improved_seed")
    form.set_text("plot_area_m2", "100")
    form.set_text("harvest_kg", "42.5")
    form.set_text("harvest_date", "2025-06-01")


def save_with_photo(
    backend: StoreBackend, tmp_path: Path, definition: dict[str, Any], *, site_id: str | None = None
) -> obs.ObservationSave:
    """The demo harvest measured on the tablet (the form pulled first) with one photo
    captioned "the plot", saved."""
    pull(backend, form_change(definition))
    form = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY, site_id=site_id)
    fill_demo(form)
    picture = tmp_path / "plot.jpg"
    picture.write_bytes(b"\xff\xd8jpeg bytes")
    form.photos.append(Photo(str(uuid.uuid4()), str(picture), "", 0, "image/jpeg", "the plot"))
    save = form.to_save()
    assert save is not None
    backend.save_observation(save)
    return save


def server_accepts(data: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """What the server runs on a pushed observation before storing it."""
    checked = validate_observation(data, form=form, today=TODAY)
    assert checked.errors == [], checked.errors
    return checked.clean


# -- which forms are offered -----------------------------------------------------------------


def test_offered_forms_are_the_latest_published_version_of_global_and_own_forms() -> None:
    harvest_1 = form_wire(DEMO_PLOT_HARVEST, version=1)
    harvest_2 = form_wire(DEMO_PLOT_HARVEST, version=2)
    own = form_wire(ADOPTION_FOLLOW_UP, project_id=PROJECT)
    others = form_wire(PREPAREDNESS_CHECK, project_id=OTHER_PROJECT)
    offered = obs.offered_forms([harvest_1, harvest_2, own, others], PROJECT)
    assert [(f["code"], f["version"]) for f in offered] == [
        ("ADOPTION_FOLLOW_UP", 1),
        ("DEMO_PLOT_HARVEST", 2),
    ]


def test_a_retired_form_is_not_offered_but_its_observations_stay_editable(
    backend: StoreBackend,
) -> None:
    published = form_wire(DEMO_PLOT_HARVEST)
    pull(backend, form_change(published))
    form = obs.ObservationForm(form=published, project_id=PROJECT, today=TODAY)
    fill_demo(form)
    save = form.to_save()
    assert save is not None
    backend.save_observation(save)
    retired = {**published, "status": "retired", "retired_at": "2025-06-02T00:00:00+00:00"}
    pull(backend, form_change(retired), cursor="c2")

    assert obs.offered_forms(backend.forms(), PROJECT) == []
    record = backend.observation(save.observation["id"])
    assert record is not None
    version = obs.form_version(backend.forms(), record.data["form_id"], 1)
    assert version is not None and version["status"] == "retired"
    again = obs.ObservationForm(form=version, project_id=PROJECT, today=TODAY, record=record.data)
    again.set_text("harvest_kg", "50")
    edit = again.to_save()
    assert edit is not None
    backend.save_observation(edit)
    assert _stored(backend, record.id)["values"]["harvest_kg"] == 50
    rows = obs.rows([(r.data, r.state) for r in backend.observations(PROJECT)], backend.forms())
    assert rows[0].retired and rows[0].title == "Demonstration plot harvest"


def test_labels_follow_the_tablet_language_with_english_as_fallback() -> None:
    published = form_wire(DEMO_PLOT_HARVEST)
    set_language("fr")
    form = obs.ObservationForm(form=published, project_id=PROJECT, today=TODAY)
    views = {v.name: v for v in form.views()}
    assert form.title == "Récolte de parcelle de démonstration"
    assert views["plot"].choices[1] == ("control", "Témoin (pratique habituelle)")
    assert views["harvest_kg"].bounds == "0 – 500\u00a0000\u00a0kg"
    assert obs.text_of({"en": "Harvest"}, "pt") == "Harvest"
    assert obs.text_of({"en": "Harvest", "es": "Cosecha"}, "es") == "Cosecha"


# -- filling in --------------------------------------------------------------------------------


def test_relevance_is_live_and_an_unasked_answer_is_not_stored() -> None:
    form = obs.ObservationForm(form=form_wire(DEMO_PLOT_HARVEST), project_id=PROJECT, today=TODAY)
    shown = [v.name for v in form.visible()]
    assert "practice" not in shown
    form.choose("plot", "demo")
    assert "practice" in [v.name for v in form.visible()]
    form.choose("practice", "ridge_planting")
    form.choose("plot", "control")  # the practice is no longer asked
    assert "practice" not in [v.name for v in form.visible()]
    assert "practice" not in form.answers()
    form.choose("crop", "maize")
    form.set_text("plot_area_m2", "100")
    form.set_text("harvest_kg", "30")
    form.set_text("harvest_date", "2025-06-01")
    save = form.to_save()
    assert save is not None
    assert "practice" not in save.observation["values"]
    assert save.observation["values"]["plot"] == "control"


def test_validation_is_shown_next_to_each_field_in_the_tablet_language() -> None:
    form = obs.ObservationForm(form=form_wire(DEMO_PLOT_HARVEST), project_id=PROJECT, today=TODAY)
    assert form.shown_errors() == {}  # nothing touched yet
    form.set_text("plot_area_m2", "0")
    form.set_text("harvest_kg", "lots")
    errors = form.shown_errors()
    assert errors == {
        "plot_area_m2": "Use a value from 1\u00a0m² to 100\u00a0000\u00a0m²",
        "harvest_kg": "Type a number, e.g. 12.5\u00a0kg",  # a weight, not a latitude
    }
    assert form.to_save() is None  # every problem shows after Save
    assert form.shown_errors()["crop"] == "Required"
    set_language("fr")
    assert form.shown_errors()["crop"] == "Obligatoire"
    assert form.shown_errors()["plot_area_m2"].startswith("Utilisez une valeur")
    set_language("en")
    form.set_text("plot_area_m2", "120")
    assert "plot_area_m2" not in form.shown_errors()


def test_select_multiple_toggles_and_booleans() -> None:
    definition = form_wire(PREPAREDNESS_CHECK)
    multiple = next(f for f in definition["fields"] if f["type"] == "select_multiple")
    boolean = next(f for f in definition["fields"] if f["type"] == "boolean")
    form = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY)
    first, second = (c["code"] for c in multiple["choices"][:2])
    form.toggle(multiple["name"], second)
    form.toggle(multiple["name"], first)
    assert form.values[multiple["name"]] == [first, second]  # in the form's order
    form.toggle(multiple["name"], first)
    assert form.values[multiple["name"]] == [second]
    form.set_boolean(boolean["name"], False)
    assert form.values[boolean["name"]] is False
    form.set_boolean(boolean["name"], False)  # tapped again: cleared
    assert boolean["name"] not in form.values


def test_a_date_in_the_future_is_refused() -> None:
    form = obs.ObservationForm(form=form_wire(DEMO_PLOT_HARVEST), project_id=PROJECT, today=TODAY)
    form.set_observed_on("2025-07-01")
    assert form.shown_errors()["observed_on"].startswith("This date is in the future")


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "This date is in the future; use 11 June 2025 or earlier"),
        ("fr", "Cette date est dans le futur\u00a0: utilisez le 11 juin 2025 ou avant"),
    ],
)
def test_a_date_in_the_future_names_the_last_day_allowed_in_words(
    language: str, message: str
) -> None:
    # It said "use 2025-06-10 or earlier" while the next day (allowed) would be taken, and in
    # figures where the date box above shows "10 juin 2025".
    form = obs.ObservationForm(form=form_wire(DEMO_PLOT_HARVEST), project_id=PROJECT, today=TODAY)
    form.set_observed_on("2025-06-11")
    assert "observed_on" not in form.shown_errors()
    form.set_observed_on("2025-07-01")
    set_language(language)
    assert form.shown_errors()["observed_on"] == message


# -- saving offline, and the outbox -------------------------------------------------------------


def test_a_new_observation_is_saved_with_its_photo_in_one_transaction_in_the_push_shape(
    backend: StoreBackend, tmp_path: Path
) -> None:
    definition = form_wire(DEMO_PLOT_HARVEST)
    save = save_with_photo(backend, tmp_path, definition, site_id=str(uuid.uuid4()))

    pending = backend.store.pending()
    assert [(m.entity, m.op, m.base_version) for m in pending] == [
        (Entity.OBSERVATION, Op.UPSERT, 0),
        (Entity.ATTACHMENT, Op.UPSERT, 0),
    ]
    # The envelope the server parses, and the server's own check of the observation.
    PushRequest(protocol=1, device_id=uuid.UUID(backend.device_id()), mutations=pending)
    data = {**(pending[0].data or {}), "id": str(pending[0].id)}
    assert set(data) == {
        "id",
        "project_id",
        "site_id",
        "activity_id",
        "form_id",
        "form_version",
        "observed_on",
        "values",
        "notes",
        "captured_at",
    }
    clean = server_accepts(data, definition)
    assert clean["values"] == {
        "crop": "potato",
        "plot": "demo",
        "practice": "improved_seed",
        "plot_area_m2": 100,
        "harvest_kg": 42.5,
        "harvest_date": "2025-06-01",
    }
    photo = pending[1].data or {}
    assert photo["observation_id"] == save.observation["id"] and "activity_id" not in photo
    assert backend.observation_photos(save.observation["id"])[0].caption == "the plot"
    assert backend.store.state("observation", save.observation["id"]) == "pending"
    assert backend.store.waiting().records == 1  # the photo counts as its observation


def test_an_edit_sends_the_changed_fields_with_values_whole_and_merges_per_answer(
    backend: StoreBackend,
) -> None:
    definition = form_wire(DEMO_PLOT_HARVEST)
    pull(backend, form_change(definition))
    form = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY)
    fill_demo(form)
    save = form.to_save()
    assert save is not None
    backend.save_observation(save)
    first = backend.store.pending()[0]
    backend.store.acknowledge(
        [MutationResult(seq=first.seq, id=first.id, status=ResultStatus.APPLIED, version=1)]
    )
    base = server_accepts({**(first.data or {}), "id": str(first.id)}, definition)
    pull(backend, observation_change(base, 1), cursor="c2")

    record = backend.observation(base["id"])
    assert record is not None and record.state == "synced"
    edit = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY, record=record.data)
    edit.set_text("harvest_kg", "44")
    saved = edit.to_save()
    assert saved is not None
    backend.save_observation(saved)
    [mutation] = backend.store.pending()
    assert mutation.base_version == 1
    assert mutation.data == {"values": {**base["values"], "harvest_kg": 44}}

    # Meanwhile the office corrected another answer (version 2): the pull shows it under the
    # tablet's pending edit, which keeps its own answer.
    office = {**base, "values": {**base["values"], "plot_area_m2": 110}}
    pull(backend, observation_change(office, 2), cursor="c3")
    shown = _stored(backend, base["id"])
    assert shown["values"]["plot_area_m2"] == 110 and shown["values"]["harvest_kg"] == 44

    # The server's merge, each answer one field (the obs branch flattens values.<name>).
    history = [Revision(flat(base)), Revision(flat(office))]
    outcome = merge_upsert(history=history, incoming=flat(mutation.data, names=base["values"]))
    assert outcome.status == ResultStatus.MERGED
    assert outcome.changes == {"values.harvest_kg": 44}


def flat(data: dict[str, Any], names: Any = ()) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "values"}
    for name in names:
        out[f"values.{name}"] = None
    for name, value in (data.get("values") or {}).items():
        out[f"values.{name}"] = value
    return out


def test_a_returned_observation_is_in_needs_attention_with_the_office_comment(
    backend: StoreBackend,
) -> None:
    definition = form_wire(DEMO_PLOT_HARVEST)
    observation = {
        "id": str(uuid.uuid4()),
        "project_id": PROJECT,
        "form_id": definition["id"],
        "form_version": 1,
        "observed_on": "2025-06-01",
        "values": {"crop": "potato", "plot": "control", "plot_area_m2": 100, "harvest_kg": 3},
    }
    returned = observation_change(
        {
            **observation,
            "status": "returned",
            "reviews": [{"action": "return", "comment": "3 kg from 100 m²? Weigh again."}],
        },
        2,
    )
    pull(backend, form_change(definition), returned)
    [item] = backend.observation_attention()
    assert item.state == "returned" and item.comment == "3 kg from 100 m²? Weigh again."
    shown = obs.attention_item(item, backend.forms())
    assert shown.title == "Demonstration plot harvest"
    assert shown.reason == "Returned by the country office: 3 kg from 100 m²? Weigh again."
    assert backend.status().attention >= 1
    rows = obs.rows([(r.data, r.state) for r in backend.observations(PROJECT)], backend.forms())
    assert rows[0].state_label == "Returned" and rows[0].comment.startswith("3 kg")
    # Correcting it sends the answer; until then it stays returned.
    edit = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY, record=item.data)
    edit.set_text("harvest_kg", "30")
    edit.set_text("harvest_date", "2025-05-30")
    save = edit.to_save()
    assert save is not None
    backend.save_observation(save)
    assert backend.observation_attention() == []
    assert backend.store.pending()[0].data == {"values": save.observation["values"]}


def test_an_approved_observation_is_locked(backend: StoreBackend) -> None:
    definition = form_wire(DEMO_PLOT_HARVEST)
    record = {
        "id": str(uuid.uuid4()),
        "project_id": PROJECT,
        "form_id": definition["id"],
        "form_version": 1,
        "observed_on": "2025-06-01",
        "values": {"crop": "potato"},
        "status": "approved",
    }
    form = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY, record=record)
    assert form.locked and form.to_save() is None


def test_a_tombstone_removes_the_observation(backend: StoreBackend) -> None:
    definition = form_wire(DEMO_PLOT_HARVEST)
    data = {
        "id": str(uuid.uuid4()),
        "project_id": PROJECT,
        "form_id": definition["id"],
        "form_version": 1,
        "observed_on": "2025-06-01",
        "values": {},
    }
    pull(backend, form_change(definition), observation_change(data, 1))
    assert len(backend.observations(PROJECT)) == 1
    gone = Change(
        entity="observation",
        id=data["id"],
        op=Op.DELETE,
        version=2,
        data={"id": data["id"], "project_id": PROJECT},
    )
    pull(backend, gone, cursor="c2")
    assert backend.observations(PROJECT) == []


def test_a_measurement_recorded_twice_is_deleted_with_its_photo(
    backend: StoreBackend, tmp_path: Path
) -> None:
    # A field expert who recorded the same harvest twice could not take one off: the store
    # could, the tablet offered no way to. Deleted after it went to the server: the tombstone
    # is queued (its photo goes with it there), and its photo no longer waits to be sent; its
    # bytes stay until the server takes the delete.
    save = save_with_photo(backend, tmp_path, form_wire(DEMO_PLOT_HARVEST))
    sent = backend.store.pending()
    backend.store.acknowledge(
        [MutationResult(seq=m.seq, id=m.id, status=ResultStatus.APPLIED, version=1) for m in sent]
    )
    assert backend.store.waiting().photos == 1  # the photo's bytes still wait
    observation_id = str(save.observation["id"])

    backend.delete_observation(observation_id)
    assert backend.observations(PROJECT) == [] and backend.observation(observation_id) is None
    queued = backend.store.pending()
    assert [(m.entity, m.op) for m in queued] == [(Entity.OBSERVATION, Op.DELETE)]
    assert str(queued[-1].id) == observation_id
    waiting = backend.store.waiting()
    assert (waiting.records, waiting.photos) == (1, 0)
    backend.delete_observation(observation_id)  # twice: nothing more
    assert len(backend.store.pending()) == 1
    [photo] = backend.store.files_dir.iterdir()
    backend.store.acknowledge(
        [MutationResult(seq=m.seq, id=m.id, status=ResultStatus.APPLIED, version=2) for m in queued]
    )
    assert not photo.exists() and backend.store.waiting().nothing


def test_a_schema_3_store_gains_the_observation_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    from sync.store import DeviceStore

    store = DeviceStore(path)
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX record_observation")
    db.execute("ALTER TABLE record DROP COLUMN observation_id")
    db.execute("ALTER TABLE outbox DROP COLUMN changed")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    again = DeviceStore(path)
    assert again.schema_version == 5  # and on, to the store schema of today
    photo = {"id": str(uuid.uuid4()), "observation_id": "o1", "caption": ""}
    again.apply_pull(
        [Change(entity="attachment", id=photo["id"], op=Op.UPSERT, version=1, data=photo)], "c"
    )
    assert [r.id for r in again.query("attachment", where={"observation_id": "o1"})] == [
        photo["id"]
    ]
    again.close()


def test_mutation_is_the_wire_mutation(backend: StoreBackend) -> None:
    """The queued mutation serialises as protocol.md#push says (entity "observation")."""
    definition = form_wire(DEMO_PLOT_HARVEST)
    form = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY)
    fill_demo(form, plot="control")
    save = form.to_save()
    assert save is not None
    backend.save_observation(save)
    [encoded] = backend.store.pending_encoded(limit=10)
    wire = json.loads(encoded[1])
    assert wire["entity"] == "observation" and wire["op"] == "upsert"
    Mutation.model_validate(wire)


def test_a_conflict_on_an_answer_is_shown_in_words() -> None:
    from field_app.session import LocalRecord

    definition = form_wire(DEMO_PLOT_HARVEST)
    record = LocalRecord(
        data={
            "id": str(uuid.uuid4()),
            "project_id": PROJECT,
            "form_id": definition["id"],
            "form_version": 1,
            "observed_on": "2025-06-01",
            "values": {"plot": "demo"},
        },
        state="conflict",
        conflict_fields=["values.plot"],
        mine={"values.plot": "demo"},
        theirs={"values.plot": "control"},
    )
    item = obs.attention_item(record, [definition])
    [difference] = item.differences
    assert (difference.label, difference.mine, difference.theirs) == (
        "Plot",
        "Demonstration",
        "Control (usual practice)",
    )


def test_notes_cleared_are_sent_cleared_and_blank_notes_are_not_a_change() -> None:
    definition = form_wire(DEMO_PLOT_HARVEST)
    base = {
        "id": str(uuid.uuid4()),
        "project_id": PROJECT,
        "form_id": definition["id"],
        "form_version": 1,
        "observed_on": "2025-06-01",
        "values": {"crop": "potato", "plot": "control", "plot_area_m2": 10, "harvest_kg": 3},
    }
    values = {**base["values"], "harvest_date": "2025-06-01"}
    for before, typed, sent in (("abc", "", ""), (None, "", None), ("", "  ", "")):
        record = {**base, "values": values, "notes": before}
        form = obs.ObservationForm(form=definition, project_id=PROJECT, today=TODAY, record=record)
        form.notes = typed
        save = form.to_save()
        assert save is not None and save.observation["notes"] == sent


@pytest.mark.parametrize(
    ("language", "drill", "weight"),
    [
        ("en", "≥ 1 January 2015", "0.5 – 2.5\u00a0kg"),
        ("fr", "≥ 1er janvier 2015", "0,5 – 2,5\u00a0kg"),
        ("pt", "≥ 1 de janeiro de 2015", "0,5 – 2,5\u00a0kg"),
        ("es", "≥ 1 de enero de 2015", "0,5 – 2,5\u00a0kg"),
    ],
)
def test_bounds_are_written_as_the_language_writes_dates_and_decimals(
    language: str, drill: str, weight: str
) -> None:
    # In Portuguese a date field's hint read "≥ 2015-01-01" and a decimal bound "2.5 kg":
    # a date in the ISO notation (every other date on the tablet is in words) and a decimal
    # point where Portuguese, French and Spanish write a comma.
    set_language(language)
    date_view = obs.field_view({"name": "drill", "type": "date", "min": "2015-01-01"})
    weight_view = obs.field_view(
        {"name": "weight", "type": "decimal", "min": 0.5, "max": 2.5, "unit": "kg"}
    )
    assert (date_view.bounds, weight_view.bounds) == (drill, weight)


BOUNDED_FORM: dict[str, Any] = {
    "id": "f0000000-0000-4000-8000-000000000001",
    "code": "ADOPTION",
    "version": 1,
    "title": {"en": "Adoption"},
    "status": "published",
    "fields": [
        {
            "name": "visited",
            "type": "integer",
            "label": {"en": "Farmers visited", "fr": "Agriculteurs visités"},
            "min": 0,
        },
        {
            "name": "applying",
            "type": "integer",
            "label": {"en": "Applying the practice"},
            "min": 0,
            "max": "${visited}",
        },
    ],
    "indicators": [],
}


def test_an_answer_bounded_by_another_is_told_so_by_its_label() -> None:
    """12 applying of 5 visited was saved, and made a 240 % adoption rate."""
    form = obs.ObservationForm(form=BOUNDED_FORM, project_id=PROJECT, today=TODAY)
    views = {v.name: v for v in form.views()}
    assert views["applying"].bounds == "0 – Farmers visited"
    form.set_text("visited", "5")
    form.set_text("applying", "12")
    assert form.shown_errors() == {"applying": "At most the answer to “Farmers visited”: 5"}
    assert form.to_save() is None
    set_language("fr")
    assert form.shown_errors()["applying"] == (
        "Au plus la réponse à «\u00a0Agriculteurs visités\u00a0»\u00a0: 5"
    )
    set_language("en")
    form.set_text("applying", "5")
    assert form.shown_errors() == {}
    saved = form.to_save()
    assert saved is not None and saved.observation["values"] == {"visited": 5, "applying": 5}
