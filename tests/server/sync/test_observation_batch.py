"""New observations pushed together store exactly what the same mutations do one at a time.

The bulk path (new observations checked one by one, then written together by
``write_new_observations`` with one result roll-up delta for the batch) must be
indistinguishable from ``write_observation`` called per mutation: the same answers, observation
rows, revisions, audit entries, change-log entries, receipts, kept mutations, result facts and
cells — and the cells equal to a full ``rebuild_results``. Two identical projects of the same
expert are filled the two ways, one tablet each, and compared record by record.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from server.accounts.models import UserProject
from server.records.models import AuditEntry, Change, Receipt, RecordRevision
from server.results.models import Form, Observation
from server.results.rollup import fingerprint, rebuild_results, result_cell, result_fact
from server.sync import records
from server.sync.models import KeptMutation
from tests.factories import make_device, make_observation_form, make_project, make_site
from tests.server.sync.conftest import Field, mutation, push

ELSEWHERE = str(uuid.UUID(int=7, version=4))  # no project of the expert

INDICATORS: list[dict[str, Any]] = [
    {
        "code": "T_YIELD",
        "name": {"en": "Yield"},
        "unit": "kg/ha",
        "aggregate": "ratio",
        "numerator": "harvest_kg",
        "denominator": "plot_area_m2",
        "factor": 10000,
        "compare": "plot",
    },
    {"code": "T_HARVEST", "name": {"en": "Harvest"}, "aggregate": "sum", "field": "harvest_kg"},
    {"code": "T_TOP", "name": {"en": "Top"}, "aggregate": "max", "field": "harvest_kg"},
    {"code": "T_MEDIAN", "name": {"en": "Median"}, "aggregate": "median", "field": "harvest_kg"},
    {
        "code": "T_IRRIGATED",
        "name": {"en": "Irrigated"},
        "aggregate": "share",
        "field": "irrigated",
    },
    {"code": "T_PLOTS", "name": {"en": "Plots"}, "aggregate": "count"},
]


@pytest.fixture
def form(engine: Engine) -> Form:
    with Session(engine, expire_on_commit=False) as session:
        form = make_observation_form(session)
        form.indicators = INDICATORS
        session.add(form)
        session.commit()
        session.expunge(form)
        return form


def _observation(owner: str, site_id: str, form: Form, n: int, **over: Any) -> dict[str, Any]:
    plot = "demo" if n % 2 else "control"
    values: dict[str, Any] = {"plot": plot, "harvest_kg": 100.0 + 7.5 * n}
    if n % 3:
        values["plot_area_m2"] = 400 + 100 * n
    if n % 4:
        values["irrigated"] = n % 4 == 1
    if plot == "demo":
        values["practice"] = "CA"
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": owner,
        "form_id": str(form.id),
        "form_version": form.version,
        "observed_on": f"2025-0{1 + n % 3}-1{n % 10}",
        "values": values,
        "notes": f"note {n}" if n % 2 else "",
    }
    if n % 2:
        data["site_id"] = site_id
    if n % 3 == 1:
        data["location"] = {"lat": -29.3 + n / 100, "lon": 27.5, "accuracy_m": 8}
        data["captured_at"] = f"2025-03-1{n % 10}T08:30:00+02:00"
    data.update(over)
    return data


def _script(project_id: str, site_id: str, form: Form) -> tuple[list[Any], list[Any]]:
    """A first batch of new observations, then a mixed one (as mutation specs)."""

    def new(n: int, **over: Any) -> dict[str, Any]:
        return {"data": _observation(project_id, site_id, form, n, **over)}

    first = [new(n) for n in range(8)]
    bad_values = _observation(project_id, site_id, form, 20)
    bad_values["values"] = {"plot": "demo", "harvest_kg": -5}  # below min, practice missing
    second: list[dict[str, Any]] = [
        {"replay": 7},  # the tablet resends the last mutation of the first batch
        new(9),
        new(10),
        {"data": bad_values},  # rejected, in the middle of a run of new ones
        new(11, form_version=9),  # rejected: no such form version
        new(12, project_id=ELSEWHERE),  # rejected: not the expert's project
        new(13),
        {"edit": 2, "data": {"values": {"plot": "control", "harvest_kg": 1.5}}, "base_version": 1},
        {"delete": 3, "base_version": 1},
        new(14),
        {"edit": "previous", "data": {"notes": "edited in the same batch"}, "base_version": 0},
        new(15),
        new(16),
    ]
    return first, second


def _mutations(specs: list[dict[str, Any]], start: int, ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for spec in specs:
        if "replay" in spec:
            continue
        seq = start + len(found)
        if "edit" in spec:
            target = ids[-1] if spec["edit"] == "previous" else ids[spec["edit"]]
            found.append(
                mutation(
                    seq,
                    spec["data"],
                    entity="observation",
                    id=target,
                    base_version=spec["base_version"],
                )
            )
        elif "delete" in spec:
            found.append(
                mutation(
                    seq,
                    None,
                    entity="observation",
                    op="delete",
                    id=ids[spec["delete"]],
                    base_version=spec["base_version"],
                )
            )
        else:
            found.append(mutation(seq, spec["data"], entity="observation"))
            ids.append(spec["data"]["id"])
    return found


def _fill(
    client: TestClient,
    field: Field,
    form: Form,
    *,
    project_id: str,
    site_id: str,
    device: Any,
    token: str,
    one_by_one: bool,
) -> tuple[list[Any], list[str]]:
    first_specs, second_specs = _script(project_id, site_id, form)
    ids: list[str] = []
    first = _mutations(first_specs, 1, ids)
    second = _mutations(second_specs, len(first) + 1, ids)
    answers: list[Any] = []

    def send(batch: list[dict[str, Any]]) -> None:
        response = push(client, field, batch, device=device, token=token)
        assert response.status_code == 200, response.text
        answers.extend(
            (r["seq"], r["status"], r.get("version"), r.get("errors"))
            for r in response.json()["results"]
        )

    replay = first[-1]
    if one_by_one:
        for m in [*first, replay, *second]:
            send([m])
    else:
        send(first)
        send([replay, *second])
    return answers, [m["id"] for m in [*first, *second]]


# Set by the server's clock or naming the tablet: differ between the two sides by design.
_PER_SIDE = (
    "created_at",
    "updated_at",
    "deleted_at",
    "received_at",
    "at",
    "device_id",
    "seq",
    "issued_at",
    "mutation_id",
)


def _normal(value: Any, names: dict[str, str]) -> Any:
    """A value with the ids of one side replaced by their names, comparable across sides."""
    if isinstance(value, dict):
        return {k: _normal(v, names) for k, v in value.items() if k not in _PER_SIDE}
    if isinstance(value, list | tuple):
        return [_normal(v, names) for v in value]
    if isinstance(value, uuid.UUID | str) and str(value) in names:
        return names[str(value)]
    return value


def _stored(engine: Engine, ids: list[str], names: dict[str, str]) -> dict[str, Any]:
    keys = [uuid.UUID(i) for i in dict.fromkeys(ids)]
    text_keys = [str(k) for k in keys]
    with Session(engine) as session:

        def rows(table: Any, where: Any, order: Any) -> list[Any]:
            found = []
            for r in session.execute(sa.select(table).where(where).order_by(*order)):
                row = dict(r._mapping)
                if "id" in row and str(row["id"]) not in names:
                    del row["id"]  # a serial or random id of the row's own differs by side
                found.append(_normal(row, names))
            return sorted(found, key=repr)

        o, r, a = Observation.__table__, RecordRevision.__table__, AuditEntry.__table__  # type: ignore[attr-defined]
        k, c = KeptMutation.__table__, Receipt.__table__  # type: ignore[attr-defined]
        stored = {
            "observations": rows(o, o.c.id.in_(keys), [o.c.observed_on]),
            "revisions": rows(r, r.c.entity_id.in_(keys), [r.c.version]),
            "audit": sorted(
                repr(_normal(dict(x._mapping), names))
                for x in session.execute(
                    sa.select(
                        a.c.action,
                        a.c.entity,
                        a.c.entity_id,
                        a.c.actor_id,
                        a.c.country,
                        a.c.before,
                        a.c.after,
                    ).where(a.c.entity_id.in_(text_keys))
                )
            ),
            "kept": rows(k, k.c.entity_id.in_(keys), [k.c.seq]),
            "receipts": sorted(
                repr(_normal(dict(x._mapping), names))
                for x in session.execute(
                    sa.select(c.c.entity, c.c.entity_id, c.c.version, c.c.project_id).where(
                        c.c.entity_id.in_(keys)
                    )
                )
            ),
            "facts": rows(
                result_fact,
                result_fact.c.observation_id.in_(keys),
                [result_fact.c.indicator],
            ),
            "changes": sorted(
                (ch.entity, names[str(ch.entity_id)], ch.op, ch.version)
                # Receipts differ by design: a batch issues one per record, for its version
                # after the whole batch; one push per mutation one per push. The receipts that
                # stand are compared above.
                for ch in session.execute(
                    select(Change).where(
                        col(Change.entity_id).in_(keys), col(Change.entity) != "receipt"
                    )
                )
                .scalars()
                .all()
            ),
        }
        # Each observation row also keeps nulls where nothing was given, as write_observation.
        nulls = session.execute(
            sa.select(sa.func.count())
            .select_from(o)
            .where(o.c.id.in_(keys), o.c.location.is_(None))
        ).scalar_one()
        stored["null_locations"] = nulls
        before_nulls = session.execute(
            sa.select(sa.func.count())
            .select_from(a)
            .where(a.c.entity_id.in_(text_keys), a.c.before.is_(None))
        ).scalar_one()
        stored["audit_null_before"] = before_nulls
    return stored


def _same(left: Any, right: Any, part: str) -> None:
    """Equal, or an assertion naming the first differing row and its differing fields."""
    for one, other in zip(left, right, strict=False) if isinstance(left, list) else ():
        if isinstance(one, dict) and one != other:
            raise AssertionError(
                (part, {k: (v, other.get(k)) for k, v in one.items() if other.get(k) != v})
            )
    assert left == right, part


def _cells(engine: Engine, project_id: str, site_id: str) -> list[Any]:
    names = {project_id: "project", site_id: "site"}
    with Session(engine) as session:
        return sorted(
            repr(_normal(dict(r._mapping), names)).replace(uuid.UUID(site_id).hex, "site")
            for r in session.execute(
                sa.select(result_cell).where(result_cell.c.project_id == uuid.UUID(project_id))
            )
        )


def _two_sides(
    client: TestClient, field: Field, form: Form, engine: Engine, session: Session
) -> tuple[list[Any], list[Any], dict[str, Any], dict[str, Any], tuple[str, str], tuple[str, str]]:
    project_b = make_project(session)
    site_b = make_site(session, project_b)
    session.add(UserProject(user_id=field.expert.id, project_id=project_b.id))
    device_b, token_b = make_device(session, field.expert)
    session.commit()
    project_a, site_a = str(field.project.id), str(field.site.id)
    bulk, ids_a = _fill(
        client,
        field,
        form,
        project_id=project_a,
        site_id=site_a,
        device=field.device,
        token=field.token,
        one_by_one=False,
    )
    single, ids_b = _fill(
        client,
        field,
        form,
        project_id=str(project_b.id),
        site_id=str(site_b.id),
        device=device_b,
        token=token_b,
        one_by_one=True,
    )
    names_a = {i: f"#{n}" for n, i in enumerate(dict.fromkeys(ids_a))}
    names_a.update({project_a: "project", site_a: "site", str(field.device.id): "device"})
    names_b = {i: f"#{n}" for n, i in enumerate(dict.fromkeys(ids_b))}
    names_b.update(
        {str(project_b.id): "project", str(site_b.id): "site", str(device_b.id): "device"}
    )
    return (
        bulk,
        single,
        _stored(engine, ids_a, names_a),
        _stored(engine, ids_b, names_b),
        (project_a, site_a),
        (str(project_b.id), str(site_b.id)),
    )


def test_a_mixed_observation_batch_equals_its_mutations_pushed_one_at_a_time(
    client: TestClient, field: Field, form: Form, engine: Engine, session: Session
) -> None:
    bulk, single, stored_a, stored_b, project_a, project_b = _two_sides(
        client, field, form, engine, session
    )
    assert bulk == single
    statuses = [status for _, status, _, _ in bulk]
    assert statuses.count("duplicate") == 1 and statuses.count("rejected") == 3
    assert statuses.count("applied") == len(statuses) - 4
    for part, value in stored_a.items():
        _same(value, stored_b[part], part)
    assert len(stored_a["observations"]) == 14 and len(stored_a["facts"]) == 13 * len(
        INDICATORS
    )  # one deleted
    assert stored_a["null_locations"] > 0 and stored_a["audit_null_before"] > 0
    # The result cells of the two projects are the same, and equal to a full rebuild.
    cells_a = _cells(engine, *project_a)
    assert cells_a and cells_a == _cells(engine, *project_b)
    with Session(engine) as own:
        before = fingerprint(own)
        rebuild_results(own)
        own.flush()
        assert fingerprint(own) == before
        own.rollback()


def test_a_batch_that_cannot_be_stored_whole_is_applied_one_by_one(
    client: TestClient,
    field: Field,
    form: Form,
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the bulk write fails in the database (a row it cannot store), its savepoint rolls
    back and every mutation of the run goes through the one-by-one path: nothing is lost or
    written twice, and the answers are the same as without the failure."""
    calls: list[int] = []
    write = records.write_new_observations

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        write(*args, **kwargs)  # the rows go in, then the savepoint is rolled back
        raise IntegrityError("INSERT", {}, Exception("simulated"))

    monkeypatch.setattr(records, "write_new_observations", failing)
    bulk, single, stored_a, stored_b, _, _ = _two_sides(client, field, form, engine, session)
    assert calls  # the bulk path was tried
    assert bulk == single
    for part, value in stored_a.items():
        assert value == stored_b[part], part
