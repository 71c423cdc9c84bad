"""Property-based API test: schemathesis generates requests from our OpenAPI schema and checks
that no answer is a server error and every answer matches the schema it documents.

Bounded to fit CI: a few examples per operation and mode, authenticated as an admin (who may
reach every route's happy path) in a world with records in two countries. Path parameters are
generated, and also pinned to real records so that details and updates get past the 404.

(schemathesis' own pytest plugin, ``from_fixture``, does not run under pytest 9, so the loop
over operations is written out here with its Python API.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session

from tests.factories import World, detach, make_device

# Logging out would revoke the token the run uses; it is covered in tests/server/accounts.
EXCLUDED = {("POST", "/api/v1/auth/logout")}
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}
CHECKS = [not_a_server_error, response_schema_conformance]


def _real_ids(world: World, device_id: Any) -> dict[str, str]:
    return {
        "project_id": str(world.project_lso.id),
        "site_id": str(world.site_lso.id),
        "target_id": str(world.target_lso.id),
        "activity_id": str(world.activity_lso.id),
        "user_id": str(world.users["expert_lso"].id),
        "device_id": str(device_id),
        "code": "PARTICIPANTS",
    }


@pytest.mark.slow
def test_api_conforms_to_its_schema(client: TestClient, session: Session) -> None:
    world = World(session)
    device, _ = make_device(session, world.users["expert_ken"])
    session.commit()
    detach(session)
    headers = world.auth("admin")
    real = _real_ids(world, device.id)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)

    failures: list[str] = []
    answered: set[str] = set()  # operations that gave at least one 2xx
    operations = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema is invalid: {result.err()}")
            continue
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        operations += 1
        names = {p.name for p in operation.path_parameters}
        pinned = [None, {k: v for k, v in real.items() if k in names}] if names else [None]
        for mode, examples in EXAMPLES.items():
            for path_parameters in pinned:
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters=path_parameters
                )

                @given(case=strategy)
                @settings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def check(case: Any) -> None:
                    response = case.call_and_validate(headers=headers, checks=CHECKS)
                    if response.status_code < 300:
                        answered.add(case.operation.label)

                try:
                    check()
                except Unsatisfiable:
                    continue  # nothing to negate (no parameters, no body)
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations > 30
    assert not failures, "\n\n".join(failures)
    # Not vacuous: the admin's token works and most operations were reached for real.
    assert len(answered) > operations // 2, sorted(answered)
