"""The Activities list says which activities the office approved (locked: they open
read-only), submitted or returned, in the Measurements list's words (a field expert's review:
every row said only "synced", approved or not). The row carries the review status from the
store's light row read, never from whole records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from field_app import i18n
from field_app.controllers.activities import ActivityList
from field_app.controllers.observations import rows as measurement_rows
from field_app.device import Device
from field_app.session import FieldSession
from sync.protocol import Change, Op
from tests.field_app import kivy_driver
from tests.field_app.fakes import MemoryBackend, activity
from tests.field_app.quiet_tablet import (  # noqa: F401 (a fixture)
    PHONE,
    TABLET,
    QuietTablet,
    quiet_app,
    shots,
)
from tests.field_app.quiet_tablet import activity as wire_activity
from tests.field_app.test_ui import on_screen

# status -> what the row says, by language: the Measurements list's words.
SAID = {
    "en": {"approved": "Approved", "submitted": "Submitted", "returned": "Returned"},
    "fr": {"approved": "Approuvée", "submitted": "Soumise", "returned": "Renvoyée"},
    "pt": {"approved": "Aprovada", "submitted": "Submetida", "returned": "Devolvida"},
    "es": {"approved": "Aprobada", "submitted": "Enviada", "returned": "Devuelta"},
}
# The sync state each record is in on the tablet: an approved one synced like a submitted one.
STATE = {"approved": "synced", "submitted": "synced", "returned": "returned"}


def _views_by_title(session: FieldSession, project_id: str) -> dict[str, dict[str, Any]]:
    listing = ActivityList(session.rows(project_id))
    return {view["title"]: view for view in listing.data()}


@pytest.mark.parametrize("language", sorted(SAID))
def test_each_row_says_its_review_status_as_the_measurements_list_does(
    language: str, tmp_path: Path
) -> None:
    backend = MemoryBackend()
    project = backend.add_project()
    for status, state in STATE.items():
        backend.add_record(activity(project, title=status, status=status), state=state, version=2)
    # Saved by the form, never sent: the "submitted" it carries is not the office's yet (a new
    # measurement shows no status either).
    backend.add_record(activity(project, title="unsent", status="submitted"), state="pending")
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    i18n.set_language(language)
    try:
        views = _views_by_title(session, project["id"])
        said = {title: view["status_label"] for title, view in views.items()}
        assert said == {**SAID[language], "unsent": ""}
        # Approved and submitted share the sync badge; only the review status tells them apart.
        assert views["approved"]["state_label"] == views["submitted"]["state_label"]
        # The very words of a measurement of the same status.
        for status in ("approved", "submitted", "returned"):
            measured = {"id": status, "observed_on": "2025-03-14", "status": status}
            [row] = measurement_rows([(measured, STATE[status])], [])
            assert views[status]["status_label"] == row.status_label, status
    finally:
        i18n.set_language("en")


def test_the_store_row_read_carries_the_status_of_pulled_and_unsent_records(
    tmp_path: Path,
) -> None:
    """The real store: the status comes with the few fields a row reads (``ROW_FIELDS``), for
    records the server sent and for ones saved on the tablet since."""
    from field_app.backend import StoreBackend

    backend = StoreBackend(tmp_path / "tablet")
    project = {"id": "7d3f2b8e-0000-4000-8000-000000000001", "code": "LSO-CPP-01"}
    pulled = {
        status: activity(project, title=status, status=status, version=1)
        for status in ("approved", "submitted", "returned")
    }
    backend.store.apply_pull(
        [
            Change(entity="activity", id=r["id"], op=Op.UPSERT, version=1, data=r)
            for r in pulled.values()
        ],
        "c1",
    )
    # A returned one corrected on the tablet stays returned until the server takes it again;
    # a new one never sent (the form writes "submitted") has no review status yet.
    backend.store.save("activity", {**pulled["returned"], "title": "returned, corrected"})
    backend.store.save("activity", activity(project, title="new", status="submitted"))
    session = FieldSession(backend=backend, device=Device(), data_dir=tmp_path / "tablet")
    try:
        facts = {f.title: (f.status, f.state) for f in backend.activity_rows(project["id"])}
        assert facts == {
            "approved": ("approved", "synced"),
            "submitted": ("submitted", "synced"),
            "returned, corrected": ("returned", "pending"),
            "new": ("", "pending"),
        }
        said = {t: v["status_label"] for t, v in _views_by_title(session, project["id"]).items()}
        assert said == {
            "approved": "Approved",
            "submitted": "Submitted",
            "returned, corrected": "Returned",
            "new": "",
        }
    finally:
        backend.close()


@pytest.mark.kivy
@pytest.mark.slow
def test_the_list_shows_the_review_status_whole_under_the_badge_on_a_phone_and_a_tablet(
    quiet_app: tuple[kivy_driver.Driver, QuietTablet],  # noqa: F811
) -> None:
    from field_app.screens.activities import ActivityRow

    driver, tablet = quiet_app
    project_id = tablet.project["id"]
    tablet.pull(
        *(
            Change(
                entity="activity",
                id=(record := wire_activity(project_id, title, status=status))["id"],
                op=Op.UPSERT,
                version=1,
                data={**record, "version": 1, "reviews": []},
            )
            for title, status in (
                ("Storage demonstration", "approved"),
                ("Field day at Roma", "submitted"),
                ("Seed fair", "returned"),
            )
        )
    )
    tablet.store.save("activity", wire_activity(project_id, "Recorded today"))

    def rows_shown() -> dict[str, ActivityRow]:
        return {
            row.title: row
            for row in screen.ids.rows.layout_manager.children
            if isinstance(row, ActivityRow)
        }

    for language in ("en", "fr"):
        driver.app.set_language(language)
        driver.app.show("activities", project_id=project_id)
        screen = on_screen(driver, "activities")
        for width, height in (PHONE, TABLET):
            driver.resize(width, height)
            driver.wait_until(lambda: len(rows_shown()) == 4, what="the four rows")
            driver.step(4)
            said = {}
            for title, row in rows_shown().items():
                label = row.ids.review
                said[title] = label.text
                if label.text:
                    # Shown, and whole: as wide as its text, never cut with "…".
                    assert label.opacity == 1 and label.height > 0, title
                    assert label.texture_size[0] <= label.width, (title, width)
                    assert label.texture_size[1] <= label.height, (title, width)
                    assert "…" not in label._label.text, (title, width)
                    # Under the sync badge, inside the row.
                    badge = next(w for w in row.walk(restrict=True) if type(w).__name__ == "Badge")
                    assert label.top <= badge.y + 1 and label.y >= row.y, (title, width)
                else:
                    assert label.opacity == 0 and label.height == 0, title
            words = SAID[language]
            assert said == {
                "Storage demonstration": words["approved"],
                "Field day at Roma": words["submitted"],
                "Seed fair": words["returned"],
                "Recorded today": "",
            }, (language, width)
        shots(driver, f"activities-review-status-{language}")
    driver.app.set_language("en")
