"""A query parameter that takes one value, given more than once with different values
(``?country=LSO&country=BGD``), is refused: 400 ``invalid`` naming it, "given more than once",
beside the request's other problems (docs/errors.md#statuses). It was read as its last value
alone: Bangladesh's numbers answered for "Lesotho and Bangladesh" without a word. The same value
twice loses nothing and is taken."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.testclient import TestClient

from server.indicators.routes import VALUES_PARAMETERS
from tests.server.routes_walk import api_reads
from tests.server.test_authz_matrix import (  # noqa: F401 (fixtures)
    MatrixWorld,
    db_url,
    pg_matrix,
    sqlite_matrix,
    world,
)

# Routes that read the indicator values' parameters themselves (not in the schema's list).
VALUES_ROUTES = (
    "/api/v1/indicators/{code}/values",
    "/api/v1/exports/indicators.csv",
    "/api/v1/exports/indicators.xlsx",
)


def _repeated(response: Any, name: str) -> bool:
    """Whether ``response`` is a 400 that names ``name`` as given more than once."""
    if response.status_code != 400:
        return False
    return any(
        e["field"] == name and e["code"] == "invalid" and "more than once" in e["message"]
        for e in response.json()["detail"]
    )


def _scalar_parameters(operation: Mapping[str, Any]) -> list[str]:
    names = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        declared = parameter.get("schema", {})
        kinds = [declared, *declared.get("anyOf", [])]
        if not any(k.get("type") == "array" for k in kinds):
            names.append(parameter["name"])
    return names


def test_every_read_of_the_api_refuses_a_scalar_parameter_given_twice(
    client: TestClient,
    world: MatrixWorld,  # noqa: F811
) -> None:
    """Every GET of the API's schema (tests/server/routes_walk.py: called by an admin as the
    authorisation matrix calls it) and each of its scalar query parameters, read off the
    schema so that a new one cannot be left out, given twice."""
    failures = []
    checked = 0
    for read in api_reads(client, world):
        names = _scalar_parameters(read.operation)
        if read.path in VALUES_ROUTES:
            names += [n for n in VALUES_PARAMETERS if n not in names]
        for name in names:
            given = dict(read.params).get(name, "2025")
            params = [(k, v) for k, v in read.params if k != name]
            params += [(name, given), (name, given + "0")]
            response = client.get(read.url, params=params, headers=world.auth("admin"))
            checked += 1
            if not _repeated(response, name):
                failures.append(
                    f"GET {read.path} {name} twice: {response.status_code} {response.text}"
                )
            elif "content-disposition" in response.headers:
                failures.append(f"GET {read.path} {name} twice: a file started")
    assert checked > 60
    assert not failures, "\n".join(failures)


def test_the_reviewers_examples(client: TestClient, world: MatrixWorld) -> None:  # noqa: F811
    headers = world.auth("admin")
    examples = [
        ("/api/v1/indicators/PARTICIPANTS/values?country=LSO&country=KEN", "country"),
        (
            "/api/v1/indicators/PARTICIPANTS/values?group_by=country&group_by=period:year",
            "group_by",
        ),
        (
            "/api/v1/exports/indicators.csv?indicator=PARTICIPANTS&country=LSO&country=KEN",
            "country",
        ),
        ("/api/v1/exports/activities.csv?country=LSO&country=KEN", "country"),
        ("/api/v1/reports/summary?period=2025&period=2026", "period"),
    ]
    for url, name in examples:
        response = client.get(url, headers=headers)
        assert _repeated(response, name), f"{url}: {response.status_code} {response.text}"
        assert "content-disposition" not in response.headers
    # the comma list the parameter takes answers both countries
    response = client.get(
        "/api/v1/indicators/PARTICIPANTS/values?country=LSO,KEN&group_by=country,period:year",
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert {r["country"] for r in response.json()["rows"]} == {"LSO", "KEN"}
    # the same value twice is that value
    for url in (
        "/api/v1/indicators/PARTICIPANTS/values?country=LSO&country=LSO",
        "/api/v1/activities?country=LSO&country=LSO",
    ):
        assert client.get(url, headers=headers).status_code == 200, url


def test_a_repeated_parameter_is_named_beside_the_others_problems(
    client: TestClient,
    world: MatrixWorld,  # noqa: F811
) -> None:
    headers = world.auth("officer_lso")
    response = client.get(
        "/api/v1/activities?country=LSO&country=KEN&limit=0&status=nonsense&contry=KE",
        headers=headers,
    )
    assert response.status_code == 400, response.text
    assert {(e["field"], e["code"]) for e in response.json()["detail"]} == {
        ("contry", "unknown_field"),
        ("country", "invalid"),
        ("limit", "value_range"),
        ("status", "unknown_code"),
    }
    # the values route's own checks, and a repeated one's value judged by neither of them
    response = client.get(
        "/api/v1/indicators/PARTICIPANTS/values?country=LSO&country=XXX&from=yesterday",
        headers=headers,
    )
    assert response.status_code == 400, response.text
    assert {(e["field"], e["code"]) for e in response.json()["detail"]} == {
        ("country", "invalid"),
        ("from", "bad_date"),
    }


def test_no_token_comes_before_a_repeated_parameter(
    client: TestClient,
    world: MatrixWorld,  # noqa: F811
) -> None:
    response = client.get("/api/v1/activities?country=LSO&country=KEN")
    assert response.status_code == 401
    response = client.get("/api/v1/indicators/PARTICIPANTS/values?country=LSO&country=KEN")
    assert response.status_code == 401
