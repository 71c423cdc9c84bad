"""The result cells' grains and the median's packed values (docs/results.md#result-indicators):
every grain partitions an indicator's facts, each question path (grain ``""``, a ``choice:``
grain, grain ``*``, a compare asked once) equals a naive computation from the observations,
and a batch of writes handed to the hook at once leaves what the rebuild makes."""

from __future__ import annotations

import json
import random
import statistics
import struct
from collections import Counter, defaultdict
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from server.results.indicators import cell_grain, median_of
from server.results.models import Observation
from server.results.rollup import (
    COARSE,
    FINE,
    YEAR,
    cell_layout,
    fingerprint,
    grains,
    observations_changed,
    pack_values,
    rebuild_results,
    refresh_form,
    result_cell,
    result_fact,
    unpack_values,
)
from tests.factories import make_project, make_site
from tests.server.results.helpers import (
    HARVEST_FIELDS,
    HARVEST_INDICATORS,
    VARIETY,
    edit,
    make_form,
    naive_rows,
    observe,
    read_records,
)
from tests.server.results.test_result_values import as_map, assert_close, rows_of

CODES = [i["code"] for i in HARVEST_INDICATORS]
COMPARED = {i["code"] for i in HARVEST_INDICATORS if i.get("compare")}
# One question per path: grain "", one choice grain, the fine grain (site; two choice keys),
# and keys that hold the compare field itself (a compare asked twice).
QUESTIONS: list[tuple[str, ...]] = [
    (),
    ("country",),
    ("project", "period:quarter"),
    ("region", "period:month"),
    ("choice:crop",),
    ("choice:variety", "period:year"),
    ("choice:plot",),
    ("site",),
    ("choice:crop", "choice:variety"),
    ("thematic_area", "choice:plot"),
]


def test_each_question_reads_the_coarsest_grain_its_keys_allow() -> None:
    assert cell_grain(()) == COARSE
    assert cell_grain(("country", "period:year")) == COARSE
    assert cell_grain(("project", "choice:crop")) == "choice:crop"
    assert cell_grain(("site",)) == FINE
    assert cell_grain(("site", "choice:crop")) == FINE
    assert cell_grain(("choice:crop", "choice:plot")) == FINE


def test_the_median_of_packed_values_is_exact() -> None:
    rng = random.Random(3)
    assert median_of(b"") is None
    assert pack_values([]) is None
    for size in (1, 2, 3, 4, 7, 10, 101, 1000):
        values = [rng.choice([0.0, -0.0, 1.5, -2.0, rng.uniform(-1e6, 1e6)]) for _ in range(size)]
        # values packed in several cells, concatenated in any order, as the query hands them
        parts = [values[i::3] for i in range(3)]
        data = b"".join(pack_values(p) or b"" for p in reversed(parts))
        assert median_of(data) == statistics.median(values)
        assert sorted(unpack_values(pack_values(values))) == sorted(values)


def test_packed_values_are_little_endian_on_every_machine() -> None:
    """A backup restored on another architecture reads the same medians."""
    assert pack_values([2.5, -1.0]) == struct.pack("<2d", -1.0, 2.5)
    assert list(unpack_values(struct.pack("<2d", -1.0, 2.5))) == [-1.0, 2.5]


def world(session: Session) -> dict[str, Any]:
    """Two countries, sites, three statuses, two form versions (the second adds a select
    field), values over five months; then edits that move values between cells of every
    grain, reviews, rejections and deletions."""
    rng = random.Random(11)
    projects = [
        make_project(session, country="LSO", thematic_area="TA1"),
        make_project(session, country="LSO", thematic_area="TA2"),
        make_project(session, country="MWI", thematic_area="TA1"),
    ]
    sites = [make_site(session, p) for p in projects]
    v1 = make_form(session, status="retired")
    v2 = make_form(session, version=2, fields=[*HARVEST_FIELDS, VARIETY])
    made: list[Observation] = []
    for n in range(60):
        form = v2 if n % 3 else v1
        values: dict[str, Any] = {}
        if rng.random() < 0.9:
            values["crop"] = rng.choice(["potato", "maize"])
        if rng.random() < 0.9:
            values["plot"] = rng.choice(["demo", "control"])
        if rng.random() < 0.8:
            values["harvest_kg"] = rng.choice([0, 10, 10, 25.5, 40, rng.uniform(0, 500)])
        if rng.random() < 0.8:
            values["plot_area_m2"] = rng.choice([0, 100, 250])
        if rng.random() < 0.7:
            values["irrigated"] = rng.random() < 0.5
        if rng.random() < 0.7:
            values["pests"] = rng.sample(["aphid", "blight"], rng.randint(0, 2))
        if form is v2 and rng.random() < 0.7:
            values["variety"] = rng.choice(["early", "late"])
        p = rng.randrange(3)
        made.append(
            observe(
                session,
                form,
                projects[p],
                values,
                observed_on=date(2025, rng.randint(1, 5), rng.randint(1, 28)),
                status=rng.choice(["submitted", "approved", "returned"]),
                site_id=sites[p].id if rng.random() < 0.5 else None,
            )
        )
    for n, o in enumerate(made[:30]):
        change = n % 6
        if change == 0:  # another crop: moves between choice:crop cells and fine cells
            edit(session, o, values={**o.values, "crop": "maize", "harvest_kg": 99})
        elif change == 1:  # another month (another year for some): another slice
            edit(session, o, observed_on=date(2024, 12, 2) if (n // 6) % 2 else date(2025, 6, 2))
        elif change == 2:  # reviewed: another status, so another slice
            edit(session, o, status="approved")
        elif change == 3:  # rejected
            edit(session, o, status="returned")
        elif change == 4:  # deleted
            edit(session, o, deleted=True)
        else:  # the value taken out: the cell keeps the row, not the value
            edit(session, o, values={k: v for k, v in o.values.items() if k != "harvest_kg"})
    return {"projects": projects, "observations": made}


def assert_every_grain_partitions_the_facts(session: Session) -> None:
    """Every grain's cells partition the facts, and a rebuild leaves the cells as they were."""
    layout = cell_layout(session)
    facts = list(session.execute(sa.select(result_fact)).mappings())
    cells = list(session.execute(sa.select(result_cell)).mappings())
    monthly = {COARSE, FINE, "choice:crop", "choice:plot", "choice:variety"}
    assert set(grains(layout["T_PLOTS"])) == monthly
    # a median indicator also keeps every grain over whole years
    assert set(grains(layout["T_HARVEST_MEDIAN"])) == monthly | {YEAR + g for g in monthly}
    assert {c["grain"] for c in cells} == monthly | {YEAR + g for g in monthly}
    for code in CODES:
        mine = [f for f in facts if f["indicator"] == code]
        for grain in grains(layout[code]):
            yearly = grain.startswith(YEAR)
            monthly_grain = grain.removeprefix(YEAR)
            field = monthly_grain.removeprefix("choice:") if "choice:" in grain else None

            def part(
                row: Any,
                choices: Any,
                g: str = monthly_grain,
                f: str | None = field,
                y: bool = yearly,
                cell: bool = False,
            ) -> Any:
                month = row["month"] // 100 * 100 if y and not cell else row["month"]
                slice_ = (row["status"], row["project_id"], month)
                if g == COARSE:
                    return slice_
                if f is not None:
                    return (*slice_, (choices or {}).get(f))
                return (*slice_, row["site_id"], tuple(sorted((choices or {}).items())))

            expected: dict[Any, list[Any]] = defaultdict(list)
            for f in mine:
                expected[part(f, f["choices"])].append(f)
            found: dict[Any, Any] = {}
            for c in cells:
                if c["indicator"] == code and c["grain"] == grain:
                    parsed = json.loads(c["choices"]) if c["choices"] else {}
                    key = part(c, parsed, cell=True)
                    assert key not in found, (code, grain, key)
                    found[key] = c
            assert found.keys() == expected.keys(), (code, grain)
            for key, rows in expected.items():
                cell = found[key]
                values = [r["value"] for r in rows if r["value"] is not None]
                assert cell["n"] == len(rows)
                assert cell["answered"] == len(values)
                assert cell["total"] == (pytest.approx(sum(values)) if values else None)
                assert cell["low"] == (min(values) if values else None)
                assert cell["high"] == (max(values) if values else None)
                dens = [r["den"] for r in rows if r["den"] is not None]
                assert cell["den"] == (pytest.approx(sum(dens)) if dens else None)
                if code == "T_HARVEST_MEDIAN":
                    # every value kept, once (in sorted runs: one per write batch)
                    assert Counter(unpack_values(cell["vals"])) == Counter(values)
                else:
                    assert cell["vals"] is None
    before = fingerprint(session)
    rebuild_results(session)
    assert fingerprint(session) == before


def test_every_grain_partitions_the_facts_and_every_question_path_equals_the_naive_computation(
    session: Session,
) -> None:
    # One world for the three status filters (the default, one status, two) and the grains'
    # partition: building it took as long as asking one filter's questions.
    world(session)
    records = read_records(session)  # read once: nothing changes them below
    for status in (None, "approved", "submitted,returned"):
        statuses = tuple(status.split(",")) if status else ("submitted", "approved")
        for keys in QUESTIONS:
            for code in CODES:
                for start, end in [
                    (None, None),
                    (date(2025, 2, 1), date(2025, 4, 30)),  # whole months
                    (date(2025, 1, 1), date(2025, 12, 31)),  # a whole year (yearly cells)
                    (date(2024, 12, 15), None),  # a month cut: its facts
                ]:
                    rows = rows_of(
                        session,
                        code,
                        group_by=",".join(keys),
                        status=status,
                        date_from=start.isoformat() if start else None,
                        date_to=end.isoformat() if end else None,
                    )
                    expected = naive_rows(
                        session,
                        code,
                        keys,
                        statuses=statuses,
                        date_from=start,
                        date_to=end,
                        records=records,
                    )
                    got = as_map(rows, keys, code in COMPARED)
                    # (which filter failed: the parametrised test's id used to say)
                    assert got.keys() == expected.keys(), (status, keys, code, start, end)
                    assert_close(got, expected)
    # Last: it ends with a rebuild, and the questions above read the cells the writes left.
    assert_every_grain_partitions_the_facts(session)


def test_a_partial_month_median_merges_cells_and_facts(session: Session) -> None:
    project = make_project(session)
    form = make_form(session)
    for day, kg in [(date(2025, 1, 3), 1), (date(2025, 1, 20), 50), (date(2025, 2, 5), 7)]:
        observe(session, form, project, {"crop": "potato", "harvest_kg": kg}, observed_on=day)
    observe(session, form, project, {"crop": "maize"}, observed_on=date(2025, 2, 6))
    # January 10 on: 50 from the facts of a cut month, 7 from February's cells
    [row] = rows_of(session, "T_HARVEST_MEDIAN", date_from="2025-01-10")
    assert row["value"] == pytest.approx(28.5)
    by_crop = {
        r["choice:crop"]: r["value"]
        for r in rows_of(session, "T_HARVEST_MEDIAN", group_by="choice:crop", date_to="2025-02-10")
    }
    assert by_crop == {"potato": 7, "maize": None}  # a group with nothing answered is null


def test_a_batch_handed_to_the_hook_at_once_equals_the_rebuild(session: Session) -> None:
    """The hook takes many written observations at once (a push's batch): new ones, edits that
    move values between cells, reviews and deletions in the same call."""
    data = world(session)
    made = data["observations"]
    fresh = [
        Observation(
            project_id=data["projects"][n % 3].id,
            form_id=made[n].form_id,
            form_version=made[n].form_version,
            observed_on=date(2025, 1 + n % 5, 9),
            values={"crop": "potato", "plot": "demo", "harvest_kg": float(n), "plot_area_m2": 10},
            status="submitted",
        )
        for n in range(20)
    ]
    session.add_all(fresh)
    for n, o in enumerate(made[30:50]):
        if n % 4 == 0:
            o.values = {**o.values, "crop": "potato", "harvest_kg": 1234}
        elif n % 4 == 1:
            o.status = "approved"
        elif n % 4 == 2:
            o.deleted = True
        else:
            o.observed_on = date(2025, 7, 1)
        session.add(o)
    session.flush()
    written = [*fresh, *made[30:50]]
    observations_changed(session, [], [{"id": str(o.id)} for o in written])
    live = fingerprint(session)
    answers = {code: rows_of(session, code, group_by="choice:crop") for code in CODES}
    rebuild_results(session)
    assert fingerprint(session) == live
    for code in CODES:
        assert rows_of(session, code, group_by="choice:crop") == answers[code]


def test_a_new_select_field_gets_its_grain_when_the_form_is_republished(
    session: Session,
) -> None:
    project = make_project(session)
    v1 = make_form(session)
    observe(session, v1, project, {"crop": "potato", "plot": "demo", "harvest_kg": 3})
    assert "choice:variety" not in {g for (g,) in session.execute(sa.select(result_cell.c.grain))}
    v1.status = "retired"
    session.add(v1)
    make_form(session, version=2, fields=[*HARVEST_FIELDS, VARIETY])
    refresh_form(session, "T_HARVEST")
    assert "choice:variety" in {g for (g,) in session.execute(sa.select(result_cell.c.grain))}
    rows = rows_of(session, "T_HARVEST_MEDIAN", group_by="choice:variety")
    assert [(r["choice:variety"], r["value"]) for r in rows] == [(None, 3)]
