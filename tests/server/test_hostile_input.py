"""Hostile input: whatever a client sends, the answer is a clear 4xx, memory stays bounded and
nothing is stored — on the sync push, photo uploads, login and the management API.

A 5xx here is always a bug. The app under test does not re-raise server errors, so a crash shows
as a 500 status in the assertion rather than as a traceback.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlmodel import Session

from server.config import Settings
from shared.errors import ErrorCode
from tests.conftest import app_for
from tests.factories import make_access_token, make_user
from tests.server.sync.conftest import Field, field, mutation  # noqa: F401

PUSH = "/api/v1/sync/push"
ODD_TEXT = [
    "e\u0301\u0301\u0301\u0301",  # stacked combining marks
    "👩🏽‍🌾" * 50,  # a ZWJ emoji sequence
    "\ufeffzero\u200bwidth\u2060",  # BOM, zero-width space, word joiner
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
    "\U0010ffff\U000e0001",  # last code point, tag character
]
REFUSED_TEXT = [
    "nul\x00inside",  # PostgreSQL cannot store NUL
    "bell\x07and\x1bescape",
    "\u202eevil.exe\u202c",  # a right-to-left override: reads otherwise than it is
]


@pytest.fixture
def hostile(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    settings.ensure_data_dir()
    with TestClient(app_for(settings, engine), raise_server_exceptions=False) as client:
        yield client


def stored(engine: Engine) -> dict[str, int]:
    """What a hostile request must leave unchanged."""
    with engine.connect() as conn:
        counts = {
            table: int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())  # noqa: S608
            for table in (
                "activity",
                "attendance",
                "kept_mutation",
                "change",
                "attachment",
                "participant",
                "site",
                "project",
                "user",
                "audit_entry",
            )
        }
        counts["last_seq"] = int(
            conn.execute(text("SELECT coalesce(sum(last_seq), 0) FROM device")).scalar_one()
        )
    return counts


def _headers(field: Field, **extra: str) -> dict[str, str]:  # noqa: F811
    return {**field.headers(), **extra}


def _envelope(field: Field, mutations: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: F811
    return {"protocol": 1, "device_id": str(field.device.id), "mutations": mutations}


CODES = {c.value for c in ErrorCode}


def assert_clear_4xx(response: Any, *statuses: int) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:500])
    body = response.json()
    assert body.get("detail"), body
    assert body.get("code") in CODES, body
    if isinstance(body["detail"], list):
        assert all(
            "field" in e and e.get("code") in CODES and "message" in e for e in body["detail"]
        ), body


# --- push: the envelope ------------------------------------------------------------------------

MALFORMED_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("truncated JSON", b'{"protocol": 1, "device_id": "'),
    ("not JSON", b"<push><protocol>1</protocol></push>"),
    ("not UTF-8", b'{"protocol": 1, "x": "\xff\xfe\xfd"}'),
    ("a JSON string", b'"push"'),
    ("a JSON array", b"[1, 2, 3]"),
    ("null", b"null"),
    ("NaN", b'{"protocol": NaN}'),
    ("huge number", b'{"protocol": 1' + b"0" * 5000 + b"}"),
    ("lone surrogate", b'{"protocol": 1, "device_id": "\\ud800"}'),
]


@pytest.mark.parametrize(("label", "body"), MALFORMED_BODIES, ids=[b[0] for b in MALFORMED_BODIES])
def test_malformed_push_bodies_get_a_clear_4xx_and_store_nothing(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
    label: str,
    body: bytes,
) -> None:
    before = stored(engine)
    response = hostile.post(
        PUSH, content=body, headers=_headers(field, **{"Content-Type": "application/json"})
    )
    assert_clear_4xx(response)
    assert stored(engine) == before


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [200, 5_000, 200_000])
def test_deeply_nested_json_gets_a_4xx(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
    depth: int,
) -> None:
    before = stored(engine)
    record = field.activity()
    body = json.dumps(_envelope(field, [mutation(1, record)]))
    body = body.replace('"notes": ""', f'"notes": "", "extra": {_nested(depth)}')
    response = hostile.post(PUSH, content=body.encode(), headers=_headers(field))
    # Shallow nesting in an unknown field is harmless (ignored); deep nesting is refused.
    if response.status_code == 200:
        assert depth <= 200
        assert response.json()["results"][0]["status"] == "applied"
    else:
        assert_clear_4xx(response)
        assert stored(engine) == before


def test_truncated_and_corrupt_gzip_get_a_4xx(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
) -> None:
    before = stored(engine)
    packed = gzip.compress(json.dumps(_envelope(field, [mutation(1, field.activity())])).encode())
    for body in (packed[: len(packed) // 2], b"\x1f\x8b" + b"\x00" * 40, b"plain, not gzip"):
        response = hostile.post(
            PUSH, content=body, headers=_headers(field, **{"Content-Encoding": "gzip"})
        )
        assert_clear_4xx(response)
    response = hostile.post(
        PUSH, content=packed, headers=_headers(field, **{"Content-Encoding": "br"})
    )
    assert_clear_4xx(response, 415)
    assert stored(engine) == before


def _bomb(inflated: int) -> bytes:
    """A gzip stream of ``inflated`` zero bytes, built without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\x00" * (1 << 20)
    parts = [packer.compress(b'{"protocol": 1, "pad": "')]
    for _ in range(inflated >> 20):
        parts.append(packer.compress(block))
    parts.append(packer.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_refused_within_bounded_memory(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
    settings: Settings,
) -> None:
    bomb = _bomb(512 << 20)  # 512 MiB inflated, about half a megabyte on the wire
    assert len(bomb) < 1 << 20
    before = stored(engine)
    tracemalloc.start()
    try:
        response = hostile.post(
            PUSH, content=bomb, headers=_headers(field, **{"Content-Encoding": "gzip"})
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_clear_4xx(response, 413)
    assert peak < 4 * settings.max_request_bytes + (16 << 20)
    assert stored(engine) == before


def test_an_oversized_push_is_refused_before_it_is_read(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
    settings: Settings,
) -> None:
    before = stored(engine)
    too_big = b'{"protocol": 1, "pad": "' + b"x" * settings.max_request_bytes + b'"}'
    response = hostile.post(PUSH, content=too_big, headers=_headers(field))
    assert_clear_4xx(response, 413)
    assert stored(engine) == before


def test_mislabelled_push_bodies_are_judged_by_their_content(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
) -> None:
    before = stored(engine)
    response = hostile.post(
        PUSH,
        content=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        headers=_headers(field, **{"Content-Type": "application/json"}),
    )
    assert_clear_4xx(response)
    response = hostile.post(
        PUSH,
        content=b"protocol=1&device_id=x",
        headers=_headers(field, **{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert_clear_4xx(response)
    assert stored(engine) == before


WRONG_SHAPES: list[tuple[str, dict[str, Any], str]] = [
    ("mutations not a list", {"mutations": {"seq": 1}}, "mutations"),
    (
        "seq as text",
        {
            "mutations": [
                {
                    "seq": "one",
                    "entity": "activity",
                    "op": "upsert",
                    "id": str(uuid.uuid4()),
                    "data": {},
                }
            ]
        },
        "mutations.0.seq",
    ),
    (
        "seq zero",
        {"mutations": [{"seq": 0, "entity": "activity", "op": "delete", "id": str(uuid.uuid4())}]},
        "mutations.0.seq",
    ),
    (
        "unknown entity",
        {
            "mutations": [
                {"seq": 1, "entity": "user", "op": "upsert", "id": str(uuid.uuid4()), "data": {}}
            ]
        },
        "mutations.0.entity",
    ),
    (
        "id not a uuid",
        {"mutations": [{"seq": 1, "entity": "activity", "op": "delete", "id": "../../etc/passwd"}]},
        "mutations.0.id",
    ),
    (
        "data a list",
        {
            "mutations": [
                {
                    "seq": 1,
                    "entity": "activity",
                    "op": "upsert",
                    "id": str(uuid.uuid4()),
                    "data": [1, 2],
                }
            ]
        },
        "mutations.0.data",
    ),
    ("device id not a uuid", {"device_id": "tablet\x00one"}, "device_id"),
]


@pytest.mark.parametrize(
    ("label", "change", "where"), WRONG_SHAPES, ids=[w[0] for w in WRONG_SHAPES]
)
def test_wrong_shapes_get_422_naming_the_field(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
    label: str,
    change: dict[str, Any],
    where: str,
) -> None:
    before = stored(engine)
    body = {**_envelope(field, []), **change}
    response = hostile.post(PUSH, json=body, headers=_headers(field))
    assert_clear_4xx(response, 422)
    assert any(e["field"].startswith(where) for e in response.json()["detail"]), response.text
    assert stored(engine) == before


def test_a_seq_beyond_64_bits_changes_nothing(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
) -> None:
    before = stored(engine)
    body = _envelope(
        field, [{"seq": 10**40, "entity": "activity", "op": "delete", "id": str(uuid.uuid4())}]
    )
    response = hostile.post(PUSH, json=body, headers=_headers(field))
    assert_clear_4xx(response, 409, 422)  # a seq gap, or refused outright
    assert stored(engine) == before


# --- push: the records inside ------------------------------------------------------------------


def _result(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:500]
    [result] = response.json()["results"]
    return result


def test_a_very_long_title_is_rejected_naming_the_field_and_nothing_is_applied(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
) -> None:
    before = stored(engine)
    record = field.activity(title="T" * 1_000_000)
    result = _result(
        hostile.post(PUSH, json=_envelope(field, [mutation(1, record)]), headers=_headers(field))
    )
    assert result["status"] == "rejected"
    assert any(e["field"] == "title" for e in result["errors"])
    after = stored(engine)
    assert after["activity"] == before["activity"] and after["change"] == before["change"]


@pytest.mark.parametrize("value", REFUSED_TEXT, ids=["NUL", "controls", "bidi override"])
def test_control_characters_are_rejected_not_a_500(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
    value: str,
) -> None:
    before = stored(engine)
    for seq, where in enumerate(("title", "notes"), start=1):
        record = field.activity(**{where: value})
        response = hostile.post(
            PUSH, json=_envelope(field, [mutation(seq, record)]), headers=_headers(field)
        )
        assert response.status_code < 500, response.text[:500]
        if response.status_code == 200:
            result = response.json()["results"][0]
            assert result["status"] == "rejected", result
            assert any(e["field"] == where for e in result["errors"]), result
        else:
            assert_clear_4xx(response)
    assert stored(engine)["activity"] == before["activity"]


def test_odd_but_valid_unicode_is_kept_exactly(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
) -> None:
    records = [field.activity(title=text_[:200], notes=text_ * 3) for text_ in ODD_TEXT]
    mutations = [mutation(n, r) for n, r in enumerate(records, start=1)]
    response = hostile.post(PUSH, json=_envelope(field, mutations), headers=_headers(field))
    assert response.status_code == 200, response.text[:500]
    assert {r["status"] for r in response.json()["results"]} == {"applied"}
    with engine.connect() as conn:
        for record in records:
            title, notes = conn.execute(
                text("SELECT title, notes FROM activity WHERE id = :id"),
                {
                    "id": uuid.UUID(record["id"]).hex
                    if engine.dialect.name == "sqlite"
                    else record["id"]
                },
            ).one()
            assert (title, notes) == (record["title"], record["notes"])


def test_counts_out_of_range_and_strange_numbers_are_rejected(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
) -> None:
    before = stored(engine)
    strange = [10**30, -1, 1.5, "12", True, None]
    for seq, count in enumerate(strange, start=1):
        record = field.activity(
            attendance=[
                {
                    "sex": "female",
                    "age_band": "adult",
                    "category": "farmer",
                    "disability": False,
                    "count": count,
                }
            ]
        )
        result = _result(
            hostile.post(
                PUSH, json=_envelope(field, [mutation(seq, record)]), headers=_headers(field)
            )
        )
        assert result["status"] == "rejected", (count, result)
        assert any(e["field"].startswith("attendance") for e in result["errors"]), result
    assert stored(engine)["activity"] == before["activity"]


# --- photo uploads -----------------------------------------------------------------------------


def _attachment(
    hostile: TestClient,
    field: Field,  # noqa: F811
    *,
    size: int,
    content_type: str = "image/jpeg",
    sha256: str = "0" * 64,
) -> str:
    activity = field.activity()
    attachment_id = str(uuid.uuid4())
    meta = {
        "id": attachment_id,
        "activity_id": activity["id"],
        "sha256": sha256,
        "size": size,
        "content_type": content_type,
        "caption": "",
    }
    response = hostile.post(
        PUSH,
        json=_envelope(field, [mutation(1, activity), mutation(2, meta, entity="attachment")]),
        headers=_headers(field),
    )
    assert response.status_code == 200, response.text[:500]
    assert [r["status"] for r in response.json()["results"]] == ["applied", "applied"], (
        response.text
    )
    return attachment_id


def test_an_oversized_chunk_is_refused(hostile: TestClient, field: Field) -> None:  # noqa: F811
    attachment_id = _attachment(hostile, field, size=4 << 20)
    response = hostile.patch(
        f"/api/v1/attachments/{attachment_id}",
        content=b"\xff\xd8\xff" + b"x" * (2 << 20),
        headers=_headers(field, **{"Upload-Offset": "0"}),
    )
    assert_clear_4xx(response, 413)
    head = hostile.head(f"/api/v1/attachments/{attachment_id}", headers=_headers(field))
    assert head.headers["Upload-Offset"] == "0"


def test_a_mislabelled_upload_is_discarded(
    hostile: TestClient,
    field: Field,  # noqa: F811
    settings: Settings,
) -> None:
    import hashlib

    html = b"<html><script>alert(1)</script></html>"
    attachment_id = _attachment(
        hostile, field, size=len(html), sha256=hashlib.sha256(html).hexdigest()
    )
    response = hostile.patch(
        f"/api/v1/attachments/{attachment_id}",
        content=html,
        headers=_headers(field, **{"Upload-Offset": "0", "Content-Type": "image/jpeg"}),
    )
    assert_clear_4xx(response, 422)
    assert any(e["field"] == "content_type" for e in response.json()["detail"]), response.text
    assert not any(
        p.is_file() and p.read_bytes() == html for p in settings.attachments_dir.rglob("*")
    )
    photo = hostile.get(f"/api/v1/attachments/{attachment_id}", headers=_headers(field))
    assert photo.status_code in (404, 409), photo.status_code


@pytest.mark.parametrize("offset", ["-1", "abc", "1e9", "99999999999999999999999", ""])
def test_bad_upload_offsets_get_a_4xx(
    hostile: TestClient,
    field: Field,  # noqa: F811
    offset: str,
) -> None:
    attachment_id = _attachment(hostile, field, size=10)
    response = hostile.patch(
        f"/api/v1/attachments/{attachment_id}",
        content=b"\xff\xd8\xff",
        headers=_headers(field, **{"Upload-Offset": offset}),
    )
    assert_clear_4xx(response)


def test_uploads_to_unknown_or_malformed_ids_get_a_4xx(hostile: TestClient, field: Field) -> None:  # noqa: F811
    for target in (str(uuid.uuid4()), "not-a-uuid", "..%2F..%2Fetc%2Fpasswd", "%00"):
        response = hostile.patch(
            f"/api/v1/attachments/{target}",
            content=b"\xff\xd8\xff",
            headers=_headers(field, **{"Upload-Offset": "0"}),
        )
        assert 400 <= response.status_code < 500, (target, response.status_code)


# --- login and the management API --------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    [
        "a" * 100_000,
        "admin\x00",
        "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
        *ODD_TEXT,
    ],
)
def test_hostile_logins_get_a_4xx(hostile: TestClient, engine: Engine, username: str) -> None:
    before = stored(engine)
    response = hostile.post(
        "/api/v1/auth/token", data={"username": username, "password": username * 2}
    )
    assert_clear_4xx(response)
    after = stored(engine)
    assert {k: v for k, v in after.items() if k != "audit_entry"} == {
        k: v for k, v in before.items() if k != "audit_entry"
    }


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    admin = make_user(session, role="admin", countries=[])
    token = make_access_token(session, admin)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_malformed_json_on_the_management_api_gets_a_4xx(
    hostile: TestClient,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    before = stored(engine)
    for body in (b"{", b"[" * 100_000, b'{"name": "\\ud800"}', b"\xff\xfe", b"null"):
        response = hostile.post(
            "/api/v1/projects",
            content=body,
            headers={**admin_headers, "Content-Type": "application/json"},
        )
        assert_clear_4xx(response)
    # Not JSON, however it fails (broken, nested past the decoder, not UTF-8 text): one 422
    # ``bad_body`` on the body, as errors.md says, never FastAPI's 400 "error parsing the body".
    for body in (b"{", b"[" * 100_000, b'{"full_name": "\xff"}'):
        response = hostile.patch(
            f"/api/v1/users/{uuid.uuid4()}",
            content=body,
            headers={**admin_headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (body[:20], response.text)
        assert [(e["field"], e["code"]) for e in response.json()["detail"]] == [
            ("body", "bad_body")
        ]
    # Form data that is not (Starlette's 400 "Invalid multipart data."), as schemathesis sent.
    response = hostile.post(
        "/api/v1/forms/import",
        content=b"--7c51\r\nNone--7c51--\r\n",
        headers={**admin_headers, "Content-Type": "multipart/form-data; boundary=7c51"},
    )
    assert response.status_code == 422, response.text
    assert [(e["field"], e["code"]) for e in response.json()["detail"]] == [("body", "bad_body")]
    assert stored(engine) == before


def test_hostile_project_fields_get_422_naming_the_field(
    hostile: TestClient,
    engine: Engine,
    admin_headers: dict[str, str],
) -> None:
    before = stored(engine)
    good = {
        "code": "LSO-X-1",
        "name": "Pilot",
        "kind": "CPP",
        "country": "LSO",
        "thematic_area": "TA1",
        "solutions": ["S1"],
        "partners": [],
        "start_date": "2025-01-01",
        "end_date": "2026-01-01",
    }
    cases = [
        ("name", "N" * 100_000),
        ("name", "nul\x00name"),
        ("country", "L\u0301SO"),
        ("start_date", "2025-02-30"),
        ("solutions", ["S1"] * 10_000),
        ("partners", [{"$gt": ""}]),
    ]
    for where, value in cases:
        response = hostile.post(
            "/api/v1/projects", json={**good, where: value}, headers=admin_headers
        )
        assert_clear_4xx(response, 422)
        fields = [e["field"] for e in response.json()["detail"]]
        assert any(f == where or f.startswith(f"{where}.") for f in fields), (where, fields)
    assert stored(engine) == before


@pytest.mark.parametrize(
    "query",
    [
        "limit=-1",
        "limit=10000000",
        "offset=-5",
        "offset=99999999999999999999",
        "q=%00",
        "status=%F0%9F%A5%94" * 2000,
        "project=not-a-uuid",
        "from=2025-13-45",
    ],
)
def test_hostile_query_strings_get_a_4xx_or_an_empty_answer(
    hostile: TestClient,
    admin_headers: dict[str, str],
    query: str,
) -> None:
    response = hostile.get(f"/api/v1/activities?{query}", headers=admin_headers)
    assert response.status_code < 500, (query, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert_clear_4xx(response)


# --- fuzz: the push endpoint -------------------------------------------------------------------

_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_field_values = {
    "title": st.one_of(st.text(max_size=300), _json),
    "type": st.one_of(st.sampled_from(["demonstration", "farmer_training", "x"]), _json),
    "start_date": st.one_of(st.dates().map(str), st.text(max_size=12), _json),
    "end_date": st.one_of(st.dates().map(str), _json),
    "attendance": st.one_of(
        _json,
        st.lists(
            st.fixed_dictionaries(
                {
                    "sex": st.sampled_from(["female", "male", "?"]),
                    "age_band": st.just("adult"),
                    "category": st.just("farmer"),
                    "disability": st.booleans(),
                    "count": st.one_of(st.integers(-5, 200_000), _json),
                }
            ),
            max_size=3,
        ),
    ),
    "location": _json,
    "participant_ids": _json,
    "site_id": st.one_of(st.uuids().map(str), _json),
}


@st.composite
def _pushes(draw: st.DrawFn) -> dict[str, Any]:
    overrides = draw(
        st.dictionaries(st.sampled_from(sorted(_field_values)), st.just(None), max_size=4)
    )
    values = {name: draw(_field_values[name]) for name in overrides}
    shape = draw(st.sampled_from(["record", "envelope", "mutation"]))
    return {
        "shape": shape,
        "values": values,
        "junk": draw(_json),
        "entity": draw(st.sampled_from(["activity", "participant", "site", "attachment"])),
        "op": draw(st.sampled_from(["upsert", "delete"])),
    }


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_pushes())
def test_fuzzed_pushes_never_get_a_5xx(
    hostile: TestClient,
    field: Field,  # noqa: F811
    engine: Engine,
    case: dict[str, Any],
) -> None:
    with engine.connect() as conn:
        seq = (
            int(
                conn.execute(
                    text("SELECT last_seq FROM device WHERE id = :id"),
                    {
                        "id": field.device.id.hex
                        if engine.dialect.name == "sqlite"
                        else field.device.id
                    },
                ).scalar_one()
            )
            + 1
        )
    record = {**field.activity(), **case["values"]}
    one = mutation(seq, record, entity=case["entity"], op=case["op"])
    if case["shape"] == "mutation":
        one["base_version"] = case["junk"]
    body = _envelope(field, [one])
    if case["shape"] == "envelope":
        body["device_id"] = case["junk"]
    response = hostile.post(
        PUSH, content=json.dumps(body, default=str).encode(), headers=_headers(field)
    )
    assert response.status_code < 500, (case, response.status_code, response.text[:500])
    answer = response.json()
    if response.status_code == 200:
        assert answer["results"][0]["status"] in (
            "applied",
            "rejected",
            "merged",
            "conflict",
            "duplicate",
        )
    else:
        assert answer.get("detail"), answer
