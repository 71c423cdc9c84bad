"""Every read (GET) of the API's schema, called as the authorisation matrix calls it: for the
tests that send each one a bad query (an unknown parameter, one given twice) and expect it
refused. Read off the app, so that a new route cannot be left out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.server.test_authz_matrix import ROUTES, MatrixWorld

# Where a query is not judged as the management API judges it: the tablet's protocol routes
# ignore unknown parameters and read their few their own way (protocol 1), and the OData feed
# answers its own options in its own error shape (bad_option).
OWN_QUERIES = ("/api/v1/sync/", "/api/v1/attachments/", "/api/v1/odata")


@dataclass(frozen=True)
class Read:
    """One GET of the schema: its path there and its operation, and how to call it."""

    path: str
    operation: Mapping[str, Any]
    # Lesotho's real records in the path, and the query its matrix row sends
    url: str
    params: tuple[tuple[str, str], ...]


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def api_reads(client: TestClient, world: MatrixWorld) -> list[Read]:
    """The schema's GETs but those of ``OWN_QUERIES``, as an admin may call them. A route with
    a record in its path needs a row in the matrix (tests/server/test_authz_matrix.py) to be
    called by; one without a row fails here, by name. A public route has none and is called
    as it is."""
    schema = client.get("/api/v1/openapi.json").json()
    # Of the rows of one shape (the values route's indicators), the matrix's last.
    rows = {_shape(r.path): r for r in ROUTES if r.method == "GET"}
    values = world.values("LSO")
    reads, missing = [], []
    for path, operations in schema["paths"].items():
        if "get" not in operations or path.startswith(OWN_QUERIES):
            continue
        row = rows.get(_shape(path))
        if row is None and "{" in path:
            missing.append(path)
            continue
        url = row.path.format(**values) if row else path
        params = tuple((k, v.format(**values)) for k, v in (row.params if row else {}).items())
        reads.append(Read(path, operations["get"], url, params))
    assert not missing, f"no row in the authorisation matrix to call them by: {missing}"
    return reads
