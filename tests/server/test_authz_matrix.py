"""The authorisation matrix (docs/roles.md): every route × every role × in-scope and out-of-scope
data.

The world has two countries, Lesotho (in scope for ``officer_lso`` and ``expert_lso``) and Kenya
(out of their scope). Each row of ROUTES names a route, how to call it, and the expected status
per role for a Lesotho record; ``other`` gives the statuses for the Kenyan twin as seen by the
Lesotho officer and expert (HQ and admins have no out-of-scope data). Reads also check that no
Kenyan record leaks into what the Lesotho people get.

Besides the people, the API rows have a sixth caller, ``tablet_lso``: the Lesotho expert's
enrolled tablet with its device token. The sync routes (push, pull, status, bundle key, photo
uploads) take only a device token, so every person gets 401 there; the management API takes
only a person's access token, so the tablet gets 401 everywhere else; reading a photo takes
either (docs/roles.md#tokens).

To add a route: add a ``Route`` row. Paths and bodies are templates filled from the world:
``{project} {site} {target} {activity} {user} {device} {country} {photo} {conflict}
{attendance}`` (an attendance row's id), ``{indicator_value}`` (the feed's key of an indicator
value), ``{observation_set}`` (the feed's set of the observations' form), ``{project_form}``
and ``{project_form_indicator}`` (the code of the side's own project form and of its result
indicator; API rows fill them in their ``params`` too) and ``{username}``,
``{n}`` (a fresh number per call), ``{fresh_activity}`` (a new submitted activity per call,
for routes that change an activity's state; likewise ``{fresh_upload}``, a photo whose bytes
have not arrived, and ``{fresh_conflict}``, an open conflict). Every role's call runs against
the same world, so a write must be repeatable (use ``{n}`` for unique values). Other tests
walk the app's routes: every ``/api/v1`` route must have a row (or be PUBLIC), and none
outside PUBLIC may answer anything but 401 without credentials.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from server.accounts.models import (
    AccessToken,
    Device,
    DeviceStatus,
    EnrolmentCode,
    PersonalToken,
    User,
    UserProject,
)
from server.activities.models import Activity, Attachment, AttendanceRow, ClosedPeriod
from server.columns import utcnow
from server.config import Settings
from server.dashboard import session as dashboard_cookies
from server.db import make_engine, write_engine
from server.projects.models import Project, Site, Target
from server.records.models import RecordRevision
from server.records.receipts import Signer
from server.results.models import Form, Observation
from server.sync.attachments import AttachmentFiles, store_complete
from server.sync.models import SyncConflict
from tests.conftest import Snapshot, _truncate_all, restore_snapshot, take_snapshot
from tests.factories import (
    World,
    activity_data,
    detach,
    make_activity,
    make_device,
    make_observation,
    make_observation_form,
    make_site,
    make_user,
    rows,
)
from tests.server.dashboard.world import field_photo
from tests.server.results.helpers import indicator, make_form, observe

ROLES = ("anonymous", "admin", "hq", "officer_lso", "expert_lso")
# The Lesotho expert's tablet, calling with its device token (API rows only).
TABLET = "tablet_lso"
API_ROLES = (*ROLES, TABLET)
SCOPED_ROLES = ("officer_lso", "expert_lso", TABLET)

# Routes anyone may call without credentials (docs/roles.md: health, login, enrol;
# docs/protocol.md: sync info).
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/v1/health"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/devices/enrol"),
        ("GET", "/api/v1/sync/info"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/docs"),
        ("HEAD", "/api/v1/docs"),
        ("HEAD", "/api/v1/openapi.json"),
    }
)

_numbers = itertools.count(100)
PHOTO = field_photo(48, 32)


def _everyone(status: int, **overrides: int) -> dict[str, int]:
    """``status`` for every signed-in person, 401 for anonymous and for a tablet's device token
    (the management API takes people's access tokens only), then ``overrides``."""
    return {
        "anonymous": 401,
        "admin": status,
        "hq": status,
        "officer_lso": status,
        "expert_lso": status,
        TABLET: 401,
        **overrides,
    }


def _tablet(status: int) -> dict[str, int]:
    """``status`` for the tablet's device token; 401 for anonymous and for every person's access
    token (sync routes take a device token only)."""
    return {role: 401 for role in ROLES} | {TABLET: status}


# The Lesotho tablet reaching for Kenyan records: not found, like the Lesotho people.
NOT_FOUND_OUTSIDE = {"officer_lso": 404, "expert_lso": 404, TABLET: 404}
NOT_FOUND_OUTSIDE_PEOPLE = {"officer_lso": 404, "expert_lso": 404}

# A tablet's status as it posts it (docs/protocol.md#tablet-status), naming a tablet in its
# body: the server ignores that and files the status under the token's tablet.
STATUS_BODY: dict[str, Any] = {
    "pending_mutations": 1,
    "pending_uploads": 0,
    "pending_upload_bytes": 0,
    "oldest_pending_captured_at": None,
    "records": 3,
    "photos": 0,
    "free_storage_bytes": None,
    "app_version": "1.0.0",
    "language": "en",
    "last_error": None,
}


def _month(values: dict[str, str]) -> str:
    """A month of the world's projects (2024 to two years on), another for each of 36 calls:
    a new target's period, which must meet its project's dates."""
    n = int(values["n"])
    return f"{2024 + n // 12 % 3}-{n % 12 + 1:02d}"


def _managers(status: int, **overrides: int) -> dict[str, int]:
    """``status`` for admin and the Lesotho officer; HQ and the field expert 403."""
    return _everyone(403, admin=status, officer_lso=status, **overrides)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    expect: Mapping[str, int]
    other: Mapping[str, int] = field(default_factory=dict)
    body: Callable[[dict[str, str]], Any] | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    # A multipart upload instead of a JSON body: its files and form fields.
    files: Callable[[dict[str, str]], Any] | None = None
    form: Callable[[dict[str, str]], Any] | None = None
    # Raw bytes instead of a JSON body (a photo chunk), with its headers.
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ROUTES: tuple[Route, ...] = (
    # --- people ---
    Route("GET", "/api/v1/auth/me", _everyone(200)),
    Route("POST", "/api/v1/auth/logout", _everyone(204)),
    Route("GET", "/api/v1/users", _everyone(200, expert_lso=403)),
    Route(
        "GET",
        "/api/v1/users/{user}",
        _everyone(200, expert_lso=403),
        other={"officer_lso": 404, "expert_lso": 403},
    ),
    Route(
        "POST",
        "/api/v1/users",
        _managers(201),
        other={"officer_lso": 422, "expert_lso": 403},
        body=lambda w: {
            "username": f"new{w['n']}",
            "password": "a long password",
            "role": "field_expert",
            "projects": [w["project_code"]],
        },
    ),
    Route(
        "PATCH",
        "/api/v1/users/{user}",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"full_name": "Renamed"},
    ),
    # a person's scope (docs/roles.md#changing-a-persons-scope): nobody changes their own
    Route(
        "PATCH",
        "/api/v1/users/{user}",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"projects": [w["project_code"]]},
    ),
    Route(
        "PATCH",
        "/api/v1/users/{officer}",
        _everyone(403, admin=200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"countries": [w["country"]]},
    ),
    # --- tablets ---
    Route("GET", "/api/v1/devices", _everyone(200)),
    Route(
        "POST",
        "/api/v1/devices/enrol-codes",
        _managers(201),
        other={"officer_lso": 422, "expert_lso": 403},
        body=lambda w: {"username": w["username"]},
    ),
    Route(
        "POST",
        "/api/v1/devices/{device}/revoke",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
    ),
    # --- projects, sites, targets ---
    Route("GET", "/api/v1/projects", _everyone(200)),
    Route(
        "GET",
        "/api/v1/projects/{project}",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "POST",
        "/api/v1/projects",
        _managers(201),
        other={"officer_lso": 403, "expert_lso": 403},
        body=lambda w: {
            "code": f"X-{w['n']}",
            "name": "New pilot",
            "kind": "CPP",
            "country": w["country"],
            "thematic_area": "TA1",
            "solutions": ["S1"],
            "start_date": "2025-01-01",
            "end_date": "2026-12-31",
        },
    ),
    Route(
        "PATCH",
        "/api/v1/projects/{project}",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"name": f"Renamed {w['n']}"},
    ),
    Route("GET", "/api/v1/sites", _everyone(200)),
    Route(
        "GET", "/api/v1/sites/{site}", _everyone(200), other={"officer_lso": 404, "expert_lso": 404}
    ),
    Route(
        "POST",
        "/api/v1/sites",
        _managers(201, expert_lso=201),
        other={"officer_lso": 422, "expert_lso": 422},
        body=lambda w: {"project_id": w["project"], "name": f"Plot {w['n']}"},
    ),
    Route(
        "PATCH",
        "/api/v1/sites/{site}",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"admin_area": f"Area {w['n']}"},
    ),
    Route("GET", "/api/v1/targets", _everyone(200)),
    Route(
        "GET",
        "/api/v1/targets/{target}",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "POST",
        "/api/v1/targets",
        _managers(201),
        # (a field expert may not set targets at all: 403 whatever the project)
        other={"officer_lso": 422, "expert_lso": 403},
        body=lambda w: {
            "project_id": w["project"],
            "indicator": "TRAININGS",
            "period": _month(w),
            "value": 12,
        },
    ),
    Route(
        "PATCH",
        "/api/v1/targets/{target}",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"value": int(w["n"])},
    ),
    Route(
        "POST",
        "/api/v1/targets",
        _managers(201),
        # (a field expert may not set targets at all: 403 whatever the project)
        other={"officer_lso": 422, "expert_lso": 403},
        body=lambda w: {
            "project_id": w["project"],
            "indicator": "T_MATRIX_SUM",
            "period": _month(w),
            "value": 3,
            "kind": "baseline",
        },
    ),
    Route(
        "DELETE",
        "/api/v1/targets/{fresh_target}",
        _managers(204),
        other={"officer_lso": 404, "expert_lso": 403},
    ),
    # --- activities, reviews, periods, audit ---
    Route("GET", "/api/v1/activities", _everyone(200)),
    Route(
        "GET",
        "/api/v1/activities/{activity}",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "GET",
        "/api/v1/activities/{activity}/revisions",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "POST",
        "/api/v1/activities/{fresh_activity}/review",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"action": "approve"},
    ),
    # --- observations (docs/results.md#observations) ---
    Route("GET", "/api/v1/observations", _everyone(200)),
    Route(
        "GET",
        "/api/v1/observations/{observation}",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "GET",
        "/api/v1/observations/{observation}/revisions",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "POST",
        "/api/v1/observations/{fresh_observation}/review",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"action": "approve"},
    ),
    Route("GET", "/api/v1/periods", _everyone(200)),
    Route(
        "POST",
        "/api/v1/periods/close",
        _managers(201),
        other={"officer_lso": 403, "expert_lso": 403},
        body=lambda w: {
            "country": w["country"],
            # ended quarters of plausible years only (2000Q1 … 2025Q4)
            "period": f"{2000 + int(w['n']) // 4 % 26}Q{int(w['n']) % 4 + 1}",
        },
    ),
    Route("GET", "/api/v1/audit", _everyone(200, expert_lso=403)),
    # --- indicators and reports (helper-5) ---
    Route("GET", "/api/v1/indicators", _everyone(200)),
    Route(
        "GET",
        "/api/v1/indicators/{code}/values",
        _everyone(200),
        params={"group_by": "project,country"},
    ),
    Route(
        "GET",
        "/api/v1/indicators/T_MATRIX_SUM/values",
        _everyone(200),
        params={"group_by": "project,country,site,choice:plot"},
    ),
    # a result indicator of a project's own form: another country's is an unknown indicator
    Route(
        "GET",
        "/api/v1/indicators/{project_form_indicator}/values",
        _everyone(200),
        other=NOT_FOUND_OUTSIDE_PEOPLE,
        params={"group_by": "project"},
    ),
    # --- exports: nothing of another country may leave in a file either ---
    Route("GET", "/api/v1/exports/observations.csv", _everyone(200), params={"form": "T_MATRIX"}),
    Route("GET", "/api/v1/exports/observations.xlsx", _everyone(200), params={"form": "T_MATRIX"}),
    # a project's own form: another country's is an unknown form (400 on ``form``), no header
    *(
        Route(
            "GET",
            f"/api/v1/exports/observations.{kind}",
            _everyone(200),
            other={"officer_lso": 400, "expert_lso": 400},
            params={"form": "{project_form}"},
        )
        for kind in ("csv", "xlsx")
    ),
    Route(
        "GET",
        "/api/v1/exports/indicators.csv",
        _everyone(200),
        other=NOT_FOUND_OUTSIDE_PEOPLE,
        params={"indicator": "{project_form_indicator}", "group_by": "project"},
    ),
    Route(
        "GET",
        "/api/v1/exports/indicators.csv",
        _everyone(200),
        params={"indicator": "T_MATRIX_SUM", "group_by": "project,site"},
    ),
    Route("GET", "/api/v1/exports/activities.csv", _everyone(200)),
    Route("GET", "/api/v1/exports/activities.xlsx", _everyone(200)),
    Route(
        "GET",
        "/api/v1/exports/indicators.csv",
        _everyone(200),
        params={"indicator": "PARTICIPANTS", "group_by": "project,country"},
    ),
    Route(
        "GET",
        "/api/v1/exports/indicators.xlsx",
        _everyone(200),
        params={"indicator": "PARTICIPANTS", "group_by": "project"},
    ),
    Route(
        "GET",
        "/api/v1/exports/dhis2/dataValueSets.json",
        _everyone(200),
        params={"period": "2025", "status": "submitted,approved"},
    ),
    Route(
        "GET", "/api/v1/exports/iati.xml", _everyone(200), params={"status": "submitted,approved"}
    ),
    Route("GET", "/api/v1/reports/summary", _everyone(200), params={"period": "2025"}),
    Route("GET", "/api/v1/reports/stale-tablets", _everyone(200, expert_lso=403)),
    # --- personal access tokens: each person's own; another's is a 404 ---
    Route("GET", "/api/v1/tokens", _everyone(200)),
    Route("POST", "/api/v1/tokens", _everyone(201), body=lambda w: {"name": f"Power BI {w['n']}"}),
    Route(
        "DELETE",
        "/api/v1/tokens/{fresh_token}",
        _everyone(404, expert_lso=204),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    # --- forms (docs/results.md#forms): global ones by admins, a project's by its officers ---
    Route("GET", "/api/v1/forms", _everyone(200)),
    Route(
        "GET",
        "/api/v1/forms/{form}",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "POST",
        "/api/v1/forms",
        _managers(201),
        other={"officer_lso": 422, "expert_lso": 403},
        body=lambda w: {**_form_definition(f"MATRIX_{w['n']}"), "project": w["project_code"]},
    ),
    Route(
        "POST",
        "/api/v1/forms/import",
        _managers(201),
        other={"officer_lso": 422, "expert_lso": 403},
        files=lambda w: {"file": ("form.xlsx", _xlsform(f"matrix_{w['n']}"))},
        form=lambda w: {"project": w["project_code"]},
    ),
    Route(
        "PATCH",
        "/api/v1/forms/{fresh_draft_form}",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"title": {"en": "Renamed"}},
    ),
    Route(
        "POST",
        "/api/v1/forms/{fresh_draft_form}/publish",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "POST",
        "/api/v1/forms/{fresh_form}/retire",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    # --- the OData feed (bearer here; HTTP Basic with a token in tests/server/odata) ---
    Route("GET", "/api/v1/odata", _everyone(200)),
    Route("GET", "/api/v1/odata/", _everyone(200)),
    Route("GET", "/api/v1/odata/$metadata", _everyone(200)),
    *(
        Route("GET", f"/api/v1/odata/{name}{tail}", _everyone(200))
        for name in ("Activities", "Attendance", "Projects", "Sites", "IndicatorValues")
        for tail in ("", "/$count")
    ),
    # one entity by its key: another country's answers as one that does not exist
    *(
        Route(
            "GET",
            f"/api/v1/odata/{name}({key})",
            _everyone(200),
            other={"officer_lso": 404, "expert_lso": 404},
        )
        for name, key in (
            ("Activities", "{activity}"),
            ("Attendance", "{attendance}"),
            ("Projects", "{project}"),
            ("Sites", "{site}"),
            ("IndicatorValues", "{indicator_value}"),
        )
    ),
    # a form's observations (docs/odata.md#observations): a set per published form
    Route("GET", "/api/v1/odata/{observation_set}", _everyone(200)),
    Route("GET", "/api/v1/odata/{observation_set}/$count", _everyone(200)),
    Route(
        "GET",
        "/api/v1/odata/{observation_set}({observation})",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    # --- sync (docs/protocol.md): the tablet's device token only; a person's token is 401 ---
    Route(
        "POST",
        "/api/v1/sync/push",
        _tablet(200),
        # a batch naming another tablet than the token's
        other={TABLET: 403},
        body=lambda w: {
            "protocol": 1,
            "device_id": w["device"],
            "mutations": [
                {
                    "seq": 1,  # the tablet's first push
                    "entity": "activity",
                    "op": "upsert",
                    "id": str(uuid.uuid4()),
                    "base_version": 0,
                    "data": _pushed_activity(w),
                }
            ],
        },
    ),
    Route("GET", "/api/v1/sync/pull", _tablet(200)),
    # a tablet reports its own status whatever its body names (the Kenyan tablet: still 200,
    # filed under the token's tablet; test_a_tablet_posts_only_its_own_status)
    Route(
        "POST",
        "/api/v1/sync/status",
        _tablet(200),
        other={TABLET: 200},
        body=lambda w: {**STATUS_BODY, "device_id": w["device"]},
    ),
    Route("POST", "/api/v1/sync/bundle-key", _tablet(200)),
    # --- photos: bytes from the tablet that sent their details; read by people and tablets ---
    Route(
        "GET",
        "/api/v1/attachments/{photo}",
        _everyone(200, **{TABLET: 200}),
        other=NOT_FOUND_OUTSIDE,
    ),
    Route(
        "HEAD",
        "/api/v1/attachments/{photo}",
        _everyone(200, **{TABLET: 200}),
        other=NOT_FOUND_OUTSIDE,
    ),
    Route(
        "PATCH",
        "/api/v1/attachments/{fresh_upload}",
        _tablet(200),
        other={TABLET: 404},
        content=PHOTO,
        headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    ),
    # --- conflicts: for people (the country office), never for tablets ---
    Route("GET", "/api/v1/conflicts", _everyone(200)),
    Route(
        "GET",
        "/api/v1/conflicts/{conflict}",
        _everyone(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    Route(
        "POST",
        "/api/v1/conflicts/{fresh_conflict}/resolve",
        _managers(200),
        other={"officer_lso": 404, "expert_lso": 403},
        body=lambda w: {"keep": "server"},
    ),
)

READS = [r for r in ROUTES if not r.writes]
WRITES = [r for r in ROUTES if r.writes]


def _pushed_activity(values: dict[str, str]) -> dict[str, Any]:
    """A new activity of the side's project, as a tablet pushes it."""
    # activity_data reads only the project's id
    data = activity_data(cast(Project, SimpleNamespace(id=values["project"])))
    data.pop("status", None)
    return data


def _form_definition(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "title": {"en": "Matrix form"},
        "fields": [{"name": "harvest_kg", "type": "decimal", "label": {"en": "Harvest"}}],
    }


def _xlsform(form_id: str) -> bytes:
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label"])
    survey.append(["decimal", "harvest_kg", "Harvest"])
    book.create_sheet("settings").append(["form_id", "form_title"])
    book["settings"].append([form_id, "Matrix form"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _make_form(
    session: Session, project: Any, *, publish: bool, code: str | None = None
) -> uuid.UUID:
    """A form of ``project``; given its ``code``, with a result indicator ``<code>_KG``."""
    from server.results.forms import create_draft
    from server.results.forms import publish as publish_form

    data = _form_definition(code or f"MATRIX_{project.country}_{next(_numbers)}")
    if code is not None:
        data["indicators"] = [indicator(f"{code}_KG", "sum", field="harvest_kg", unit="kg")]
    form = create_draft(session, data=data, project=project, actor_id=None)
    if publish:
        publish_form(session, form, actor_id=None, country=project.country)
    session.commit()
    form_id = form.id
    detach(session)
    return form_id


class MatrixWorld(World):
    def __init__(self, session: Session, files: Path | None = None) -> None:
        """``files``: the app's attachments folder, for a stored photo on each side."""
        super().__init__(session)
        device_lso, self.tokens[TABLET] = make_device(session, self.users["expert_lso"])
        device_ken, self.tokens["tablet_ken"] = make_device(session, self.users["expert_ken"])
        # a published form with an observation on each side (result indicators, exports)
        form = make_form(
            session,
            code="T_MATRIX",
            indicators=[indicator("T_MATRIX_SUM", "sum", field="harvest_kg", compare="plot")],
        )
        self.observations = {
            side: observe(
                session,
                form,
                session.get(Project, project.id),  # type: ignore[arg-type]
                {"crop": "potato", "plot": "demo", "harvest_kg": 12},
                site_id=site.id,
            ).id
            for side, project, site in (
                ("LSO", self.project_lso, self.site_lso),
                ("KEN", self.project_ken, self.site_ken),
            )
        }
        self.form = make_observation_form(session)
        self.observation_lso = make_observation(
            session, self.project_lso, self.form, author=self.users["expert_lso"]
        )
        self.observation_ken = make_observation(
            session, self.project_ken, self.form, author=self.users["expert_ken"]
        )
        session.commit()
        self.devices = {"LSO": device_lso.id, "KEN": device_ken.id}
        detach(session)
        # each side's own project form, with a result indicator (its code is the form's + _KG)
        self.form_codes = {side: f"MATRIX_{side}_{next(_numbers)}" for side in ("LSO", "KEN")}
        self.forms = {
            "LSO": _make_form(session, self.project_lso, publish=True, code=self.form_codes["LSO"]),
            "KEN": _make_form(session, self.project_ken, publish=True, code=self.form_codes["KEN"]),
        }
        self.photos = {side: self._photo(session, side, files) for side in ("LSO", "KEN")}
        self.conflicts = {side: self._conflict(session, side) for side in ("LSO", "KEN")}
        # an attendance row of each side's activity, and the month of its indicator values
        self.attendance = {
            side: session.execute(
                select(func.min(AttendanceRow.id)).where(
                    col(AttendanceRow.activity_id) == self._side(side)[1].id
                )
            ).scalar_one()
            for side in ("LSO", "KEN")
        }

    def _side(self, side: str) -> tuple[Project, Any, str]:
        """The side's project, activity and field expert."""
        if side == "LSO":
            return self.project_lso, self.activity_lso, "expert_lso"
        return self.project_ken, self.activity_ken, "expert_ken"

    def _photo(self, session: Session, side: str, files: Path | None) -> uuid.UUID:
        """A photo of the side's activity, sent by its expert's tablet: whole when ``files`` is
        given, else still waiting for its bytes."""
        project, activity, expert = self._side(side)
        photo = Attachment(
            id=uuid.uuid4(),
            activity_id=activity.id,
            sha256=hashlib.sha256(PHOTO).hexdigest(),
            size=len(PHOTO),
            content_type="image/png",
        )
        session.add(photo)
        # Bytes come only from whoever pushed the photo's details: the first revision says who.
        session.add(
            RecordRevision(
                entity="attachment",
                entity_id=photo.id,
                version=1,
                data={"id": str(photo.id), "activity_id": str(activity.id)},
                source="push",
                author_id=self.users[expert].id,
                device_id=self.devices[side],
            )
        )
        session.flush()
        if files is not None:
            refused = store_complete(
                session,
                files=AttachmentFiles(files),
                attachment=photo,
                data=PHOTO,
                project_id=project.id,
                signer=Signer.generate(),
            )
            assert refused is None, refused
        session.commit()
        photo_id = photo.id
        detach(session)
        return photo_id

    def _conflict(self, session: Session, side: str) -> uuid.UUID:
        """An open conflict on the side's activity: its tablet renamed it while the office did."""
        project, activity, _ = self._side(side)
        conflict = SyncConflict(
            entity="activity",
            entity_id=activity.id,
            project_id=project.id,
            device_id=self.devices[side],
            fields=["title"],
            base_values={"title": "Before"},
            server_values={"title": activity.title},
            device_values={"title": "Renamed on the tablet"},
        )
        session.add(conflict)
        session.commit()
        conflict_id = conflict.id
        detach(session)
        return conflict_id

    def values(self, side: str, session: Session | None = None, path: str = "") -> dict[str, str]:
        lso = side == "LSO"
        found = {
            "project": str((self.project_lso if lso else self.project_ken).id),
            "project_code": (self.project_lso if lso else self.project_ken).code,
            "site": str((self.site_lso if lso else self.site_ken).id),
            "target": str((self.target_lso if lso else self.target_ken).id),
            "activity": str((self.activity_lso if lso else self.activity_ken).id),
            "observation": str((self.observation_lso if lso else self.observation_ken).id),
            "observation_set": f"Observations_{self.form.code}",
            "user": str(self.users["expert_lso" if lso else "expert_ken"].id),
            "officer": str(self.users["officer_lso" if lso else "officer_ken"].id),
            "username": self.users["expert_lso" if lso else "expert_ken"].username,
            "device": str(self.devices[side]),
            "country": side,
            "code": "PARTICIPANTS",
            "n": str(next(_numbers)),
            "form": str(self.forms["LSO" if lso else "KEN"]),
            "project_form": self.form_codes[side],
            "project_form_indicator": f"{self.form_codes[side]}_KG",
            "photo": str(self.photos[side]),
            "conflict": str(self.conflicts[side]),
            "attendance": str(self.attendance[side]),
            "indicator_value": (
                "Indicator='ACTIVITIES',ProjectCode='"
                + (self.project_lso if lso else self.project_ken).code
                + f"',Month={(self.activity_lso if lso else self.activity_ken).start_date:%Y-%m}-01"
            ),
        }
        if "{fresh_upload}" in path and session is not None:
            found["fresh_upload"] = str(self._photo(session, side, None))
        if "{fresh_conflict}" in path and session is not None:
            found["fresh_conflict"] = str(self._conflict(session, side))
        project = self.project_lso if lso else self.project_ken
        if "{fresh_form}" in path and session is not None:
            found["fresh_form"] = str(_make_form(session, project, publish=True))
        if "{fresh_draft_form}" in path and session is not None:
            found["fresh_draft_form"] = str(_make_form(session, project, publish=False))
        if "{fresh_token}" in path and session is not None:
            # a token of this side's field expert: only its owner may revoke it
            from server.accounts.auth import Caller
            from server.accounts.tokens import create_token

            owner = self.users["expert_lso" if lso else "expert_ken"]
            row, _ = create_token(session, caller=Caller(user=owner), name=f"t{found['n']}")
            session.commit()
            found["fresh_token"] = str(row.id)
            detach(session)
        if "{fresh_device}" in path and session is not None:
            # another tablet of this side's field expert (theirs stays enrolled)
            device, _ = make_device(session, self.users["expert_lso" if lso else "expert_ken"])
            session.commit()
            found["fresh_device"] = str(device.id)
            detach(session)
        if "{fresh_user}" in path and session is not None:
            person = make_user(session, role="field_expert", projects=[project])
            session.commit()
            found["fresh_user"] = str(person.id)
            detach(session)
        if "{fresh_newcomer}" in path and session is not None:
            # a field expert of this side's country given no project yet: giving them the
            # side's project changes their scope
            person = make_user(session, role="field_expert", countries=[side], projects=[])
            session.commit()
            found["fresh_newcomer"] = str(person.id)
            detach(session)
        if "{fresh_activity}" in path and session is not None:
            # a Kenyan one named like the Kenyan world's (texts): a refusal must not tell it
            title = {} if lso else {"title": self.activity_ken.title}
            activity = make_activity(
                session, self.project_lso if lso else self.project_ken, **title
            )
            session.commit()
            found["fresh_activity"] = str(activity.id)
            detach(session)
        if "{fresh_target}" in path and session is not None:
            target = Target(
                project_id=project.id, indicator="TRAININGS", period=_month(found), value=4
            )
            session.add(target)
            session.commit()
            found["fresh_target"] = str(target.id)
            detach(session)
        if "{fresh_site}" in path and session is not None:
            # a site this side's field expert added on a tablet: waiting for approval
            site = make_site(
                session,
                project,
                name=f"Pending plot {found['n']}",
                status="pending",
                created_by_id=self.users["expert_lso" if lso else "expert_ken"].id,
            )
            session.commit()
            found["fresh_site"] = str(site.id)
            detach(session)
        if "{fresh_observation}" in path and session is not None:
            observation = make_observation(
                session, self.project_lso if lso else self.project_ken, self.form
            )
            session.commit()
            found["fresh_observation"] = str(observation.id)
            detach(session)
        return found

    def texts(self, side: str) -> dict[str, str]:
        """What names the side's records on a page (not their ids)."""
        project, activity, _ = self._side(side)
        return {
            "project": project.name,
            "project_code": project.code,
            "site": (self.site_lso if side == "LSO" else self.site_ken).name,
            "activity": activity.title,
            "officer": self.users["officer_lso" if side == "LSO" else "officer_ken"].username,
        }

    def kenyan_ids(self) -> set[str]:
        """Ids that must never reach the Lesotho people."""
        return {
            str(self.project_ken.id),
            str(self.site_ken.id),
            str(self.target_ken.id),
            str(self.activity_ken.id),
            str(self.observation_ken.id),
            str(self.users["expert_ken"].id),
            str(self.users["officer_ken"].id),
            str(self.devices["KEN"]),
            str(self.forms["KEN"]),
            str(self.observations["KEN"]),
            str(self.photos["KEN"]),
            str(self.conflicts["KEN"]),
            self.project_ken.code,
            self.users["expert_ken"].username,
            # the Kenyan project's own form: its code, in its indicator's too (docs/roles.md:
            # a project form outside the caller's scope is unknown to it)
            self.form_codes["KEN"],
        }


def _call(
    client: TestClient,
    world: MatrixWorld,
    route: Route,
    role: str,
    side: str,
    session: Session | None = None,
):
    values = world.values(side, session, route.path)
    path = route.path.format(**values)
    headers = {} if role == "anonymous" else world.auth(role)
    body = route.body(values) if route.body else None
    if route.content is not None:
        return client.request(
            route.method, path, headers={**headers, **route.headers}, content=route.content
        )
    if route.files is not None:
        return client.request(
            route.method,
            path,
            headers=headers,
            files=route.files(values),
            data=route.form(values) if route.form else None,
        )
    return client.request(
        route.method,
        path,
        headers=headers,
        params={k: v.format(**values) for k, v in route.params.items()},
        json=body if route.method != "GET" else None,
    )


# The world is built once per backend and test process, then put back before each test: a copy
# of its SQLite file, or its rows inserted again into PostgreSQL (building it through the
# services took longer than most tests here). Tests read its objects and never change them;
# whatever a test writes is gone before the next one.


def _seed(engine: Engine, files: Path) -> MatrixWorld:
    with Session(write_engine(engine)) as session:
        world = MatrixWorld(session, files)
        # The people's tokens outlive a slow test run (60 minutes by default).
        session.execute(update(AccessToken).values(expires_at=utcnow() + timedelta(days=2)))
        session.commit()
    return world


@pytest.fixture(scope="session")
def sqlite_matrix(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, MatrixWorld]:
    folder = tmp_path_factory.mktemp("matrix")
    path = folder / "world.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    world = _seed(engine, folder / "attachments")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path, folder / "attachments", world


@pytest.fixture(scope="session")
def pg_matrix(
    pg_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Snapshot, Path, MatrixWorld]:
    files = tmp_path_factory.mktemp("matrix-pg") / "attachments"
    _truncate_all(pg_engine)
    world = _seed(pg_engine, files)
    return take_snapshot(pg_engine), files, world


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """As the suite's ``db_url``, but the database already holds the matrix's world."""
    if request.param == "sqlite":
        template, _, _ = request.getfixturevalue("sqlite_matrix")
        path = tmp_path / "pilotmon.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
    else:
        engine: Engine = request.getfixturevalue("pg_engine")
        snapshot, _, _ = request.getfixturevalue("pg_matrix")
        restore_snapshot(engine, snapshot)
        yield engine.url.render_as_string(hide_password=False)


@pytest.fixture
def world(request: pytest.FixtureRequest, db_url: str, settings: Settings) -> MatrixWorld:
    """The matrix's world, its photos' bytes in the app's attachments folder."""
    seeded = "sqlite_matrix" if db_url.startswith("sqlite") else "pg_matrix"
    _, files, found = request.getfixturevalue(seeded)
    shutil.copytree(files, settings.attachments_dir, dirs_exist_ok=True)
    seeded_world: MatrixWorld = found
    return seeded_world


@pytest.mark.parametrize("route", READS, ids=str)
def test_reads(client: TestClient, world: MatrixWorld, route: Route) -> None:
    failures = []
    for role in API_ROLES:
        response = _call(client, world, route, role, "LSO")
        if response.status_code != route.expect[role]:
            failures.append(
                f"{role} in scope: {response.status_code} (expected "
                f"{route.expect[role]}) {response.text[:200]}"
            )
        if role in SCOPED_ROLES and response.status_code == 200:
            leaked = {i for i in world.kenyan_ids() if i in response.text}
            if leaked:
                failures.append(f"{role} got Kenyan records: {sorted(leaked)}")
    for role, status in route.other.items():
        response = _call(client, world, route, role, "KEN")
        if response.status_code != status:
            failures.append(f"{role} out of scope: {response.status_code} (expected {status})")
    assert not failures, f"{route}:\n" + "\n".join(failures)


@pytest.mark.parametrize("route", WRITES, ids=str)
def test_writes(client: TestClient, session: Session, world: MatrixWorld, route: Route) -> None:
    calls = [(role, "LSO", route.expect[role]) for role in API_ROLES]
    calls += [(role, "KEN", status) for role, status in route.other.items()]
    failures = []
    for role, side, status in calls:
        response = _call(client, world, route, role, side, session)
        where = "in scope" if side == "LSO" else "out of scope"
        if response.status_code != status:
            failures.append(
                f"{role} {where}: {response.status_code} (expected {status}) {response.text[:200]}"
            )
        elif status >= 400 and not response.json().get("detail"):
            failures.append(f"{role} {where}: {status} without a reason in 'detail'")
    assert not failures, f"{route}:\n" + "\n".join(failures)


# --- people who reach beyond the caller's countries ----------------------------------------
# Whoever holds a person's account or one of their tablets reaches every country and project of
# that person, so issuing their enrolment codes, revoking their tablets and changing their
# account need all of those: the Lesotho officer sees these two people but may manage neither.
# Each case runs through the API and through the dashboard's forms.

BEYOND = ("officer_lso_ken", "expert_lso_ken")


class ReachWorld:
    """The matrix's world and two people who also work in Kenya, each with a tablet."""

    def __init__(self, session: Session, world: MatrixWorld) -> None:
        from tests.factories import make_user

        self.auth, self.tokens = world.auth, world.tokens
        self.users, self.devices = world.users, world.devices
        self.beyond = {
            "officer_lso_ken": make_user(session, role="country_officer", countries=["LSO", "KEN"]),
            "expert_lso_ken": make_user(
                session, role="field_expert", projects=[world.project_lso, world.project_ken]
            ),
        }
        self.beyond_devices = {
            name: make_device(session, person)[0].id for name, person in self.beyond.items()
        }
        session.commit()
        detach(session)


def _api_enrol_code(client: TestClient, world: ReachWorld, person: str, role: str) -> Any:
    return client.post(
        "/api/v1/devices/enrol-codes",
        json={"username": world.beyond[person].username},
        headers=world.auth(role),
    )


def _api_revoke(client: TestClient, world: ReachWorld, person: str, role: str) -> Any:
    device = world.beyond_devices[person]
    return client.post(f"/api/v1/devices/{device}/revoke", headers=world.auth(role))


def _api_edit(client: TestClient, world: ReachWorld, person: str, role: str) -> Any:
    return client.patch(
        f"/api/v1/users/{world.beyond[person].id}",
        json={"password": "a new long passphrase"},
        headers=world.auth(role),
    )


def _dashboard(client: TestClient, world: ReachWorld, role: str) -> str:
    """Sign the browser in as ``role``; the CSRF token of the tablets page."""
    client.cookies.clear()
    client.cookies.set("pilotmon_session", world.tokens[role])
    page = client.get("/tablets")
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _dashboard_enrol(client: TestClient, world: ReachWorld, person: str, role: str) -> Any:
    token = _dashboard(client, world, role)
    return client.post(
        "/tablets/enrol",
        data={"csrf_token": token, "username": world.beyond[person].username},
        follow_redirects=False,
    )


def _dashboard_revoke(client: TestClient, world: ReachWorld, person: str, role: str) -> Any:
    token = _dashboard(client, world, role)
    device = world.beyond_devices[person]
    return client.post(
        f"/tablets/{device}/revoke", data={"csrf_token": token}, follow_redirects=False
    )


# (name, call, what the officer of Lesotho gets, what an admin gets)
REACH_CASES = (
    ("api enrol code", _api_enrol_code, 403, 201),
    ("api revoke", _api_revoke, 403, 200),
    ("api edit", _api_edit, 403, 200),
    ("dashboard enrol", _dashboard_enrol, 403, 200),
    ("dashboard revoke", _dashboard_revoke, 403, 303),
)


@pytest.mark.parametrize("person", BEYOND)
@pytest.mark.parametrize("case", REACH_CASES, ids=lambda c: c[0])
def test_people_reaching_beyond_the_officer(
    client: TestClient,
    session: Session,
    world: MatrixWorld,
    case: tuple[Any, ...],
    person: str,
) -> None:
    from server.accounts.models import Device, EnrolmentCode
    from tests.factories import fresh

    name, call, officer_status, admin_status = case
    reach = ReachWorld(session, world)
    refused = call(client, reach, person, "officer_lso")
    assert refused.status_code == officer_status, refused.text[:300]
    if name.startswith("api"):
        assert refused.json()["code"] == "person_out_of_scope"
        assert "KEN" in refused.json()["detail"]
    else:
        assert "KEN" in refused.text
    # Nothing half-done: no code issued, the tablet still works, the password unchanged.
    assert rows(session, select(EnrolmentCode)) == []
    assert fresh(session, Device, reach.beyond_devices[person]).revoked_at is None
    for role in ("hq", "expert_lso"):
        if name.startswith("api"):
            assert call(client, reach, person, role).status_code == 403
    allowed = call(client, reach, person, "admin")
    assert allowed.status_code == admin_status, allowed.text[:300]
    client.cookies.clear()


def test_the_tablets_page_offers_only_people_the_officer_may_manage(
    client: TestClient, session: Session, world: MatrixWorld
) -> None:
    reach = ReachWorld(session, world)
    _dashboard(client, reach, "officer_lso")
    html = client.get("/tablets").text
    client.cookies.clear()
    options = set(re.findall(r'<option value="([^"]+)"', html))
    assert reach.users["expert_lso"].username in options
    assert not {p.username for p in reach.beyond.values()} & options
    for device in reach.beyond_devices.values():
        assert f"/tablets/{device}/revoke" not in html
    assert f"/tablets/{reach.devices['LSO']}/revoke" in html


def api_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route under /api/v1, nested routers included."""
    try:  # FastAPI ≥ 0.13x keeps included routers nested; this walks them.
        from fastapi.routing import iter_route_contexts

        contexts: Any = iter_route_contexts(app.routes)
    except ImportError:  # older FastAPI flattens them into app.routes
        contexts = app.routes
    found: set[tuple[str, str]] = set()
    for route in contexts:
        path = getattr(route, "path", None) or ""
        if path.startswith("/api/v1"):
            found.update((method, path) for method in getattr(route, "methods", None) or ())
    return sorted(found)


def test_every_api_route_is_in_the_matrix(client: TestClient) -> None:
    """A new /api/v1 route, sync and photos included, must get a row (or be PUBLIC)."""
    listed = {(r.method, re.sub(r"\{[^}]+\}", "{}", r.path)) for r in ROUTES}
    routes = api_routes(client.app)
    assert len(routes) > 30
    missing = [
        f"{method} {path}"
        for method, path in routes
        if (method, path) not in PUBLIC and (method, re.sub(r"\{[^}]+\}", "{}", path)) not in listed
    ]
    assert not missing, "routes without a row in ROUTES: " + ", ".join(missing)


def test_a_tablet_posts_only_its_own_status(
    client: TestClient, session: Session, world: MatrixWorld
) -> None:
    """Whatever tablet its body names, a status lands on the token's tablet (docs/roles.md)."""
    response = client.post(
        "/api/v1/sync/status",
        json={**STATUS_BODY, "device_id": str(world.devices["KEN"])},
        headers=world.auth(TABLET),
    )
    assert response.status_code == 200, response.text
    filed = {row.device_id for row in rows(session, select(DeviceStatus))}
    assert filed == {world.devices["LSO"]}


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _m: str(uuid.uuid4()), path)


def test_no_route_is_open_by_accident(client: TestClient) -> None:
    """Without credentials, every /api/v1 route outside PUBLIC answers 401, nothing else."""
    open_routes = []
    routes = [(m, p) for m, p in api_routes(client.app) if (m, p) not in PUBLIC]
    assert len(routes) > 30
    for method, path in routes:
        response = client.request(
            method,
            _sample_path(path),
            content=json.dumps({}),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code != 401:
            open_routes.append(f"{method} {path} -> {response.status_code}")
    assert not open_routes, "routes answering without credentials: " + ", ".join(open_routes)


def test_the_public_routes_are_public(client: TestClient) -> None:
    assert client.get("/api/v1/health").status_code in (200, 503)
    assert (
        client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"}).status_code
        == 401
    )
    assert client.post("/api/v1/devices/enrol", json={}).status_code == 422


# --- the dashboard (server/dashboard/routes.py), signed in by the session cookie -----------------
# Every dashboard route has a row in one of the tables below or is in DASHBOARD_PUBLIC, with why
# (test_every_dashboard_route_is_in_the_matrix): PAGES, the pages that answer with files and the
# results pages; DASHBOARD_FORMS, the forms pages; DASHBOARD_PAGES, the others. Each is called by
# the API's six callers: anonymous visitors, and the Lesotho tablet's device token put in the
# session cookie, are sent to sign in (GET: 303 to /login) or refused (POST: 401); the people as
# docs/roles.md says, in scope (a Lesotho record) and out of it (its Kenyan twin, ``other``).

DASHBOARD_CALLERS = (*ROLES, TABLET)
NOT_SIGNED_IN = ("anonymous", TABLET)

# The dashboard's routes anyone may call (docs/roles.md#public-routes), and why.
DASHBOARD_PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/"): "sends a signed-in person to /overview, anyone else to /login; shows nothing",
    ("HEAD", "/"): "the same, for uptime monitors",
    ("GET", "/login"): "the sign-in page",
    ("HEAD", "/login"): "the sign-in page, for link checkers",
    ("POST", "/login"): "signing in (its CSRF token comes from a pre-login cookie)",
    ("POST", "/language"): "choosing the language, on the sign-in page too",
    ("MOUNT", "/static"): "the dashboard's stylesheets, scripts and icons",
    ("MOUNT", "/static/api-docs"): "the scripts of the API's description page (/api/v1/docs)",
}


def _sign_in(client: TestClient, world: MatrixWorld, settings: Settings, role: str) -> str:
    """The role's session cookie in the client (none for anonymous; the tablet's device token
    for the tablet); the CSRF token its forms carry (as the dashboard derives it)."""
    client.cookies.clear()
    if role == "anonymous":
        return ""
    token = world.tokens[role]
    client.cookies.set(dashboard_cookies.SESSION_COOKIE, token)
    return dashboard_cookies.csrf_token(secret=settings.secret_key, session_token=token)


@dataclass(frozen=True)
class PageCase:
    path: str
    expect: Mapping[str, int]
    other: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    pdf: bool = False  # the path's {observation} is filled in per side (LSO, or KEN)


def _report_roles(status: int) -> dict[str, int]:
    """Country officers, HQ analysts and admins; field experts 403; anonymous to sign-in."""
    return {
        "anonymous": 303,
        "admin": status,
        "hq": status,
        "officer_lso": status,
        "expert_lso": 403,
        TABLET: 303,
    }


def _all_roles(status: int) -> dict[str, int]:
    """Every signed-in role; anonymous and the tablet to sign-in."""
    return {
        "anonymous": 303,
        "admin": status,
        "hq": status,
        "officer_lso": status,
        "expert_lso": status,
        TABLET: 303,
    }


PAGES: tuple[PageCase, ...] = (
    # the dashboard's results pages (docs/results.md#dashboard-results)
    PageCase("/observations", _all_roles(200)),
    PageCase(
        "/observations/{observation}",
        _all_roles(200),
        other={"officer_lso": 404, "expert_lso": 404},
    ),
    PageCase("/reports", _report_roles(200)),
    PageCase(
        "/reports/quarterly.pdf",
        _report_roles(200),
        other={"officer_lso": 403, "expert_lso": 403},
        params={"quarter": "2025Q1", "country": "{country}"},
        pdf=True,
    ),
)


def _pdf_missing() -> str | None:
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        return f"WeasyPrint cannot load Pango ({exc}): install libpango-1.0-0 libpangoft2-1.0-0"
    return None


@pytest.mark.parametrize("case", PAGES, ids=lambda c: c.path)
def test_dashboard_files(
    client: TestClient, world: MatrixWorld, settings: Settings, case: PageCase
) -> None:
    if case.pdf and (missing := _pdf_missing()):
        pytest.skip(missing)
    calls = [(role, "LSO", case.expect[role]) for role in DASHBOARD_CALLERS]
    calls += [(role, "KEN", status) for role, status in case.other.items()]
    failures = []
    for role, side, status in calls:
        _sign_in(client, world, settings, role)
        params = {k: v.format(country=side) for k, v in case.params.items()}
        observation = world.observation_lso if side == "LSO" else world.observation_ken
        path = case.path.format(observation=observation.id)
        response = client.get(path, params=params, follow_redirects=False)
        if response.status_code != status:
            failures.append(f"{role} {side}: {response.status_code} (expected {status})")
        elif status == 200 and case.pdf and not response.content.startswith(b"%PDF-"):
            failures.append(f"{role} {side}: not a PDF")
    client.cookies.clear()
    assert not failures, f"{case.path}:\n" + "\n".join(failures)


# --- the dashboard's forms pages (docs/results.md#dashboard-forms) ------------------------------
# Read by everyone in scope; written by admins (global forms) and the officers of the project's
# country. Anonymous visitors are sent to sign in (GET 303) or refused (POST 401); a form of a
# project outside the caller's scope is a 404, a project outside it named in a new form a 422.


def _page_roles(status: int, **overrides: int) -> dict[str, int]:
    return {"anonymous": 303, TABLET: 303, **{r: status for r in ROLES[1:]}, **overrides}


def _page_writers(status: int, *, anonymous: int) -> dict[str, int]:
    return {
        "anonymous": anonymous,
        "admin": status,
        "hq": 403,
        "officer_lso": status,
        "expert_lso": 403,
        TABLET: anonymous,
    }


def _editor_form(values: dict[str, str]) -> dict[str, str]:
    return {
        "code": f"MATRIX_DASH_{values['n']}",
        "project": values["project"],
        "title.en": "Matrix form",
        "nfields": "1",
        "nindicators": "0",
        "f0.name": "harvest_kg",
        "f0.type": "decimal",
        "f0.label.en": "Harvest",
        "action": "save",
    }


State = Callable[[Session, dict[str, str]], Any]


@dataclass(frozen=True)
class DashboardRoute:
    method: str
    path: str
    expect: Mapping[str, int]
    other: Mapping[str, int] = field(default_factory=dict)
    data: Callable[[dict[str, str]], dict[str, str]] | None = None
    upload: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
    # Keys of MatrixWorld.texts: what a 200 shows of the Lesotho records, and no other answer may
    # (nor any answer of the Kenyan side: a list filtered by the other country shows nothing).
    shows: tuple[str, ...] = ()
    # What a POST changes, read from the database before and after each call: a refused caller
    # leaves it as it was, an allowed one changes it (so the reading can tell).
    state: State | None = None
    # The (role, side) calls that change ``state``; by default every answer below 400 to a
    # signed-in person (the review queue's bulk approval answers 303 either way).
    changes: frozenset[tuple[str, str]] | None = None
    # Fresh records the form's fields name (the path's are made anyway), e.g. "{fresh_activity}".
    fresh: str = ""

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


NOT_SEEN = {"officer_lso": 404, "expert_lso": 404}


def _reads(statement: Callable[[dict[str, str]], Any]) -> State:
    """A ``state``: the rows of ``statement(values)`` as the database holds them now."""

    def state(session: Session, values: dict[str, str]) -> Any:
        session.expire_all()
        try:
            return list(session.exec(statement(values)).all())
        finally:
            session.rollback()  # no transaction left open (SQLite's write lock)

    return state


def _id(values: dict[str, str], name: str) -> uuid.UUID:
    return uuid.UUID(values[name])


def _count(model: Any, *where: Any) -> Any:
    return select(func.count()).select_from(model).where(*where)


_forms = _reads(lambda w: _count(Form))


def _form_column(column: Any, placeholder: str) -> State:
    return _reads(lambda w: select(column).where(Form.id == _id(w, placeholder)))


DASHBOARD_FORMS: tuple[DashboardRoute, ...] = (
    DashboardRoute("GET", "/forms", _page_roles(200)),
    DashboardRoute("GET", "/forms/new", _page_writers(200, anonymous=303)),
    DashboardRoute("GET", "/forms/{form}", _page_roles(200), other=NOT_SEEN),
    DashboardRoute(
        "GET", "/forms/{fresh_draft_form}/edit", _page_writers(200, anonymous=303), other=NOT_SEEN
    ),
    DashboardRoute(
        "POST",
        "/forms/new",
        _page_writers(303, anonymous=401),
        other={"officer_lso": 422, "expert_lso": 403},
        data=_editor_form,
        state=_forms,
    ),
    DashboardRoute(
        "POST",
        "/forms/import",
        _page_writers(303, anonymous=401),
        other={"officer_lso": 422, "expert_lso": 422},
        data=lambda w: {"project": w["project_code"]},
        upload=True,
        state=_forms,
    ),
    DashboardRoute(
        "POST",
        "/forms/{fresh_draft_form}/edit",
        _page_writers(303, anonymous=401),
        other=NOT_SEEN,
        data=lambda w: {**_editor_form(w), "title.en": "Renamed"},
        state=_form_column(Form.title, "fresh_draft_form"),
    ),
    *(
        DashboardRoute(
            "POST",
            f"/forms/{{{kind}}}/{action}",
            _page_writers(303, anonymous=401),
            other=NOT_SEEN,
            state=state,
        )
        for kind, action, state in (
            ("fresh_draft_form", "publish", _form_column(Form.status, "fresh_draft_form")),
            ("fresh_form", "new-version", _forms),
            ("fresh_form", "retire", _form_column(Form.status, "fresh_form")),
        )
    ),
)


# --- the dashboard's other pages and forms --------------------------------------------------------


def _signed_in(status: int, **overrides: int) -> dict[str, int]:
    """``status`` for every person; POSTs of callers not signed in are refused (401)."""
    return {"anonymous": 401, TABLET: 401, **{r: status for r in ROLES[1:]}, **overrides}


def _dashboard_managers(status: int, **overrides: int) -> dict[str, int]:
    """Admins and the Lesotho officer; HQ and the field expert 403; POSTs not signed in 401."""
    return _signed_in(403, admin=status, officer_lso=status, **overrides)


_activity_status = _reads(
    lambda w: select(Activity.status).where(Activity.id == _id(w, "fresh_activity"))
)

_site_status = _reads(lambda w: select(Site.status).where(Site.id == _id(w, "fresh_site")))

DASHBOARD_PAGES: tuple[DashboardRoute, ...] = (
    DashboardRoute(
        "POST",
        "/logout",
        _signed_in(303),
        state=_reads(lambda w: _count(AccessToken, col(AccessToken.revoked_at).is_not(None))),
    ),
    DashboardRoute("GET", "/overview", _page_roles(200)),
    # lists filtered by the other country (the Kenyan side's calls): nothing of theirs either.
    # A filter is not chosen from the records' names: the page repeats it (next=…).
    # The overview says another office's country is not theirs (400, next to its filter) and
    # shows their own countries instead.
    DashboardRoute(
        "GET",
        "/overview",
        _page_roles(200),
        other={"officer_lso": 400, "expert_lso": 400},
        params={"country": "{country}"},
    ),
    DashboardRoute("GET", "/projects", _page_roles(200), shows=("project",)),
    DashboardRoute(
        "GET", "/projects/{project}", _page_roles(200), other=NOT_SEEN, shows=("project", "site")
    ),
    # the review queue: everyone reads it; admins and officers approve (each activity refused
    # is named in the notice, the page still answers 303). Filtered by another office's country
    # it names the filter it cannot apply (422, beside the field) instead of an empty queue.
    DashboardRoute(
        "GET",
        "/review",
        _page_roles(200),
        other={"officer_lso": 422, "expert_lso": 422},
        params={"country": "{country}"},
        shows=("activity",),
    ),
    DashboardRoute(
        "POST",
        "/review/approve",
        _signed_in(303),
        other={"officer_lso": 303, "expert_lso": 303},
        data=lambda w: {"activity_id": w["fresh_activity"]},
        fresh="{fresh_activity}",
        state=_activity_status,
        changes=frozenset({("admin", "LSO"), ("officer_lso", "LSO")}),
    ),
    DashboardRoute(
        "GET", "/activities/{activity}", _page_roles(200), other=NOT_SEEN, shows=("activity",)
    ),
    DashboardRoute(
        "POST",
        "/activities/{fresh_activity}/review",
        _dashboard_managers(303),
        other=NOT_SEEN,
        data=lambda w: {"action": "approve"},
        state=_activity_status,
    ),
    DashboardRoute(
        "POST",
        "/conflicts/{fresh_conflict}/resolve",
        _dashboard_managers(303),
        other=NOT_SEEN,
        data=lambda w: {"keep": "device"},
        state=_reads(
            lambda w: select(SyncConflict.status).where(SyncConflict.id == _id(w, "fresh_conflict"))
        ),
    ),
    # a sync conflict of any kind on its own page: read by everyone in scope (as the API's
    # GET /api/v1/conflicts/{id}); settled (above) by admins and the project's country officer
    DashboardRoute("GET", "/conflicts/{conflict}", _page_roles(200), other=NOT_SEEN),
    DashboardRoute("GET", "/attachments/{photo}", _page_roles(200), other=NOT_SEEN),
    DashboardRoute(
        "POST",
        "/observations/{fresh_observation}/review",
        _dashboard_managers(303),
        other=NOT_SEEN,
        data=lambda w: {"action": "approve"},
        state=_reads(
            lambda w: select(Observation.status).where(
                Observation.id == _id(w, "fresh_observation")
            )
        ),
    ),
    # exports: nothing of another country in the files either
    DashboardRoute("GET", "/exports", _page_roles(200)),
    # another country's activities or figures are refused on the form's country field, never
    # an empty file or zeros
    DashboardRoute(
        "GET",
        "/exports/download",
        _page_roles(200),
        other={"officer_lso": 400, "expert_lso": 400},
        params={"format": "activities-csv", "status": "submitted", "country": "{country}"},
        shows=("activity",),
    ),
    DashboardRoute(
        "GET",
        "/exports/download",
        _page_roles(200),
        # another country's figures are refused on the form's country field, never zeros
        other={"officer_lso": 400, "expert_lso": 400},
        params={
            "format": "csv",
            "indicator": "PARTICIPANTS",
            "group_by": "project",
            "country": "{country}",
        },
        shows=("project_code",),
    ),
    # a form's observations from the observations page: those in scope; another country's
    # project is refused on the page's project field, never an empty file
    DashboardRoute(
        "GET",
        "/observations/download",
        _page_roles(200),
        other={"officer_lso": 400, "expert_lso": 400},
        params={"form": "T_MATRIX", "project": "{project}", "format": "csv"},
        shows=("project_code",),
    ),
    # a project's own form: another country's is refused as an unknown form, never a file
    DashboardRoute(
        "GET",
        "/observations/download",
        _page_roles(200),
        other={"officer_lso": 400, "expert_lso": 400},
        params={"form": "{project_form}", "format": "xlsx"},
    ),
    # personal access tokens: each person's own
    DashboardRoute("GET", "/tokens", _page_roles(200)),
    DashboardRoute(
        "POST",
        "/tokens",
        _signed_in(200),
        data=lambda w: {"name": f"Matrix feed {w['n']}"},
        state=_reads(lambda w: _count(PersonalToken)),
    ),
    DashboardRoute(
        "POST",
        "/tokens/{fresh_token}/revoke",
        _signed_in(404, expert_lso=303),
        other=NOT_SEEN,
        state=_reads(
            lambda w: select(PersonalToken.revoked_at).where(
                PersonalToken.id == _id(w, "fresh_token")
            )
        ),
    ),
    # a project's targets and baselines, on its page: admins and the country's officers
    DashboardRoute(
        "POST",
        "/projects/{project}/targets",
        _dashboard_managers(303),
        other=NOT_SEEN,
        data=lambda w: {
            "indicator": "PARTICIPANTS",
            "kind": "target",
            "period": _month(w),
            "value": "1 200",
        },
        state=_reads(lambda w: _count(Target, Target.project_id == _id(w, "project"))),
    ),
    DashboardRoute(
        "POST",
        "/projects/{project}/targets/{target}",
        _dashboard_managers(303),
        other=NOT_SEEN,
        data=lambda w: {"value": w["n"]},
        state=_reads(lambda w: select(Target.value).where(Target.id == _id(w, "target"))),
    ),
    DashboardRoute(
        "POST",
        "/projects/{project}/targets/{fresh_target}/delete",
        _dashboard_managers(303),
        other=NOT_SEEN,
        state=_reads(lambda w: _count(Target, Target.id == _id(w, "fresh_target"))),
    ),
    # a site added on a tablet, approved or rejected on the project page or the review queue:
    # admins and the country's officers (as PATCH /api/v1/sites/{id})
    DashboardRoute(
        "POST",
        "/sites/{fresh_site}/review",
        _dashboard_managers(303),
        other=NOT_SEEN,
        data=lambda w: {"action": "approve"},
        state=_site_status,
    ),
    DashboardRoute(
        "POST",
        "/sites/{fresh_site}/review",
        _dashboard_managers(303),
        other=NOT_SEEN,
        data=lambda w: {"action": "reject"},
        state=_site_status,
    ),
    # closing a reporting quarter, on the Reports page: admins and the country's officers
    DashboardRoute(
        "POST",
        "/reports/close",
        _dashboard_managers(303),
        other={"officer_lso": 403, "expert_lso": 403},
        data=lambda w: {
            "country": w["country"],
            "quarter": f"{2000 + int(w['n']) // 4 % 26}Q{int(w['n']) % 4 + 1}",
        },
        state=_reads(lambda w: _count(ClosedPeriod, ClosedPeriod.country == w["country"])),
    ),
    # tablets: enrolment codes and revocations by admins and officers (docs/roles.md#tablets)
    DashboardRoute("GET", "/tablets", _page_roles(200)),
    DashboardRoute(
        "POST",
        "/tablets/enrol",
        _dashboard_managers(200),
        other={"officer_lso": 422, "expert_lso": 403},
        data=lambda w: {"username": w["username"]},
        state=_reads(lambda w: _count(EnrolmentCode, EnrolmentCode.user_id == _id(w, "user"))),
    ),
    DashboardRoute(
        "POST",
        "/tablets/{fresh_device}/revoke",
        _dashboard_managers(303),
        other=NOT_SEEN,
        state=_reads(
            lambda w: select(Device.revoked_at).where(Device.id == _id(w, "fresh_device"))
        ),
    ),
    # people: read by admins, HQ and officers (their countries); changed by admins and officers.
    # A field expert sees no one else: another person's account is a 404 to it, as in the API.
    DashboardRoute(
        "GET",
        "/people",
        _page_roles(200, expert_lso=403),
        params={"q": "countryofficer"},  # both countries' officers
        shows=("officer",),
    ),
    DashboardRoute(
        "POST",
        "/people",
        _dashboard_managers(303),
        other={"officer_lso": 422, "expert_lso": 403},
        data=lambda w: {
            "username": f"matrix{w['n']}",
            "role": "field_expert",
            "projects": w["project_code"],
            "password": "a long matrix passphrase",
        },
        state=_reads(lambda w: _count(User, User.username == f"matrix{w['n']}")),
    ),
    DashboardRoute(
        "GET",
        "/people/{officer}",
        _page_roles(200, expert_lso=403),
        other={"officer_lso": 404, "expert_lso": 403},
        shows=("officer",),
    ),
    DashboardRoute(
        "POST",
        "/people/{fresh_user}/active",
        _dashboard_managers(303, expert_lso=404),
        other=NOT_SEEN,
        data=lambda w: {"active": "0"},
        state=_reads(lambda w: select(User.is_active).where(User.id == _id(w, "fresh_user"))),
    ),
    DashboardRoute(
        "POST",
        "/people/{fresh_newcomer}/scope",
        _dashboard_managers(303, expert_lso=404),
        other=NOT_SEEN,
        data=lambda w: {"projects": w["project_code"]},
        state=_reads(
            lambda w: select(UserProject.project_id).where(
                UserProject.user_id == _id(w, "fresh_newcomer")
            )
        ),
    ),
    DashboardRoute(
        "POST",
        "/people/{fresh_user}/password",
        _dashboard_managers(303, expert_lso=404),
        other=NOT_SEEN,
        data=lambda w: {"password": "another long passphrase"},
        state=_reads(lambda w: select(User.password_hash).where(User.id == _id(w, "fresh_user"))),
    ),
)


def _dashboard_call(
    client: TestClient,
    world: MatrixWorld,
    settings: Settings,
    route: DashboardRoute,
    role: str,
    values: dict[str, str],
) -> Any:
    csrf = _sign_in(client, world, settings, role)
    path = route.path.format(**values)
    if route.method == "GET":
        params = {k: v.format(**values) for k, v in route.params.items()}
        return client.get(path, params=params, follow_redirects=False)
    data = {
        dashboard_cookies.CSRF_FIELD: csrf,
        **(route.data(values) if route.data else {}),
    }
    files = {"file": ("form.xlsx", _xlsform(f"matrix_{values['n']}"))} if route.upload else None
    return client.post(path, data=data, files=files, follow_redirects=False)


def _check_dashboard_route(
    client: TestClient,
    session: Session,
    world: MatrixWorld,
    settings: Settings,
    route: DashboardRoute,
) -> list[str]:
    """What goes wrong when the dashboard's callers call ``route``."""
    calls = [(role, "LSO", route.expect[role]) for role in DASHBOARD_CALLERS]
    calls += [(role, "KEN", status) for role, status in route.other.items()]
    kenyan = world.kenyan_ids() | set(world.texts("KEN").values())
    failures = []
    for role, side, status in calls:
        who = f"{role} {side}"
        values = world.values(side, session, route.path + route.fresh)
        before = route.state(session, values) if route.state else None
        response = _dashboard_call(client, world, settings, route, role, values)
        if response.status_code != status:
            failures.append(f"{who}: {response.status_code} (expected {status})")
            continue
        # what the person reads: the page, or the notice a redirect carries to the next one
        notice = dashboard_cookies.read_notice(
            secret=settings.secret_key,
            value=response.cookies.get(dashboard_cookies.NOTICE_COOKIE),
        )
        text = response.text + (json.dumps(notice, ensure_ascii=False) if notice else "")
        location = response.headers.get("location", "")
        if role in NOT_SIGNED_IN and route.method == "GET" and not location.startswith("/login?"):
            failures.append(f"{who}: not sent to sign in ({response.headers})")
        if role in SCOPED_ROLES and status < 400:
            leaked = {i for i in kenyan if i in text}
            if leaked:
                failures.append(f"{who} got Kenyan records: {sorted(leaked)}")
        for key in route.shows:
            shown = world.texts(side)[key] in text
            if shown != (status == 200 and side == "LSO"):
                failures.append(f"{who}: {status}, {'shows' if shown else 'without'} {key}")
        if route.state is not None:
            changed = route.state(session, values) != before
            allowed = (
                (role, side) in route.changes
                if route.changes is not None
                else status < 400 and role not in NOT_SIGNED_IN
            )
            if changed != allowed:
                failures.append(f"{who}: {status}, {'changed' if changed else 'changed nothing'}")
    client.cookies.clear()
    return [f"{route} {failure}" for failure in failures]


@pytest.mark.parametrize(
    "routes",
    [[r for r in DASHBOARD_FORMS if r.method == "GET"], [r for r in DASHBOARD_FORMS if r.writes]],
    ids=["pages", "posts"],
)
def test_dashboard_forms_pages(
    client: TestClient,
    session: Session,
    world: MatrixWorld,
    settings: Settings,
    routes: list[DashboardRoute],
) -> None:
    """As test_dashboard_pages, for the rows of DASHBOARD_FORMS."""
    failures = [
        failure
        for route in routes
        for failure in _check_dashboard_route(client, session, world, settings, route)
    ]
    assert not failures, "\n".join(failures)


DASHBOARD_READS = [r for r in DASHBOARD_PAGES if not r.writes]
# Signing out ends each person's session: last.
DASHBOARD_WRITES = sorted(
    (r for r in DASHBOARD_PAGES if r.writes), key=lambda r: r.path == "/logout"
)


@pytest.mark.parametrize("routes", [DASHBOARD_READS, DASHBOARD_WRITES], ids=["pages", "posts"])
def test_dashboard_pages(
    client: TestClient,
    session: Session,
    world: MatrixWorld,
    settings: Settings,
    routes: list[DashboardRoute],
) -> None:
    """The rows of DASHBOARD_PAGES, the pages in one test and the forms in another: each test's
    new app costs (FastAPI readies its routes at their first request), and each form's row
    works on fresh records of its own."""
    failures = [
        failure
        for route in routes
        for failure in _check_dashboard_route(client, session, world, settings, route)
    ]
    assert not failures, "\n".join(failures)


def dashboard_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route outside /api/v1, nested routers included; a mounted app
    (static files) as ("MOUNT", path)."""
    try:  # as api_routes: FastAPI ≥ 0.13x keeps included routers nested
        from fastapi.routing import iter_route_contexts

        contexts: Any = iter_route_contexts(app.routes)
    except ImportError:
        contexts = app.routes
    found: set[tuple[str, str]] = set()
    for route in contexts:
        path = getattr(route, "path", None) or ""
        if path == "/api/v1" or path.startswith("/api/v1/"):
            continue
        methods = getattr(route, "methods", None)
        found.update((method, path) for method in methods or ("MOUNT",))
    return sorted(found)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_dashboard_route_is_in_the_matrix(client: TestClient) -> None:
    """A new dashboard page or form must get a row (or be DASHBOARD_PUBLIC, with why); a row
    whose route is gone tests nothing and must go too."""
    listed = {(r.method, _shape(r.path)) for r in (*DASHBOARD_FORMS, *DASHBOARD_PAGES)}
    listed |= {("GET", _shape(p.path)) for p in PAGES}
    public = set(DASHBOARD_PUBLIC)
    routes = {(method, _shape(path)) for method, path in dashboard_routes(client.app)}
    assert len(routes) > 40
    missing = sorted(f"{m} {p}" for m, p in routes - listed - public)
    assert not missing, "dashboard routes without a row in the matrix: " + ", ".join(missing)
    stale = sorted(f"{m} {p}" for m, p in (listed | public) - routes)
    assert not stale, "matrix rows of dashboard routes that no longer exist: " + ", ".join(stale)
    assert not listed & public, "a route both public and in the matrix"


def test_no_dashboard_route_is_open_by_accident(client: TestClient) -> None:
    """Without a session, every dashboard route outside DASHBOARD_PUBLIC sends a GET to sign in
    and refuses a POST (401), whatever the path's ids."""
    routes = [(m, p) for m, p in dashboard_routes(client.app) if (m, p) not in DASHBOARD_PUBLIC]
    assert len(routes) > 30
    open_routes = []
    for method, path in routes:
        response = client.request(method, _sample_path(path), follow_redirects=False)
        expected = 303 if method == "GET" else 401
        if response.status_code != expected or (
            method == "GET" and not response.headers["location"].startswith("/login?next=")
        ):
            open_routes.append(f"{method} {path} -> {response.status_code}")
    assert not open_routes, "dashboard routes answering without a session: " + ", ".join(
        open_routes
    )


def test_the_public_dashboard_routes_are_public(client: TestClient) -> None:
    home = client.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/login")
    assert client.head("/", follow_redirects=False).status_code == 303
    login = client.get("/login")
    assert login.status_code == 200 and 'name="password"' in login.text
    assert client.head("/login").status_code == 200
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', login.text)
    assert stylesheet is not None and client.get(stylesheet.group(1)).status_code == 200
