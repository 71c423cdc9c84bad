"""The forms' observations in the feed (docs/odata.md#observations): one set per published form,
``Observations_<code>``, with the observation's own properties and one typed property per field
of every published version, read from the JSON answers in SQL on both backends: each type as
its property, filtered, ordered and paged like the other sets, a malformed answer as null, in
the caller's scope.

One world per backend for the module (the tests only read it)."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from lxml import etree
from odata import ODataService
from sqlalchemy import Engine
from sqlmodel import Session, col

from server.accounts.auth import Caller
from server.accounts.models import User
from server.config import Settings
from server.db import make_engine, write_engine
from server.odata.observations import merged_fields, observation_sets, set_suffix
from server.odata.query import parse_options, read_page, skiptoken_key
from server.results.models import Observation
from tests.conftest import app_for, database_url_for
from tests.factories import World, detach, make_observation, make_observation_form, make_project
from tests.server.odata.transport import session_for

BASE = "http://testserver/api/v1/odata/"
SET = "Observations_CROP_SURVEY"
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
SECRET = "test-secret-key-that-is-long-enough-0123456789"
ODD_CODE = "2024 survey-é"  # a code made before codes were checked: no identifier
ROLES = ("admin", "hq", "officer_lso", "expert_lso")


def _field(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "label": {"en": name}, **extra}


def _choices(*codes: str) -> list[dict[str, Any]]:
    return [{"code": c, "label": {"en": c}} for c in codes]


COMMON = [
    _field("count", "integer"),
    _field("yield_t", "decimal"),
    _field("crop", "select_one", choices=_choices("maize", "beans", "Sorghum", "éleusine")),
    _field("pests", "select_multiple", choices=_choices("aphids", "borers", "weevils")),
    _field("sown_on", "date"),
    _field("irrigated", "boolean"),
    _field("remark", "text"),
]
VERSION_1 = [*COMMON, _field("weight", "integer"), _field("old_only", "integer")]
VERSION_2 = [*COMMON, _field("weight", "decimal"), _field("new_only", "text")]
# The set's answer properties: version 2's fields in order, then those only version 1 had.
ANSWERS = {
    "count": "Edm.Int64",
    "yield_t": "Edm.Double",
    "crop": "Edm.String",
    "pests": "Edm.String",
    "sown_on": "Edm.Date",
    "irrigated": "Edm.Boolean",
    "remark": "Edm.String",
    "weight": "Edm.Double",
    "new_only": "Edm.String",
    "old_only": "Edm.Int64",
}
KINDS = {
    "Edm.Int64": "integer",
    "Edm.Double": "number",
    "Edm.Date": "date",
    "Edm.Boolean": "boolean",
}
MALFORMED: list[dict[str, Any]] = [
    {
        "count": "12",
        "yield_t": "x",
        "crop": 5,
        "pests": "aphids",
        "sown_on": "2025-02-30",
        "irrigated": "yes",
        "remark": {"a": 1},
        "weight": [1],
        "new_only": 10**30,
        "old_only": 4.5,
    },
    {
        "count": 10**30,
        "yield_t": 10**400,
        "crop": ["maize"],
        "pests": [1, {"x": 2}],
        "sown_on": "0000-01-01",
        "irrigated": 1,
        "remark": True,
        "weight": "2.5",
        "new_only": None,
        "old_only": -(2**63),
    },
    {"count": 1.5, "sown_on": "2025-13-01", "pests": [], "weight": True, "yield_t": None},
    {"sown_on": "14/03/2025", "count": True},
]


def _values(i: int, version: int) -> dict[str, Any]:
    """Observation ``i``'s answers; an unanswered field is absent, as the server stores it."""
    found: dict[str, Any] = {
        "count": i * 3 if i % 5 else None,
        "yield_t": round(0.7 * i, 2) if i % 6 else float(i // 6),
        "crop": ["maize", "beans", "Sorghum", "éleusine"][i % 4],
        "pests": [["aphids"], ["aphids", "borers"], [], ["weevils", "aphids"]][i % 4],
        "sown_on": f"2025-0{1 + i % 9}-{10 + i % 19:02d}",
        "irrigated": None if i % 7 == 0 else i % 3 == 0,
        "remark": None if i % 6 == 5 else f"note {i % 6}",
        "weight": i if version == 1 else i + 0.5,
        "old_only" if version == 1 else "new_only": i if version == 1 else f"n{i % 3}",
    }
    return {k: v for k, v in found.items() if v is not None}


class ObservationWorld(World):
    """The two-country world, a second Lesotho project outside the Lesotho expert's, and a
    global form of two published versions (and a draft) answered in all three: some
    observations of each version, one deleted, a few with answers of the wrong type. Also a
    Kenyan project's own form, a global form with an odd code, and a form never published."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.project_lso2 = make_project(session, country="LSO", code="LSO-SECOND")
        v1 = make_observation_form(session, code="CROP_SURVEY", version=1, fields=VERSION_1)
        v2 = make_observation_form(session, code="CROP_SURVEY", version=2, fields=VERSION_2)
        make_observation_form(session, code="CROP_SURVEY", version=3, status="draft")
        projects = [self.project_lso, self.project_ken, self.project_lso2]
        authors = {
            self.project_lso.id: self.users["expert_lso"],
            self.project_ken.id: self.users["expert_ken"],
        }
        self.observations: dict[str, dict[str, Any]] = {}  # id → its project, version, values
        for i in range(45):
            project = projects[i % 3]
            form = v1 if i % 4 == 0 else v2
            values = _values(i, form.version)
            made = make_observation(
                session,
                project,
                form,
                author=authors.get(project.id),
                status=["submitted", "approved", "returned", "submitted", "approved"][i % 5],
                values=values,
                location={"lat": -29 + i / 10, "lon": 27.5} if i % 2 else None,
                observed_on=f"2025-0{1 + i % 9}-1{i % 10}",
            )
            self.observations[str(made.id)] = {
                "project": project,
                "version": form.version,
                "values": values,
                "i": i,
            }
        self.deleted = make_observation(session, self.project_lso, v2, values=_values(1, 2))
        session.flush()
        session.execute(
            sa.update(Observation)
            .where(col(Observation.id) == self.deleted.id)
            .values(deleted=True)
        )
        self.malformed = []
        for values in MALFORMED:
            made = make_observation(session, self.project_lso, v2, values={"remark": "fine"})
            session.flush()
            # as a database holds it whatever wrote it: the write path checks answers first
            session.execute(
                sa.update(Observation).where(col(Observation.id) == made.id).values(values=values)
            )
            self.malformed.append(str(made.id))
            self.observations[str(made.id)] = {
                "project": self.project_lso,
                "version": 2,
                "values": values,
                "i": None,
            }
        ken_form = make_observation_form(
            session, project=self.project_ken, code="KEN_ONLY", fields=[_field("bags", "integer")]
        )
        make_observation(session, self.project_ken, ken_form, values={"bags": 3})
        odd = make_observation_form(session, code=ODD_CODE, fields=[_field("bags", "integer")])
        make_observation(session, self.project_lso, odd, values={"bags": 4})
        make_observation_form(session, code="DRAFTY", status="draft")
        session.commit()
        detach(session)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return database_url_for(request, tmp_path_factory.mktemp("observations"))


Feed = tuple[TestClient, dict[str, tuple[str, str]], ObservationWorld, Engine]


@pytest.fixture(scope="module")
def feed(world_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feed]:
    """A client of the app over the world, HTTP Basic credentials (username, personal access
    token) per role, the world and its engine."""
    engine = make_engine(world_url)
    with Session(write_engine(engine)) as session:
        world = ObservationWorld(session)
    settings = Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("observations-data"),
        database_url=world_url,
        secret_key=SECRET,
    )
    settings.ensure_data_dir()
    with TestClient(app_for(settings, engine)) as client:
        auth = {}
        for role in ROLES:
            made = client.post("/api/v1/tokens", json={"name": "BI"}, headers=world.auth(role))
            assert made.status_code == 201, made.text
            auth[role] = (world.users[role].username, made.json()["token"])
        yield client, auth, world, engine
    engine.dispose()


def _get(feed: Feed, path: str, role: str = "hq", **params: str) -> Any:
    client, auth, _, _ = feed
    response = client.get(BASE + path, auth=auth[role], params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _walk(feed: Feed, url: str, role: str = "hq", page: int = 7) -> tuple[list[Any], list[Any]]:
    """Every row from ``url`` to the end of its nextLinks, and each page's @odata.count."""
    client, auth, _, _ = feed
    rows: list[dict[str, Any]] = []
    counts: list[Any] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(
            next_url, auth=auth[role], headers={"Prefer": f"odata.maxpagesize={page}"}
        )
        assert response.status_code == 200, (next_url, response.text)
        body = response.json()
        assert len(body["value"]) <= page
        rows += body["value"]
        counts.append(body.get("@odata.count"))
        next_url = body.get("@odata.nextLink")
        assert len(counts) < 100, "the nextLinks do not end"
    return rows, counts


# --- what each answer reads as: the rules of server/odata/answers.py, in Python -------------


def _read(value: Any, edm: str, field: str) -> Any:
    kind = KINDS.get(edm, "choices" if field == "pests" else "text")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "integer":
        return value if number and isinstance(value, int) and abs(value) < 10**18 else None
    if kind == "number":
        return float(value) if number and abs(value) <= 1.7976931348623157e308 else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return None
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    if kind == "choices":
        codes = [c for c in value if isinstance(c, str)] if isinstance(value, list) else []
        return " ".join(codes) or None
    return value if isinstance(value, str) else None


def _expected(world: ObservationWorld, observation_id: str) -> dict[str, Any]:
    made = world.observations[observation_id]
    return {name: _read(made["values"].get(name), edm, name) for name, edm in ANSWERS.items()}


def _in_scope(world: ObservationWorld, role: str) -> set[str]:
    visible = {
        "admin": {"LSO", "KEN"},
        "hq": {"LSO", "KEN"},
        "officer_lso": {"LSO"},
    }
    return {
        oid
        for oid, made in world.observations.items()
        if (
            made["project"].id == world.project_lso.id
            if role == "expert_lso"
            else made["project"].country in visible[role]
        )
    }


# --- the rules, without a database -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("CROP_SURVEY", "CROP_SURVEY"),
        ("lower_case_9", "lower_case_9"),
        (
            "2024 survey-é",
            "2024_survey___" + hashlib.sha256(b"2024 survey-\xc3\xa9").hexdigest()[:8],
        ),
        ("A-B", "A_B_" + hashlib.sha256(b"A-B").hexdigest()[:8]),
        ("", "_" + hashlib.sha256(b"").hexdigest()[:8]),
    ],
)
def test_a_set_name_is_the_code_or_a_stable_identifier_made_from_it(
    code: str, expected: str
) -> None:
    assert set_suffix(code) == expected
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", "Observations_" + set_suffix(code))
    assert set_suffix("A_B") != set_suffix("A-B")  # two codes never share a set


def test_the_fields_of_every_version_make_one_set_of_properties() -> None:
    newest = [_field("b", "integer"), _field("a", "text"), _field("n", "decimal")]
    older = [
        _field("a", "integer"),  # the newest version's type wins
        _field("gone", "date"),
        _field("n", "integer"),
        _field("m", "integer"),
        _field("Id", "text"),  # a system property's name: never an answer's
        _field("bad name", "text"),
        _field("geo", "geopoint"),
        "not a field",
    ]
    oldest = [_field("m", "decimal"), _field("gone", "text")]
    merged = [(f.name, f.type) for f in merged_fields([newest, older, oldest])]
    assert merged == [
        ("b", "integer"),
        ("a", "text"),
        ("n", "decimal"),
        ("gone", "date"),
        ("m", "decimal"),  # integer in one version, decimal in another: a decimal
    ]


# --- $metadata and the service document -----------------------------------------------------


def test_metadata_types_each_field_and_a_client_reflects_the_sets(feed: Feed) -> None:
    client, auth, _, _ = feed
    response = client.get(BASE + "$metadata", auth=auth["hq"])
    assert response.status_code == 200
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False))
    schema = root.find(f"{EDMX}DataServices/{EDM}Schema")
    assert schema is not None
    types = {t.get("Name"): t for t in schema.findall(EDM + "EntityType")}
    sets = {s.get("Name"): s.get("EntityType") for s in schema.iter(EDM + "EntitySet")}
    odd = "Observations_" + set_suffix(ODD_CODE)
    assert {SET, "Observations_KEN_ONLY", odd} <= set(sets)
    assert "Observations_DRAFTY" not in sets  # never published: no observations to read
    assert sets[SET] == "PilotMonitor.Observation_CROP_SURVEY"
    crop = types["Observation_CROP_SURVEY"]
    assert [k.get("Name") for k in crop.iter(EDM + "PropertyRef")] == ["Id"]
    props = {p.get("Name"): p.get("Type") for p in crop.iter(EDM + "Property")}
    assert list(props)[-len(ANSWERS) :] == list(ANSWERS)
    assert {k: props[k] for k in ANSWERS} == ANSWERS
    assert props["Id"] == "Edm.Guid" and props["Status"] == "Edm.String"
    assert props["UpdatedAt"] == "Edm.DateTimeOffset" and props["Lat"] == "Edm.Double"
    for name in (*sets, *types):
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name), name
    document = client.get(BASE, auth=auth["hq"]).json()
    assert [s["name"] for s in document["value"]] == list(sets)
    # A real OData v4 client reflects the forms' sets and reads one, typed.
    service = ODataService(
        BASE, session=session_for(client, auth=auth["hq"], page_size=10), reflect_entities=True
    )
    assert set(service.entities) == set(sets)
    entity = service.entities[SET]
    rows = list(service.query(entity).filter(entity.crop == "maize"))
    assert rows and all(r.crop == "maize" for r in rows)
    assert all(r.count is None or isinstance(r.count, int) for r in rows)
    assert any(r.count for r in rows) and all(date.fromisoformat(r.sown_on) for r in rows)


def test_each_caller_lists_the_sets_of_the_forms_it_may_read(feed: Feed) -> None:
    client, auth, _, _ = feed
    for role, sees_kenyan_form in (("hq", True), ("officer_lso", False), ("expert_lso", False)):
        names = {s["name"] for s in _get(feed, "", role)["value"]}
        assert SET in names, role
        assert ("Observations_KEN_ONLY" in names) is sees_kenyan_form, role
        metadata = client.get(BASE + "$metadata", auth=auth[role]).text
        assert ('"Observations_KEN_ONLY"' in metadata) is sees_kenyan_form, role
    # another country's form is what a set that does not exist is: the feed's 404
    for path in ("Observations_KEN_ONLY", "Observations_KEN_ONLY/$count", "Observations_NOPE"):
        response = client.get(BASE + path, auth=auth["officer_lso"])
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert error["code"] == "not_found" and "service document" in error["message"]
    assert client.get(BASE + "Observations_DRAFTY", auth=auth["hq"]).status_code == 404
    assert client.get(BASE + "Observations_KEN_ONLY", auth=auth["hq"]).status_code == 200
    assert client.get(BASE + SET).status_code == 401  # signed in first, as every set


# --- typed answers ----------------------------------------------------------------------------


def test_each_answer_reads_as_its_property_type(feed: Feed) -> None:
    _, _, world, _ = feed
    rows, _ = _walk(feed, f"{BASE}{SET}", page=10_000)
    assert {r["Id"] for r in rows} == _in_scope(world, "hq")
    for row in rows:
        assert {k: row[k] for k in ANSWERS} == _expected(world, row["Id"]), row
        made = world.observations[row["Id"]]
        assert row["FormVersion"] == made["version"]
        assert row["ProjectCode"] == made["project"].code
    first = next(r for r in rows if world.observations[r["Id"]]["i"] == 3)
    assert first["count"] == 9 and first["yield_t"] == 2.1 and first["weight"] == 3.5
    assert first["pests"] == "weevils aphids" and first["sown_on"] == "2025-04-13"
    assert first["irrigated"] is True and first["crop"] == "éleusine"
    assert first["Lat"] == pytest.approx(-28.7) and first["Lon"] == 27.5
    assert first["SubmittedBy"] == world.users["expert_lso"].username
    assert first["Status"] == "submitted" and first["new_only"] == "n0"
    assert first["old_only"] is None  # a version 2 observation: a field it did not have
    version_1 = next(r for r in rows if world.observations[r["Id"]]["i"] == 4)
    assert version_1["old_only"] == 4 and version_1["new_only"] is None
    assert version_1["weight"] == 4.0  # an integer answer of a field now decimal


def test_a_malformed_answer_is_null_never_a_500(feed: Feed) -> None:
    _, _, world, _ = feed
    for observation_id in world.malformed:
        row = _get(feed, f"{SET}({observation_id})")
        assert {k: row[k] for k in ANSWERS} == dict.fromkeys(ANSWERS), row
    for name in ANSWERS:
        for option in (f"$orderby={name} desc", f"$filter={name} eq null"):
            rows, _ = _walk(feed, f"{BASE}{SET}?{option}&$select=Id,{name}")
            if option.startswith("$filter"):
                assert set(world.malformed) <= {r["Id"] for r in rows}, option


_Row = dict[str, Any]
_FILTERS: list[tuple[str, Callable[[_Row], bool]]] = [
    ("count gt 30", lambda r: r["count"] is not None and r["count"] > 30),
    ("count eq 9", lambda r: r["count"] == 9),
    ("count in (3,9,27)", lambda r: r["count"] in (3, 9, 27)),
    ("yield_t le 2.1", lambda r: r["yield_t"] is not None and r["yield_t"] <= 2.1),
    (
        "yield_t gt 3 and count lt 100",
        lambda r: (r["yield_t"] or 0) > 3 and (r["count"] or 999) < 100,
    ),
    ("weight ge 10.5", lambda r: r["weight"] is not None and r["weight"] >= 10.5),
    ("crop eq 'maize'", lambda r: r["crop"] == "maize"),
    ("crop gt 'beans'", lambda r: r["crop"] is not None and r["crop"] > "beans"),
    ("crop ne 'maize'", lambda r: r["crop"] != "maize"),
    ("pests eq 'aphids borers'", lambda r: r["pests"] == "aphids borers"),
    ("pests eq null", lambda r: r["pests"] is None),
    ("sown_on ge 2025-05-01", lambda r: r["sown_on"] is not None and r["sown_on"] >= "2025-05-01"),
    ("sown_on eq 2025-04-13", lambda r: r["sown_on"] == "2025-04-13"),
    ("irrigated eq true", lambda r: r["irrigated"] is True),
    ("irrigated eq false or irrigated eq null", lambda r: r["irrigated"] is not True),
    ("remark lt 'note 2'", lambda r: r["remark"] is not None and r["remark"] < "note 2"),
    ("new_only eq 'n1'", lambda r: r["new_only"] == "n1"),
    ("old_only ne null", lambda r: r["old_only"] is not None),
    (
        "Status eq 'approved' and Country eq 'LSO'",
        lambda r: r["Status"] == "approved" and r["Country"] == "LSO",
    ),
    ("FormVersion eq 1", lambda r: r["FormVersion"] == 1),
    # an integer property compares with a decimal or double as a number (OData's promotion)
    ("count eq 12.0", lambda r: r["count"] == 12),
    ("count gt 13.5", lambda r: r["count"] is not None and r["count"] > 13.5),
    ("count le 1.2e1", lambda r: r["count"] is not None and r["count"] <= 12),
    ("count in (12.0,15,7.5)", lambda r: r["count"] in (12, 15)),
    ("count ne 12.5", lambda r: True),
    ("FormVersion lt 1.5", lambda r: r["FormVersion"] == 1),
    ("Lat lt -27", lambda r: r["Lat"] is not None and r["Lat"] < -27),
]


@pytest.mark.parametrize(("text", "keep"), _FILTERS, ids=[f[0] for f in _FILTERS])
def test_filter_on_each_type_counts_and_pages(
    feed: Feed, text: str, keep: Callable[[_Row], bool]
) -> None:
    client, auth, _, _ = feed
    everything, _ = _walk(feed, f"{BASE}{SET}", page=10_000)
    wanted = sorted(r["Id"] for r in everything if keep(r))
    assert wanted, "the filter matches nothing in the world"
    rows, counts = _walk(feed, f"{BASE}{SET}?$filter={text}&$count=true&$select=Id", page=4)
    assert [r["Id"] for r in rows] == wanted
    assert counts == [len(wanted)] * len(counts)
    assert all(set(r) == {"Id"} for r in rows)
    only = client.get(f"{BASE}{SET}/$count", auth=auth["hq"], params={"$filter": text})
    assert only.status_code == 200 and only.text == str(len(wanted))


def _expected_order(rows: list[_Row], order: list[tuple[str, bool]]) -> list[str]:
    """The documented order: $orderby, then Id; an empty value first ascending, last
    descending; text by code point."""
    ordered = sorted(rows, key=lambda r: r["Id"])
    for prop, desc in reversed(order):
        present = sorted(
            (r for r in ordered if r[prop] is not None), key=lambda r: r[prop], reverse=desc
        )
        empty = [r for r in ordered if r[prop] is None]
        ordered = present + empty if desc else empty + present
    return [r["Id"] for r in ordered]


@pytest.mark.parametrize(
    "orderby",
    [
        "count",
        "count desc",
        "yield_t desc,crop",
        "crop,sown_on desc",
        "pests desc",
        "sown_on",
        "irrigated,remark desc",
        "new_only desc,old_only",
        "ObservedOn desc,Lat",
    ],
)
def test_orderby_each_type_pages_every_row_once_in_order(feed: Feed, orderby: str) -> None:
    everything, _ = _walk(feed, f"{BASE}{SET}", page=10_000)
    order = [(w.split()[0], w.split()[-1] == "desc") for w in orderby.split(",")]
    rows, counts = _walk(feed, f"{BASE}{SET}?$orderby={orderby}&$count=true", page=4)
    assert [r["Id"] for r in rows] == _expected_order(everything, order)
    assert len(counts) > 10 and set(counts) == {len(everything)}
    cut, _ = _walk(feed, f"{BASE}{SET}?$orderby={orderby}&$top=9&$skip=5", page=4)
    assert [r["Id"] for r in cut] == _expected_order(everything, order)[5:14]


def test_a_wrong_literal_for_an_answer_is_a_bad_filter(feed: Feed) -> None:
    client, auth, _, _ = feed
    for text, code in (
        ("count eq 'ten'", "bad_filter"),
        ("sown_on gt 2025-02-30", "bad_filter"),
        ("irrigated eq 1", "bad_filter"),
        ("nope eq 1", "unknown_property"),
        ("count eq 1e400", "bad_filter"),
    ):
        response = client.get(f"{BASE}{SET}", auth=auth["hq"], params={"$filter": text})
        assert response.status_code == 400, text
        assert response.json()["error"]["code"] == code, text


@pytest.mark.parametrize(
    "moment", ["2025-01-01T00:00:00", "2025-01-01T10:30", "2025-01-01T00:00:00.123"]
)
def test_a_time_without_a_zone_is_a_bad_filter_saying_to_add_one(feed: Feed, moment: str) -> None:
    # OData's dateTimeOffsetValue ends in Z or an offset (±hh:mm); without one a time is no
    # instant: refused, rather than read as UTC and filtering on the wrong hours
    client, auth, _, _ = feed
    text = f"CapturedAt gt {moment}"
    response = client.get(f"{BASE}{SET}", auth=auth["hq"], params={"$filter": text})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_filter" and error["target"] == "$filter"
    assert error["message"] == (
        f"CapturedAt: {moment} has no time zone: add Z for UTC or an offset, as {moment}Z or "
        f"{moment}+02:00"
    )
    for zoned in (f"{moment}Z", f"{moment}+02:00", f"{moment}-05:30"):
        answered = client.get(
            f"{BASE}{SET}", auth=auth["hq"], params={"$filter": f"CapturedAt gt {zoned}"}
        )
        assert answered.status_code == 200, (zoned, answered.text)


# --- scope ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_the_observations_of_its_scope(feed: Feed, role: str) -> None:
    client, auth, world, _ = feed
    rows, _ = _walk(feed, f"{BASE}{SET}?$select=Id,Country,ProjectId", role=role, page=6)
    assert sorted(r["Id"] for r in rows) == sorted(_in_scope(world, role))
    assert str(world.deleted.id) not in {r["Id"] for r in rows}
    count = client.get(f"{BASE}{SET}/$count", auth=auth[role])
    assert count.text == str(len(rows))
    for observation_id, made in world.observations.items():
        response = client.get(f"{BASE}{SET}({observation_id})", auth=auth[role])
        if observation_id in _in_scope(world, role):
            assert response.status_code == 200, response.text
            assert response.json()["Id"] == observation_id
        else:  # another country's, another project's: as one that does not exist
            assert response.status_code == 404, (role, made["project"].code)
            assert response.json()["error"]["code"] == "not_found"
    for missing in (world.deleted.id, uuid.uuid4()):
        response = client.get(f"{BASE}{SET}({missing})", auth=auth[role])
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_one_observation_by_key_with_select(feed: Feed) -> None:
    client, auth, world, _ = feed
    observation_id = next(oid for oid, m in world.observations.items() if m["i"] == 3)
    body = _get(feed, f"{SET}({observation_id})", **{"$select": "Id,count,pests"})
    assert body["@odata.context"].endswith(f"$metadata#{SET}(Id,count,pests)/$entity")
    assert {k: v for k, v in body.items() if not k.startswith("@")} == {
        "Id": observation_id,
        "count": 9,
        "pests": "weevils aphids",
    }
    bad = client.get(f"{BASE}{SET}(not-a-guid)", auth=auth["hq"])
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_key"
    # a key holding a parenthesis reaches the set all the same (the route splits at the first)
    odd = client.get(f"{BASE}{SET}('a(b)')", auth=auth["hq"])
    assert odd.status_code == 400 and odd.json()["error"]["target"] == "Id"


def test_a_form_with_an_odd_code_is_a_set_all_the_same(feed: Feed) -> None:
    name = "Observations_" + set_suffix(ODD_CODE)
    rows = _get(feed, name)["value"]
    assert [r["bags"] for r in rows] == [4]
    assert rows[0]["Country"] == "LSO"


# --- one query a page -------------------------------------------------------------------------


def test_a_page_is_one_sql_query(feed: Feed) -> None:
    """The answers are read by the database in the page's query, not row by row after it."""
    _, _, world, engine = feed
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with Session(engine) as session:
        user = session.get(User, world.users["hq"].id)
        assert user is not None
        caller = Caller(user=user)
        [entity_set] = [s for s in observation_sets(session, caller=caller) if s.name == SET]
        options = parse_options(
            {"$filter": "count gt 3", "$orderby": "sown_on desc"},
            entity_set,
            token_key=skiptoken_key(SECRET),
        )
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            page = read_page(session, caller=caller, entity_set=entity_set, options=options)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    assert page.rows and len(statements) == 1, statements
    assert not any(math.isnan(r["yield_t"] or 0) for r in page.rows)
