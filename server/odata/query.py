"""Query options and server-driven paging.

    parse_options(params, entity_set, token_key, prefer)   check $select $filter $orderby
                                                 $top $skip $count $skiptoken; 400 naming a
                                                 bad one
    read_page(session, caller, entity_set, options)   one page, the total if asked, and the
                                                 skiptoken of the next page

Paging is keyset (seek) paging: rows come in the order of ``$orderby`` then the key, and the
skiptoken holds the ordering values of a page's last row (signed for its query: a made-up
token, or one carried to another query, is a 400), so the next page starts with
``WHERE (order columns) > (those values)`` on an index instead of skipping rows: page N costs
what page 1 costs. ``$skip`` applies to the first page only (the nextLink drops it).

Text orders and compares by Unicode code point on both backends (``COLLATE "C"`` on
PostgreSQL, SQLite's own BINARY), as Python orders the computed sets: the database's collation
would order the same feed otherwise on each, and the seek relies on the order. The code
columns are stored in that collation on PostgreSQL (migration ``0014_code_collation``), so
that their indexes give this order.

Empty (null) values order as OData says, the same on SQLite and PostgreSQL (whose defaults
differ): before every value ascending, after every value descending. The skiptoken then
carries ``null``, and the seek reads "after null" as "the first value" (ascending) or "nothing
more in this column" (descending).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.accounts.auth import Caller
from server.odata.entities import EntitySet, Property
from server.odata.errors import ODataError
from server.odata.filters import (
    Comparison,
    Condition,
    joined,
    parse_filter,
    to_python,
    to_sql,
)

# The most rows in one answer; a client may ask for fewer with Prefer: odata.maxpagesize=N.
MAX_PAGE_SIZE = 10_000
MAX_TOP = 1_000_000_000
MAX_SKIP = 1_000_000_000

SUPPORTED = frozenset({"$select", "$filter", "$orderby", "$top", "$skip", "$count", "$skiptoken"})
# Options of OData v4 the feed does not answer: named in the error so the analyst knows.
KNOWN_UNSUPPORTED = frozenset({"$expand", "$apply", "$search", "$compute", "$levels", "$index"})


@dataclass(frozen=True)
class Options:
    select: tuple[str, ...]  # properties to return, in the set's order
    filter: Condition | None
    order: tuple[tuple[str, bool], ...]  # (property, descending), the key last
    top: int | None
    skip: int
    count: bool
    after: tuple[Any, ...] | None  # the ordering values of the previous page's last row
    page_size: int
    explicit_select: bool
    # signs the next page's $skiptoken for this query; None for a read of one entity
    seal: TokenSeal | None = None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    count: int | None
    next_token: str | None  # the $skiptoken of the next page
    next_top: int | None  # what is left of $top after this page


def _bad(option: str, message: str, code: str = "bad_option") -> ODataError:
    return ODataError(f"{option}: {message}", code=code, target=option)


# OData's DIGIT is 0-9 only: str.isdigit() and int() also take '٣' (Arabic-Indic) and '３'
# (fullwidth), and isdigit() '²', which int() then refuses.
_ASCII_DIGITS = re.compile(r"[0-9]+")
# A GUID as OData writes it (uuid.UUID() also takes other digits, braces and "urn:uuid:").
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BEYOND_ANY_LIMIT = 10**19


def whole_number(text: str) -> int | None:
    """``text`` (spaces around allowed) as a non-negative whole number in ASCII digits, else
    None; a number of more digits than any limit counts as ``10**19`` (int() refuses thousands
    of digits)."""
    digits = text.strip()
    if not _ASCII_DIGITS.fullmatch(digits):
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 19 else _BEYOND_ANY_LIMIT


def _int_option(params: Mapping[str, str], name: str, limit: int) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    value = whole_number(raw)
    if value is None:
        raise _bad(name, f"{raw!r} is not a non-negative whole number (digits 0-9)")
    if value > limit:
        raise _bad(name, f"at most {limit}")
    return value


def page_size_of(prefer: str | None) -> int:
    """The page size: MAX_PAGE_SIZE, or less when ``Prefer: odata.maxpagesize=N`` asks (a
    value that is not a whole number in digits 0-9 is ignored, as an unknown preference)."""
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        size = whole_number(value)
        if name.strip().lower() == "odata.maxpagesize" and size is not None:
            return max(1, min(MAX_PAGE_SIZE, size))
    return MAX_PAGE_SIZE


def _check_names(params: Mapping[str, str], supported: frozenset[str]) -> None:
    """Refuse the system query options outside ``supported`` (and a $format but JSON)."""
    repeated = getattr(params, "getlist", None)  # a request's query string may repeat a name
    for name in params:
        if not name.startswith("$"):
            continue  # custom query options are ignored, as OData allows
        if repeated is not None and len(repeated(name)) > 1:
            # OData: a system query option is given at most once ($top=1&$top=2 read one).
            raise _bad(name, "is given more than once: give it once")
        if name in KNOWN_UNSUPPORTED:
            raise _bad(name, "this option is not supported by this service", "unsupported_option")
        if name in SUPPORTED and name not in supported:
            raise _bad(
                name,
                "applies to a whole entity set, not to one entity; here: "
                + ", ".join(sorted(supported)),
            )
        if name not in supported and name != "$format":
            raise _bad(
                name,
                "unknown option; supported: " + ", ".join(sorted(supported)),
                "unsupported_option",
            )
    fmt = params.get("$format")
    if fmt is not None and fmt.split(";")[0].strip().lower() not in ("json", "application/json"):
        raise _bad("$format", "only json is served", "unsupported_option")


def _select(params: Mapping[str, str], entity_set: EntitySet) -> tuple[tuple[str, ...], bool]:
    """The properties ``$select`` asks for, in the set's order, and whether it named any."""
    names = [p.name for p in entity_set.properties]
    raw = params.get("$select")
    if raw is None or raw.strip() in ("", "*"):
        return tuple(names), False
    wanted = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in entity_set.by_name]
    if unknown:
        raise _bad(
            "$select",
            f"unknown property {', '.join(unknown)}; properties are " + ", ".join(names),
            "unknown_property",
        )
    return tuple(n for n in names if n in wanted), True


def parse_options(
    params: Mapping[str, str],
    entity_set: EntitySet,
    *,
    token_key: bytes,
    prefer: str | None = None,
) -> Options:
    """The query's options, or a 400 naming the bad one. ``token_key`` (``skiptoken_key``)
    signs the $skiptokens this query's pages hand out, and checks the one it was given."""
    _check_names(params, SUPPORTED)
    names = [p.name for p in entity_set.properties]
    select, explicit_select = _select(params, entity_set)

    condition = parse_filter(params["$filter"], entity_set.types) if "$filter" in params else None

    order: list[tuple[str, bool]] = []
    if (raw := params.get("$orderby")) is not None and raw.strip():
        for item in raw.split(","):
            words = item.split()
            if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
                raise _bad("$orderby", f"{item.strip()!r} is not 'Property [asc|desc]'")
            prop = entity_set.by_name.get(words[0])
            if prop is None:
                raise _bad(
                    "$orderby",
                    f"unknown property {words[0]}; properties are " + ", ".join(names),
                    "unknown_property",
                )
            if all(o[0] != prop.name for o in order):
                order.append((prop.name, len(words) == 2 and words[1] == "desc"))
    for key in entity_set.key:
        if all(o[0] != key for o in order):
            order.append((key, False))

    count_raw = params.get("$count")
    if count_raw is not None and count_raw not in ("true", "false"):
        raise _bad("$count", "true or false")

    seal = TokenSeal.of(token_key, entity_set, params.get("$filter"), order)
    after = None
    if (token := params.get("$skiptoken")) is not None:
        after = _decode_token(seal.open(token), [entity_set.by_name[o[0]] for o in order])

    return Options(
        select=select,
        filter=condition,
        order=tuple(order),
        top=_int_option(params, "$top", MAX_TOP),
        skip=_int_option(params, "$skip", MAX_SKIP) or 0,
        count=count_raw == "true",
        after=after,
        page_size=page_size_of(prefer),
        explicit_select=explicit_select,
        seal=seal,
    )


# --- one entity by its key: Activities(<id>) ---------------------------------------------------

ENTITY_SUPPORTED = frozenset({"$select"})
# One part of a key predicate: ``value`` or ``Name=value``; a string value in single quotes
# (a quote inside doubled), any other bare.
_KEY_PART = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?"
    r"(?P<value>'(?:[^']|'')*'|[^\s,'=()]+)\s*(?P<sep>,|\Z)"
)
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")
_ASCII_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _bad_key(message: str, target: str) -> ODataError:
    return ODataError(message, code="bad_key", target=target)


def _key_value(text: str, prop: Property) -> Any:
    quoted = len(text) >= 2 and text[0] == text[-1] == "'"
    inner = text[1:-1].replace("''", "'") if quoted else text
    shown = text if len(text) <= 40 else text[:40] + "…"  # a key of 5 000 digits is not echoed
    problem = f"{prop.name}: {shown} is not "
    if prop.edm == "Edm.Guid":  # bare as OData writes it; quoted as $filter takes it too
        if not GUID.fullmatch(inner):
            raise _bad_key(problem + "a GUID (write ids as 8-4-4-4-12 hex digits)", prop.name)
        return uuid.UUID(inner)
    if prop.edm == "Edm.String":
        if not quoted or "\x00" in inner:
            raise _bad_key(problem + "text in single quotes ('…')", prop.name)
        return inner
    if prop.edm in ("Edm.Int32", "Edm.Int64"):
        bound = 2**31 if prop.edm == "Edm.Int32" else 2**63
        if quoted or not _ASCII_INTEGER.fullmatch(text):
            raise _bad_key(problem + "a whole number (digits 0-9)", prop.name)
        # (a number of many digits is out of range before it is read: none is converted)
        if len(text) > 20 or not -bound <= int(text) < bound:
            raise _bad_key(problem + f"an {prop.edm} (out of range)", prop.name)
        return int(text)
    if prop.edm == "Edm.Date":  # bare; quoted as $filter takes it (python-odata sends it so)
        try:
            if not _ASCII_DATE.fullmatch(inner):
                raise ValueError(text)
            return date.fromisoformat(inner)
        except ValueError:
            raise _bad_key(problem + "a date (write YYYY-MM-DD)", prop.name) from None
    raise _bad_key(f"{prop.name}: a key of type {prop.edm} is not served", prop.name)


def parse_key(text: str, entity_set: EntitySet) -> dict[str, Any]:
    """The key predicate between the parentheses of ``Set(...)`` as ``{key property: value}``:
    ``<value>`` or ``Id=<value>`` for a one-property key, ``Name=<value>,…`` naming each
    property of a compound key once (OData 4.01 URL conventions, 4.3.1); ODataError (400,
    ``bad_key``) naming what is wrong."""
    written = (
        "write the key as "
        + ",".join(f"{k}=…" for k in entity_set.key)
        + (f" or as the {entity_set.key[0]} alone" if len(entity_set.key) == 1 else "")
    )
    parts: list[tuple[str | None, str]] = []
    at = 0
    while True:
        found = _KEY_PART.match(text, at)
        if found is None or len(parts) >= len(entity_set.key):
            raise _bad_key(f"{entity_set.name}({text}) is not a key: {written}", entity_set.name)
        parts.append((found["name"], found["value"]))
        at = found.end()
        if not found["sep"]:
            break
    if len(entity_set.key) == 1 and len(parts) == 1 and parts[0][0] is None:
        parts = [(entity_set.key[0], parts[0][1])]
    names = [name for name, _ in parts]
    if sorted(n or "" for n in names) != sorted(entity_set.key):
        raise _bad_key(f"{entity_set.name}({text}) is not a key: {written}", entity_set.name)
    return {name: _key_value(value, entity_set.by_name[name]) for name, value in parts if name}


def entity_select(params: Mapping[str, str], entity_set: EntitySet) -> tuple[tuple[str, ...], bool]:
    """The options of a request for one entity: ``$select`` only (and ``$format``)."""
    _check_names(params, ENTITY_SUPPORTED)
    return _select(params, entity_set)


def read_entity(
    session: Session,
    *,
    caller: Caller,
    entity_set: EntitySet,
    key: Mapping[str, Any],
    select: tuple[str, ...],
) -> dict[str, Any] | None:
    """The entity with this key in the caller's scope (its selected properties), else None:
    one outside the scope is not told from one that does not exist."""
    condition = joined("and", [Comparison(name, "eq", key[name]) for name in entity_set.key])
    options = Options(
        select=select,
        filter=condition,
        order=tuple((k, False) for k in entity_set.key),
        top=1,
        skip=0,
        count=False,
        after=None,
        page_size=1,
        explicit_select=True,
    )
    page = read_page(session, caller=caller, entity_set=entity_set, options=options)
    return page.rows[0] if page.rows else None


# --- skiptokens ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


_NOT_OURS = (
    "not a token this service made for this $filter and $orderby; follow @odata.nextLink as given"
)


def skiptoken_key(secret: str) -> bytes:
    """The key that signs $skiptokens, from the server's secret (``PILOTMON_SECRET_KEY``)."""
    return hmac.new(secret.encode(), b"pilotmon odata $skiptoken", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenSeal:
    """The signature of one query's $skiptokens: a token holds the last row's ordering values
    and a MAC over them, the entity set, the ``$filter`` and the order, so that a made-up
    token, or one carried to another query, is a 400 rather than a page of the wrong rows."""

    key: bytes
    context: bytes

    @classmethod
    def of(
        cls,
        key: bytes,
        entity_set: EntitySet,
        filter_text: str | None,
        order: Sequence[tuple[str, bool]],
    ) -> TokenSeal:
        context = json.dumps([entity_set.name, filter_text, [list(o) for o in order]])
        return cls(key, context.encode())

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self.key, self.context + b"\0" + payload, hashlib.sha256).digest()[:16]

    def sign(self, values: Sequence[Any]) -> str:
        payload = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
        return _b64(payload) + "." + _b64(self._mac(payload))

    def open(self, token: str) -> bytes:
        """The values' JSON of a token this query signed, or a 400."""
        payload_text, dot, mac_text = token.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (ValueError, binascii.Error) as exc:
            raise _bad("$skiptoken", _NOT_OURS) from exc
        if not dot or not hmac.compare_digest(mac, self._mac(payload)):
            raise _bad("$skiptoken", _NOT_OURS)
        return payload


def _typed(value: Any, edm: str) -> Any:
    if edm == "Edm.Guid" and isinstance(value, str) and GUID.fullmatch(value):
        return uuid.UUID(value)
    if edm == "Edm.Date":
        return date.fromisoformat(value)
    if edm == "Edm.DateTimeOffset":
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if edm in ("Edm.Int32", "Edm.Int64") and isinstance(value, int) and not isinstance(value, bool):
        bound = 2**31 if edm == "Edm.Int32" else 2**63  # PostgreSQL refuses more: a 500
        if not -bound <= value < bound:
            raise ValueError("out of range")
        return value
    if edm == "Edm.Double" and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return float(value)
    if edm == "Edm.Boolean" and isinstance(value, bool):
        return value
    if edm == "Edm.String" and isinstance(value, str) and "\x00" not in value:
        value.encode()  # a lone surrogate ("\ud800") is no text a database takes
        return value
    raise ValueError(f"not an {edm}")


def _decode_token(raw: bytes, props: Sequence[Property]) -> tuple[Any, ...]:
    """The ordering values of a signed token (``TokenSeal.open``), checked against their
    properties' types all the same."""
    try:
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(props):
            raise ValueError("wrong length")
        return tuple(
            None if v is None and p.nullable else _typed(v, p.edm)
            for v, p in zip(values, props, strict=True)
        )
    except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error) as exc:
        raise _bad("$skiptoken", _NOT_OURS) from exc


# --- reading a page ------------------------------------------------------------------------------


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _beyond(column: Any, desc: bool, nullable: bool, value: Any) -> Any:
    """The rows after ``value`` in one column's order (nulls first ascending, last descending);
    None when none can be."""
    if value is None:
        return None if desc else column.is_not(None)
    if isinstance(value, bool):  # SQLAlchemy refuses ``column > True``: bind it as a value
        value = sa.literal(value, column.type)
    if desc:
        return sa.or_(column < value, column.is_(None)) if nullable else column < value
    return column > value  # never true of a null


def _seek(
    columns: Sequence[Any],
    descending: Sequence[bool],
    nullable: Sequence[bool],
    after: Sequence[Any],
) -> Any:
    """Rows strictly after ``after`` in the (mixed-direction) order: for one ascending key this
    is simply ``key > value``, which the key's index answers."""
    alternatives = []
    for i, column in enumerate(columns):
        step = _beyond(column, descending[i], nullable[i], after[i])
        if step is not None:
            equal = [_same(c, v) for c, v in zip(columns[:i], after[:i], strict=True)]
            alternatives.append(sa.and_(*equal, step))
    return sa.or_(*alternatives)  # never empty: the key, last, is never null


def _ordered(column: Any, desc: bool, nullable: bool) -> Any:
    if not nullable:  # as the indexes are built
        return column.desc() if desc else column.asc()
    return column.desc().nulls_last() if desc else column.asc().nulls_first()


def read_page(session: Session, *, caller: Caller, entity_set: EntitySet, options: Options) -> Page:
    if entity_set.from_where is not None:
        return _sql_page(session, caller=caller, entity_set=entity_set, options=options)
    return _computed_page(session, caller=caller, entity_set=entity_set, options=options)


def _limit(options: Options) -> int:
    return options.page_size if options.top is None else min(options.page_size, options.top)


def _finish(rows: list[dict[str, Any]], options: Options, count: int | None, more: bool) -> Page:
    limit = _limit(options)
    shown = rows[:limit]
    left = None if options.top is None else options.top - len(shown)
    has_next = more and shown and (left is None or left > 0)
    token = None
    if has_next:
        assert options.seal is not None, "a read with more pages is a query's, with its seal"
        token = options.seal.sign([shown[-1][p] for p, _ in options.order])
    return Page(
        rows=[{p: r[p] for p in options.select} for r in shown],
        count=count,
        next_token=token,
        next_top=left if has_next else None,
    )


def _compared(prop: Property, dialect: str) -> Any:
    """The column as ordered and compared: text by code point on every backend, as SQLite's
    BINARY collation and Python (the computed sets) compare it; PostgreSQL would otherwise
    follow the database's collation (``'a' < 'B'`` in en_US, ``'B' < 'a'`` in C)."""
    if prop.edm == "Edm.String" and dialect == "postgresql":
        return prop.column.collate("C")
    return prop.column


# What SQLite says of a statement too big for it (its parser's stack, its expression depth,
# its variables); PostgreSQL's class 54, "program limit exceeded" (stack depth, arguments).
_SQLITE_TOO_COMPLEX = (
    "parser stack overflow",
    "expression tree is too large",
    "too many sql variables",
    "too many terms",
)


def too_complex(exc: BaseException) -> bool:
    """Whether the database (or SQLAlchemy compiling for it) refused a statement for its size
    or depth rather than its data."""
    if isinstance(exc, RecursionError):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith("54")
    message = str(exc.orig).lower()
    return any(words in message for words in _SQLITE_TOO_COMPLEX)


@contextmanager
def _filter_shape_refused(session: Session, condition: Condition | None) -> Iterator[None]:
    """A ``$filter`` the database cannot run for its shape is the analyst's 400, never a 500.
    The limits of ``server.odata.filters`` keep every filter the feed accepts well within both
    databases' (docs/odata.md#query-options); this is the guard behind them."""
    try:
        yield
    except (sa.exc.DBAPIError, RecursionError) as exc:
        if condition is None or not too_complex(exc):
            raise
        session.rollback()  # PostgreSQL ends the transaction at an error
        raise ODataError(
            "$filter is too complex for the database: nest fewer conditions, or split it",
            code="bad_filter",
            target="$filter",
        ) from None


def _sql_page(session: Session, *, caller: Caller, entity_set: EntitySet, options: Options) -> Page:
    with _filter_shape_refused(session, options.filter):
        return _sql_rows(session, caller=caller, entity_set=entity_set, options=options)


def _sql_rows(session: Session, *, caller: Caller, entity_set: EntitySet, options: Options) -> Page:
    assert entity_set.from_where is not None
    source, where = entity_set.from_where(caller)
    columns = {p.name: p.column for p in entity_set.properties}
    dialect = session.get_bind().dialect.name
    compared = {p.name: _compared(p, dialect) for p in entity_set.properties}
    if options.filter is not None:
        where = [*where, to_sql(options.filter, columns, compared)]
    count = None
    if options.count:
        count = session.execute(
            sa.select(sa.func.count()).select_from(source).where(*where)
        ).scalar_one()
    wanted = list(dict.fromkeys([*options.select, *(p for p, _ in options.order)]))
    statement = sa.select(*(columns[n].label(n) for n in wanted)).select_from(source).where(*where)
    nullable = [entity_set.by_name[p].nullable for p, _ in options.order]
    if options.after is not None:
        statement = statement.where(
            _seek(
                [compared[p] for p, _ in options.order],
                [d for _, d in options.order],
                nullable,
                options.after,
            )
        )
    elif options.skip:
        statement = statement.offset(options.skip)
    statement = statement.order_by(
        *(
            _ordered(compared[p], desc, empty)
            for (p, desc), empty in zip(options.order, nullable, strict=True)
        )
    ).limit(_limit(options) + 1)
    rows = [dict(r._mapping) for r in session.execute(statement)]
    return _finish(rows, options, count, len(rows) > _limit(options))


def _sort_key(order: Sequence[tuple[str, bool]]) -> Any:
    # The SQL sets' order: a null before every value ascending, after every value descending.
    class Key:
        __slots__ = ("row",)

        def __init__(self, row: Mapping[str, Any]) -> None:
            self.row = row

        def __lt__(self, other: Key) -> bool:
            for prop, desc in order:
                a, b = self.row[prop], other.row[prop]
                if a == b:
                    continue
                if a is None or b is None:
                    return (b is None) if desc else (a is None)
                return bool(a > b) if desc else bool(a < b)
            return False

    return Key


def _computed_page(
    session: Session, *, caller: Caller, entity_set: EntitySet, options: Options
) -> Page:
    assert entity_set.rows is not None
    key = _sort_key(options.order)
    keep = to_python(options.filter) if options.filter is not None else None
    marker = (
        None
        if options.after is None
        else key(dict(zip((p for p, _ in options.order), options.after, strict=True)))
    )
    limit = _limit(options)
    # In the key's order (its first property ascending first) and without a count, the page is
    # full once enough groups are in, since every row of a later group sorts after theirs; the
    # next page starts at its token's group. Otherwise every row is needed.
    in_key_order = not options.count and options.order[:1] == ((entity_set.key[0], False),)
    start = options.after[0] if in_key_order and options.after is not None else None
    wanted = limit + 1 + (options.skip if marker is None else 0)
    rows: list[dict[str, Any]] = []
    # In key order there is no count to take first: only a group's rows after the token count.
    early_marker = marker if in_key_order else None
    for group in entity_set.rows(session, caller, options.filter, start):
        rows += (
            r
            for r in group
            if (keep is None or keep(r)) and (early_marker is None or early_marker < key(r))
        )
        if in_key_order and len(rows) >= wanted:
            break
    count = len(rows) if options.count else None
    rows.sort(key=key)
    if marker is not None:
        if early_marker is None:
            rows = [r for r in rows if marker < key(r)]
    elif options.skip:
        rows = rows[options.skip :]
    return _finish(rows[: limit + 1], options, count, len(rows) > limit)
