"""Random field work against a real server, with a hostile network (docs/protocol.md).

Two or three tablets (teammates on one project) and a country officer do random creates, edits,
deletes, reviews and direct edits, interleaved with syncs whose requests are lost, whose answers
are lost after the server committed, or which are delivered twice; tablets are closed and
reopened (as after a kill) and their clocks jump a year either way. After every tablet has
synced once more with a clean network:

- every record a tablet saved is on the server, once; no mutation was applied twice;
- every tablet holds exactly the server's live records, with the same values;
- every conflict is on the server, listed for the country office, and on the tablet that
  raised it, with the same status.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.accounts.models import Device, User
from server.activities.models import Activity
from server.activities.review import review_activity
from server.activities.service import activity_wire, attendance_by_activity, write_activity
from server.config import Settings
from server.db import make_engine, write_engine
from server.errors import PilotMonitorError
from server.sync.models import KeptMutation, SyncConflict
from sync import errors
from sync.engine import SyncEngine
from sync.merge import same_value
from sync.store import SERVER_KEYS, DeviceStore
from tests.conftest import _truncate_all, app_for
from tests.factories import (
    activity_data,
    attendance_lists,
    make_access_token,
    make_device,
    make_project,
    make_site,
    make_user,
    versions_by_device,
)
from tests.sync.transport import FaultyAdapter, client_for

COMPARED = ("title", "notes", "experts_count", "attendance", "status", "start_date", "site_id")
TITLES = ("Seed potato storage", "Farmer field day", "Drip irrigation", "Hermetic bags")
NOTES = ("", "Rain in the morning", "Chief attended", "Follow-up in May")
FAULTS = (
    None,
    None,
    FaultyAdapter.DROP_REQUEST,
    FaultyAdapter.DROP_ANSWER,
    FaultyAdapter.DUPLICATE,
)
ATTENDANCE = attendance_lists(min_size=1)


class Tablet:
    def __init__(self, path: Path, device_id: str, token: str, app_client: TestClient) -> None:
        self.path = path
        self.device_id = device_id
        self.token = token
        self.app_client = app_client
        self.clock_offset = timedelta(0)
        self.open()

    def open(self) -> None:
        self.store = DeviceStore(self.path, device_id=self.device_id)
        client, faults = client_for(self.app_client, self.token, faulty=True)
        assert faults is not None
        self.faults = faults
        self.engine = SyncEngine(self.store, client, max_batch_bytes=2048, min_batch_bytes=1024)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset


class FieldWork(RuleBasedStateMachine):
    workdir: Path

    def database(self) -> str:
        """The URL of an empty, migrated server database for this example."""
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(self.workdir) / uuid.uuid4().hex
        self.dir.mkdir(parents=True)
        url = self.database()
        self.db = make_engine(url)
        settings_ = Settings(
            environment="test",
            data_dir=self.dir / "data",
            database_url=url,
            secret_key="test-secret-key-that-is-long-enough-0123456789",
        )
        settings_.ensure_data_dir()
        self.app_client = TestClient(app_for(settings_, self.db))
        self.tablets: list[Tablet] = []
        self.created: dict[str, int] = {}  # activity id -> tablet that created it
        self.next_id = 0  # ids count up, so that every run of an example picks the same records

    @initialize(team=st.integers(2, 3))
    def world(self, team: int) -> None:
        with Session(write_engine(self.db), expire_on_commit=False) as session:
            self.project = make_project(session)
            self.site = make_site(session, self.project)
            self.officer = make_user(session, role="country_officer", countries=["LSO"])
            self.officer_token = make_access_token(session, self.officer)
            devices = []
            for _ in range(team):
                expert = make_user(session, projects=[self.project])
                devices.append(make_device(session, expert))
            session.commit()
        for n, (device, token) in enumerate(devices):
            self.tablets.append(
                Tablet(self.dir / f"tablet{n}.sqlite3", str(device.id), token, self.app_client)
            )

    def teardown(self) -> None:
        for tablet in self.tablets:
            tablet.store.close()
        self.app_client.close()
        self.db.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- what people do ----------------------------------------------------------------------

    def _own_live(self, n: int) -> list[str]:
        store = self.tablets[n].store
        return sorted(
            i
            for i, owner in self.created.items()
            if owner == n and store.get("activity", i) is not None
        )

    @rule(
        n=st.integers(0, 2),
        title=st.sampled_from(TITLES),
        attendance=ATTENDANCE,
        day=st.integers(1, 28),
        at_site=st.booleans(),
    )
    def create(
        self, n: int, title: str, attendance: list[dict[str, Any]], day: int, at_site: bool
    ) -> None:
        tablet = self.tablets[n % len(self.tablets)]
        self.next_id += 1
        record = activity_data(
            self.project,
            id=str(uuid.UUID(int=self.next_id)),
            title=title,
            attendance=attendance,
            start_date=f"2025-02-{day:02d}",
            end_date=f"2025-02-{day:02d}",
            site_id=str(self.site.id) if at_site else None,
            captured_at=tablet.now().isoformat(),
        )
        record.pop("status")
        tablet.store.save("activity", record)
        self.created[record["id"]] = n % len(self.tablets)

    @rule(
        n=st.integers(0, 2),
        pick=st.integers(0, 1000),
        title=st.sampled_from(TITLES),
        notes=st.sampled_from(NOTES),
        experts=st.integers(0, 5),
        attendance=st.none() | ATTENDANCE,
    )
    def edit(
        self,
        n: int,
        pick: int,
        title: str,
        notes: str,
        experts: int,
        attendance: list[dict[str, Any]] | None,
    ) -> None:
        n %= len(self.tablets)
        own = self._own_live(n)
        if not own:
            return
        store = self.tablets[n].store
        record = store.get("activity", own[pick % len(own)])
        assert record is not None
        changed = {**record, "title": title, "notes": notes, "experts_count": experts}
        if attendance is not None:
            changed["attendance"] = attendance
        store.save("activity", changed)

    @rule(n=st.integers(0, 2), pick=st.integers(0, 1000))
    def delete(self, n: int, pick: int) -> None:
        n %= len(self.tablets)
        own = self._own_live(n)
        if own:
            self.tablets[n].store.delete("activity", own[pick % len(own)])

    @rule(n=st.integers(0, 2), fault=st.sampled_from(FAULTS), second=st.sampled_from(FAULTS))
    def sync(self, n: int, fault: str | None, second: str | None) -> None:
        tablet = self.tablets[n % len(self.tablets)]
        tablet.faults.faults.extend([fault, second])
        with contextlib.suppress(errors.NetworkError):
            tablet.engine.sync_once()
        tablet.faults.faults.clear()

    @rule(n=st.integers(0, 2))
    def kill_and_reopen(self, n: int) -> None:
        tablet = self.tablets[n % len(self.tablets)]
        tablet.store.close()
        tablet.open()

    @rule(n=st.integers(0, 2), years=st.sampled_from([-1, 1]))
    def clock_jump(self, n: int, years: int) -> None:
        self.tablets[n % len(self.tablets)].clock_offset += timedelta(days=365 * years)

    def _server_activities(self, session: Session) -> list[Activity]:
        return list(
            session.execute(
                select(Activity)
                .where(col(Activity.deleted) == False)  # noqa: E712
                .order_by(col(Activity.id))
            ).scalars()
        )

    @rule(pick=st.integers(0, 1000), action=st.sampled_from(["approve", "return", "reopen"]))
    def review(self, pick: int, action: str) -> None:
        with Session(write_engine(self.db)) as session:
            live = self._server_activities(session)
            if not live:
                return
            officer = session.get(User, self.officer.id)
            assert officer is not None
            try:
                review_activity(
                    session,
                    caller=Caller(user=officer),
                    activity_id=live[pick % len(live)].id,
                    action=action,
                    comment="Please add the women's attendance",
                )
            except PilotMonitorError:
                return  # not a transition this activity allows now
            session.commit()

    @rule(pick=st.integers(0, 1000), title=st.sampled_from(TITLES), notes=st.sampled_from(NOTES))
    def officer_edit(self, pick: int, title: str, notes: str) -> None:
        with Session(write_engine(self.db)) as session:
            live = self._server_activities(session)
            if live:
                write_activity(
                    session,
                    data={"title": title, "notes": notes},
                    existing=live[pick % len(live)],
                    source="api",
                    author_id=self.officer.id,
                )
                session.commit()

    @precondition(lambda self: bool(self.tablets))
    @rule(pick=st.integers(0, 1000), keep=st.sampled_from(["server", "device"]))
    def resolve(self, pick: int, keep: str) -> None:
        listed = self.app_client.get(
            "/api/v1/conflicts",
            params={"status": "open"},
            headers={"Authorization": f"Bearer {self.officer_token}"},
        )
        items = listed.json()["items"]
        if items:
            conflict = items[pick % len(items)]
            self.app_client.post(
                f"/api/v1/conflicts/{conflict['id']}/resolve",
                json={"keep": keep},
                headers={"Authorization": f"Bearer {self.officer_token}"},
            )

    @rule(
        n=st.integers(0, 2),
        pick=st.integers(0, 1000),
        mine=st.sampled_from(TITLES),
        theirs=st.sampled_from(TITLES),
        settle=st.booleans(),
    )
    def both_edit_the_title(self, n: int, pick: int, mine: str, theirs: str, settle: bool) -> None:
        """The office and a tablet change the title of the same synced record, then the tablet
        syncs: a conflict when the values differ, which the expert may settle on the tablet."""
        n %= len(self.tablets)
        tablet = self.tablets[n]
        tablet.faults.faults.clear()
        with contextlib.suppress(errors.NetworkError):
            tablet.engine.sync_once()
        own = self._own_live(n)
        with Session(write_engine(self.db)) as session:
            live = {str(a.id): a for a in self._server_activities(session)}
            shared = [i for i in own if i in live]
            if not shared:
                return
            record_id = shared[pick % len(shared)]
            write_activity(
                session,
                data={"title": theirs},
                existing=live[record_id],
                source="api",
                author_id=self.officer.id,
            )
            session.commit()
        record = tablet.store.get("activity", record_id)
        assert record is not None
        tablet.store.save("activity", {**record, "title": mine})
        with contextlib.suppress(errors.NetworkError):
            tablet.engine.sync_once()
        if settle:  # the expert keeps the office's title at once; it travels at the next sync
            tablet.store.keep_theirs("activity", record_id)

    @rule(
        n=st.integers(0, 2),
        pick=st.integers(0, 1000),
        theirs_title=st.sampled_from(TITLES),
        theirs_notes=st.none() | st.sampled_from(NOTES),
        mine=st.sampled_from(NOTES),
    )
    def whole_record_from_a_stale_base(
        self, n: int, pick: int, theirs_title: str, theirs_notes: str | None, mine: str
    ) -> None:
        """A client that sends the whole record, not only what it changed: the office edits a
        synced record, then the tablet changes the notes and sends every field with its stale
        base_version. It merges exactly like a diff: a conflict only when the office changed
        the notes too, never on a field the tablet sent back as it saw it."""
        n %= len(self.tablets)
        tablet = self.tablets[n]
        tablet.faults.faults.clear()
        with contextlib.suppress(errors.NetworkError):
            tablet.engine.sync_once()
        if tablet.store.pending_count():
            return
        with Session(write_engine(self.db)) as session:
            live = {str(a.id): a for a in self._server_activities(session)}
            shared = [i for i in self._own_live(n) if i in live and live[i].status != "approved"]
            if not shared:
                return
            record_id = shared[pick % len(shared)]
            office: dict[str, Any] = {"title": theirs_title}
            if theirs_notes is not None:
                office["notes"] = theirs_notes
            write_activity(
                session, data=office, existing=live[record_id], source="api", author_id=None
            )
            session.commit()
        record = tablet.store.get("activity", record_id)
        assert record is not None
        base_notes = record.get("notes")
        queued = tablet.store.save("activity", {**record, "notes": mine})
        if queued is None:
            return  # the notes were already these: nothing to send
        whole = {
            k: v
            for k, v in (tablet.store.get("activity", record_id) or {}).items()
            if k not in SERVER_KEYS
        }
        with tablet.store._write() as db:  # what a whole-record client would have queued
            db.execute("UPDATE outbox SET data = ? WHERE seq = ?", (json.dumps(whole), queued.seq))
        tablet.engine.sync_once()
        with Session(self.db) as session:
            raised = (
                session.execute(
                    select(SyncConflict)
                    .join(KeptMutation, col(KeptMutation.id) == col(SyncConflict.mutation_id))
                    .where(
                        col(KeptMutation.device_id) == uuid.UUID(tablet.device_id),
                        col(KeptMutation.seq) == queued.seq,
                    )
                )
                .scalars()
                .all()
            )
        both_changed_notes = (
            theirs_notes is not None
            and not same_value("notes", theirs_notes, base_notes)
            and not same_value("notes", theirs_notes, mine)
        )
        assert [c.fields for c in raised] == ([["notes"]] if both_changed_notes else [])

    @rule(n=st.integers(0, 2), pick=st.integers(0, 1000))
    def tablet_keeps_theirs(self, n: int, pick: int) -> None:
        """The field expert settles one of their conflicts on the tablet ("keep theirs")."""
        for k in range(len(self.tablets)):  # the first tablet from n that has one
            store = self.tablets[(n + k) % len(self.tablets)].store
            open_ = store.conflicts(status="open")
            if open_:
                conflict = open_[pick % len(open_)]
                store.keep_theirs(str(conflict["entity"]), str(conflict["entity_id"]))
                return

    # --- what must always hold ---------------------------------------------------------------

    @invariant()
    def stores_are_sound(self) -> None:
        for tablet in self.tablets:
            assert tablet.store.integrity_check() == "ok"

    def check_quiesced(self) -> None:
        for _ in range(2):  # push everything, then let everyone pull everything
            for tablet in self.tablets:
                tablet.faults.faults.clear()
                tablet.engine.sync_once()
                assert tablet.store.pending_count() == 0
        with Session(self.db) as session:
            live = self._server_activities(session)
            attendance = attendance_by_activity(session, [a.id for a in live])
            server = {str(a.id): activity_wire(a, attendance[a.id]) for a in live}
            all_ids = {str(i) for i in session.execute(select(col(Activity.id))).scalars()}
            # none lost: every saved record reached the server
            assert set(self.created) <= all_ids
            for tablet in self.tablets:
                device = session.get(Device, uuid.UUID(tablet.device_id))
                assert device is not None
                assert device.last_seq == int(tablet.store.meta("last_seq") or 0)
                # none applied twice: a device's revisions never outnumber its mutations
                revisions = versions_by_device(session, device.id)
                assert revisions <= device.last_seq
                # same records, same values
                held = {r["id"]: r for r in tablet.store.records("activity")}
                assert set(held) == set(server)
                for record_id, record in held.items():
                    for name in COMPARED:
                        assert same_value(name, record.get(name), server[record_id].get(name)), (
                            name,
                            record.get(name),
                            server[record_id].get(name),
                        )
                # every conflict this tablet raised is on it, with the server's status
                conflicts = {
                    str(c.id): c.status
                    for c in session.execute(
                        select(SyncConflict).where(col(SyncConflict.device_id) == device.id)
                    ).scalars()
                }
                on_tablet = {
                    c["id"]: c["status"]
                    for status in ("open", "resolved", "superseded")
                    for c in tablet.store.conflicts(status=status)
                }
                assert on_tablet == conflicts
            kept = session.execute(
                select(func.count())
                .select_from(KeptMutation)
                .where(col(KeptMutation.status) == "conflict")
            ).scalar_one()
            total = session.execute(select(func.count()).select_from(SyncConflict)).scalar_one()
            assert kept == total
        listed = self.app_client.get(
            "/api/v1/conflicts",
            params={"status": "", "limit": 500},
            headers={"Authorization": f"Bearer {self.officer_token}"},
        )
        assert listed.json()["total"] == total


# Examples per backend (PILOTMON_STATEFUL_EXAMPLES=200 for a longer hunt than CI's, on both):
# PostgreSQL, the production store, runs half as many as SQLite to keep the suite's time.
EXAMPLES = {"sqlite": 20, "postgresql": 10}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_field_work_over_a_hostile_network_converges(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")

        def database(self: FieldWork) -> str:
            shutil.copyfile(template, self.dir / "server.sqlite3")
            return f"sqlite:///{self.dir / 'server.sqlite3'}"

    else:
        pg: Engine = request.getfixturevalue("pg_engine")  # skips, saying why, without one

        def database(self: FieldWork) -> str:
            _truncate_all(pg)
            return pg.url.render_as_string(hide_password=False)

    class Run(FieldWork):
        workdir = tmp_path

        def database(self) -> str:
            return database(self)

        def teardown(self) -> None:
            try:
                if self.tablets:
                    self.check_quiesced()
            finally:
                super().teardown()

    run_state_machine_as_test(
        Run,
        settings=settings(
            # PILOTMON_STATEFUL_EXAMPLES=200 for a longer hunt than CI's.
            max_examples=int(os.environ.get("PILOTMON_STATEFUL_EXAMPLES", EXAMPLES[backend])),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
