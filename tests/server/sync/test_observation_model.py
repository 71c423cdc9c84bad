"""Random pushes, edits, merges, reviews and deletions of observations give the state a naive
model of docs/protocol.md#push predicts: each answer, and at the end every observation's
answers, status, tombstone and version (as stored, as revisions, and as pulled).

The model knows nothing of the server's code: it keeps every revision of each observation
(answers, status, tombstone, who wrote it) and applies the protocol's rules literally — the
incoming value equal to the current one, or to what the tablet saw (its base plus its own later
revisions), is no change; a key changed by someone else since the base collides; otherwise the
tablet's value goes in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from server.accounts.auth import Caller
from server.errors import PilotMonitorError
from server.indicators.service import indicator_values, parse_values_query
from server.records.receipts import Signer
from server.results.models import Observation
from server.results.observations import review_observation
from server.sync.pull import pull
from server.sync.service import push
from sync.protocol import PushRequest
from tests.conftest import _truncate_all
from tests.factories import make_device, make_observation_form, make_project, make_user
from tests.server.results.helpers import naive_value

KEYS = ("a", "b", "c", "d")
FIELDS = [{"name": k, "type": "integer", "min": 0, "max": 9} for k in KEYS]
IDS = 2
EXPERT, OFFICER, REVIEW = "expert", "officer", "review"

SIGNER = Signer.generate()
INDICATORS: list[dict[str, Any]] = [
    {"code": "M_SUM_A", "aggregate": "sum", "field": "a"},
    {"code": "M_MEAN_B", "aggregate": "mean", "field": "b"},
    {"code": "M_MEDIAN_C", "aggregate": "median", "field": "c"},
    {"code": "M_MAX_D", "aggregate": "max", "field": "d"},
    {"code": "M_COUNT", "aggregate": "count"},
    {"code": "M_RATIO", "aggregate": "ratio", "numerator": "a", "denominator": "b", "factor": 100},
]


@dataclass
class Rev:
    values: dict[str, int]
    status: str
    deleted: bool
    writer: str


@dataclass
class Tablet:
    """What one tablet holds of each observation: its answers and the version it last saw."""

    seq: int = 0
    local: dict[int, tuple[dict[str, int], int]] = field(default_factory=dict)


def _changed(before: Rev, after: Rev) -> set[str]:
    found = {k for k in KEYS if before.values.get(k) != after.values.get(k)}
    if before.status != after.status:
        found.add("status")
    if before.deleted != after.deleted:
        found.add("deleted")
    return found


class Model:
    def __init__(self) -> None:
        self.revs: dict[int, list[Rev]] = {}

    def _others_and_seen(self, i: int, base: int, writer: str) -> tuple[set[str], dict[str, Any]]:
        revs = self.revs[i][base - 1 :]
        others: set[str] = set()
        seen: dict[str, Any] = dict(revs[0].values)
        for before, after in pairwise(revs):
            changed = _changed(before, after)
            if after.writer == writer:
                for key in changed & set(KEYS):
                    seen[key] = after.values.get(key)
            else:
                others |= changed
        return others, seen

    def create(self, i: int, values: dict[str, int]) -> str:
        self.revs[i] = [Rev(dict(values), "submitted", False, EXPERT)]
        return "applied"

    def edit(self, i: int, writer: str, base: int, incoming: dict[str, int]) -> str:
        current = self.revs[i][-1]
        if current.status == "approved":
            return "rejected"
        if current.deleted:
            return "conflict"
        others, seen = self._others_and_seen(i, base, writer)
        changes: dict[str, Any] = {}
        collided = False
        for key in KEYS:
            value = incoming.get(key)
            if value == current.values.get(key) or value == seen.get(key):
                continue
            if key in others:
                collided = True
            else:
                changes[key] = value
        if changes:
            values = {**current.values, **changes}
            values = {k: v for k, v in values.items() if v is not None}
            returned = current.status == "returned" and base < len(self.revs[i])
            status = "returned" if returned else "submitted"
            self.revs[i].append(Rev(values, status, False, writer))
        return "conflict" if collided else "merged" if others else "applied"

    def delete(self, i: int, writer: str, base: int) -> str:
        current = self.revs[i][-1]
        if current.status == "approved":
            return "rejected"
        if current.deleted:
            return "applied"
        others, _ = self._others_and_seen(i, base, writer)
        if others:
            return "conflict"
        self.revs[i].append(Rev(dict(current.values), current.status, True, writer))
        return "applied"

    def review(self, i: int, action: str) -> bool:
        current = self.revs[i][-1]
        allowed = {
            "approve": ({"submitted", "returned"}, "approved"),
            "return": ({"submitted"}, "returned"),
            "reopen": ({"approved"}, "submitted"),
        }[action]
        if current.deleted or current.status not in allowed[0]:
            return False
        self.revs[i].append(Rev(dict(current.values), allowed[1], False, REVIEW))
        return True


answers = st.dictionaries(st.sampled_from(KEYS), st.integers(0, 9))
edits = st.tuples(
    st.just("edit"),
    st.integers(0, IDS - 1),
    st.sampled_from([EXPERT, OFFICER]),
    st.dictionaries(st.sampled_from(KEYS), st.none() | st.integers(0, 9), min_size=1, max_size=2),
)
steps = st.lists(
    st.one_of(
        edits,
        edits,
        edits,
        edits,
        edits,
        edits,
        st.tuples(st.just("delete"), st.integers(0, IDS - 1), st.sampled_from([EXPERT, OFFICER])),
        st.tuples(
            st.just("review"),
            st.integers(0, IDS - 1),
            st.sampled_from(["approve", "return", "reopen"]),
        ),
        st.tuples(st.just("sync"), st.sampled_from([EXPERT, OFFICER])),
    ),
    min_size=10,
    max_size=20,
)


def _wipe(session: Session, engine: Engine) -> None:
    """Every table emptied before each example: on PostgreSQL by the suite's one-script
    emptying (one round trip instead of one a table, some 40 for each of the examples)."""
    if engine.dialect.name == "postgresql":
        _truncate_all(engine)
        return
    for table in reversed(SQLModel.metadata.sorted_tables):
        session.execute(sa.delete(table))
    session.commit()


# Random histories per backend. The rules under test (what collides, merges or is rejected) are
# the server's Python, the same on both; what PostgreSQL adds is its SQL (row locks, JSON
# answers, version counters), which every history exercises with 10 to 20 random edits,
# deletions and reviews. So PostgreSQL runs half as many as SQLite, as
# tests/sync/test_stateful.py does.
EXAMPLES = {"sqlite": 80, "postgresql": 40}


def test_random_observation_histories_match_the_model(engine: Engine) -> None:
    @settings(
        max_examples=EXAMPLES[engine.dialect.name],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(first=st.lists(answers, min_size=IDS, max_size=IDS), plan=steps)
    def histories(first: list[dict[str, int]], plan: list[Any]) -> None:
        _check_history(engine, first, plan)

    histories()


def _check_history(engine: Engine, first: list[dict[str, int]], plan: list[Any]) -> None:
    with Session(engine, expire_on_commit=False) as session:
        _wipe(session, engine)
        project = make_project(session)
        form = make_observation_form(session, fields=FIELDS)
        form.indicators = INDICATORS  # the result indicators the history must keep live
        session.add(form)
        expert = make_user(session, projects=[project])
        officer = make_user(session, role="country_officer", countries=[project.country])
        devices = {
            EXPERT: make_device(session, expert)[0],
            OFFICER: make_device(session, officer)[0],
        }
        session.commit()
        callers = {
            EXPERT: Caller(
                user=expert, project_ids=frozenset({project.id}), device=devices[EXPERT]
            ),
            OFFICER: Caller(user=officer, device=devices[OFFICER]),
        }
        reviewer = Caller(user=officer)
        ids = [uuid.uuid4() for _ in range(IDS)]
        model = Model()
        tablets = {EXPERT: Tablet(), OFFICER: Tablet()}

        def send(who: str, i: int, op: str, base: int, data: dict[str, Any] | None) -> str:
            tablet = tablets[who]
            tablet.seq += 1
            request = PushRequest.model_validate(
                {
                    "protocol": 1,
                    "device_id": str(devices[who].id),
                    "mutations": [
                        {
                            "seq": tablet.seq,
                            "entity": "observation",
                            "op": op,
                            "id": str(ids[i]),
                            "base_version": base,
                            "data": data,
                        }
                    ],
                }
            )
            answer = push(
                session,
                caller=callers[who],
                request=request,
                max_mutations=10,
                signer=SIGNER,
            )
            session.commit()
            result = answer.results[0]
            if result.status == "applied" and op == "upsert" and data is not None:
                tablet.local[i] = (
                    {k: v for k, v in (data.get("values") or {}).items() if v is not None},
                    int(result.version or 0),
                )
            return str(result.status)

        for i, values in enumerate(first):
            data = {
                "project_id": str(project.id),
                "form_id": str(form.id),
                "form_version": 1,
                "observed_on": "2025-03-14",
                "values": values,
            }
            assert send(EXPERT, i, "upsert", 0, data) == model.create(i, values)
        tablets[OFFICER].local = {i: (dict(v), 1) for i, v in enumerate(first)}

        for step in plan:
            kind = step[0]
            if kind == "sync":
                for i, revs in model.revs.items():
                    tablets[step[1]].local[i] = (dict(revs[-1].values), len(revs))
            elif kind == "edit":
                _, i, who, changes = step
                if i not in tablets[who].local:
                    continue
                held, base = tablets[who].local[i]
                incoming = {**held, **changes}
                expected = model.edit(i, who, base, incoming)
                got = send(who, i, "upsert", base, {"values": incoming})
                assert got == expected, (step, model.revs[i])
                if got != "applied":
                    tablets[who].local[i] = (
                        {k: v for k, v in incoming.items() if v is not None},
                        base,
                    )
            elif kind == "delete":
                _, i, who = step
                if i not in tablets[who].local:
                    continue
                _, base = tablets[who].local[i]
                expected = model.delete(i, who, base)
                assert send(who, i, "delete", base, None) == expected, (step, model.revs[i])
            else:
                _, i, action = step
                if i not in model.revs:
                    continue
                expected_ok = model.review(i, action)
                try:
                    review_observation(
                        session,
                        caller=reviewer,
                        observation_id=ids[i],
                        action=action,
                        comment="check the scale",
                    )
                    session.commit()
                    ok = True
                except PilotMonitorError:
                    session.rollback()
                    ok = False
                assert ok == expected_ok, (step, model.revs[i])

        pulled = {
            c.id: c
            for c in pull(
                session, caller=callers[EXPERT], cursor=None, limit=1000, signer=SIGNER
            ).changes
            if c.entity == "observation"
        }
        session.rollback()
        for i, revs in model.revs.items():
            row = session.get(Observation, ids[i])
            assert row is not None
            last = revs[-1]
            assert (row.values, row.status, row.deleted, row.version) == (
                last.values,
                last.status,
                last.deleted,
                len(revs),
            )
            change = pulled[str(ids[i])]
            assert change.version == len(revs)
            assert change.op == ("delete" if last.deleted else "upsert")
            if not last.deleted:
                assert change.data is not None
                assert change.data["values"] == last.values
                assert change.data["status"] == last.status
        session.rollback()

        # The result indicators, live through every write, equal a naive computation from the
        # model's final observations (submitted and approved count; docs/results.md).
        counted = [
            revs[-1].values
            for revs in model.revs.values()
            if not revs[-1].deleted and revs[-1].status in ("submitted", "approved")
        ]
        for definition in INDICATORS:
            query = parse_values_query(code=definition["code"], group_by="", session=session)
            rows = indicator_values(session, caller=None, query=query).rows
            found = rows[0]["value"] if rows else None
            naive: Any = naive_value(definition, counted)
            if definition["aggregate"] == "count" and not counted:
                naive = None if not rows else 0
            assert (found if found is None else round(float(found), 2)) == (
                naive if naive is None else round(float(naive), 2)
            ), (definition["code"], counted, rows)
        session.rollback()
