"""How deep a ``$filter`` may nest (docs/odata.md#query-options): every shape the feed accepts
runs on both backends and in every set, at the limit, whatever its leaves; one level more is
the feed's 400 ``bad_filter``, and what the feed does not support (``not``, arithmetic,
functions) a 400 however deep, never a 500.

The worst case is SQLite's: its parser stack holds about 100 entries, and what precedes an
open parenthesis stays on it, so "a or (b and (c or …))" used three a level and failed from 37
levels. The shapes below put the deep term last, first and in the middle of its chain, give
every level compound siblings, end the spine in a balanced tree as bushy as 4 000 characters
allow, and end it on the leaves that compile to the most SQL (``ne`` on an empty-able text,
the activity's participants, a form's answer)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import psycopg.errors
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from lxml import etree
from sqlmodel import Session

from server.odata import filters
from server.odata.filters import MAX_DEPTH, MAX_FILTER_LENGTH
from server.odata.query import too_complex
from tests.conftest import seeded_module
from tests.factories import World, detach, make_observation, make_observation_form

BASE = "/api/v1/odata/"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
FORM = "DEPTH_FORM"
SETS = ("Activities", "Attendance", "Projects", "Sites", "IndicatorValues", f"Observations_{FORM}")
# Leaves that compile to the most SQL: ``ne`` adds "OR … IS NULL", Participants is a subquery,
# an answer a guarded read of the JSON.
HEAVY = {
    "Activities": ["Topic ne 'S1.T1'", "Participants gt 0", "Title ge 'A'"],
    "Attendance": ["Topic ne 'S1.T1'", "Category in ('farmer','lead_farmer')"],
    "Projects": ["PriorityProduct ne 'maize'", "Name le 'z'"],
    "Sites": ["Lat ne 1.5", "Name ge 'A'"],
    "IndicatorValues": ["Value ne 1.5", "Indicator ge 'A'"],
    f"Observations_{FORM}": ["harvest_kg ne 1.5", "plot ne 'demo'", "plot_area_m2 gt 1"],
}
# Shapes the feed does not answer, nested as deep as the limit: 400 whatever their depth.
UNSUPPORTED: dict[str, Callable[[int], str]] = {
    "not": lambda n: "not (" * n + "Id eq null" + ")" * n,
    "arithmetic": lambda n: "(" * n + "1" + " add 1)" * n + " gt 2",
    "function": lambda n: "length(" * n + "'a'" + ")" * n + " gt 2",
    "not over the limit": lambda n: "not (" * (n + 50) + "Id eq null" + ")" * (n + 50),
}


def _build(session: Session) -> World:
    world = World(session)
    form = make_observation_form(session, code=FORM)
    make_observation(session, world.project_lso, form)
    session.commit()
    detach(session)
    return world


# The module's world, built once per backend and put back before each test: its tests only
# read it (tests/conftest.py seeded_module).
db_url, world = seeded_module(_build)


def _literal(edm: str, rng: random.Random) -> str:
    return {
        "Edm.String": "'x''y'",
        "Edm.Int32": "1",
        "Edm.Int64": "-2",
        "Edm.Double": "1.5",
        "Edm.Date": "2025-01-01",
        "Edm.DateTimeOffset": "2025-01-01T00:00:00Z",
        "Edm.Guid": str(uuid.UUID(int=rng.getrandbits(128))),
        "Edm.Boolean": rng.choice(["true", "false"]),
    }[edm]


def _leaves(properties: dict[str, str], rng: random.Random) -> Callable[[], str]:
    """A random comparison of one of the set's properties with a literal of its type."""

    def leaf() -> str:
        name, edm = rng.choice(sorted(properties.items()))
        literal = _literal(edm, rng)
        if edm in ("Edm.Boolean", "Edm.Guid"):
            op = rng.choice(["eq", "ne"])
        else:
            op = rng.choice(["eq", "ne", "gt", "ge", "lt", "le", "in"])
        if op == "in":
            return f"{name} in ({literal},{literal})"
        if rng.random() < 0.2:
            literal = "null"
            op = rng.choice(["eq", "ne"])
        return f"{name} {op} {literal}"

    return leaf


def _other(op: str) -> str:
    return "and" if op == "or" else "or"


def _balanced(depth: int, op: str, leaf: Callable[[], str]) -> str:
    """A full tree of and and or in turn, ``depth`` levels: 2**depth leaves."""
    if depth == 0:
        return leaf()
    inner = _other(op)
    return f"({_balanced(depth - 1, inner, leaf)}) {op} ({_balanced(depth - 1, inner, leaf)})"


def _spine(
    depth: int,
    innermost: str,
    place: Callable[[list[str]], list[str]],
    siblings: Callable[[str, bool], list[str]],
    top: str = "or",
) -> str:
    """``depth`` levels of and and or in turn around ``innermost``; at each level the deeper
    term joined with ``siblings(op, innermost level?)`` in the order ``place`` gives (a
    compound sibling of the innermost level would be one level more)."""
    condition = innermost
    ops = [top if level % 2 == 0 else _other(top) for level in range(depth)]
    for at, op in reversed(list(enumerate(ops))):
        terms = place([f"({condition})", *siblings(op, at == depth - 1)])
        condition = f" {op} ".join(terms)
    return condition


def _shapes(properties: dict[str, str], heavy: list[str], depth: int, seed: int) -> dict[str, str]:
    """The worst shapes ``depth`` levels deep, each within the length limit."""
    rng = random.Random(seed)
    leaf = _leaves(properties, rng)
    short = min((f"{n} eq null" for n in properties), key=len)
    last: Callable[[list[str]], list[str]] = lambda terms: terms[1:] + terms[:1]  # noqa: E731
    first: Callable[[list[str]], list[str]] = lambda terms: terms  # noqa: E731

    def middle(terms: list[str]) -> list[str]:
        rest = terms[1:]
        at = rng.randrange(len(rest) + 1)
        return rest[:at] + terms[:1] + rest[at:]

    def one_short(op: str, innermost: bool) -> list[str]:
        return [short]

    def compound(op: str, innermost: bool) -> list[str]:  # "(a and b) or (deeper)"
        return [short] if innermost else [f"({short} {_other(op)} {short})"]

    def random_siblings(op: str, innermost: bool) -> list[str]:
        return [
            f"({leaf()} {_other(op)} {leaf()})" if rng.random() < 0.3 and not innermost else leaf()
            for _ in range(rng.randrange(1, 3))
        ]

    shapes: dict[str, str] = {}
    for name in heavy:
        shapes[f"deep last, {name}"] = _spine(depth, name, last, one_short)
        shapes[f"deep first, {name}"] = _spine(depth, name, first, one_short, top="and")
        shapes[f"compound siblings, {name}"] = _spine(depth, name, last, compound)
    # the spine ending in the bushiest tree that fits: its leaves as deep as the limit
    for bushy in range(min(depth, 12), 0, -1):
        levels = depth - bushy  # the tree's top is the other operator than the spine's last
        tree = _balanced(bushy, "and" if levels % 2 else "or", lambda: heavy[0])
        text = _spine(levels, tree, last, one_short)
        if len(text) <= MAX_FILTER_LENGTH:
            shapes[f"bushy end of {bushy} levels"] = text
            break
    for attempt in range(4):
        text = _spine(depth, heavy[attempt % len(heavy)], middle, random_siblings)
        if len(text) <= MAX_FILTER_LENGTH:
            shapes[f"random {attempt}"] = text
    assert all(len(s) <= MAX_FILTER_LENGTH for s in shapes.values()), "shorten the shapes"
    return shapes


def _properties(client: TestClient, world: World) -> dict[str, dict[str, str]]:
    response = client.get(BASE + "$metadata", headers=world.auth("hq"))
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False))
    types = {
        t.get("Name"): {p.get("Name"): p.get("Type") for p in t.iter(EDM + "Property")}
        for t in root.iter(EDM + "EntityType")
    }
    return {
        s.get("Name"): types[s.get("EntityType").split(".")[-1]]
        for s in root.iter(EDM + "EntitySet")
    }


def _get(client: TestClient, world: World, set_name: str, text: str) -> Any:
    return client.get(
        BASE + set_name,
        headers=world.auth("hq"),
        params={"$filter": text, "$top": "1", "$count": "true", "$select": "Id"}
        if set_name != "IndicatorValues"
        else {"$filter": text, "$top": "1", "$count": "true"},
    )


@pytest.mark.parametrize("set_name", SETS)
def test_every_shape_at_the_limit_answers_and_one_level_more_is_a_bad_filter(
    client: TestClient, world: World, set_name: str
) -> None:
    properties = _properties(client, world)[set_name]
    for seed in range(2):
        for shape, text in _shapes(properties, HEAVY[set_name], MAX_DEPTH, seed).items():
            response = _get(client, world, set_name, text)
            assert response.status_code == 200, (shape, len(text), response.text[:300])
            assert response.headers["content-type"].startswith("application/json")
        for shape, text in _shapes(properties, HEAVY[set_name], MAX_DEPTH + 1, seed).items():
            response = _get(client, world, set_name, text)
            assert response.status_code == 400, (shape, response.text[:300])
            error = response.json()["error"]
            assert error["code"] == "bad_filter" and error["target"] == "$filter"
            assert f"more than {MAX_DEPTH}" in error["message"], error


@pytest.mark.parametrize("shape", sorted(UNSUPPORTED))
def test_what_the_feed_does_not_support_is_a_400_however_deep(
    client: TestClient, world: World, shape: str
) -> None:
    for set_name in ("Activities", "IndicatorValues"):
        response = _get(client, world, set_name, UNSUPPORTED[shape](MAX_DEPTH))
        assert response.status_code == 400, response.text[:300]
        assert response.json()["error"]["code"] in ("unsupported_filter", "bad_filter")


def test_the_reported_filter_answers(client: TestClient, world: World) -> None:
    # 37 levels of "Version eq 1" with and and or in turn: a 500 (parser stack overflow)
    condition = "Version eq 1"
    for level in range(37):
        condition = f"Version eq 1 {'and' if level % 2 else 'or'} ({condition})"
    response = client.get(
        BASE + "Activities",
        headers=world.auth("hq"),
        params={"$filter": condition, "$top": "1", "$select": "Id"},
    )
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["value"]) == 1


def test_a_filter_the_database_cannot_run_for_its_shape_is_a_bad_filter(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind the limit, the guard: with no limit, SQLite's parser overflows from about 150
    # levels and SQLAlchemy's compiler recurses too deep from about 130; both are a 400.
    monkeypatch.setattr(filters, "MAX_DEPTH", 10_000)
    monkeypatch.setattr(filters, "MAX_FILTER_LENGTH", 100_000)
    for depth in (160, 300):
        condition = "Topic ne 'x'"
        for level in range(depth):
            condition = f"Version eq 1 {'and' if level % 2 else 'or'} ({condition})"
        response = _get(client, world, "Activities", condition)
        assert response.status_code in ((200, 400) if depth < 200 else (400,)), response.text
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "bad_filter"
            assert "too complex" in response.json()["error"]["message"]
    # the connection is usable after PostgreSQL's error
    assert _get(client, world, "Activities", "Version eq 1").status_code == 200


def test_only_the_statement_s_size_counts_as_too_complex() -> None:
    def failed(orig: Exception) -> sa.exc.DBAPIError:
        return sa.exc.OperationalError("SELECT …", {}, orig)

    assert too_complex(failed(psycopg.errors.StatementTooComplex("stack depth limit exceeded")))
    assert too_complex(failed(psycopg.errors.TooManyArguments("cannot pass more than 100")))
    assert too_complex(failed(Exception("parser stack overflow")))
    assert too_complex(failed(Exception("Expression tree is too large (maximum depth 1000)")))
    assert too_complex(RecursionError())
    assert not too_complex(failed(psycopg.errors.QueryCanceled("canceling statement")))
    assert not too_complex(failed(Exception("database is locked")))
    assert not too_complex(ValueError("parser stack overflow"))
