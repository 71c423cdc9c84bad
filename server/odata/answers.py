"""A member of a JSON document as a typed SQL value, the same on SQLite and PostgreSQL: the
answers of an observation (``Observation.values``) and its location, read in the one query that
pages them, never parsed row by row in Python.

    JsonMember(document, name, kind)   kind: integer | number | text | choices | date | boolean

A member that is missing, ``null`` or of another JSON type than its kind (text where a number
is expected, a malformed date, a number out of range, an object) reads as NULL, never as an
error: PostgreSQL's casts raise on bad text, so each cast sits in a CASE branch whose test has
already checked that text, in a CASE of its own where the check takes two steps (PostgreSQL
does not promise the order in which AND evaluates its terms; CASE it does).

``choices`` (a ``select_multiple`` answer, a JSON list of codes) reads as its codes joined by
single spaces in the order stored, as ODK Central and XForms write a multiple choice.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

KINDS: dict[str, sa.types.TypeEngine[Any]] = {
    "integer": sa.BigInteger(),
    "number": sa.Float(),
    "text": sa.Text(),
    "choices": sa.Text(),
    "date": sa.Date(),
    "boolean": sa.Boolean(),
}
# Names are written into the SQL as literals rendered by the dialect (no bind parameters:
# PostgreSQL's ``->`` is overloaded for text and integers), and only plain identifiers are read;
# the rest of the SQL is this module's own text and the document's compiled column, so the
# string building below (ruff's S608) takes nothing from a request.
MEMBER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Whole numbers of up to 18 digits: within a BIGINT on both backends, whatever the sign.
_INTEGER_BOUND = "999999999999999999"
_DOUBLE_MAX = "1.7976931348623157e308"
# Below the smallest normal double, PostgreSQL's cast from NUMERIC raises: such a number is 0.
_DOUBLE_TINY = "1e-307"


class JsonMember(ColumnElement[Any]):
    """``document``'s member ``name`` read as ``kind`` (a key of KINDS), NULL when it is not
    one."""

    inherit_cache = False

    def __init__(self, document: Any, name: str, kind: str) -> None:
        if not MEMBER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain identifier")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.document = document
        self.name = name
        self.kind = kind
        self.type = KINDS[kind]

    @property
    def _from_objects(self) -> list[Any]:
        return list(self.document._from_objects)


@compiles(JsonMember, "sqlite")
def _sqlite(element: JsonMember, compiler: SQLCompiler, **kw: Any) -> str:
    doc = compiler.process(element.document, **kw)
    path = compiler.render_literal_value(f'$."{element.name}"', sa.String())
    kind = f"json_type({doc}, {path})"
    value = f"json_extract({doc}, {path})"
    if element.kind == "integer":
        between = f"{value} BETWEEN -{_INTEGER_BOUND} AND {_INTEGER_BOUND}"
        return f"CASE WHEN {kind} = 'integer' AND {between} THEN {value} END"
    if element.kind == "number":
        # BETWEEN, not abs(): abs() of the smallest 64-bit integer is an error in SQLite.
        between = f"{value} BETWEEN -{_DOUBLE_MAX} AND {_DOUBLE_MAX}"
        return (
            f"CASE WHEN {kind} IN ('integer', 'real') AND {between} THEN CAST({value} AS REAL) END"
        )
    if element.kind == "text":
        return f"CASE WHEN {kind} = 'text' THEN {value} END"
    if element.kind == "choices":
        codes = f"SELECT value FROM json_each({doc}, {path}) WHERE type = 'text' ORDER BY key"  # noqa: S608
        joined = f"SELECT group_concat(value, ' ') FROM ({codes})"  # noqa: S608
        return f"CASE WHEN {kind} = 'array' THEN ({joined}) END"
    if element.kind == "date":
        # julianday() rolls 2025-02-30 over to 2025-03-02: a real day reads back as written.
        shaped = f"{value} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
        return (
            f"CASE WHEN {kind} = 'text' AND {shaped} AND {value} >= '0001-01-01' "
            f"AND date(julianday({value})) = {value} THEN {value} END"
        )
    return f"CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"


@compiles(JsonMember, "postgresql")
def _postgresql(element: JsonMember, compiler: SQLCompiler, **kw: Any) -> str:
    doc = compiler.process(element.document, **kw)
    name = compiler.render_literal_value(element.name, sa.String())
    node = f"({doc} -> {name})"
    text = f"({doc} ->> {name})"
    kind = f"jsonb_typeof({node})"
    if element.kind == "integer":
        whole = f"{text} ~ '^-?[0-9]{{1,18}}$'"
        return f"CASE WHEN {kind} = 'number' AND {whole} THEN CAST({text} AS BIGINT) END"
    if element.kind == "number":
        number = f"CAST({text} AS NUMERIC)"
        return (
            f"CASE WHEN {kind} = 'number' THEN CASE "
            f"WHEN abs({number}) > {_DOUBLE_MAX} THEN NULL "
            f"WHEN abs({number}) < {_DOUBLE_TINY} THEN CAST(0 AS DOUBLE PRECISION) "
            f"ELSE CAST({number} AS DOUBLE PRECISION) END END"
        )
    if element.kind == "text":
        return f"CASE WHEN {kind} = 'string' THEN {text} END"
    if element.kind == "choices":
        codes = (
            f"SELECT string_agg(choice.value #>> '{{}}', ' ' ORDER BY choice.at) "  # noqa: S608
            f"FROM jsonb_array_elements({node}) WITH ORDINALITY AS choice(value, at) "
            f"WHERE jsonb_typeof(choice.value) = 'string'"
        )
        return f"CASE WHEN {kind} = 'array' THEN ({codes}) END"
    if element.kind == "date":
        shaped = f"{text} ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'"
        month = f"CAST(substr({text}, 1, 7) || '-01' AS DATE)"
        last_day = f"extract(day FROM {month} + interval '1 month' - interval '1 day')"
        return (
            f"CASE WHEN {kind} = 'string' AND {shaped} AND substr({text}, 1, 4) <> '0000' "
            f"THEN CASE WHEN CAST(substr({text}, 9, 2) AS INTEGER) <= {last_day} "
            f"THEN CAST({text} AS DATE) END END"
        )
    return f"CASE WHEN {kind} = 'boolean' THEN CAST({text} AS BOOLEAN) END"
