"""The app's :class:`~field_app.session.Backend` on top of ``sync``: the device store, the sync
engine and its background schedule, the offline bundle.

Everything goes through ``DeviceStore``'s public methods. Lists read with ``DeviceStore.query``,
which reads through a pooled read-only connection: the sync thread holds the store's writer for a
whole pull page, and with WAL a separate reader never waits for it, so the UI stays smooth while
5 000 records arrive.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from field_app import APP_VERSION, enrolment, i18n
from field_app.clock import Anchor, BootClock, KernelBootClock, anchor_at, offset_now
from field_app.controllers.attention import SITE_REJECTED
from field_app.controllers.form import FIELD_EXPERT, Photo, Save, recorded_by_another
from field_app.controllers.messages import (
    REJECTED_SITE,
    keep_mine_at_rejected_site,
    rejected_site_name,
)
from field_app.controllers.observations import ObservationSave
from field_app.controllers.progress import COUNTED_STATUSES
from field_app.controllers.settings import NothingToExport
from field_app.controllers.status import LogEntry, SyncStatus, UploadTracker
from field_app.session import (
    EnrolError,
    Enrolment,
    KeepMineRefused,
    LocalRecord,
    RowFacts,
    known_person,
)
from sync.bundle import BUNDLE_KEY_ID_META, BUNDLE_KEY_META, export_bundle
from sync.client import SyncClient
from sync.custody import save_receipts
from sync.engine import SyncEngine, SyncReport
from sync.protocol import ResultStatus
from sync.schedule import SyncSchedule
from sync.status import read_status
from sync.store import Custody, DeviceStore, NewPhoto, StoredRecord, Waiting

log = logging.getLogger("pilotmon.field")

STORE_FILE = "device.sqlite3"
ATTENTION = ("returned", "conflict", "rejected")
# A record the server holds as this tablet does, which needs attention all the same when the
# office rejected its site (the server refuses any change of it until another site is chosen).
SETTLED = ("synced", "photos_pending")
LOG_KEEP = 50
# What the Activities list shows of each record, extracted in SQLite.
ROW_FIELDS = ("title", "type", "start_date", "topic", "site_id", "status")
# What a project's progress is computed from (``controllers.progress``).
PROGRESS_FIELDS = (
    "type",
    "status",
    "start_date",
    "end_date",
    "experts_count",
    "attendance",
    "participant_ids",
)
# Keys the app keeps in the store's meta table (its own, next to sync's).
_ENROLMENT_KEYS = ("server_url", "device_token", "username", "role", "label")
_LOG_KEY = "field_app.sync_log"
# Before conflicts could be settled on the server, "keep theirs" only hid them on the tablet,
# under this key; such conflicts are now sent to the server (once) when the app opens.
_ACCEPTED_KEY = "field_app.accepted_conflicts"
_OFFSET_KEY = "field_app.clock_offset_s"
# The server's time at the last answer against the time since boot (field_app.clock.Anchor).
_ANCHOR_KEY = "field_app.clock_anchor"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class StoreBackend:
    def __init__(
        self,
        data_dir: Path,
        *,
        http: requests.Session | None = None,
        schedule_options: Mapping[str, float] | None = None,
        boot_clock: BootClock | None = None,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._boot_clock: BootClock = boot_clock or KernelBootClock()  # tests hand in theirs
        self.path = data_dir / STORE_FILE
        self.store = DeviceStore(self.path)
        self._http = http  # tests hand in their own transport
        self._schedule_options = dict(schedule_options or {})
        self._engine: SyncEngine | None = None
        self._schedule: SyncSchedule | None = None
        self._on_change: Callable[[], None] | None = None
        self.uploads = UploadTracker()  # the photo going now, for the sync bar
        self._lock = threading.Lock()
        self._send_accepted_conflicts()

    def _send_accepted_conflicts(self) -> None:
        text = self.store.meta(_ACCEPTED_KEY)
        if not text:
            return
        accepted = set(json.loads(text))
        for record in self.store.query("activity", states=["conflict"]):
            if any(str(c.get("id")) in accepted for c in record.conflicts):
                self.store.keep_theirs("activity", record.id)
        self.store.set_meta(**{_ACCEPTED_KEY: None})

    # -- reading -----------------------------------------------------------------------------

    def _records(self, entity: str, **filters: Any) -> list[dict[str, Any]]:
        return [r.data for r in self.store.query(entity, **filters)]

    def enrolment(self) -> Enrolment | None:
        values = {key: self.store.meta(key) for key in _ENROLMENT_KEYS}
        if not values["device_token"] or not values["server_url"]:
            return None
        return Enrolment(
            server_url=str(values["server_url"]),
            device_id=self.store.device_id,
            username=str(values["username"] or ""),
            role=str(values["role"] or ""),
            label=str(values["label"] or ""),
        )

    def projects(self) -> list[dict[str, Any]]:
        return self._records("project", order_by=["code"])

    def sites(self, project_id: str) -> list[dict[str, Any]]:
        return self._records("site", where={"project_id": project_id})

    def targets(self, project_id: str) -> list[dict[str, Any]]:
        return self._records("target", where={"project_id": project_id})

    def participants(self, project_id: str) -> list[dict[str, Any]]:
        return self._records("participant", where={"project_id": project_id})

    def _local(self, found: StoredRecord) -> LocalRecord:
        data = found.data
        state = self._shown_state(found.state)
        record = LocalRecord(data=data, state=state, version=found.version, safe=bool(found.safe))
        if state == "returned":
            returns = [r for r in data.get("reviews") or () if r.get("action") == "return"]
            record.comment = str(returns[-1].get("comment") or "") if returns else ""
        if state == "rejected":
            record.errors = list(found.errors)
        for conflict in found.conflicts:
            for name in conflict.get("fields") or ():
                if name not in record.conflict_fields:
                    record.conflict_fields.append(name)
            record.theirs.update(conflict.get("server_values") or {})
            record.mine.update(conflict.get("device_values") or {})
            record.base.update(conflict.get("base_values") or {})
            record.conflict_ids.append(str(conflict.get("id")))
        return record

    def activities(self, project_id: str) -> list[LocalRecord]:
        return [
            self._local(r) for r in self.store.query("activity", where={"project_id": project_id})
        ]

    def activity_rows(self, project_id: str) -> list[RowFacts]:
        # SQLite picks the few fields a list row shows and sums the attendance, in C: many
        # times faster than loading 10 000 whole records into Python.
        rows = self.store.query(
            "activity",
            where={"project_id": project_id},
            fields=ROW_FIELDS,
            attendance_totals=True,
            custody=True,
        )
        return [
            RowFacts(
                id=r.id,
                title=r.data.get("title") or "",
                type=r.data.get("type") or "",
                start_date=r.data.get("start_date") or "",
                topic=r.data.get("topic") or "",
                site_id=r.data.get("site_id") or "",
                participants=r.participants or 0,
                women=r.women or 0,
                state=self._shown_state(r.state),
                safe=bool(r.safe),
                # The server's review status; a record it never took has none yet (the
                # form's "submitted" is what the tablet will send, not what the office holds).
                status=(r.data.get("status") or "") if r.version else "",
            )
            for r in rows
        ]

    def progress_activities(self, project_id: str, year: int) -> list[dict[str, Any]]:
        # Only the counted activities, and only the fields progress needs, extracted in
        # SQLite (not whole records with titles, notes and reviews); the year's, of which the
        # quarter's and the year's targets both count.
        prefix = f"{year:04d}-"
        return [
            r.data
            for status in sorted(COUNTED_STATUSES)
            for r in self.store.query(
                "activity",
                where={"project_id": project_id, "status": status},
                fields=PROGRESS_FIELDS,
            )
            if str(r.data.get("start_date") or "").startswith(prefix)
        ]

    def activity_states(self, project_id: str) -> dict[str, int]:
        """How many of the project's activities are in each state, as this tablet's person
        acts on them: a colleague's returned activity is theirs to correct (``_may_correct``),
        here one of the project's synced activities; one of theirs at a site the office
        rejected counts as ``site_rejected`` (as Needs attention and the bar count it,
        ``_at_rejected_sites``), not as synced."""
        counts: dict[str, int] = {}
        for state, n in self.store.state_counts(
            "activity", where={"project_id": project_id}
        ).items():
            shown = self._shown_state(state)
            counts[shown] = counts.get(shown, 0) + n
        # Whose a record is (``_may_correct``, which may read records) only when it matters:
        # Home asks once per project card at every refresh.
        rejected_site = bool(self.store.count("site", where={"status": REJECTED_SITE}))
        if not (rejected_site or counts.get("returned")):
            return counts
        mine = self._may_correct()
        at_rejected = (
            self._at_rejected_sites(mine, fields=["project_id", "status", "created_by_id"])
            if rejected_site
            else []
        )
        for r in at_rejected:
            if r.data.get("project_id") == project_id and counts.get(r.state):
                counts[r.state] -= 1
                counts[SITE_REJECTED] = counts.get(SITE_REJECTED, 0) + 1
        if counts.get("returned"):
            others = sum(
                1
                for r in self.store.query(
                    "activity",
                    where={"project_id": project_id},
                    states=["returned"],
                    fields=["created_by_id"],
                )
                if not mine(r.data)
            )
            counts["returned"] -= others
            counts["synced"] = counts.get("synced", 0) + others
        return counts

    def waiting_by_project(self) -> dict[str, Waiting]:
        """What of each project waits to be sent, counted as the sync bar counts it (records
        with a change waiting, deleted ones included, and photos whose bytes wait)."""
        return self.store.waiting_by_project()

    @staticmethod
    def _shown_state(state: str) -> str:
        return "pending" if state == "draft" else state  # the app never makes drafts

    def fingerprint(self) -> tuple[object, ...]:
        return self.store.fingerprint()

    def activity(self, activity_id: str) -> LocalRecord | None:
        found = self.store.query("activity", ids=[activity_id], custody=True)
        return self._local(found[0]) if found else None

    def person_id(self) -> str | None:
        """The id of this tablet's person (``known_person``): the one the enrolment named (meta
        ``user_id``), one read; the records are read only on a tablet enrolled before."""
        enrolled = self.store.meta("user_id")
        return known_person(enrolled, () if enrolled else self.store.own_authors())

    def _may_correct(self) -> Callable[[Mapping[str, Any]], bool]:
        """Whether this tablet's person may correct a record, by the rule the form applies
        (``recorded_by_another``, docs/roles.md): a field expert only the records they
        recorded, a country officer or an admin any record in scope. While the person is
        unknown every record counts: the server decides."""
        role = self.store.meta("role") or ""
        person = self.person_id() if role == FIELD_EXPERT else None
        return lambda data: not recorded_by_another(data, (), role=role, user_id=person)

    def attention(self) -> list[LocalRecord]:
        """Activities that need this tablet's person: refused by the server, in conflict, or
        returned by the office or at a site it rejected when they may correct them."""
        mine = self._may_correct()
        found = [
            r
            for r in self.store.query("activity", states=ATTENTION)
            if r.state != "returned" or mine(r.data)
        ]
        return [self._local(r) for r in found + self._at_rejected_sites(mine)]

    def _at_rejected_sites(
        self, mine: Callable[[Mapping[str, Any]], bool], *, fields: list[str] | None = None
    ) -> list[StoredRecord]:
        """This person's activities the server holds as the tablet does, not approved, at a
        site the office rejected (``fields``: only these, as ``DeviceStore.query`` reads)."""
        rejected = self.store.query("site", where={"status": REJECTED_SITE}, fields=["id"])
        return [
            r
            for site in rejected
            for r in self.store.query(
                "activity", where={"site_id": site.id}, states=SETTLED, fields=fields
            )
            if r.data.get("status") != "approved" and mine(r.data)
        ]

    def _attention_tally(self) -> tuple[int, int]:
        """(how many records Needs attention lists, how many of them the server refused),
        counted without reading records whole: the sync bar asks at every refresh."""
        mine = self._may_correct()
        attention = refused = 0
        for entity in ("activity", "observation"):
            for (state, author), n in self.store.attention_counts(entity).items():
                if state != "returned" or mine({"created_by_id": author}):
                    attention += n
                refused += n if state == "rejected" else 0
        attention += len(self._at_rejected_sites(mine, fields=["status", "created_by_id"]))
        return attention, refused

    def photos(self, activity_id: str) -> list[Photo]:
        return self._kept_photos(self._records("attachment", where={"activity_id": activity_id}))

    def _kept_photos(self, records: list[dict[str, Any]]) -> list[Photo]:
        found = []
        for data in records:
            path = self.store.files_dir / str(data["id"])
            if path.exists():  # teammates' photos stay on the server
                found.append(
                    Photo(
                        id=str(data["id"]),
                        path=str(path),
                        sha256=str(data.get("sha256", "")),
                        size=int(data.get("size") or 0),
                        content_type=str(data.get("content_type", "")),
                        caption=str(data.get("caption") or ""),
                    )
                )
        return found

    # -- writing -------------------------------------------------------------------------------

    def save_activity(self, save: Save) -> None:
        """A new site, the activity, its new photos and the removal of photos taken off it:
        one store transaction (docs/protocol.md#client-behaviour), so a kill leaves all of it
        queued or none of it.

        Saving an activity that is in conflict is the "edit" way out of it: the form showed
        the server's values, so what the user saved is the answer. The changed fields go first
        (a conflicting field among them closes its conflict on the server), then the
        conflicts are settled keeping the server's values for every field left as it was."""
        activity_id = str(save.activity["id"])
        records: list[tuple[str, Mapping[str, Any]]] = []
        if save.new_site is not None:
            records.append(("site", save.new_site))  # first: the activity refers to it
        records.append(("activity", save.activity))
        photos = [
            NewPhoto(
                id=p.id,
                activity_id=activity_id,
                source=p.path,
                content_type=p.content_type,
                caption=p.caption,
            )
            for p in save.photos
        ]
        kept = {p.id for p in save.photos}
        removed = [p.id for p in self.photos(activity_id) if p.id not in kept]
        self.store.save_all(records, photos=photos, removed_photos=removed, settle_conflicts=True)
        for photo in save.photos:
            # The store keeps its own copy; the app's downscaled file is no longer needed.
            if Path(photo.path).parent != self.store.files_dir:
                Path(photo.path).unlink(missing_ok=True)
        self._wake()

    def delete_activity(self, activity_id: str) -> None:
        """Take an activity off the tablet with its photos (one store transaction); the
        server makes it a tombstone at the next sync."""
        if self.store.delete_record("activity", activity_id):
            self._wake()

    def discard_refused(self, entity: str, record_id: str) -> bool:
        """Drop the change the server refused of an activity or measurement it holds, and
        keep the server's version (``DeviceStore.discard_refused``): the way out of a change
        to a record the office approved meanwhile. Nothing is sent. False when there is
        nothing to discard, or something of the record still waits to be sent."""
        return self.store.discard_refused(entity, record_id)

    def save_participant(self, data: Mapping[str, Any]) -> None:
        self.store.save("participant", data)
        self._wake()

    def keep_theirs(self, activity_id: str) -> None:
        """Keep the server's values of the activity's open conflicts: the decision is queued
        for the server (which closes the conflicts for the office and every tablet) and the
        tablet shows the server's values at once; the record is pending until the server
        answers, then synced."""
        if self.store.keep_theirs("activity", activity_id):
            self._wake()

    def keep_mine(self, activity_id: str) -> None:
        """Send this tablet's values of the conflicting fields again, on top of the server's
        version: the server applies them and closes the conflict as superseded.

        Not at a site the office rejected (this tablet's site, or the server's version's):
        the server refuses any change of such a record, so nothing is queued and
        ``KeepMineRefused`` says to edit the activity and choose another site, as its form
        does before saving."""
        record = self.activity(activity_id)
        if record is None or not record.mine:
            return
        values = {**record.data, **record.mine}
        name = rejected_site_name(values.get("site_id"), self.sites(str(values["project_id"])))
        if name is not None:
            raise KeepMineRefused(lambda: keep_mine_at_rejected_site(name))
        self.store.save("activity", values)
        self._wake()

    # -- measurements (docs/results.md#observations) ----------------------------------------

    def forms(self) -> list[dict[str, Any]]:
        return [r.data for r in self.store.query("form")]

    def observations(self, project_id: str) -> list[LocalRecord]:
        # With custody, as activities: a measurement the server signed for is "safe".
        return [
            self._local(r)
            for r in self.store.query("observation", where={"project_id": project_id}, custody=True)
        ]

    def observation(self, observation_id: str) -> LocalRecord | None:
        found = self.store.query("observation", ids=[observation_id], custody=True)
        return self._local(found[0]) if found else None

    def observation_attention(self) -> list[LocalRecord]:
        mine = self._may_correct()
        return [
            self._local(r)
            for r in self.store.query("observation", states=ATTENTION)
            if r.state != "returned" or mine(r.data)
        ]

    def observation_photos(self, observation_id: str) -> list[Photo]:
        return self._kept_photos(
            self._records("attachment", where={"observation_id": observation_id})
        )

    def save_observation(self, save: ObservationSave) -> None:
        """The observation, its new photos and the removal of photos taken off it: one store
        transaction, like an activity's save."""
        observation_id = str(save.observation["id"])
        photos = [
            NewPhoto(
                id=p.id,
                activity_id=None,
                observation_id=observation_id,
                source=p.path,
                content_type=p.content_type,
                caption=p.caption,
            )
            for p in save.photos
        ]
        kept = {p.id for p in save.photos}
        removed = [p.id for p in self.observation_photos(observation_id) if p.id not in kept]
        self.store.save_all(
            [("observation", save.observation)],
            photos=photos,
            removed_photos=removed,
            settle_conflicts=True,
        )
        for photo in save.photos:
            if Path(photo.path).parent != self.store.files_dir:
                Path(photo.path).unlink(missing_ok=True)
        self._wake()

    def delete_observation(self, observation_id: str) -> None:
        """Take an observation off the tablet with its photos, as an activity's delete."""
        if self.store.delete_record("observation", observation_id):
            self._wake()

    # -- enrolment -------------------------------------------------------------------------------

    def enrol(
        self,
        *,
        server_url: str,
        code: str | None,
        username: str | None,
        password: str | None,
        label: str,
    ) -> Enrolment:
        answer = enrolment.enrol(
            server=server_url,
            device_id=self.store.device_id,
            label=label,
            app_version=APP_VERSION,
            code=code,
            username=username,
            password=password,
            session=self._http,
        )
        if answer.device_id != self.store.device_id:
            other = answer.device_id
            raise EnrolError(
                lambda: i18n._(
                    "The server enrolled another device ({device}), not this tablet: "
                    "enrol again or ask your country office"
                ).format(device=other)
            )
        self.store.set_meta(
            server_url=server_url,
            device_token=answer.device_token,
            username=answer.username,
            role=answer.role,
            label=label,
            user_id=answer.user_id,  # None from a server that names no id: ``person_id``
            # Each enrolment brings a new bundle key; an old one would sign bundles the
            # server now refuses.
            **{BUNDLE_KEY_META: answer.bundle_key, BUNDLE_KEY_ID_META: answer.bundle_key_id},
        )
        # Receipt keys learnt at enrolment are trusted from now on (and never dropped).
        self.store.pin_receipt_keys(answer.receipt_keys, source="enrolment")
        self._learn_offset(answer.server_time)
        # A new server or token: a new client, and a new schedule to drive it. The running
        # schedule holds the old engine (and its token, which the server no longer knows):
        # kept, every round, "Sync now" included, would be refused until the app restarted.
        # Stopping it cuts a round in flight; the new schedule starts a round at once, with
        # no back-off or busy wait learnt under the old enrolment.
        with self._lock:
            self._engine = None
            old, self._schedule = self._schedule, None
        if old is not None:
            old.stop()
        if self._on_change is not None:
            self.start(self._on_change)
        found = self.enrolment()
        assert found is not None
        return found

    # -- sync ------------------------------------------------------------------------------------

    def engine(self) -> SyncEngine:
        with self._lock:
            if self._engine is None:
                enrolled = self.enrolment()
                if enrolled is None:
                    # A bug's words, never shown: nothing syncs before the enrolment.
                    raise EnrolError(lambda: "this tablet is not enrolled yet")
                client = SyncClient(
                    enrolled.server_url,
                    token=self.store.meta("device_token"),
                    session=self._http,
                    app_version=APP_VERSION,
                )
                self._engine = SyncEngine(
                    self.store, client, on_progress=self.uploads, language=i18n.language
                )
            return self._engine

    def sync_once(self) -> SyncStatus:
        """One round now, on the caller's thread (tests and the benchmark; the app's rounds
        run on the schedule's thread)."""
        engine = self.engine()
        try:
            report = engine.sync_once()
        except Exception as exc:
            self._failed(engine.report, exc)
            raise
        finally:
            self.uploads.clear()
        self._succeeded(report)
        return self.status()

    def start(self, on_change: Callable[[], None]) -> None:
        """Sync in the background from now on; ``on_change`` is called from that thread."""
        self._on_change = on_change
        self.uploads.on_change = on_change
        if self.enrolment() is None:
            return
        with self._lock:
            if self._schedule is not None:
                return
        engine = self.engine()
        schedule = _LoggingSchedule(
            engine, backend=self, on_change=on_change, **self._schedule_options
        )
        with self._lock:
            self._schedule = schedule
        schedule.start()

    def sync_now(self) -> None:
        """The user asked: the schedule's thread starts a round at once."""
        if self._schedule is not None:
            self._schedule.sync_now()

    def _wake(self) -> None:
        # After a save: the schedule's own rule (a short delay, a minimum gap).
        if self._schedule is not None:
            self._schedule.sync_soon()

    @property
    def syncing(self) -> bool:
        return bool(self._schedule and self._schedule.syncing)

    def status(self) -> SyncStatus:
        status = read_status(self.store, self._schedule)
        # Counted as Needs attention lists them (a colleague's returned record is not mine).
        attention, refused = self._attention_tally()
        return SyncStatus(
            pending=status.waiting.records,
            changes=status.waiting.mutations,
            photos=status.waiting.photos,
            photo_bytes=status.waiting.photo_bytes,
            last_success=_parse_time(status.last_success),
            last_error=status.last_error,
            error_cause=status.last_error_cause,
            attention=attention,
            refused=refused,
            running=status.syncing,
            upload=self.uploads.current() if status.syncing else None,
            clock_offset=self.server_offset(),
        )

    def server_offset(self) -> timedelta:
        """The server's clock minus the tablet's, now (``field_app.clock.offset_now``): right
        even after someone set the tablet's clock since the last answer, unless it restarted."""
        text = self.store.meta(_OFFSET_KEY)
        learnt = timedelta(seconds=float(text)) if text else timedelta(0)
        anchor = Anchor.from_text(self.store.meta(_ANCHOR_KEY))
        return offset_now(anchor, learnt, self._boot_clock(), datetime.now(UTC))

    def _learn_offset(self, server_time: str | None) -> None:
        moment = _parse_time(server_time)
        if moment is not None:
            boot = self._boot_clock()
            offset = (moment - datetime.now(UTC)).total_seconds()
            anchor = anchor_at(moment, boot)
            self.store.set_meta(
                **{
                    _OFFSET_KEY: f"{offset:.1f}",
                    _ANCHOR_KEY: anchor.to_text() if anchor is not None else None,
                }
            )

    def _succeeded(self, report: SyncReport) -> None:
        self._learn_offset(report.server_time)
        self._log({"ok": True, **_went(report)})

    def _failed(self, report: SyncReport | None, exc: BaseException | None = None) -> None:
        """A round that failed: its real cause and detail, and what it did before that."""
        cause = (report.error_cause if report else None) or getattr(exc, "cause", None)
        detail = (report.error if report else None) or (
            str(getattr(exc, "message", exc)) if exc is not None else None
        )
        if cause is None and detail is None:
            cause, detail = self.store.meta("last_error_cause"), self.store.meta("last_error")
        self._log(
            {
                "ok": False,
                "cause": cause or "unexpected",
                "error": detail or "",
                **(_went(report) if report else {}),
            }
        )

    def _log(self, entry: dict[str, Any]) -> None:
        entries = self._log_entries()
        entries.append({"at": datetime.now(UTC).isoformat(), **entry})
        self.store.set_meta(**{_LOG_KEY: json.dumps(entries[-LOG_KEEP:])})

    def _log_entries(self) -> list[dict[str, Any]]:
        text = self.store.meta(_LOG_KEY)
        return list(json.loads(text)) if text else []

    def log(self, limit: int) -> list[LogEntry]:
        entries = self._log_entries()[-limit:]
        return [
            LogEntry(
                at=_parse_time(e.get("at")) or datetime.now(UTC),
                ok=bool(e.get("ok")),
                error=str(e.get("error") or ""),
                sent=int(e.get("sent") or 0),
                received=int(e.get("received") or 0),
                photos=int(e.get("photos") or 0),
                bytes_sent=int(e.get("bytes_sent") or 0),
                bytes_received=int(e.get("bytes_received") or 0),
                cause=str(e.get("cause") or ""),
                refused=int(e.get("refused") or 0),
                conflicts=int(e.get("conflicts") or 0),
            )
            for e in reversed(entries)
        ]

    def export_bundle(self, directory: Path) -> Path:
        """Write what waits to a signed bundle in ``directory``; :class:`NothingToExport` (and
        no file) when nothing waits: an empty bundle would only be handed over for nothing."""
        if self.store.waiting().nothing:
            raise NothingToExport()
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        summary = export_bundle(self.store, directory / f"pilotmon-{stamp}.zip")
        return summary.path

    def custody(self) -> Custody:
        return self.store.custody()

    def save_receipts(self, directory: Path) -> tuple[Path, int]:
        enrolled = self.enrolment()
        path = save_receipts(self.store, directory, server=enrolled.server_url if enrolled else "")
        return path, self.store.custody().receipts

    def device_id(self) -> str:
        return self.store.device_id

    def close(self) -> None:
        schedule, self._schedule = self._schedule, None
        if schedule is not None:
            schedule.stop()
        self.store.close()


class _LoggingSchedule(SyncSchedule):
    """The sync schedule, writing each round's outcome into the app's sync log."""

    def __init__(self, engine: SyncEngine, *, backend: StoreBackend, **options: Any) -> None:
        super().__init__(engine, **options)
        self._backend = backend

    def run_once(self) -> bool:
        try:
            ok = super().run_once()
        finally:
            self._backend.uploads.clear()
        report = getattr(self.engine, "report", None)
        if ok and report is not None:
            self._backend._succeeded(report)
        elif not ok:
            self._backend._failed(report)
        return ok


def _went(report: SyncReport) -> dict[str, int]:
    """What a round sent and received, for the sync log."""
    return {
        "sent": report.records,
        "received": report.pulled,
        "photos": report.uploaded,
        "bytes_sent": report.bytes_sent,
        "bytes_received": report.bytes_received,
        "refused": report.pushed.get(ResultStatus.REJECTED, 0),
        "conflicts": report.pushed.get(ResultStatus.CONFLICT, 0),
    }
