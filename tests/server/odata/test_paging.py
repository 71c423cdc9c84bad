"""The feed as Excel and Power BI follow it: every refresh follows @odata.nextLink to the end,
so every link must work, and every row must arrive exactly once, in the documented order —
empty (null) values in the ordered column included, on both backends (their defaults for
nulls differ) — with ``$filter`` on each type, ``$select``, ``$orderby``, ``$top``/``$skip`` and
``$count``, and in the caller's scope on every page.

One world per backend for the whole module (the tests only read it)."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.config import Settings
from server.db import make_engine, write_engine
from server.odata.entities import BY_NAME
from server.odata.query import parse_options, skiptoken_key
from shared.catalogue import topics_of
from tests.conftest import _truncate_all, app_for
from tests.factories import World, detach, make_activity, make_project, make_site

BASE = "http://testserver/api/v1/odata/"
PAGE = 2  # small pages, so that every walk takes several
# IndicatorValues is computed whole for a page in another order than its key's (docs/odata.md):
# larger pages keep those walks cheap.
PAGES = {"IndicatorValues": 8}
LAST_ROWS: list[dict[str, Any]] = []  # the last row of each page but the last, of a walk


class PagingWorld(World):
    """The two-country world, plus activities whose optional columns are empty, repeated or
    set (topic, modality, level, site, submission time), a project without a priority product
    and sites without coordinates: so that pages end on nulls and on ties."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        lso_topics = [t.code for t in topics_of(self.project_lso.solutions)][:2]
        extra_site = make_site(session, self.project_lso, lat=None, lon=None, name="No GPS")
        make_site(session, self.project_ken, lat=1.5, lon=None, name="Half GPS")
        bare = make_project(session, country="LSO", priority_product=None, code="LSO-BARE")
        make_project(session, country="KEN", priority_product=None, code="KEN-BARE")
        # text whose order differs by collation: code points put "Eagle" < "Zebra" < "apple" <
        # "éclair", a linguistic collation "apple" < "Eagle" < "éclair" < "Zebra"
        titles = [
            *("Farmer's day", "Storage 'bags'", "Plain", "Ünïcode", "Plain", "Farmer's day"),
            *("apple", "Zebra", "éclair", "Eagle"),
        ]
        for i in range(14):
            project = [self.project_lso, self.project_ken, bare][i % 3]
            make_activity(
                session,
                project,
                start_date=f"2025-0{1 + i % 6}-1{i % 4}",
                end_date=f"2025-0{1 + i % 6}-1{i % 4}",
                type="farmer_training" if i % 2 else "demonstration",
                title=titles[i % len(titles)],
                topic=None if project is not self.project_lso or i % 4 == 0 else lso_topics[i % 2],
                modality=None if i % 3 == 0 else "T",
                level=None if i % 5 == 0 else "L3",
                site_id=str(extra_site.id) if i % 4 == 1 and project is self.project_lso else None,
                status="draft" if i % 5 == 3 else "submitted",
            )
        # Months whose only activity has no attendance: their women's share is empty.
        for day in ("2025-08-05", "2025-09-05"):
            make_activity(session, bare, start_date=day, end_date=day, attendance=[])
        session.commit()
        detach(session)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def paging_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("paging") / "pilotmon.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
    else:
        engine: Engine = request.getfixturevalue("pg_engine")
        _truncate_all(engine)
        # Activity titles in a linguistic collation, as in a database created with a locale
        # such as en_US.UTF-8 (the test database's may be C): the feed must order them as
        # SQLite does all the same.
        with engine.begin() as conn:
            conn.exec_driver_sql(f'{_TITLE_TYPE} COLLATE "en-x-icu"')
        yield engine.url.render_as_string(hide_password=False)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'{_TITLE_TYPE} COLLATE "default"')


_TITLE_TYPE = "ALTER TABLE activity ALTER COLUMN title TYPE VARCHAR(200)"
SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(scope="module")
def feed(
    paging_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, tuple[str, str]]]]:
    """A client of the app over the world, and HTTP Basic credentials (username, personal
    access token) of the HQ analyst and of Lesotho's country officer."""
    engine = make_engine(paging_url)
    with Session(write_engine(engine)) as session:
        world = PagingWorld(session)
    settings = Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("paging-data"),
        database_url=paging_url,
        secret_key=SECRET,
    )
    settings.ensure_data_dir()
    with TestClient(app_for(settings, engine)) as client:
        auth = {}
        for role in ("hq", "officer_lso"):
            made = client.post("/api/v1/tokens", json={"name": "BI"}, headers=world.auth(role))
            assert made.status_code == 201, made.text
            auth[role] = (world.users[role].username, made.json()["token"])
        yield client, auth
    engine.dispose()


def _walk(
    client: TestClient, auth: tuple[str, str], url: str, page: int = PAGE
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Every row from ``url`` to the end of its nextLinks, and each page's @odata.count."""
    rows: list[dict[str, Any]] = []
    counts: list[Any] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url, auth=auth, headers={"Prefer": f"odata.maxpagesize={page}"})
        assert response.status_code == 200, (next_url, response.text)
        body = response.json()
        assert len(body["value"]) <= page
        if "@odata.nextLink" in body:
            assert len(body["value"]) == page
            LAST_ROWS.append(body["value"][-1])
        rows += body["value"]
        counts.append(body.get("@odata.count"))
        next_url = body.get("@odata.nextLink")
        assert len(counts) < 200, "the nextLinks do not end"
    return rows, counts


def _all(
    client: TestClient, auth: tuple[str, str], name: str, query: str = ""
) -> list[dict[str, Any]]:
    """Every row of a set in one answer (no paging: the world is far below the page size)."""
    response = client.get(f"{BASE}{name}?{query}", auth=auth)
    assert response.status_code == 200, response.text
    assert "@odata.nextLink" not in response.json()
    rows: list[dict[str, Any]] = response.json()["value"]
    return rows


def _typed(name: str, prop: str, value: Any) -> Any:
    edm = BY_NAME[name].by_name[prop].edm
    if value is None:
        return None
    if edm == "Edm.DateTimeOffset":
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if edm == "Edm.Date":
        return date.fromisoformat(value)
    return value


def _expected_order(
    name: str, rows: list[dict[str, Any]], orderby: list[tuple[str, bool]]
) -> list[dict[str, Any]]:
    """The documented order (docs/odata.md): $orderby, then the key ascending; an empty value
    before every value ascending, after every value descending."""
    order = [*orderby, *((k, False) for k in BY_NAME[name].key if k not in dict(orderby))]
    ordered = list(rows)
    for prop, desc in reversed(order):  # stable sorts, the last criterion first
        present = [r for r in ordered if r[prop] is not None]
        empty = [r for r in ordered if r[prop] is None]
        present.sort(key=lambda r: _typed(name, prop, r[prop]), reverse=desc)
        ordered = present + empty if desc else empty + present
    return ordered


def _keys(name: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in BY_NAME[name].key) for r in rows]


# --- nulls in the ordered column -------------------------------------------------------------

WOMEN_SHARE = "$filter=Indicator eq 'WOMEN_SHARE' and ProjectCode eq 'LSO-BARE'"

# (set, $orderby, another option, page size): pages small enough that one ends on an empty value
_ORDERS = [
    ("Activities", "Topic", "", PAGE),
    ("Activities", "Topic desc", "", PAGE),
    ("Activities", "Topic desc,Modality,StartDate desc", "", PAGE),
    ("Activities", "Level,Title desc", "", PAGE),
    ("Activities", "SiteId desc", "", PAGE),
    ("Activities", "SubmittedAt", "", PAGE),
    ("Activities", "SubmittedAt desc,Participants", "", PAGE),
    ("Attendance", "Topic desc,Count", "", PAGE),
    ("Sites", "Lat", "", 1),
    ("Sites", "Lon desc", "", 1),
    ("Projects", "PriorityProduct desc", "", 1),
    ("Projects", "PriorityProduct,EndDate desc", "", 1),
    ("IndicatorValues", "Value", WOMEN_SHARE, 2),
    ("IndicatorValues", "Value desc,Month", WOMEN_SHARE, 1),
]


@pytest.mark.parametrize(("name", "orderby", "option", "page"), _ORDERS)
def test_pages_ending_on_empty_values_follow_to_the_end_in_order(
    feed: tuple[TestClient, dict[str, tuple[str, str]]],
    name: str,
    orderby: str,
    option: str,
    page: int,
) -> None:
    client, auth = feed
    everything = _all(client, auth["hq"], name, option)
    order = [(w.split()[0], w.split()[-1] == "desc") for w in orderby.split(",")]
    first = order[0][0]
    LAST_ROWS.clear()
    rows, _ = _walk(client, auth["hq"], f"{BASE}{name}?$orderby={orderby}&{option}", page)
    assert any(r[first] is None for r in LAST_ROWS), "no page ended on an empty value"
    assert any(r[first] is not None for r in rows)
    assert _keys(name, rows) == _keys(name, _expected_order(name, everything, order))


# --- walking the feed as a client does ---------------------------------------------------------

_Row = dict[str, Any]


_FILTERS: list[tuple[str, str, Callable[[_Row], bool]]] = [
    (
        "Activities",
        "StartDate ge 2025-03-01 and StartDate lt 2025-05-12",
        lambda r: "2025-03-01" <= r["StartDate"] < "2025-05-12",
    ),
    ("Activities", "UpdatedAt gt 2000-01-01T00:00:00Z", lambda r: True),
    ("Activities", "SubmittedAt eq null", lambda r: r["SubmittedAt"] is None),
    ("Activities", "Participants ge 20 and Version eq 1", lambda r: r["Participants"] >= 20),
    ("Activities", "Title eq 'Farmer''s day'", lambda r: r["Title"] == "Farmer's day"),
    (
        "Activities",
        "Title in ('Storage ''bags''','Ünïcode')",
        lambda r: r["Title"] in ("Storage 'bags'", "Ünïcode"),
    ),
    (
        "Activities",
        "Status in ('submitted','approved') and Type eq 'farmer_training'",
        lambda r: r["Status"] in ("submitted", "approved") and r["Type"] == "farmer_training",
    ),
    ("Activities", "Topic ne null or Late eq true", lambda r: r["Topic"] is not None or r["Late"]),
    ("Activities", "SiteId eq null", lambda r: r["SiteId"] is None),
    (
        "Attendance",
        "Sex eq 'female' and Disability eq false and Count gt 5",
        lambda r: r["Sex"] == "female" and not r["Disability"] and r["Count"] > 5,
    ),
    (
        "Attendance",
        "StartDate le 2025-03-31 and Topic eq null",
        lambda r: r["StartDate"] <= "2025-03-31" and r["Topic"] is None,
    ),
    (
        "Sites",
        "Lat lt -10.5 or Lon gt 20",
        lambda r: (
            (r["Lat"] is not None and r["Lat"] < -10.5) or (r["Lon"] is not None and r["Lon"] > 20)
        ),
    ),
    (
        "Projects",
        "PriorityProduct ne 'maize' and Roster eq false",
        lambda r: r["PriorityProduct"] != "maize" and r["Roster"] is False,
    ),
    (
        "IndicatorValues",
        "Additive eq true and Value gt 0 and Month ge 2025-02-01",
        lambda r: (
            r["Additive"]
            and r["Value"] is not None
            and r["Value"] > 0
            and r["Month"] >= "2025-02-01"
        ),
    ),
    (
        "IndicatorValues",
        "Indicator in ('WOMEN_SHARE','PARTICIPANTS') and Value ne null",
        lambda r: r["Indicator"] in ("WOMEN_SHARE", "PARTICIPANTS") and r["Value"] is not None,
    ),
]


@pytest.mark.parametrize(("name", "text", "keep"), _FILTERS, ids=[f[1] for f in _FILTERS])
def test_filters_count_select_top_and_skip_page_to_the_end(
    feed: tuple[TestClient, dict[str, tuple[str, str]]],
    name: str,
    text: str,
    keep: Callable[[_Row], bool],
) -> None:
    """Each filter, with $count, $select and an $orderby on several columns: every page
    counts all the matches, and the pages hold each match once, in order; with $top and $skip
    the same rows, cut."""
    client, auth = feed
    entity_set = BY_NAME[name]
    everything = _all(client, auth["hq"], name)
    wanted = [r for r in everything if keep(r)]
    assert wanted, "the filter matches nothing in the world"
    nullable = [p.name for p in entity_set.properties if p.nullable]
    order = [(nullable[0], True), (entity_set.properties[-1].name, False)]
    orderby = ",".join(f"{p}{' desc' if d else ''}" for p, d in order)
    select = ",".join([*entity_set.key, nullable[0]])
    url = f"{BASE}{name}?$filter={text}&$count=true&$orderby={orderby}&$select={select}"
    expected = _keys(name, _expected_order(name, wanted, order))

    rows, counts = _walk(client, auth["hq"], url, PAGES.get(name, PAGE))
    assert _keys(name, rows) == expected
    assert counts == [len(wanted)] * len(counts)
    assert all(set(r) == set(select.split(",")) for r in rows)
    only = client.get(f"{BASE}{name}/$count", auth=auth["hq"], params={"$filter": text})
    assert only.status_code == 200 and only.text == str(len(wanted))

    rows, counts = _walk(client, auth["hq"], url + "&$top=3&$skip=1")
    assert _keys(name, rows) == expected[1:4]
    assert counts == [len(wanted)] * len(counts)


def test_every_set_of_the_service_document_pages_in_the_officers_scope(
    feed: tuple[TestClient, dict[str, tuple[str, str]]],
) -> None:
    """Lesotho's officer, following the service document to every set and every nextLink,
    gets Lesotho's rows only, each once: what HQ gets of Lesotho."""
    client, auth = feed
    metadata = client.get(BASE + "$metadata", auth=auth["officer_lso"])
    assert metadata.status_code == 200 and b"EntityContainer" in metadata.content
    document = client.get(BASE, auth=auth["officer_lso"]).json()
    names = [s["url"] for s in document["value"]]
    assert set(names) == set(BY_NAME)
    hq_projects = {p["Id"]: p["Country"] for p in _all(client, auth["hq"], "Projects")}
    # Each set ordered by a yes/no property first (its seek compares booleans), then an
    # optional one.
    orders = {
        "Activities": [("Late", True), ("Topic", True)],
        "Attendance": [("Disability", False), ("Topic", False), ("Sex", True)],
        "Projects": [("Roster", True), ("PriorityProduct", False)],
        "Sites": [("Status", False), ("Lat", True)],
        "IndicatorValues": [("Additive", True), ("Value", False)],
    }
    for name in names:
        orderby = ",".join(f"{p}{' desc' if d else ''}" for p, d in orders[name])
        url = f"{BASE}{name}?$orderby={orderby}"
        rows, _ = _walk(client, auth["officer_lso"], url, PAGES.get(name, PAGE))
        hq_rows = _all(client, auth["hq"], name)

        def lesotho(row: dict[str, Any]) -> bool:
            if "Country" in row:
                return bool(row["Country"] == "LSO")
            return hq_projects[row["ProjectId"]] == "LSO"

        assert rows, name
        assert all(lesotho(r) for r in rows), name
        expected = _expected_order(name, [r for r in hq_rows if lesotho(r)], orders[name])
        assert _keys(name, rows) == _keys(name, expected), name
        assert len(hq_rows) > len(rows), name  # HQ sees Kenya's too


@pytest.mark.parametrize("orderby", ["Title", "Title desc", "Type desc,Title"])
def test_text_orders_and_pages_by_code_point_on_both_backends(
    feed: tuple[TestClient, dict[str, tuple[str, str]]], orderby: str
) -> None:
    """Upper case before lower case and accented letters after both, on SQLite and on
    PostgreSQL whatever its collation, page after page (the seek compares as the order
    does); ``gt`` and ``lt`` on text compare the same way."""
    client, auth = feed
    everything = _all(client, auth["hq"], "Activities")
    order = [(w.split()[0], w.split()[-1] == "desc") for w in orderby.split(",")]
    rows, _ = _walk(client, auth["hq"], f"{BASE}Activities?$orderby={orderby}&$select=Id,Title")
    expected = _expected_order("Activities", everything, order)
    assert [r["Title"] for r in rows] == [r["Title"] for r in expected]
    assert _keys("Activities", rows) == _keys("Activities", expected)
    titles = {r["Title"] for r in everything}
    assert {"Eagle", "Zebra", "apple", "éclair"} <= titles
    for text, keep in (
        ("Title gt 'Zebra'", lambda t: t > "Zebra"),
        ("Title lt 'apple' and Title ge 'E'", lambda t: "E" <= t < "apple"),
    ):
        found = _all(client, auth["hq"], "Activities", f"$filter={text}")
        assert sorted(r["Title"] for r in found) == sorted(
            r["Title"] for r in everything if keep(r["Title"])
        ), text


def _signed(name: str, orderby: str, values: list[Any], secret: str = SECRET) -> str:
    """A $skiptoken holding ``values``, signed as the feed signs its own."""
    options = parse_options({"$orderby": orderby}, BY_NAME[name], token_key=skiptoken_key(secret))
    assert options.seal is not None
    return options.seal.sign(values)


def test_a_skiptoken_the_feed_did_not_make_for_this_query_is_a_400(
    feed: tuple[TestClient, dict[str, tuple[str, str]]],
) -> None:
    """A well-formed token holding values a row could hold still reads no page unless this
    feed made it for this $filter and $orderby: made up, signed by another server, or carried
    from another query (it would start that query mid-way, or at the wrong row)."""
    client, auth = feed
    three = {"Prefer": "odata.maxpagesize=3"}
    first = client.get(f"{BASE}Activities?$orderby=Title", auth=auth["hq"], headers=three)
    assert first.status_code == 200
    # what the feed hands out is followed (the link as given)
    link = first.json()["@odata.nextLink"]
    assert client.get(link, auth=auth["hq"], headers=three).status_code == 200
    token = link.rsplit("$skiptoken=", 1)[1]
    payload = token.split(".")[0]
    title, key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    unsigned = base64.urlsafe_b64encode(json.dumps([title, key]).encode()).decode().rstrip("=")
    for query, made in [
        ("$orderby=Title", unsigned),  # how tokens used to be: values alone
        ("$orderby=Title", payload + ".AAAAAAAAAAAAAAAAAAAAAA"),
        ("$orderby=Title", _signed("Activities", "Title", [title, key], secret="another" * 8)),
        ("$orderby=Title&$filter=Version ge 1", token),  # another query's token
        ("$orderby=Title desc", token),
        ("$orderby=Title", token[:-2]),
    ]:
        response = client.get(f"{BASE}Activities?{query}&$skiptoken={made}", auth=auth["hq"])
        assert response.status_code == 400, (query, made, response.text)
        error = response.json()["error"]
        assert (error["code"], error["target"]) == ("bad_option", "$skiptoken")


def test_a_made_up_skiptoken_is_a_400_never_a_500(
    feed: tuple[TestClient, dict[str, tuple[str, str]]],
) -> None:
    """Tokens signed as the feed signs (a leaked key, a bug) but holding values the database
    would refuse (PostgreSQL: an Int32 out of range; either: text with a lone surrogate) or
    that no row can hold: the values are checked all the same."""
    client, auth = feed
    key = "0e350ba6-4d94-4bec-9eba-cf4653020000"
    forged: list[tuple[str, str, list[Any]]] = [
        ("Activities", "Version", [2**40, key]),
        ("Activities", "Title", ["\ud800", key]),
        ("Activities", "Late", [1, key]),
        ("Sites", "Lat", [10**400, key]),
        ("Sites", "Lat", [float("nan"), key]),
        ("Attendance", "Count", [2**31, 1]),
        # a key in Arabic-Indic digits, which uuid.UUID() reads as 3s
        ("Activities", "Title", ["Plain", "\u0663" * 32]),
        ("Activities", "Title", ["Plain", "{" + key + "}"]),
    ]
    for name, orderby, values in forged:
        token = _signed(name, orderby, values)
        response = client.get(
            f"{BASE}{name}?$orderby={orderby}&$skiptoken={token}", auth=auth["hq"]
        )
        assert response.status_code == 400, (values, response.text)
        assert response.json()["error"]["code"] == "bad_option"


@pytest.mark.parametrize("page", [1, 3, 7, 40])
def test_indicator_values_in_key_order_page_to_the_end_computing_as_they_go(
    feed: tuple[TestClient, dict[str, tuple[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
    page: int,
) -> None:
    """In the key's order (Indicator first), a page computes indicators only until it is full
    and the next starts at its token's indicator: the same rows, each once, in order, as one
    read of everything; with a filter, $skip and $top too."""
    from server.odata import entities

    client, auth = feed
    everything = _all(client, auth["hq"], "IndicatorValues")
    order = [("Indicator", False), ("ProjectCode", False), ("Month", False)]
    expected = _keys("IndicatorValues", _expected_order("IndicatorValues", everything, order))
    computed: list[str] = []
    real = entities.indicator_values

    def counted(*args: Any, **kwargs: Any) -> Any:
        computed.append(kwargs["query"].indicator.code)
        return real(*args, **kwargs)

    monkeypatch.setattr(entities, "indicator_values", counted)
    rows, _ = _walk(client, auth["hq"], f"{BASE}IndicatorValues", page)
    assert _keys("IndicatorValues", rows) == expected
    # the first page computed the indicators it shows and at most one more, not all of them
    computed.clear()
    first = client.get(
        f"{BASE}IndicatorValues", auth=auth["hq"], headers={"Prefer": f"odata.maxpagesize={page}"}
    )
    assert first.status_code == 200
    shown = {r["Indicator"] for r in first.json()["value"]}
    assert set(computed) - shown <= {min(set(computed) - shown, default=None)}
    assert len(computed) < len({r["Indicator"] for r in everything})

    wanted = [r for r in everything if r["Value"] is not None and r["Value"] > 0]
    kept = _keys("IndicatorValues", _expected_order("IndicatorValues", wanted, order))
    rows, _ = _walk(client, auth["hq"], f"{BASE}IndicatorValues?$filter=Value gt 0", page)
    assert _keys("IndicatorValues", rows) == kept
    rows, _ = _walk(client, auth["hq"], f"{BASE}IndicatorValues?$skip=5&$top=9", page)
    assert _keys("IndicatorValues", rows) == expected[5:14]
