"""``$filter``: parsed by odata-query's OData v4 grammar, then checked against the entity set's
properties and compiled to SQL (or, for computed sets, to a Python predicate).

Supported: ``eq ne gt ge lt le``, ``and``, ``or``, ``in (...)`` and parentheses, each comparison
between a listed property and a literal of its type (``null`` with ``eq``/``ne`` only).
Empty values compare as OData says: null equals null only, so ``ne`` with a value is true of
an empty property (not SQL's unknown) and ``gt ge lt le`` are false of it.
Anything else — functions, arithmetic, ``not``, lambdas, navigation — is a 400 naming it.
"""

from __future__ import annotations

import calendar
import math
import operator
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from odata_query import ast
from odata_query.exceptions import ODataException, ODataSyntaxError
from odata_query.grammar import ODataLexer, ODataParser

from server.odata.errors import ODataError

MAX_FILTER_LENGTH = 4000
# and and or in turn, "a or (b and (c or …))"; a chain of one operator is one level, and
# parentheses that change nothing none. Every shape this deep runs: SQLite's parser (a stack of
# about 100 entries) takes about 150 levels, SQLAlchemy's compiler about 130 (Python's
# recursion limit), tests/server/odata/test_filter_depth.py.
MAX_DEPTH = 100
_INT_RANGES = {"Edm.Int32": 2**31, "Edm.Int64": 2**63}
# OData's dates begin at year 0000, odata-query's grammar reads years of four digits from 1000
# (and Python's dates end in 9999): a date before is a bad_filter that says so, not "unexpected".
EARLIEST_YEAR = 1000
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:\d{2})$", re.I)  # a time's zone, as OData writes it
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
    """Terms joined by one operator: a chain ``a or b or c`` is one junction of three terms,
    and a term is never a junction of the same operator (``a or (b or c)`` is that chain)."""

    op: str  # and | or
    terms: tuple[Condition, ...]
    # and and or in turn below this junction, itself included: its nesting in SQL
    depth: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", 1 + max(depth_of(t) for t in self.terms))


Condition = Comparison | Junction


def depth_of(condition: Condition) -> int:
    return condition.depth if isinstance(condition, Junction) else 0


def joined(op: str, terms: Sequence[Condition]) -> Condition:
    """``terms`` joined by ``op``, a term that is itself an ``op`` junction merged in."""
    flat: list[Condition] = []
    for term in terms:
        flat += term.terms if isinstance(term, Junction) and term.op == op else [term]
    return flat[0] if len(flat) == 1 else Junction(op, tuple(flat))


def parse_filter(text: str, types: Mapping[str, str]) -> Condition:
    """Parse ``$filter`` over properties ``{name: Edm type}``; ODataError (400) if it is not
    something the feed answers."""
    if len(text) > MAX_FILTER_LENGTH:
        raise ODataError(
            f"$filter is longer than {MAX_FILTER_LENGTH} characters",
            code="bad_filter",
            target=TARGET,
        )
    inserts: list[tuple[int, str]] = []
    try:
        prepared, inserts = _single_item_lists(text)
        tree = ODataParser().parse(ODataLexer().tokenize(prepared))
    except ODataSyntaxError as exc:
        token = getattr(exc, "token", None)
        at = None if token is None else _original_index(int(token.index), inserts)
        if token is not None and token.type == "WS":
            at = _after_space(text, at or 0)
        raise ODataError(_syntax_problem(text, at), code="bad_filter", target=TARGET) from None
    except RecursionError:
        raise ODataError(
            f"$filter nests more than {MAX_DEPTH} conditions deep", code="bad_filter", target=TARGET
        ) from None
    except (ODataException, ValueError, TypeError, IndexError):
        raise ODataError(
            "$filter could not be read: check its quotes, parentheses and values",
            code="bad_filter",
            target=TARGET,
        ) from None
    if tree is None:
        raise ODataError("$filter is empty", code="bad_filter", target=TARGET)
    return _check(tree, types, 0)


def _single_item_lists(text: str) -> tuple[str, list[tuple[int, str]]]:
    """``X in ('a')`` as ``X in ('a','a')``: odata-query 0.10's grammar only reads lists of two
    or more, and Power BI sends one-item lists when a slicer has one value selected. Also the
    insertions made, ``(index in text, inserted)``, to place errors in the analyst's text."""
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
    return text, inserts


def _original_index(index: int, inserts: list[tuple[int, str]]) -> int:
    """An index in the text given to the parser, as an index in the analyst's text."""
    for at, extra in inserts:
        if index < at:
            break
        index = max(at, index - len(extra))
    return index


# --- plain-words syntax errors ---------------------------------------------------------------
# The parser reports the token it stopped at; the analyst reads Excel's error box, so the
# message names the text at that place (a whole date, a whole word) and its position, from 1.

_SEPARATORS = set(" \t\r\n(),")
_KEYWORDS = {"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "add", "sub"}
_DATE_LIKE = re.compile(r"[+-]?\d+-\d+-\d+(?:T[\d:.]*(?:Z|[+-][\d:]*)?)?", re.I)
_MONTHS = "January February March April May June July August September October November December"


def _skip_spaces(text: str, at: int) -> int | None:
    while at < len(text) and text[at].isspace():
        at += 1
    return at if at < len(text) else None


def _after_space(text: str, at: int) -> int | None:
    """Where to blame a parse stopped at the space at ``at``: the word before it if that is a
    keyword read as a name (``or or``), else the next word (None: the end)."""
    before = text[:at].rstrip()
    if before and before[-1] not in _SEPARATORS:
        start, word = _word_at(before, len(before) - 1)
        if word.lower() in _KEYWORDS:
            return start
    return _skip_spaces(text, at)


def _word_at(text: str, at: int) -> tuple[int, str]:
    """The start and text of the word holding index ``at``: a whole literal such as
    ``2025-13-01`` (the lexer cuts it at ``-13``), or one separator character."""
    if text[at] in _SEPARATORS:
        return at, text[at]
    if text[at] in "'\"":  # a quoted string: up to its closing quote, else to the end
        end = text.find(text[at], at + 1)
        return at, text[at:] if end < 0 else text[at : end + 1]
    start = at
    while start > 0 and text[start - 1] not in _SEPARATORS and text[start - 1] not in "'\"":
        start -= 1
    end = at
    while end < len(text) and text[end] not in _SEPARATORS:
        end += 1
    return start, text[start:end]


def _syntax_problem(text: str, at: int | None) -> str:
    if at is None or at >= len(text):
        if text.count("(") > text.count(")"):
            return f"$filter ends before a '(' at position {text.index('(') + 1} is not closed"
        last = text.rstrip()
        if not last:
            return "$filter is empty"
        tail = last.split()[-1]
        return f"$filter ends after '{tail}': a condition or value is missing"
    start, word = _word_at(text, at)
    where = f"at position {start + 1}"
    if word == ")" and text[: start + 1].count(")") > text[:start].count("("):
        return f"unexpected ')' {where}: there is no '(' for it to close"
    if word.startswith("'") and (len(word) == 1 or not word.endswith("'")):
        return f"the text {word} {where} has no closing quote (')"
    if word.startswith('"') and len(word) > 1 and word.endswith('"'):
        return f"{word} {where}: write text in single quotes, as '{word.strip(chr(34))}'"
    if word.startswith('"'):
        return f"unexpected '\"' {where}: write text in single quotes"
    problem = _date_problem(word) if _DATE_LIKE.fullmatch(word) else None
    if problem:
        return f"{word} {where} {problem}"
    if word.lower() in _KEYWORDS and _skip_spaces(text, start + len(word)) is None:
        return f"$filter ends after '{word}' {where}: a condition or value is missing"
    return f"unexpected '{word}' {where}"


def _date_problem(text: str) -> str | None:
    """Why ``text`` is not an OData date (``2025-03-31``) or date and time
    (``2025-03-31T10:00:00Z``), in words; None if it is one."""
    day_part, _, time_part = text.partition("T") if "T" in text else text.partition("t")
    has_time = bool(_)
    kind = "a date and time" if has_time else "a date"
    parts = day_part.split("-")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day_part) or len(parts) != 3:
        return f"is not {kind} (write dates as YYYY-MM-DD)"
    year, month, day = (int(p) for p in parts)
    if year < EARLIEST_YEAR:  # 0000 is no year of Python's; 0001-0999 the grammar cannot read
        return f"is out of range (the feed reads dates from {EARLIEST_YEAR}-01-01 to 9999-12-31)"
    if not 1 <= month <= 12:
        return f"is not {kind} (month {month})"
    try:
        date(year, month, day)
    except ValueError:
        if not 1 <= day <= 31:
            return f"is not {kind} (day {day})"
        days = calendar.monthrange(year, month)[1]
        return f"is not {kind} ({_MONTHS.split()[month - 1]} {year} has {days} days)"
    if not has_time:
        return None
    clock = re.fullmatch(
        r"(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,12})?)?(Z|[+-](\d{2}):(\d{2}))?", time_part, re.I
    )
    if not clock:
        return f"is not {kind} (write YYYY-MM-DDThh:mm:ssZ)"
    hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
    if hour > 23:
        return f"is not {kind} (hour {hour})"
    if minute > 59:
        return f"is not {kind} (minute {minute})"
    if second > 59:
        return f"is not {kind} (second {second})"
    if clock[5] and (int(clock[5]) > 23 or int(clock[6]) > 59):
        return f"is not {kind} (time zone offset {clock[4]})"
    return None


def _check(node: Any, types: Mapping[str, str], depth: int) -> Condition:
    if depth > MAX_DEPTH:
        raise ODataError(
            f"$filter nests more than {MAX_DEPTH} conditions deep", code="bad_filter", target=TARGET
        )
    if isinstance(node, ast.BoolOp):
        # A chain of one operator is one level, however long: Power BI writes a filter on a
        # list of values as "Id eq 1 or Id eq 2 or …", which parses as a tree as deep as the
        # list is long. Its terms, in order, become one junction (and and or associate).
        kind = type(node.op)
        terms: list[Condition] = []
        pending: list[Any] = [node]
        while pending:
            current = pending.pop()
            if isinstance(current, ast.BoolOp) and type(current.op) is kind:
                pending += [current.right, current.left]
            else:
                terms.append(_check(current, types, depth + 1))
        return joined("and" if kind is ast.And else "or", terms)
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
    return "a property or a value alone is not a condition (compare it: Late eq true)"


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


_WRITTEN_IN_DIGITS = (ast.Integer, ast.Float, ast.Date, ast.DateTime, ast.GUID)


def _literal(node: Any, prop: str, edm: str, op: str) -> Any:
    if isinstance(node, ast.Null):
        if op not in ("eq", "ne"):
            raise _bad_value(prop, "null can only be compared with eq or ne")
        return None
    if not isinstance(node, ast._Literal):
        raise _unsupported("each comparison needs a property on one side and a value on the other")
    raw: Any = getattr(node, "val", None)
    try:
        if isinstance(node, _WRITTEN_IN_DIGITS) and not str(raw).isascii():
            # the grammar reads any Unicode digit as a digit ('３', '٣'); OData's are 0-9
            raise ValueError(f"{raw} is not written in the digits 0-9")
        if edm == "Edm.String" and isinstance(node, ast.String):
            if "\x00" in str(raw):  # PostgreSQL refuses NUL in text
                raise ValueError("NUL is not allowed in a string")
            return str(raw)
        if edm == "Edm.Guid" and isinstance(node, ast.GUID | ast.String):
            return _guid(str(raw))
        if edm == "Edm.Date" and isinstance(node, ast.Date | ast.String):
            return _date(str(raw))
        if edm == "Edm.DateTimeOffset" and isinstance(node, ast.DateTime):
            _check_date(str(raw))
            if not _OFFSET.search(str(raw)):
                # OData's dateTimeOffsetValue ends in Z or ±hh:mm: a time without one is no
                # instant, and guessing UTC would filter on the wrong hours elsewhere
                raise ValueError(
                    f"{raw} has no time zone: add Z for UTC or an offset, as {raw}Z or {raw}+02:00"
                )
            moment = datetime.fromisoformat(str(raw).upper().replace("Z", "+00:00"))
            # In UTC, as times are stored: SQLite compares the wall time written, not the instant.
            try:
                return moment.astimezone(UTC)
            except OverflowError:  # 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
                raise ValueError(
                    f"{raw} is out of range (the feed reads times up to 9999-12-31T23:59:59Z)"
                ) from None
        if edm == "Edm.DateTimeOffset" and isinstance(node, ast.Date):
            _date(str(raw))  # a date that is no date says so first
            raise _date_for_time(prop, "eq" if op == "in" else op, str(raw))
        if edm in _INT_RANGES and isinstance(node, ast.Integer):
            number = int(raw)
            if not -_INT_RANGES[edm] <= number < _INT_RANGES[edm]:
                raise ValueError(f"{number} is out of range for an {edm}")
            return number
        if edm == "Edm.Double" and isinstance(node, ast.Integer | ast.Float):
            return _finite(raw)
        if edm in _INT_RANGES and isinstance(node, ast.Float):
            # OData promotes the integer property to compare with a decimal or a double: as
            # numbers, "Count eq 12.0" as "Count eq 12", "Count gt 12.5" as a float comparison
            double, exact = _finite(raw), Decimal(str(raw))
            whole = exact == exact.to_integral_value()
            if whole and -_INT_RANGES[edm] <= int(exact) < _INT_RANGES[edm]:
                return int(exact)
            return double
        if edm == "Edm.Boolean" and isinstance(node, ast.Boolean):
            return str(raw).lower() == "true"
    except ValueError as exc:
        raise _bad_value(prop, str(exc)) from exc
    raise _bad_value(prop, f"{type(node).__name__.lower()} value {raw!r} is not an {edm}")


def _finite(raw: Any) -> float:
    double = float(raw)
    if math.isinf(double) or math.isnan(double):
        raise ValueError(f"{raw} is not a finite number")
    return double


def _guid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a GUID (write ids as 8-4-4-4-12 hex digits)") from None


def _check_date(text: str) -> None:
    problem = _date_problem(text) if _DATE_LIKE.fullmatch(text) else None
    if problem:
        raise ValueError(f"{text} {problem}")


def _date(text: str) -> date:
    _check_date(text)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date (write dates as YYYY-MM-DD)") from None


def _bad_value(prop: str, reason: str) -> ODataError:
    return ODataError(f"{prop}: {reason}", code="bad_filter", target=TARGET)


def _date_for_time(prop: str, op: str, day: str) -> ODataError:
    """A date alone compared with a date and time: OData defines no such comparison (its only
    promotions are between numbers), and reading it as midnight UTC would filter on hours off
    for an analyst in another zone; the message gives the literals to write instead."""
    return ODataError(
        f"{prop} is a date and time (Edm.DateTimeOffset): compare it with a date and time and "
        f"its time zone, as {prop} {op} {day}T00:00:00Z (midnight UTC) or "
        f"{day}T00:00:00+02:00 (midnight at UTC+2); the date {day} alone is no instant",
        code="datetime_expected",
        target=TARGET,
    )


# --- compiling ---------------------------------------------------------------------------------


def to_sql(
    condition: Condition, columns: Mapping[str, Any], ordered: Mapping[str, Any] | None = None
) -> sa.ColumnElement[bool]:
    """The condition as a WHERE clause over ``{property: column expression}``; ``gt ge lt le``
    compare ``ordered``'s expressions where given (text in the feed's order, not the
    database's collation; equality keeps the plain column, and its index)."""
    if isinstance(condition, Junction):
        # The deepest term first: SQLite's parser keeps on its stack (about 100 entries) what
        # precedes an open parenthesis, so "((… and b) or c) and d" takes one entry a level
        # where "d and (c or (b and …))" takes three (the order changes no row).
        terms = sorted(condition.terms, key=depth_of, reverse=True)
        compiled = [to_sql(t, columns, ordered) for t in terms]
        return sa.and_(*compiled) if condition.op == "and" else sa.or_(*compiled)
    column = columns[condition.prop]
    if ordered is not None and condition.op in ("gt", "ge", "lt", "le"):
        column = ordered[condition.prop]
    if condition.op == "in":
        found: sa.ColumnElement[bool] = column.in_([_bound(v) for v in condition.value])
        return found
    if condition.value is None:
        return column.is_(None) if condition.op == "eq" else column.is_not(None)
    compared: Any = _PY_OPS[condition.op](column, _bound(condition.value))
    if condition.op == "ne":  # an empty value is not equal to any value (OData, not SQL)
        return sa.or_(compared, column.is_(None))
    return sa.and_(compared)


def values_of(condition: Condition | None, prop: str) -> frozenset[Any] | None:
    """The values of ``prop`` a row must have to meet ``condition`` (``Indicator eq 'X'``,
    ``Indicator in (…)``, those joined by and or or), None when any may: a computed set then
    computes only those rows."""
    if condition is None:
        return None
    if isinstance(condition, Comparison):
        if condition.prop != prop or condition.op not in ("eq", "in"):
            return None
        return frozenset(condition.value if condition.op == "in" else [condition.value])
    found = [values_of(t, prop) for t in condition.terms]
    known = [v for v in found if v is not None]
    if condition.op == "and":
        return frozenset.intersection(*known) if known else None
    return frozenset().union(*known) if len(known) == len(found) else None


def _bound(value: Any) -> Any:
    """A float as a double, also beside an integer column ("Count gt 12.5"): bound as the
    column's type it would be cut to an integer."""
    return sa.literal(value, sa.Double()) if isinstance(value, float) else value


def to_python(condition: Condition) -> Callable[[Mapping[str, Any]], bool]:
    """The condition as a predicate over a row ``{property: value}`` (computed entity sets),
    as ``to_sql`` answers it: an ordering comparison with a null value is false, and a null is
    not equal to any value."""
    if isinstance(condition, Junction):
        terms = [to_python(t) for t in condition.terms]
        if condition.op == "and":
            return lambda row: all(term(row) for term in terms)
        return lambda row: any(term(row) for term in terms)
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
    if op == "ne":
        return lambda row: row.get(prop) != value
    compare = _PY_OPS[op]
    return lambda row: row.get(prop) is not None and compare(row[prop], value)
