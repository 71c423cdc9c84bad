"""``$filter``: parsed by odata-query's OData v4 grammar, then checked against the entity set's
properties and compiled to SQL (or, for computed sets, to a Python predicate).

Supported: ``eq ne gt ge lt le``, ``and``, ``or``, ``in (...)`` and parentheses, each comparison
between a listed property and a literal of its type (``null`` with ``eq``/``ne`` only).
Anything else — functions, arithmetic, ``not``, lambdas, navigation — is a 400 naming it.
"""

from __future__ import annotations

import math
import operator
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from server.odata.errors import ODataError

MAX_FILTER_LENGTH = 4000
MAX_DEPTH = 100  # and/or nesting; the compilers below recurse this deep
_INT_RANGES = {"Edm.Int32": 2**31, "Edm.Int64": 2**63}
TARGET = "$filter"

_OPS: dict[type[ast._Node], str] = {
    ast.Eq: "eq",
    ast.NotEq: "ne",
    ast.Gt: "gt",
    ast.GtE: "ge",
    ast.Lt: "lt",
    ast.LtE: "le",
}
# ``5 lt Count`` is ``Count gt 5``.
_FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


# The checked filter: a small tree of plain tuples, compiled to SQL or Python below.
@dataclass(frozen=True, slots=True)
class Comparison:
    prop: str
    op: str  # eq ne gt ge lt le in
    value: Any  # a list for "in"


@dataclass(frozen=True, slots=True)
class Junction:
    op: str  # and | or
    left: Condition
    right: Condition


Condition = Comparison | Junction


def parse_filter(text: str, types: Mapping[str, str]) -> Condition:
    """Parse ``$filter`` over properties ``{name: Edm type}``; ODataError (400) if it is not
    something the feed answers."""
    if len(text) > MAX_FILTER_LENGTH:
        raise ODataError(
            f"$filter is longer than {MAX_FILTER_LENGTH} characters",
            code="bad_filter",
            target=TARGET,
        )
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(_single_item_lists(text)))
    except ODataException as exc:
        raise ODataError(
            f"$filter is not valid OData: {exc}", code="bad_filter", target=TARGET
        ) from None
    except (RecursionError, ValueError, TypeError, IndexError) as exc:
        raise ODataError(
            f"$filter could not be read: {exc}", code="bad_filter", target=TARGET
        ) from None
    if tree is None:
        raise ODataError("$filter is empty", code="bad_filter", target=TARGET)
    return _check(tree, types, 0)


def _single_item_lists(text: str) -> str:
    """``X in ('a')`` as ``X in ('a','a')``: odata-query 0.10's grammar only reads lists of two
    or more, and Power BI sends one-item lists when a slicer has one value selected."""
    tokens = [t for t in ODataLexer().tokenize(text) if t.type != "WS"]
    inserts = []
    for i in range(len(tokens) - 3):
        kw, opening, item, closing = tokens[i : i + 4]
        if (
            kw.type == "IN"
            and opening.type == "("
            and closing.type == ")"
            and item.type
            not in (
                "(",
                ")",
            )
        ):
            inserts.append((closing.index, "," + text[item.index : closing.index].rstrip()))
    for at, extra in reversed(inserts):
        text = text[:at] + extra + text[at:]
    return text


def _check(node: Any, types: Mapping[str, str], depth: int) -> Condition:
    if depth > MAX_DEPTH:
        raise ODataError(
            f"$filter nests more than {MAX_DEPTH} conditions deep", code="bad_filter", target=TARGET
        )
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return Junction(
            op, _check(node.left, types, depth + 1), _check(node.right, types, depth + 1)
        )
    if isinstance(node, ast.Compare):
        if isinstance(node.comparator, ast.In):
            prop = _property(node.left, types)
            if not isinstance(node.right, ast.List):
                raise _unsupported("the right side of 'in' must be a list of values")
            values = [_literal(v, prop, types[prop], "in") for v in node.right.val]
            if any(v is None for v in values):
                raise _unsupported("null is not allowed in an 'in' list; use 'eq null'")
            return Comparison(prop, "in", values)
        op = _OPS[type(node.comparator)]
        left, right = node.left, node.right
        if not isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier):
            left, right, op = right, left, _FLIPPED[op]
        prop = _property(left, types)
        value = _literal(right, prop, types[prop], op)
        return Comparison(prop, op, value)
    raise _unsupported(_describe(node))


def _describe(node: Any) -> str:
    if isinstance(node, ast.Call):
        return f"the function {node.func.name}() is not supported"
    if isinstance(node, ast.UnaryOp):
        return "'not' and unary operators are not supported"
    if isinstance(node, ast.BinOp):
        return "arithmetic (add, sub, mul, div, mod) is not supported"
    if isinstance(node, ast.CollectionLambda):
        return "any() and all() are not supported"
    return f"{type(node).__name__} is not a condition"


def _unsupported(message: str) -> ODataError:
    return ODataError(
        message + "; $filter supports eq, ne, gt, ge, lt, le, in, and, or",
        code="unsupported_filter",
        target=TARGET,
    )


def _property(node: Any, types: Mapping[str, str]) -> str:
    if isinstance(node, ast.Attribute) or (isinstance(node, ast.Identifier) and node.namespace):
        raise _unsupported("navigation properties are not supported")
    if not isinstance(node, ast.Identifier):
        raise _unsupported("each comparison needs a property on one side and a value on the other")
    if node.name not in types:
        raise ODataError(
            f"unknown property {node.name!r}; properties are " + ", ".join(types),
            code="unknown_property",
            target=TARGET,
        )
    return str(node.name)


def _literal(node: Any, prop: str, edm: str, op: str) -> Any:
    if isinstance(node, ast.Null):
        if op not in ("eq", "ne"):
            raise _bad_value(prop, "null can only be compared with eq or ne")
        return None
    if not isinstance(node, ast._Literal):
        raise _unsupported("each comparison needs a property on one side and a value on the other")
    raw: Any = getattr(node, "val", None)
    try:
        if edm == "Edm.String" and isinstance(node, ast.String):
            if "\x00" in str(raw):  # PostgreSQL refuses NUL in text
                raise ValueError("NUL is not allowed in a string")
            return str(raw)
        if edm == "Edm.Guid" and isinstance(node, ast.GUID | ast.String):
            return uuid.UUID(str(raw))
        if edm == "Edm.Date" and isinstance(node, ast.Date | ast.String):
            return date.fromisoformat(str(raw))
        if edm == "Edm.DateTimeOffset" and isinstance(node, ast.DateTime):
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if edm == "Edm.DateTimeOffset" and isinstance(node, ast.Date):
            return datetime.combine(date.fromisoformat(str(raw)), datetime.min.time(), UTC)
        if edm in _INT_RANGES and isinstance(node, ast.Integer):
            number = int(raw)
            if not -_INT_RANGES[edm] <= number < _INT_RANGES[edm]:
                raise ValueError(f"{number} is out of range for an {edm}")
            return number
        if edm == "Edm.Double" and isinstance(node, ast.Integer | ast.Float):
            double = float(raw)
            if math.isinf(double) or math.isnan(double):
                raise ValueError(f"{raw} is not a finite number")
            return double
        if edm == "Edm.Boolean" and isinstance(node, ast.Boolean):
            return str(raw).lower() == "true"
    except ValueError as exc:
        raise _bad_value(prop, str(exc)) from exc
    raise _bad_value(prop, f"{type(node).__name__.lower()} value {raw!r} is not an {edm}")


def _bad_value(prop: str, reason: str) -> ODataError:
    return ODataError(f"{prop}: {reason}", code="bad_filter", target=TARGET)


# --- compiling ---------------------------------------------------------------------------------


def to_sql(condition: Condition, columns: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    """The condition as a WHERE clause over ``{property: column expression}``."""
    if isinstance(condition, Junction):
        left, right = to_sql(condition.left, columns), to_sql(condition.right, columns)
        return sa.and_(left, right) if condition.op == "and" else sa.or_(left, right)
    column = columns[condition.prop]
    if condition.op == "in":
        found: sa.ColumnElement[bool] = column.in_(condition.value)
        return found
    if condition.value is None:
        return column.is_(None) if condition.op == "eq" else column.is_not(None)
    compared: Any = _PY_OPS[condition.op](column, condition.value)
    return sa.and_(compared)


def to_python(condition: Condition) -> Callable[[Mapping[str, Any]], bool]:
    """The condition as a predicate over a row ``{property: value}`` (computed entity sets).
    As in SQL, an ordering comparison with a null value is false."""
    if isinstance(condition, Junction):
        left, right = to_python(condition.left), to_python(condition.right)
        if condition.op == "and":
            return lambda row: left(row) and right(row)
        return lambda row: left(row) or right(row)
    prop, op, value = condition.prop, condition.op, condition.value
    if op == "in":
        wanted = set(value)
        return lambda row: row.get(prop) in wanted
    if value is None:
        return (
            (lambda row: row.get(prop) is None)
            if op == "eq"
            else (lambda row: row.get(prop) is not None)
        )
    compare = _PY_OPS[op]
    return lambda row: row.get(prop) is not None and compare(row[prop], value)
