"""A tablet for the app's headless tests without a server: the real device store and backend,
enrolled, with no sync schedule. The test plays the server's side by hand, in its shapes: pull
pages (a project, an approved site, a site the office rejected, a form, the tablet's records
coming back), push answers and custody receipts signed by a key the tablet pinned."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from server.results.shipped import DEMO_PLOT_HARVEST
from sync.protocol import Change, FieldError, MutationResult, Op, ResultStatus
from tests.field_app import kivy_driver
from tests.field_app.test_observations import form_change, form_wire
from tests.field_app.test_ui import SHOTS, make_app
from tests.sync.receipts import Issuer, change

PHONE, TABLET = (360, 640), (1280, 800)


def project() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "code": "LSO-CPP-001",
        "name": "Potato value chain",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "roster": False,
        "start_date": "2024-01-01",
        "end_date": "2027-12-31",
        "solutions": ["S1"],
    }


def site(project_id: str, name: str, status: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "name": name,
        "admin_area": "Maseru",
        "lat": None,
        "lon": None,
        "status": status,
    }


def activity(project_id: str, title: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "site_id": None,
        "type": "demonstration",
        "title": title,
        "start_date": "2025-03-14",
        "end_date": "2025-03-14",
        "topic": "S1.T2",
        "modality": None,
        "level": None,
        "delivery": "in_person",
        "value_chain_stage": None,
        "facilitators": [],
        "experts_count": 0,
        "location": None,
        "notes": "",
        "captured_at": "2025-03-14T10:00:00+02:00",
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": 9,
            }
        ],
        **fields,
    }


def enrolled_backend(data_dir: Path) -> tuple[Any, Issuer]:
    """The app's real store backend in ``data_dir``, enrolled, without a sync schedule (the
    test plays the rounds), and the server key its store pinned at enrolment."""
    from field_app.backend import StoreBackend

    class Quiet(StoreBackend):
        def start(self, on_change: Any) -> None:  # no schedule: the test plays the rounds
            self._on_change = on_change

    backend = Quiet(data_dir)
    backend.store.set_meta(
        server_url="https://pm.example.org",
        device_token="token",
        username="amina",
        role="field_expert",
        label="Maseru tablet 2",
    )
    issuer = Issuer()
    backend.store.pin_receipt_keys([issuer.published], source="enrolment")
    return backend, issuer


class QuietTablet:
    def __init__(self, data_dir: Path) -> None:
        self.backend, self.issuer = enrolled_backend(data_dir)
        self.store = self.backend.store
        self.project = project()
        self.site = site(self.project["id"], "Ha Mokhalinyane", "approved")
        self.rejected_site = site(self.project["id"], "Roma valley", "rejected")
        self.form = form_wire(DEMO_PLOT_HARVEST)
        self.versions: dict[str, int] = {}
        self.pull(
            Change(
                entity="project", id=self.project["id"], op=Op.UPSERT, version=1, data=self.project
            ),
            *(
                Change(entity="site", id=s["id"], op=Op.UPSERT, version=2, data=s)
                for s in (self.site, self.rejected_site)
            ),
            form_change(self.form),
        )

    def observation(self, **fields: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "project_id": self.project["id"],
            "site_id": None,
            "activity_id": None,
            "form_id": self.form["id"],
            "form_version": self.form["version"],
            "observed_on": "2025-03-14",
            "values": {
                "crop": "potato",
                "plot": "control",
                "plot_area_m2": 100,
                "harvest_kg": 240,
                "harvest_date": "2025-03-12",
            },
            "location": None,
            "notes": "",
            "captured_at": "2025-03-14T10:00:00+02:00",
            **fields,
        }

    # -- the server's side ---------------------------------------------------------------------

    def pull(self, *changes: Change) -> None:
        self.store.apply_pull(list(changes), cursor=str(uuid.uuid4()))

    def answer(
        self, status: ResultStatus = ResultStatus.APPLIED, errors: Sequence[FieldError] = ()
    ) -> None:
        """The server's answer to everything in the outbox: applied (each record one version
        up), or refused with ``errors`` (the version the server holds)."""
        results = []
        for m in self.store.pending():
            key = str(m.id)
            if status == ResultStatus.APPLIED:
                self.versions[key] = self.versions.get(key, 0) + 1
            results.append(
                MutationResult(
                    seq=m.seq,
                    id=m.id,
                    status=status,
                    version=self.versions.get(key, 0),
                    errors=list(errors),
                )
            )
        self.store.acknowledge(results)
        for upload in self.store.uploads(state="waiting"):
            if status == ResultStatus.APPLIED:
                self.store.finish_upload(upload.id, state="done")

    def back(self, entity: str, record: dict[str, Any], **server: Any) -> None:
        """The record as the server now holds it (one version up if ``server`` changes it),
        pulled."""
        key = record["id"]
        if server:
            self.versions[key] = self.versions.get(key, 0) + 1
        data = {**record, "status": "submitted", **server}
        self.pull(
            Change(entity=entity, id=key, op=Op.UPSERT, version=self.versions[key], data=data)
        )

    def receipt(self, entity: str, record: dict[str, Any], version: int | None = None) -> None:
        """The server's signed receipt for this tablet's record, pulled."""
        found = self.issuer.covering(
            self.store,
            record["id"],
            version=version or self.versions[record["id"]],
            entity=entity,
        )
        self.pull(change(found))


@pytest.fixture
def quiet_app(
    kivy_window: None, tmp_path: Path
) -> Iterator[tuple[kivy_driver.Driver, QuietTablet]]:
    from field_app.device import Device
    from field_app.session import FieldSession

    data_dir = tmp_path / "tablet"
    data_dir.mkdir()
    tablet = QuietTablet(data_dir)
    session = FieldSession(backend=tablet.backend, device=Device(), data_dir=data_dir)
    with kivy_driver.running(make_app(session)) as driver:
        yield driver, tablet


def shots(driver: kivy_driver.Driver, name: str) -> None:
    try:
        for width, height in (PHONE, TABLET):
            driver.resize(width, height)
            driver.step(6)
            driver.screenshot(SHOTS / f"{name}-{width}x{height}.png")
    finally:
        driver.resize(*TABLET)


def refreshed(driver: kivy_driver.Driver, name: str) -> Any:
    driver.app.changed()
    screen = driver.app.manager.get_screen(name)
    driver.wait_until(lambda: not screen.loading, what=f"the {name} screen's data")
    driver.step(3)
    return screen
