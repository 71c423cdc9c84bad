"""Everything the screens reach through ``app.session``: the device store and sync (behind a
:class:`Backend`), the hardware facade, local settings, and the background sync worker.

No Kivy here: tests drive a session directly, and the app hands in Kivy's ``Clock`` as the way
back to the UI thread.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from field_app import APP_VERSION, i18n
from field_app.controllers import labels
from field_app.controllers.activities import Row
from field_app.controllers.form import ActivityForm, Photo, Save
from field_app.controllers.observations import ObservationSave
from field_app.controllers.status import LogEntry, SyncStatus
from field_app.device import Device
from sync.store import Custody, Waiting

log = logging.getLogger("pilotmon.field")

SETTINGS_FILE = "field_settings.json"
# How Settings names what ``Device.facts`` reports.
DEVICE_FACTS = {
    "platform": i18n.N_("System"),
    "machine": i18n.N_("Model"),
    "python": i18n.N_("Python version"),
}


@dataclass
class LocalSettings:
    """What the tablet remembers outside the store: language and the last server address."""

    language: str = i18n.DEFAULT_LANGUAGE
    server_url: str = ""
    device_label: str = ""

    @classmethod
    def load(cls, path: Path) -> LocalSettings:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            return cls()
        known = {k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__}
        settings = cls(**known)
        if settings.language not in i18n.LANGUAGES:
            settings.language = i18n.DEFAULT_LANGUAGE
        return settings

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(temporary, path)


@dataclass(frozen=True, slots=True)
class Enrolment:
    server_url: str
    device_id: str
    username: str
    role: str
    label: str


@dataclass
class LocalRecord:
    """An activity as the tablet holds it, with its sync state and what the server said."""

    data: dict[str, Any]
    state: str  # pending | synced | photos_pending | returned | conflict | rejected
    version: int = 0
    comment: str = ""  # the officer's comment when returned
    errors: list[dict[str, str]] = field(default_factory=list)  # why the server rejected it
    conflict_fields: list[str] = field(default_factory=list)
    theirs: dict[str, Any] = field(default_factory=dict)  # the server's values of those fields
    mine: dict[str, Any] = field(default_factory=dict)  # this tablet's values of those fields
    base: dict[str, Any] = field(default_factory=dict)  # their values both sides started from
    conflict_ids: list[str] = field(default_factory=list)
    # Safe on the server: a verified receipt covers its latest change and every photo of it.
    safe: bool = False

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def locked(self) -> bool:
        """Approved activities are locked until a country officer reopens them
        (docs/product.md#domain)."""
        return self.data.get("status") == "approved"


@dataclass(frozen=True, slots=True)
class RowFacts:
    id: str
    title: str
    type: str
    start_date: str
    topic: str
    site_id: str
    participants: int
    women: int
    state: str
    safe: bool = False
    # The server's review status (submitted, approved, returned, draft); "" before the server
    # took the record.
    status: str = ""


class EnrolError(i18n.Worded):
    """Enrolment failed; the message says why in words and what to try (in the language of
    the moment it is shown)."""


class KeepMineRefused(i18n.Worded):
    """ "Keep mine" would queue a change the server is sure to refuse (the record at a site the
    office rejected): nothing is queued, and the message says why and what to do instead."""


def known_person(enrolled_id: str | None, accepted_authors: Collection[str]) -> str | None:
    """The tablet's person's id: the one the enrolment named; for a tablet enrolled before the
    enrolment answer named it, the author of the records the server accepted from this tablet
    (a field expert's server accepts changes only of their own records) when they name exactly
    one person; else None, unknown, and the server decides."""
    if enrolled_id:
        return enrolled_id
    return next(iter(accepted_authors)) if len(accepted_authors) == 1 else None


class Backend(Protocol):
    """The device store and the sync client, as the app needs them."""

    def enrolment(self) -> Enrolment | None: ...

    def person_id(self) -> str | None:
        """The id of this tablet's person, as pulled records name their author
        (``created_by_id``), by :func:`known_person`; None while unknown."""

    def enrol(
        self,
        *,
        server_url: str,
        code: str | None,
        username: str | None,
        password: str | None,
        label: str,
    ) -> Enrolment: ...

    def projects(self) -> list[dict[str, Any]]: ...

    def sites(self, project_id: str) -> list[dict[str, Any]]: ...

    def targets(self, project_id: str) -> list[dict[str, Any]]: ...

    def participants(self, project_id: str) -> list[dict[str, Any]]: ...

    def activities(self, project_id: str) -> list[LocalRecord]: ...

    def activity_rows(self, project_id: str) -> list[RowFacts]:
        """What the activity list shows of each record, without loading whole records."""

    def progress_activities(self, project_id: str, year: int) -> list[dict[str, Any]]:
        """The project's activities that count towards its targets (submitted or approved,
        not deleted) starting in ``year``, with only the fields progress needs
        (``PROGRESS_FIELDS``)."""

    def activity_states(self, project_id: str) -> dict[str, int]:
        """How many of the project's activities are in each state (pending, synced, …)."""

    def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever what the screens show may have changed (records, outbox, sync)."""

    def activity(self, activity_id: str) -> LocalRecord | None: ...

    def attention(self) -> list[LocalRecord]: ...

    def photos(self, activity_id: str) -> list[Photo]: ...

    def save_activity(self, save: Save) -> None: ...

    def delete_activity(self, activity_id: str) -> None: ...

    def save_participant(self, data: Mapping[str, Any]) -> None: ...

    def keep_theirs(self, activity_id: str) -> None: ...

    def keep_mine(self, activity_id: str) -> None:
        """Send this tablet's values of the activity's conflicting fields again. Raises
        :class:`KeepMineRefused`, queuing nothing, when the server would refuse them."""

    def discard_refused(self, entity: str, record_id: str) -> bool:
        """Drop a refused change of a record the server holds and keep the server's version
        (nothing is sent); False when nothing is discarded."""

    # -- measurements (docs/results.md#observations) --------------------------------------

    def forms(self) -> list[dict[str, Any]]:
        """Every pulled form version (published and retired)."""

    def observations(self, project_id: str) -> list[LocalRecord]:
        """The project's observations with their states."""

    def observation(self, observation_id: str) -> LocalRecord | None: ...

    def observation_attention(self) -> list[LocalRecord]:
        """Observations returned by the office, in conflict or refused."""

    def observation_photos(self, observation_id: str) -> list[Photo]: ...

    def save_observation(self, save: ObservationSave) -> None:
        """The observation and its photos (new ones, and the removal of those taken off it)
        in one store transaction."""

    def delete_observation(self, observation_id: str) -> None:
        """Take an observation off the tablet with its photos (one store transaction); the
        server makes it a tombstone at the next sync."""

    def start(self, on_change: Callable[[], None]) -> None:
        """Sync in the background (retries with back-off); ``on_change`` from that thread."""

    def sync_now(self) -> None: ...

    @property
    def syncing(self) -> bool: ...

    def sync_once(self) -> SyncStatus: ...

    def status(self) -> SyncStatus: ...

    def server_offset(self) -> timedelta: ...

    def log(self, limit: int) -> list[LogEntry]: ...

    def export_bundle(self, directory: Path) -> Path: ...

    def custody(self) -> Custody:
        """What no verified receipt covers yet (docs/protocol.md#custody-receipts)."""

    def waiting_by_project(self) -> dict[str, Waiting]:
        """What of each project waits to be sent, counted as the sync bar counts it."""

    def save_receipts(self, directory: Path) -> tuple[Path, int]:
        """Write the receipts file into ``directory``: its path and how many receipts."""

    def device_id(self) -> str: ...

    def close(self) -> None: ...


class FieldSession:
    def __init__(
        self,
        *,
        backend: Backend,
        device: Device,
        data_dir: Path,
        settings: LocalSettings | None = None,
    ) -> None:
        self.backend = backend
        self.device = device
        self.data_dir = data_dir
        self.settings_path = data_dir / SETTINGS_FILE
        self.settings = settings or LocalSettings.load(self.settings_path)
        self.photos_dir = data_dir / "photos"

    # -- identity ----------------------------------------------------------------------------

    @property
    def enrolled(self) -> bool:
        return self.backend.enrolment() is not None

    def enrolment(self) -> Enrolment | None:
        return self.backend.enrolment()

    def enrol(
        self,
        *,
        server_url: str,
        code: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> Enrolment:
        label = self.settings.device_label or f"{self.device.name} {uuid.uuid4().hex[:6]}"
        enrolment = self.backend.enrol(
            server_url=server_url, code=code, username=username, password=password, label=label
        )
        self.settings.server_url = enrolment.server_url
        self.settings.device_label = label
        self.save_settings()
        return enrolment

    def save_settings(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings.save(self.settings_path)

    # -- time --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The server's time as well as the tablet knows it (its clock plus the offset seen at
        the last sync); decisions use it, never the raw tablet clock."""
        return datetime.now(UTC) + self.backend.server_offset()

    def today(self) -> date:
        return self.now().date()

    # -- reading -------------------------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        return self.backend.projects()

    def project(self, project_id: str) -> dict[str, Any] | None:
        return next((p for p in self.backend.projects() if str(p["id"]) == project_id), None)

    def rows(self, project_id: str) -> list[Row]:
        """The activity list of a project, one light row per record."""
        sites = {str(s["id"]): str(s.get("name") or "") for s in self.backend.sites(project_id)}
        return [
            Row.make(
                id=f.id,
                title=f.title,
                type=f.type,
                start_date=f.start_date,
                topic=f.topic,
                site=sites.get(f.site_id, ""),
                participants=f.participants,
                women=f.women,
                state=f.state,
                safe=f.safe,
                status=f.status,
            )
            for f in self.backend.activity_rows(project_id)
        ]

    def photos_of(self, activity_id: str) -> list[Photo]:
        return self.backend.photos(activity_id)

    # -- writing -------------------------------------------------------------------------------

    def save(self, form: ActivityForm) -> Save:
        """Write the form's records in one local transaction; raises FormInvalid instead."""
        # captured_at is the tablet's own clock, kept as data (docs/product.md#domain), with its
        # offset.
        save = form.save(captured_at=datetime.now().astimezone())
        self.backend.save_activity(save)
        return save

    def delete(self, activity_id: str) -> None:
        """Delete an activity (and its photos) on the tablet; a tombstone on the server."""
        self.backend.delete_activity(activity_id)

    def delete_observation(self, observation_id: str) -> None:
        """Delete a measurement (and its photos) on the tablet; a tombstone on the server."""
        self.backend.delete_observation(observation_id)

    # -- sync ------------------------------------------------------------------------------

    def start_sync(self, on_change: Callable[[], None]) -> None:
        """Background sync from now on; ``on_change`` runs on the sync thread after each
        change of state (the app moves it to the UI thread)."""
        self.backend.start(on_change)

    def request_sync(self) -> None:
        """Sync as soon as possible (Sync now, or after a save)."""
        self.backend.sync_now()

    @property
    def sync_running(self) -> bool:
        return self.backend.syncing

    def status(self) -> SyncStatus:
        return self.backend.status()

    def custody(self) -> Custody:
        return self.backend.custody()

    def close(self) -> None:
        self.backend.close()

    # -- facts for Settings ---------------------------------------------------------------------

    def device_facts(self) -> list[tuple[str, str]]:
        enrolment = self.backend.enrolment()
        facts = [
            (i18n._("App version"), APP_VERSION),
            (i18n._("Device id"), self.backend.device_id()),
            (i18n._("Device name"), self.settings.device_label or "–"),
            (i18n._("Hardware"), i18n._(self.device.kind)),
        ]
        if enrolment is not None:
            role = labels.label(labels.ROLES, enrolment.role)
            facts += [(i18n._("Signed in as"), f"{enrolment.username} ({role})")]
        facts += [
            (i18n._(DEVICE_FACTS[key]) if key in DEVICE_FACTS else key, value)
            for key, value in self.device.facts().items()
        ]
        return facts
