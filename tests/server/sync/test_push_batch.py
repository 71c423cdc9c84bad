"""A whole batch answers and stores exactly what the same mutations do pushed one at a time.

The bulk path (new activities validated, flagged and written together; roll-ups refreshed once
per batch) must be indistinguishable from the one-by-one path: the same answers, activity rows,
revisions, change-log entries, kept mutations, conflicts and roll-ups. Two identical projects of
the same expert are filled the two ways, one tablet each, and compared record by record.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

import server.activities.service as activity_service
import shared.validation as validation
from server.accounts.models import UserProject
from server.activities.models import Activity, ActivityRevision, AttendanceRow, ClosedPeriod
from server.activities.review import quarter_of
from server.activities.service import write_activity
from server.indicators.models import CUBES, activity_fact
from server.indicators.refresh import rebuild_all
from server.records.models import Change, Receipt
from server.sync import records
from server.sync.models import KeptMutation, SyncConflict
from tests.factories import activity_data, make_device, make_project, make_site
from tests.server.sync.conftest import Field, mutation, push

ELSEWHERE = str(uuid.UUID(int=7, version=4))  # no project of the expert
BIG = [
    {"sex": "female", "age_band": "adult", "category": "farmer", "disability": False, "count": 900}
]


def _script(project_id: str, site_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records of one project: a first batch, then the mixed one (as mutation specs)."""
    today = datetime.now(UTC).date()
    day = (today - timedelta(days=3)).isoformat()

    def record(**overrides: Any) -> dict[str, Any]:
        return activity_data_for(project_id, **overrides)

    usual = [
        record(
            title=f"Usual {i}",
            start_date=(today - timedelta(days=10 + i)).isoformat(),
            end_date=(today - timedelta(days=10 + i)).isoformat(),
        )
        for i in range(6)
    ]
    edited = record(title="Will conflict", start_date=day, end_date=day)
    first = [{"data": r} for r in [*usual, edited]]
    twin = {"site_id": site_id, "type": "field_day", "start_date": day, "end_date": day}
    closed = (today - timedelta(days=400)).isoformat()
    second: list[dict[str, Any]] = [
        {"replay": 6},  # the tablet resends the last mutation of the first batch
        {"data": record(title="Plain", start_date=day, end_date=day)},
        {"data": record(title="Backwards", start_date=day, end_date="2020-01-01")},  # rejected
        {"data": record(title="Crowd", attendance=BIG, start_date=day, end_date=day)},
        {"data": record(title="Twin A", **twin)},
        {"data": record(title="Twin B", **twin)},  # a likely duplicate of Twin A
        {"data": record(title="Late", start_date=closed, end_date=closed)},
        {"data": record(title="Elsewhere", project_id=ELSEWHERE)},  # rejected
        {
            "edit": edited["id"],
            "data": {"title": "Tablet title", "notes": "seen"},
            "base_version": 1,
        },  # conflicts with the office's title
        # a record the server holds, pushed whole again as new (a reinstalled tablet, say)
        {"data": {**usual[1], "title": "Pushed again"}},
        {"data": record(title="Then edited", start_date=day, end_date=day)},
        {"edit": "previous", "data": {"notes": "edited in the same batch"}, "base_version": 0},
        {"data": record(title="Weird codes", sex_code=True, start_date=day, end_date=day)},
    ]
    return first, second


def activity_data_for(owner: str, sex_code: bool = False, **overrides: Any) -> dict[str, Any]:
    class _P:
        id = owner

    values = activity_data(_P(), **overrides)  # type: ignore[arg-type]
    values.pop("status", None)
    if sex_code:  # not clean as sent: text with spaces, a float count (the full check's path)
        values["attendance"] = [
            {
                "sex": " male ",
                "age_band": "youth",
                "category": "farmer",
                "disability": False,
                "count": 7.0,
            }
        ]
    return values


def _mutations(specs: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    previous: str | None = None
    for spec in specs:
        if "replay" in spec:
            continue
        seq = start + len(found)
        if "edit" in spec:
            target = previous if spec["edit"] == "previous" else spec["edit"]
            found.append(mutation(seq, spec["data"], id=target, base_version=spec["base_version"]))
        else:
            found.append(mutation(seq, spec["data"]))
            previous = spec["data"]["id"]
    return found


def _fill(
    client: TestClient,
    field: Field,
    engine: Engine,
    *,
    project_id: str,
    site_id: str,
    device: Any,
    token: str,
    one_by_one: bool,
) -> tuple[list[Any], list[str]]:
    first_specs, second_specs = _script(project_id, site_id)
    first = _mutations(first_specs, 1)
    second = _mutations(second_specs, len(first) + 1)
    answers: list[Any] = []

    def send(batch: list[dict[str, Any]]) -> None:
        response = push(client, field, batch, device=device, token=token)
        assert response.status_code == 200, response.text
        answers.extend(
            (r["seq"], r["status"], r.get("version"), r.get("errors"))
            for r in response.json()["results"]
        )

    if one_by_one:
        for m in first:
            send([m])
    else:
        send(first)
    edited = first[-1]["id"]
    with Session(engine) as session:  # the office edits the title the tablet will edit too
        activity = session.get(Activity, uuid.UUID(edited))
        assert activity is not None
        write_activity(
            session, data={"title": "Office title"}, existing=activity, source="api", author_id=None
        )
        session.commit()
    replay = first[-1]
    if one_by_one:
        send([replay])
        for m in second:
            send([m])
    else:
        send([replay, *second])
    ids = [m["id"] for m in [*first, *second]]
    return answers, ids


# Set by the server's clock or naming the tablet: differ between the two sides by design.
_PER_SIDE = (
    "created_at",
    "updated_at",
    "submitted_at",
    "resolved_at",
    "received_at",
    "device_id",
    "mutation_id",
    "seq",
)


def _same(left: Any, right: Any, part: str) -> None:
    """Equal, or an assertion naming the first differing record and fields."""
    pairs = (
        [(v, right.get(k)) for k, v in left.items()]
        if isinstance(left, dict)
        else zip(left, right, strict=True)
    )
    for one, other in pairs:
        if isinstance(one, dict) and one != other:
            raise AssertionError(
                (part, {k: (v, other.get(k)) for k, v in one.items() if other.get(k) != v})
            )
    assert left == right, part


def _normal(value: Any, names: dict[str, str]) -> Any:
    """A value with the ids of one side replaced by their position, comparable across sides."""
    if isinstance(value, dict):
        return {k: _normal(v, names) for k, v in value.items() if k not in _PER_SIDE}
    if isinstance(value, list):
        return [_normal(v, names) for v in value]
    if isinstance(value, uuid.UUID | str) and str(value) in names:
        return names[str(value)]
    return value


def _stored(engine: Engine, ids: list[str], names: dict[str, str]) -> dict[str, Any]:
    keys = [uuid.UUID(i) for i in dict.fromkeys(ids)]
    with Session(engine) as session:

        def rows(table: Any, column: Any, order: Any) -> list[dict[str, Any]]:
            found = session.execute(select(table).where(column.in_(keys)).order_by(*order))
            return [
                _normal({c: getattr(r, c) for c in type(r).model_fields if c != "id"}, names)
                for r in found.scalars()
            ]

        activities = {
            names[str(a.id)]: _normal(a.model_dump(exclude={"id"}), names)
            for a in session.execute(select(Activity).where(col(Activity.id).in_(keys))).scalars()
        }
        attendance = sorted(
            (names[str(r.activity_id)], r.sex, r.age_band, r.category, r.disability, r.count)
            for r in session.execute(
                select(AttendanceRow).where(col(AttendanceRow.activity_id).in_(keys))
            ).scalars()
        )
        revisions = sorted(
            (names[str(r.activity_id)], r.version, repr(_normal(r.data, names)), r.source)
            for r in session.execute(
                select(ActivityRevision).where(col(ActivityRevision.activity_id).in_(keys))
            ).scalars()
        )
        changes = [
            (c.entity, names.get(str(c.entity_id), "conflict"), c.op, c.version)
            for c in session.execute(select(Change).order_by(col(Change.seq))).scalars()
            if str(c.entity_id) in names or c.entity == "conflict"
        ]
        receipts = sorted(
            (r.entity, names[str(r.entity_id)], r.version, r.issued_at is not None)
            for r in session.execute(
                select(Receipt).where(col(Receipt.entity_id).in_(keys))
            ).scalars()
        )
        kept = rows(KeptMutation, col(KeptMutation.entity_id), [col(KeptMutation.seq)])
        conflicts = rows(SyncConflict, col(SyncConflict.entity_id), [col(SyncConflict.fields)])
        facts = sorted(
            repr(_normal({k: v for k, v in r._mapping.items()}, names))
            for r in session.execute(
                sa.select(activity_fact).where(activity_fact.c.activity_id.in_(keys))
            )
        )
    return {
        "activities": activities,
        "attendance": attendance,
        "revisions": revisions,
        "changes": changes,
        "receipts": receipts,
        "kept": kept,
        "conflicts": conflicts,
        "facts": facts,
    }


def _cubes(engine: Engine, names: dict[str, str]) -> dict[str, list[str]]:
    with Session(engine) as session:
        return {
            table.name: sorted(
                repr(_normal(dict(r._mapping), names)) for r in session.execute(sa.select(table))
            )
            for table in CUBES.values()
        }


@pytest.mark.parametrize("refused", [False, True], ids=["stored", "refused-then-one-by-one"])
def test_a_mixed_batch_equals_its_mutations_pushed_one_at_a_time(
    client: TestClient,
    field: Field,
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    refused: bool,
) -> None:
    """``refused``: the database refuses the bulk write's attendance rows once they are sent,
    after the writer noted its change-log entries and roll-ups while the database took them
    (``insert_rows``'s ``meanwhile``): the savepoint drops those notes with the rows, and the
    run goes one by one to the same end."""
    failures: list[str] = []
    if refused:
        insert = activity_service.insert_rows

        def refusing(session: Session, table: Any, columns: Any, rows: Any, **kwargs: Any) -> int:
            count = insert(session, table, columns, rows, **kwargs)
            if table.name == "attendance" and len({row[0] for row in rows}) > 1:
                failures.append(table.name)  # the bulk path's rows, not one activity's
                raise sa.exc.IntegrityError("COPY attendance", {}, Exception("refused"))
            return count

        monkeypatch.setattr(activity_service, "insert_rows", refusing)
    project_b = make_project(session)
    site_b = make_site(session, project_b)
    session.add(UserProject(user_id=field.expert.id, project_id=project_b.id))
    device_b, token_b = make_device(session, field.expert)
    session.commit()
    project_a, site_a = str(field.project.id), str(field.site.id)

    closed = (datetime.now(UTC).date() - timedelta(days=400)).isoformat()
    with Session(engine) as own:  # "Late" falls in a quarter the country office closed
        own.add(
            ClosedPeriod(
                country="LSO",
                period=quarter_of(date.fromisoformat(closed)),
                closed_by_id=field.officer.id,
            )
        )
        own.commit()
    bulk, ids_a = _fill(
        client,
        field,
        engine,
        project_id=project_a,
        site_id=site_a,
        device=field.device,
        token=field.token,
        one_by_one=False,
    )
    single, ids_b = _fill(
        client,
        field,
        engine,
        project_id=str(project_b.id),
        site_id=str(site_b.id),
        device=device_b,
        token=token_b,
        one_by_one=True,
    )

    assert bool(failures) == refused
    assert bulk == single
    statuses = [status for _, status, _, _ in bulk]
    assert statuses.count("duplicate") == 1 and statuses.count("conflict") == 1
    assert statuses.count("rejected") == 2 and "applied" in statuses

    names_a = {i: f"#{n}" for n, i in enumerate(dict.fromkeys(ids_a))}
    names_a.update({project_a: "project", site_a: "site"})
    names_b = {i: f"#{n}" for n, i in enumerate(dict.fromkeys(ids_b))}
    names_b.update({str(project_b.id): "project", str(site_b.id): "site"})
    stored_a, stored_b = _stored(engine, ids_a, names_a), _stored(engine, ids_b, names_b)
    for part in stored_a:
        if part != "changes":
            _same(stored_a[part], stored_b[part], part)
    # Receipts differ by design: a batch issues one per record, for its version after the whole
    # batch; one push per mutation issues one per push. The receipts that stand are the same.
    mine_a = [c for c in stored_a["changes"] if c[1] != "conflict" and c[0] != "receipt"]
    mine_b = [c for c in stored_b["changes"] if c[1] != "conflict" and c[0] != "receipt"]
    assert sorted(mine_a) == sorted(mine_b)
    assert stored_a["receipts"] == stored_b["receipts"]
    flags = {a["title"]: {f["code"] for f in a["flags"]} for a in stored_a["activities"].values()}
    assert "attendance_unusual" in flags["Crowd"]
    # Each activity is compared with those received before it, as when pushed one at a time.
    assert "likely_duplicate" in flags["Twin B"] and "likely_duplicate" not in flags["Twin A"]
    assert stored_a["activities"][names_a[ids_a[-1]]]["title"] == "Weird codes"
    again = next(a for a in stored_a["activities"].values() if a["title"] == "Pushed again")
    assert again["version"] == 2  # the record it names, edited: no second record

    # Roll-ups: the two projects' cells are the same, and equal to a full rebuild.
    cubes_a = {
        t: [r for r in rows if "'project'" in r] for t, rows in _cubes(engine, names_a).items()
    }
    cubes_b = {
        t: [r for r in rows if "'project'" in r] for t, rows in _cubes(engine, names_b).items()
    }
    assert cubes_a == cubes_b
    assert all(cubes_a.values())
    before = _cubes(engine, {})
    with Session(engine) as own:
        rebuild_all(own)
        own.commit()
    assert _cubes(engine, {}) == before


def test_the_collector_is_paused_while_batches_run_and_resumes_after_the_last() -> None:
    import gc

    from server.sync.service import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # a second batch running at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    try:
        with collector_paused():
            raise RuntimeError("a failing batch")
    except RuntimeError:
        pass
    assert gc.isenabled()
    gc.disable()  # whoever disabled it before keeps it disabled
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_fast_validation_stores_what_the_full_one_does(
    client: TestClient,
    field: Field,
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same mixed batch (clean records, refused ones, converted ones, warnings) pushed with
    the whole-activity fast path of ``validate_activity`` and with the full field-by-field
    check: the same answers (errors included), rows, revisions, flags and roll-ups."""
    project_b = make_project(session)
    site_b = make_site(session, project_b)
    session.add(UserProject(user_id=field.expert.id, project_id=project_b.id))
    device_b, token_b = make_device(session, field.expert)
    session.commit()
    project_a, site_a = str(field.project.id), str(field.site.id)
    fast, ids_a = _fill(
        client,
        field,
        engine,
        project_id=project_a,
        site_id=site_a,
        device=field.device,
        token=field.token,
        one_by_one=False,
    )
    with monkeypatch.context() as patch:
        patch.setattr(
            records,
            "validate_activity",
            lambda data, **kwargs: validation._full_activity(data, **kwargs),
        )
        full, ids_b = _fill(
            client,
            field,
            engine,
            project_id=str(project_b.id),
            site_id=str(site_b.id),
            device=device_b,
            token=token_b,
            one_by_one=False,
        )
    assert fast == full
    assert [s for _, s, _, _ in fast].count("rejected") == 2
    names_a = {i: f"#{n}" for n, i in enumerate(dict.fromkeys(ids_a))}
    names_a.update({project_a: "project", site_a: "site"})
    names_b = {i: f"#{n}" for n, i in enumerate(dict.fromkeys(ids_b))}
    names_b.update({str(project_b.id): "project", str(site_b.id): "site"})
    stored_a, stored_b = _stored(engine, ids_a, names_a), _stored(engine, ids_b, names_b)
    for part in stored_a:
        if part != "changes":
            _same(stored_a[part], stored_b[part], part)
    cubes_a = {
        t: [r for r in rows if "'project'" in r] for t, rows in _cubes(engine, names_a).items()
    }
    cubes_b = {
        t: [r for r in rows if "'project'" in r] for t, rows in _cubes(engine, names_b).items()
    }
    assert cubes_a == cubes_b and all(cubes_a.values())
