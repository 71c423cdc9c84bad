"""A role that may not use a write route is told so (403) before its body is judged
(docs/errors.md#body-shapes): an HQ analyst's or a field expert's malformed body on a route its
role may not use is 403 ``forbidden``, not a 422 listing fields it could never send, and not a
422 that reveals whether a record of another country exists. Every write of the authorisation
matrix with a JSON body, each role its row refuses with 403, with a body that breaks its limits
(an unknown key, every required field missing)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.server.test_authz_matrix import (  # noqa: F401 (fixtures)
    WRITES,
    MatrixWorld,
    Route,
    db_url,
    pg_matrix,
    sqlite_matrix,
    world,
)

MALFORMED = {"zzz_unknown": 1}
JSON_WRITES = [r for r in WRITES if r.body is not None]


def _shape(route: Route) -> tuple[str, str]:
    return route.method, re.sub(r"\{[^}]+\}", "{}", route.path)


def _refused_roles(route: Route) -> list[str]:
    """The people whose role may not use this route at all: 403 on every row of the matrix for
    it (an officer may change an expert's account, not an officer's: that is the record's)."""
    rows = [r for r in WRITES if _shape(r) == _shape(route)]
    return [
        role
        for role, status in route.expect.items()
        if status == 403 and all(r.expect.get(role) == 403 for r in rows)
    ]


@pytest.mark.parametrize(
    "route",
    [pytest.param(r, id=str(r)) for r in JSON_WRITES if _refused_roles(r)],
)
def test_a_refused_role_is_refused_before_its_body_is_read(
    client: TestClient,
    session: Session,
    world: MatrixWorld,  # noqa: F811
    route: Route,
) -> None:
    failures = []
    for side in ("LSO", "KEN"):
        values = world.values(side, session, route.path)
        for role in _refused_roles(route):
            response = client.request(
                route.method,
                route.path.format(**values),
                params={k: v.format(**values) for k, v in route.params.items()},
                json=MALFORMED,
                headers=world.auth(role),
            )
            if response.status_code != 403 or response.json().get("code") != "forbidden":
                failures.append(f"{role} {side}: {response.status_code} {response.text[:200]}")
    assert not failures, f"{route}:\n" + "\n".join(failures)


def test_the_reviewers_examples(client: TestClient, world: MatrixWorld) -> None:  # noqa: F811
    values = world.values("KEN")
    for role in ("expert_lso", "hq"):
        response = client.post("/api/v1/projects", json={"code": "X"}, headers=world.auth(role))
        assert response.status_code == 403, response.text
    response = client.post("/api/v1/sites", json=MALFORMED, headers=world.auth("hq"))
    assert response.status_code == 403, response.text
    response = client.post(
        "/api/v1/targets",
        json={"project_id": values["project"], "indicator": "PARTICIPANTS", "period": "2025"},
        headers=world.auth("expert_lso"),
    )
    assert response.status_code == 403, response.text
