"""A site the country office rejected is no longer one of the project's sites: the server refuses
an activity (or a measurement) at it, ``site_not_in_project``. The form does not offer it for new
work, flags a record still at it before saving, in words saying the office rejected it, and
never saves (so never queues) what the server would refuse for that reason."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from field_app import i18n
from field_app.controllers.form import NEW_SITE, ActivityForm, FormInvalid
from sync.protocol import Change, FieldError, Op, ResultStatus
from tests.field_app import kivy_driver
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    PHONE,
    TABLET,
    QuietTablet,
    activity,
    quiet_app,
    shots,
)
from tests.field_app.test_ui import SHOTS, on_screen

TODAY = date(2025, 3, 14)
REJECTED = "The country office rejected the site Roma valley: choose another one."


def _project() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "code": "LSO-CPP-01",
        "country": "LSO",
        "solutions": ["S1", "S2"],
        "start_date": "2024-01-01",
        "end_date": "2026-12-31",
    }


def _site(project: dict[str, Any], name: str, status: str | None) -> dict[str, Any]:
    found = {"id": str(uuid.uuid4()), "project_id": project["id"], "name": name}
    if status is not None:
        found["status"] = status
    return found


def _record(project: dict[str, Any], site_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project["id"],
        "site_id": site_id,
        "type": "farmer_training",
        "title": "Hermetic storage training",
        "start_date": "2025-03-10",
        "end_date": "2025-03-10",
        "delivery": "in_person",
        "attendance": [
            {
                "sex": "female",
                "age_band": "youth",
                "category": "farmer",
                "disability": False,
                "count": 10,
            }
        ],
    }


def test_a_rejected_site_is_not_offered_for_new_work() -> None:
    project = _project()
    approved = _site(project, "Ha Mokhalinyane", "approved")
    pending = _site(project, "Morija", "pending")  # added on a tablet, not yet reviewed
    older = _site(project, "Semonkong", None)  # from a server that sent no status
    rejected = _site(project, "Roma valley", "rejected")
    form = ActivityForm(project=project, sites=[approved, pending, older, rejected], today=TODAY)
    offered = [name for _code, name in form.choices("site")]
    assert "Roma valley" not in offered
    assert {"Ha Mokhalinyane", "Morija", "Semonkong"} <= set(offered)
    # Chosen anyway (a form opened before the pull that brought the rejection): said at once.
    form.set("site", rejected["id"])
    assert form.check().errors["site"] == REJECTED


def test_an_activity_at_a_rejected_site_is_flagged_before_saving_and_never_saved() -> None:
    project = _project()
    rejected = _site(project, "Roma valley", "rejected")
    other = _site(project, "Ha Mokhalinyane", "approved")
    form = ActivityForm(
        project=project,
        sites=[other, rejected],
        today=TODAY,
        record=_record(project, rejected["id"]),
    )
    # Shown as soon as the record opens (a record's fields count as touched).
    assert form.visible_errors() == {"site": REJECTED}
    form.set("title", "Hermetic storage training (corrected)")  # any other edit
    with pytest.raises(FormInvalid) as refused:
        form.save(captured_at=datetime.now(UTC))
    assert refused.value.errors == {"site": REJECTED}
    # Another site, or none: saved.
    form.set("site", other["id"])
    assert form.save(captured_at=datetime.now(UTC)).activity["site_id"] == other["id"]
    form.set("site", "")
    assert form.save(captured_at=datetime.now(UTC)).activity["site_id"] is None
    form.set("site", NEW_SITE)
    form.set("new_site_name", "Roma valley east")
    saved = form.save(captured_at=datetime.now(UTC))
    assert saved.new_site is not None and saved.activity["site_id"] == saved.new_site["id"]


@pytest.mark.kivy
@pytest.mark.slow
def test_the_form_flags_a_record_at_a_rejected_site_and_queues_nothing(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    # Recorded at a site the tablet added, taken by the server and signed for; then the
    # office rejected the site.
    record = activity(tablet.project["id"], "Storage training", site_id=tablet.rejected_site["id"])
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record)
    tablet.receipt("activity", record)

    driver.app.show("form", activity_id=record["id"])
    form = on_screen(driver, "form")
    # Said at the top, where "Safe on the server" stood alone, and next to the site.
    assert (form.banner, form.banner_tone) == (REJECTED, "error")
    assert form.errors.get("site") == REJECTED
    site = form.ids.site if "site" in form.ids else form._inputs["site"]
    assert site.has_error
    assert "Roma valley" not in site.values
    shots(driver, "form-rejected-site")
    for width, height in (PHONE, TABLET):
        driver.resize(width, height)
        driver.step(4)
        driver.scroll_into_view(site)
        driver.screenshot(SHOTS / f"form-rejected-site-field-{width}x{height}.png")

    driver.type(form._inputs["title"], "Storage training (corrected)")
    form.save()
    driver.step(3)
    assert driver.app.manager.current == "form"  # not saved
    assert tablet.store.pending() == []  # nothing queued for the server to refuse

    # A new activity: the rejected site is not offered.
    driver.app.home()
    on_screen(driver, "home")
    driver.app.show("form", project_id=tablet.project["id"])
    form = on_screen(driver, "form")
    offered = form._inputs["site"].values
    assert "Ha Mokhalinyane" in offered and "Roma valley" not in offered


@pytest.mark.kivy
@pytest.mark.slow
def test_a_measurement_at_a_rejected_site_is_flagged_and_queues_nothing(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = tablet.observation(site_id=tablet.rejected_site["id"])
    tablet.store.save("observation", record)
    tablet.answer()
    tablet.back("observation", record)

    driver.app.show("observation", observation_id=record["id"])
    screen = on_screen(driver, "observation")
    assert screen.ids.site_box.error == REJECTED and screen.ids.site.has_error
    assert "Roma valley" not in screen.ids.site.values
    shots(driver, "observation-rejected-site")
    screen.save()
    driver.step(3)
    assert driver.app.manager.current == "observation"  # not saved
    assert tablet.store.pending() == []
    # Another site: the error goes, and the measurement saves.
    driver.choose(screen.ids.site, "Ha Mokhalinyane")
    assert screen.ids.site_box.error == "" and not screen.ids.site.has_error
    screen.save()
    driver.wait_until(lambda: tablet.store.pending(), what="the save")
    [queued] = tablet.store.pending()
    assert queued.data == {"site_id": tablet.site["id"]}


KEEP_MINE_REFUSED = (
    "The country office rejected the site Roma valley, so the server would refuse your "
    "version. Edit the activity and choose another site."
)


def _in_conflict(tablet: QuietTablet, *, mine: dict[str, Any], theirs: dict[str, Any]) -> Any:
    """An activity taken by the server (version 1), changed here (``mine``) while the office
    changed the same fields (``theirs``): the push is answered ``conflict`` and the conflict
    pulled, as the server sends it."""
    record = activity(tablet.project["id"], "Storage training", site_id=tablet.site["id"])
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record)
    tablet.store.save("activity", {**record, **mine})
    tablet.back("activity", record, **theirs)
    tablet.answer(ResultStatus.CONFLICT)
    conflict_id = str(uuid.uuid4())
    tablet.pull(
        Change(
            entity="conflict",
            id=conflict_id,
            op=Op.UPSERT,
            version=1,
            data={
                "id": conflict_id,
                "entity": "activity",
                "entity_id": record["id"],
                "status": "open",
                "fields": sorted(mine),
                "base_values": {k: record[k] for k in mine},
                "server_values": theirs,
                "device_values": mine,
            },
        )
    )
    found = tablet.backend.activity(record["id"])
    assert found is not None and found.state == "conflict"
    return found


def test_keep_mine_never_queues_my_site_the_office_rejected(tmp_path: Path) -> None:
    """The tablet moved the activity to Roma valley while the office moved it elsewhere; the
    office then rejected Roma valley. Keeping mine would resend it, refused for good."""
    from field_app.session import KeepMineRefused

    tablet = QuietTablet(tmp_path)
    record = _in_conflict(
        tablet,
        mine={"site_id": tablet.rejected_site["id"]},
        theirs={"site_id": None},
    )
    with pytest.raises(KeepMineRefused) as refused:
        tablet.backend.keep_mine(record.id)
    assert str(refused.value) == KEEP_MINE_REFUSED
    assert tablet.store.pending() == []
    assert tablet.store.state("activity", record.id) == "conflict"
    try:  # said in the tablet's language
        i18n.set_language("fr")
        assert str(refused.value) == (
            "Le bureau pays a rejeté le site Roma valley, le serveur refuserait donc votre "
            "version. Modifiez l’activité et choisissez un autre site."
        )
    finally:
        i18n.set_language("en")
    tablet.store.close()


def test_keep_mine_of_another_field_of_a_record_at_a_rejected_site_is_refused_too(
    tmp_path: Path,
) -> None:
    # The server refuses any change of a record at a rejected site, whatever the field.
    tablet = QuietTablet(tmp_path)
    record = _in_conflict(
        tablet,
        mine={"title": "Storage training (corrected)"},
        theirs={"title": "Storage training, office", "site_id": tablet.rejected_site["id"]},
    )
    from field_app.session import KeepMineRefused

    with pytest.raises(KeepMineRefused):
        tablet.backend.keep_mine(record.id)
    assert tablet.store.pending() == []
    # At a valid site, keeping mine queues my value.
    other = _in_conflict(
        tablet,
        mine={"title": "Storage training (mine)"},
        theirs={"title": "Storage training (theirs)"},
    )
    tablet.backend.keep_mine(other.id)
    [queued] = tablet.store.pending()
    assert queued.data == {"title": "Storage training (mine)"}
    tablet.store.close()


@pytest.mark.kivy
@pytest.mark.slow
def test_needs_attention_says_why_keep_mine_is_refused_at_a_rejected_site(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = _in_conflict(
        tablet, mine={"site_id": tablet.rejected_site["id"]}, theirs={"site_id": None}
    )
    driver.app.show("attention")
    attention = on_screen(driver, "attention")
    assert attention.selected_id == record.id
    driver.tap(attention.ids.keep_mine)
    driver.step(3)
    assert attention.message == KEEP_MINE_REFUSED and attention.message_tone == "error"
    assert tablet.store.pending() == []
    assert attention.selected_id == record.id and attention.state_name == "conflict"
    shots(driver, "attention-keep-mine-rejected-site")
    # Keep theirs still settles it.
    driver.tap(attention.ids.keep_theirs)
    driver.wait_until(lambda: attention.empty, what="the conflict to be settled")
    assert attention.message_tone == "info"


SAFE = "Safe on the server: the server signed a receipt for this version and every photo."


@pytest.mark.kivy
@pytest.mark.slow
def test_the_rejected_site_banner_goes_as_soon_as_another_site_is_chosen(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = activity(tablet.project["id"], "Storage training", site_id=tablet.rejected_site["id"])
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record)
    tablet.receipt("activity", record)

    driver.app.show("form", activity_id=record["id"])
    form = on_screen(driver, "form")
    assert (form.banner, form.banner_tone) == (REJECTED, "error")
    driver.choose(form._inputs["site"], "Ha Mokhalinyane")
    driver.step(2)
    # What the record's banner says at a valid site: here, that the saved version is safe.
    assert (form.banner, form.banner_tone) == (SAFE, "safe")
    assert "site" not in form.errors
    shots(driver, "form-rejected-site-changed")
    driver.choose(form._inputs["site"], "No site")
    driver.step(2)
    assert (form.banner, form.banner_tone) == (SAFE, "safe")


@pytest.mark.kivy
@pytest.mark.slow
def test_a_record_refused_at_a_rejected_site_says_the_refusal_once_another_site_is_chosen(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    driver, tablet = quiet_app
    record = activity(tablet.project["id"], "Storage training", site_id=tablet.site["id"])
    tablet.store.save("activity", record)
    tablet.answer()
    tablet.back("activity", record, site_id=tablet.rejected_site["id"], notes="moved")
    # An edit refused: the server's version is at the rejected site.
    tablet.store.save("activity", {**record, "title": "Storage training (corrected)"})
    tablet.answer(
        ResultStatus.REJECTED,
        [FieldError(field="site_id", code="site_not_in_project", message="not a site of …")],
    )

    driver.app.show("form", activity_id=record["id"])
    form = on_screen(driver, "form")
    assert (form.banner, form.banner_tone) == (REJECTED, "error")
    driver.choose(form._inputs["site"], "Ha Mokhalinyane")
    driver.step(2)
    assert (form.banner, form.banner_tone) == (
        "The server refused this record. Correct it and save again.",
        "error",
    )
    assert "site" not in form.errors  # the server's reason went with the site it named
