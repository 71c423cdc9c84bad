"""Participant names never leave their country scope and never appear in an export.

The test crawls every GET route the application has (API, exports, dashboard pages, sync pull),
as every kind of caller, over a world whose Lesotho roster has named participants, and looks for
the names in every answer (inside XLSX and zip files too). New routes are covered as they land.

In scope (may see a name): admins and the people of Lesotho (its officer, its field expert and
that expert's tablet), outside exports. Everyone else — HQ analysts, other countries — never.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.accounts.models import Device, User
from server.activities.models import Attachment
from server.config import Settings
from server.db import write_engine
from server.projects.models import Project, Site, Target
from tests.conftest import app_for
from tests.factories import make_access_token, make_device, make_user
from tests.server.ops.world import PARTICIPANT_NAMES, load_world

TABLET_ROUTES = ("/api/v1/sync/", "/api/v1/attachments/")
IN_SCOPE = {"admin", "officer_lso", "expert_lso", "tablet_lso"}
# Query strings that make list, indicator and export routes return data rather than a 422.
EXTRA_QUERIES = (
    "",
    "group_by=project",
    "group_by=country,period:year&status=submitted,approved",
    "limit=500",
)


@dataclass
class Crawl:
    client: TestClient
    tokens: dict[str, str]
    values: dict[str, list[str]]


@pytest.fixture
def crawl(settings: Settings, engine: Engine) -> Crawl:
    settings.ensure_data_dir()
    world = load_world(engine, settings.attachments_dir)
    tokens: dict[str, str] = {}
    with Session(write_engine(engine)) as session:
        lso, ken = (session.get(Project, pid) for pid in world.project_ids)
        assert lso is not None and ken is not None
        people = {
            "admin": make_user(session, role="admin", countries=[]),
            "hq": make_user(session, role="hq_analyst", countries=[]),
            "officer_ken": make_user(session, role="country_officer", countries=["KEN"]),
            "expert_ken": make_user(session, role="field_expert", projects=[ken]),
        }
        for role, username in world.usernames.items():
            user = session.exec(select(User).where(col(User.username) == username)).one()
            people["officer_lso" if role == "country_officer" else "expert_lso"] = user
        for name, user in people.items():
            tokens[name] = make_access_token(session, user)
        _, tokens["tablet_lso"] = make_device(session, people["expert_lso"])
        _, tokens["tablet_ken"] = make_device(session, people["expert_ken"])
        values = {
            "project_id": [str(lso.id), str(ken.id)],
            # Lesotho's and Kenya's: scope is what matters, not every record.
            "activity_id": [str(a) for a in world.activity_ids[:2]],
            "site_id": [str(s.id) for s in session.exec(select(Site))],
            "target_id": [str(t.id) for t in session.exec(select(Target))],
            "user_id": [str(people["officer_lso"].id), str(people["officer_ken"].id)],
            "device_id": [str(d.id) for d in session.exec(select(Device))],
            "attachment_id": [str(a.id) for a in session.exec(select(Attachment))][-2:],
            "code": ["PARTICIPANTS", "UNIQUE_PARTICIPANTS", "ACTIVITIES"],
        }
        session.commit()
    client = TestClient(app_for(settings, engine), raise_server_exceptions=False)
    return Crawl(client=client, tokens=tokens, values=values)


def _get_paths(app: Any) -> list[str]:
    """Every GET path of the application, included routers flattened."""
    return sorted(
        {
            str(c.path)
            for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute) and "GET" in (c.methods or ())
        }
    )


def _paths(template: str, values: dict[str, list[str]]) -> list[str]:
    params = re.findall(r"{(\w+)(?::\w+)?}", template)
    paths = [template]
    for param in params:
        options = values.get(param) or [str(uuid.uuid4())]
        paths = [
            re.sub(r"{" + param + r"(?::\w+)?}", option, p) for p in paths for option in options
        ]
    return paths


def _takes_queries(path: str) -> bool:
    return "indicator" in path or "export" in path or path.endswith(("/activities", "/pull"))


def _text(response: Any) -> str:
    body: bytes = response.content
    if body[:2] == b"PK":  # XLSX and other zip files: look inside every member
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                return "\n".join(
                    archive.read(n).decode("utf-8", "replace") for n in archive.namelist()
                )
        except zipfile.BadZipFile:
            pass
    return body.decode("utf-8", "replace")


def test_names_stay_in_their_country_and_out_of_exports(crawl: Crawl) -> None:
    routes = _get_paths(crawl.client.app)
    assert "/api/v1/sync/pull" in routes and "/api/v1/activities/{activity_id}" in routes
    leaks: list[str] = []
    seen_in_scope = False
    for caller, token in crawl.tokens.items():
        crawl.client.cookies.set("pilotmon_session", token)
        tablet = caller.startswith("tablet")
        for route in routes:
            if tablet != route.startswith(TABLET_ROUTES):
                continue  # tablets sync; people use everything else
            for path in _paths(route, crawl.values):
                for query in EXTRA_QUERIES if _takes_queries(path) else ("",):
                    url = f"{path}?{query}" if query else path
                    response = crawl.client.get(url, headers={"Authorization": f"Bearer {token}"})
                    assert response.status_code < 500, (caller, url, response.status_code)
                    text = _text(response)
                    found = [n for n in PARTICIPANT_NAMES if n in text]
                    if not found:
                        continue
                    if caller in IN_SCOPE and "export" not in path:
                        seen_in_scope = True
                        continue
                    leaks.append(f"{caller} GET {url}: {found[0]}")
        crawl.client.cookies.clear()
    assert not leaks, "participant names left their scope:\n" + "\n".join(sorted(set(leaks)))
    # The crawl reaches the records (otherwise it proves nothing): Lesotho's tablet pulls them.
    assert seen_in_scope
