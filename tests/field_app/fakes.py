"""An in-memory Backend for tests that exercise screens and controllers without a server.

It keeps records the way the device store does (a record and its state), so tests can put the
app in any state; the live-server tests use the real store and client instead.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from field_app.controllers.form import Photo, Save
from field_app.controllers.observations import ObservationSave
from field_app.controllers.progress import counted
from field_app.controllers.status import LogEntry, SyncStatus, UploadNow
from field_app.session import Enrolment, LocalRecord, RowFacts, known_person
from sync.store import Custody, Waiting


class MemoryBackend:
    def __init__(self) -> None:
        self._enrolment: Enrolment | None = None
        self.user_id: str | None = None  # the id the enrolment named (None: enrolled before)
        self._projects: list[dict[str, Any]] = []
        self._sites: list[dict[str, Any]] = []
        self._targets: list[dict[str, Any]] = []
        self._participants: list[dict[str, Any]] = []
        self.records: dict[str, LocalRecord] = {}
        self.form_versions: list[dict[str, Any]] = []
        self.observation_records: dict[str, LocalRecord] = {}
        self.observation_saves: list[ObservationSave] = []
        self.saves: list[Save] = []
        self.deleted: list[str] = []  # activities deleted on the tablet
        self.last_success: datetime | None = None
        self.last_error: str | None = None
        self.error_cause: str | None = None
        self.photos_waiting = 0  # photos whose bytes wait, and their sizes
        self.photo_bytes = 0
        self.upload: UploadNow | None = None  # the photo going now
        self.running = False
        self.syncs = 0
        self.sync_requests = 0
        self._log: list[LogEntry] = []
        self._device_id = str(uuid.uuid4())
        self.offset = timedelta(0)  # the server's clock minus the tablet's, seen at a sync

    # setup helpers -----------------------------------------------------------------------
    def enrol_as(
        self,
        username: str = "amina",
        server: str = "http://127.0.0.1:9",
        *,
        role: str = "field_expert",
        user_id: str | None = None,
    ) -> None:
        """Enrolled as ``username``; ``user_id`` None: before the enrolment named the id."""
        self._enrolment = Enrolment(server, self._device_id, username, role, "tab")
        self.user_id = user_id

    def add_project(self, **fields: Any) -> dict[str, Any]:
        project = {
            "id": str(uuid.uuid4()),
            "code": "LSO-CPP-01",
            "name": "Potato value chain",
            "kind": "CPP",
            "country": "LSO",
            "thematic_area": "TA1",
            "solutions": ["S1", "S2"],
            "start_date": "2024-01-01",
            # Two years on from today whatever the day: the form starts on today's date.
            "end_date": f"{date.today().year + 2}-12-31",
            "roster": True,
            **fields,
        }
        self._projects.append(project)
        return project

    def add_site(
        self,
        project: Mapping[str, Any],
        name: str,
        lat: float | None = None,
        lon: float | None = None,
    ) -> dict[str, Any]:
        site = {
            "id": str(uuid.uuid4()),
            "project_id": project["id"],
            "name": name,
            "admin_area": "",
            "lat": lat,
            "lon": lon,
        }
        self._sites.append(site)
        return site

    def add_target(
        self,
        project: Mapping[str, Any],
        indicator: str,
        period: str,
        value: float,
        sex: str | None = None,
    ) -> None:
        self._targets.append(
            {
                "id": str(uuid.uuid4()),
                "project_id": project["id"],
                "indicator": indicator,
                "period": period,
                "value": value,
                "sex": sex,
            }
        )

    def add_record(
        self, data: Mapping[str, Any], state: str = "synced", **extra: Any
    ) -> LocalRecord:
        record = LocalRecord(data=dict(data), state=state, **extra)
        self.records[record.id] = record
        return record

    # Backend -------------------------------------------------------------------------------
    def enrolment(self) -> Enrolment | None:
        return self._enrolment

    def enrol(
        self,
        *,
        server_url: str,
        code: str | None,
        username: str | None,
        password: str | None,
        label: str,
    ) -> Enrolment:
        self._enrolment = Enrolment(
            server_url, self._device_id, username or "code-user", "field_expert", label
        )
        return self._enrolment

    def person_id(self) -> str | None:
        # A record signed for here stands for one the server accepted from this tablet.
        accepted = {
            str(r.data["created_by_id"])
            for r in (*self.records.values(), *self.observation_records.values())
            if r.safe and r.data.get("created_by_id")
        }
        return known_person(self.user_id, accepted)

    def projects(self) -> list[dict[str, Any]]:
        return list(self._projects)

    def sites(self, project_id: str) -> list[dict[str, Any]]:
        return [s for s in self._sites if s["project_id"] == project_id]

    def targets(self, project_id: str) -> list[dict[str, Any]]:
        return [t for t in self._targets if t["project_id"] == project_id]

    def participants(self, project_id: str) -> list[dict[str, Any]]:
        return [p for p in self._participants if p["project_id"] == project_id]

    def activities(self, project_id: str) -> list[LocalRecord]:
        return [r for r in self.records.values() if r.data.get("project_id") == project_id]

    def activity_rows(self, project_id: str) -> list[RowFacts]:
        rows = []
        for record in self.activities(project_id):
            data = record.data
            attendance = data.get("attendance") or []
            rows.append(
                RowFacts(
                    id=record.id,
                    title=data.get("title") or "",
                    type=data.get("type") or "",
                    start_date=data.get("start_date") or "",
                    topic=data.get("topic") or "",
                    site_id=data.get("site_id") or "",
                    participants=sum(r["count"] for r in attendance),
                    women=sum(r["count"] for r in attendance if r["sex"] == "female"),
                    state=record.state,
                    safe=record.safe,
                    status=(data.get("status") or "") if record.version else "",
                )
            )
        return rows

    def progress_activities(self, project_id: str, year: int) -> list[dict[str, Any]]:
        return [
            r.data
            for r in self.activities(project_id)
            if counted(r.data) and str(r.data.get("start_date", "")).startswith(f"{year}-")
        ]

    def activity_states(self, project_id: str) -> dict[str, int]:
        return dict(Counter(r.state for r in self.activities(project_id)))

    def waiting_by_project(self) -> dict[str, Waiting]:
        """Records waiting, per project, as ``status`` counts them (photos are not per
        project here)."""
        counts = Counter(
            str(r.data.get("project_id"))
            for r in (*self.records.values(), *self.observation_records.values())
            if r.state == "pending"
        )
        return {
            p: Waiting(records=n, mutations=n, photos=0, photo_bytes=0) for p, n in counts.items()
        }

    def fingerprint(self) -> tuple[object, ...]:
        return (
            len(self.records),
            len(self.saves),
            self.syncs,
            tuple(r.state for r in self.records.values()),
        )

    def activity(self, activity_id: str) -> LocalRecord | None:
        return self.records.get(activity_id)

    def attention(self) -> list[LocalRecord]:
        return [r for r in self.records.values() if r.state in ("returned", "conflict", "rejected")]

    def photos(self, activity_id: str) -> list[Photo]:
        return [p for save in self.saves if save.activity["id"] == activity_id for p in save.photos]

    def delete_activity(self, activity_id: str) -> None:
        self.deleted.append(activity_id)
        self.records.pop(activity_id, None)

    def save_activity(self, save: Save) -> None:
        self.saves.append(save)
        if save.new_site is not None:
            self._sites.append(dict(save.new_site))
        old = self.records.get(str(save.activity["id"]))
        self.records[str(save.activity["id"])] = LocalRecord(
            data=dict(save.activity), state="pending", version=old.version if old else 0
        )

    def discard_refused(self, entity: str, record_id: str) -> bool:
        records = self.observation_records if entity == "observation" else self.records
        record = records.get(record_id)
        if record is None or record.state != "rejected" or not record.version:
            return False
        record.state, record.errors = "synced", []
        return True

    def save_participant(self, data: Mapping[str, Any]) -> None:
        self._participants = [p for p in self._participants if p["id"] != data["id"]]
        self._participants.append(dict(data))

    def keep_theirs(self, activity_id: str) -> None:
        record = self.records[activity_id]
        record.data.update(record.theirs)
        record.state, record.theirs, record.conflict_fields = "synced", {}, []

    def sync_once(self) -> SyncStatus:
        self.syncs += 1
        return self.status()

    def start(self, on_change: Any) -> None:
        self.on_change = on_change

    def sync_now(self) -> None:
        self.sync_requests += 1

    @property
    def syncing(self) -> bool:
        return self.running

    # measurements -------------------------------------------------------------------------
    def forms(self) -> list[dict[str, Any]]:
        return [dict(f) for f in self.form_versions]

    def observations(self, project_id: str) -> list[LocalRecord]:
        return [
            r for r in self.observation_records.values() if r.data.get("project_id") == project_id
        ]

    def observation(self, observation_id: str) -> LocalRecord | None:
        return self.observation_records.get(observation_id)

    def observation_attention(self) -> list[LocalRecord]:
        return [
            r
            for r in self.observation_records.values()
            if r.state in ("returned", "conflict", "rejected")
        ]

    def observation_photos(self, observation_id: str) -> list[Photo]:
        return [
            p
            for save in self.observation_saves
            if save.observation["id"] == observation_id
            for p in save.photos
        ]

    def save_observation(self, save: ObservationSave) -> None:
        self.observation_saves.append(save)
        old = self.observation_records.get(str(save.observation["id"]))
        self.observation_records[str(save.observation["id"])] = LocalRecord(
            data=dict(save.observation), state="pending", version=old.version if old else 0
        )

    def delete_observation(self, observation_id: str) -> None:
        self.deleted.append(observation_id)
        self.observation_records.pop(observation_id, None)

    def keep_mine(self, activity_id: str) -> None:
        record = self.records[activity_id]
        record.data.update(record.mine)
        record.state, record.theirs, record.mine, record.conflict_fields = "pending", {}, {}, []

    def status(self) -> SyncStatus:
        pending = sum(1 for r in self.records.values() if r.state == "pending")
        return SyncStatus(
            pending=pending,
            changes=pending,
            last_success=self.last_success,
            last_error=self.last_error,
            error_cause=self.error_cause,
            attention=len(self.attention()),
            photos=self.photos_waiting,
            photo_bytes=self.photo_bytes,
            upload=self.upload,
            running=self.running,
            clock_offset=self.offset,
        )

    def server_offset(self) -> timedelta:
        return self.offset

    def log(self, limit: int) -> list[LogEntry]:
        return self._log[-limit:]

    def export_bundle(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "bundle.zip"
        path.write_bytes(b"")
        return path

    def custody(self) -> Custody:
        """Every record not marked ``safe`` is held and not yet safe (``LocalRecord.safe``)."""
        unsafe = [r for r in self.records.values() if not r.safe]
        dates = [str(r.data.get("captured_at") or r.data.get("start_date") or "") for r in unsafe]
        pending = sum(1 for r in self.records.values() if r.state == "pending")
        return Custody(
            records=len(unsafe),
            held_records=len(self.records),
            photos=self.photos_waiting,
            held_photos=self.photos_waiting,
            oldest=min((d for d in dates if d), default=None),
            mutations=pending,
            uploads=self.photos_waiting,
            receipts=len(self.records) - len(unsafe),
        )

    def save_receipts(self, directory: Path) -> tuple[Path, int]:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "pilotmon-receipts.json"
        path.write_text("{}", encoding="utf-8")
        return path, self.custody().receipts

    def device_id(self) -> str:
        return self._device_id

    def close(self) -> None:
        pass


def activity(
    project: Mapping[str, Any],
    *,
    title: str = "Potato storage demonstration",
    start: date = date(2025, 3, 14),
    site: Mapping[str, Any] | None = None,
    women: int = 12,
    men: int = 8,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project["id"],
        "site_id": site["id"] if site else None,
        "type": "demonstration",
        "title": title,
        "start_date": start.isoformat(),
        "end_date": start.isoformat(),
        "topic": "S1.T2",
        "modality": "T",
        "level": "L3",
        "delivery": "in_person",
        "value_chain_stage": None,
        "facilitators": ["Thabo"],
        "experts_count": 1,
        "location": None,
        "notes": "",
        "attendance": [
            {
                "sex": "female",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": women,
            },
            {
                "sex": "male",
                "age_band": "adult",
                "category": "farmer",
                "disability": False,
                "count": men,
            },
        ],
        "status": "submitted",
        "captured_at": datetime(2025, 3, 14, tzinfo=UTC).isoformat(),
        **fields,
    }
