"""The walk of the API's reads (tests/server/routes_walk.py) that the refusal tests send their
bad queries through: were it to lose routes or call them wrongly, a route that stopped refusing
could pass unseen, or a refusal be the call's fault, not the bad parameter's."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server.routes_walk import OWN_QUERIES, api_reads
from tests.server.test_authz_matrix import (  # noqa: F401 (fixtures)
    MatrixWorld,
    db_url,
    pg_matrix,
    sqlite_matrix,
    world,
)


def test_every_read_of_the_schema_is_walked_but_those_with_their_own_queries(
    client: TestClient,
    world: MatrixWorld,  # noqa: F811
) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    gets = {p for p, operations in schema["paths"].items() if "get" in operations}
    reads = api_reads(client, world)
    walked = {r.path for r in reads}
    assert len(walked) == len(reads)
    assert walked == {p for p in gets if not p.startswith(OWN_QUERIES)}
    assert {"/api/v1/activities", "/api/v1/exports/iati.xml", "/api/v1/sync/pull"} & walked == {
        "/api/v1/activities",
        "/api/v1/exports/iati.xml",
    }
    # each route left out is left out by name: no prefix stands for nothing
    assert all(any(p.startswith(prefix) for p in gets) for prefix in OWN_QUERIES)


def test_each_read_as_walked_answers_an_admin(
    client: TestClient,
    world: MatrixWorld,  # noqa: F811
) -> None:
    """Called as walked, with nothing bad added, each read answers: a refusal the other tests
    see is their bad parameter's. Lesotho's records stand in the paths."""
    reads = api_reads(client, world)
    failures = []
    for read in reads:
        assert "{" not in read.url and not any("{" in v for _, v in read.params), read
        response = client.get(read.url, params=list(read.params), headers=world.auth("admin"))
        if response.status_code != 200:
            failures.append(f"GET {read.url}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    by_path = {r.path: r for r in reads}
    assert world.values("LSO")["activity"] in by_path["/api/v1/activities/{activity_id}"].url
