"""The database engine and sessions, for SQLite (WAL, foreign keys on) and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, any_, bindparam, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, create_engine

from server.config import Settings, get_settings
from server.errors import ConfigError, DatabaseBusy, DatabaseError

_engines: dict[str, Engine] = {}


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run while a push commits;
    # synchronous=FULL syncs the WAL at every commit, so what the server acknowledged (a push
    # the tablet then forgets, a custody receipt) survives a power cut, not only a crash of the
    # process (NORMAL may lose the last commits then); busy_timeout makes concurrent writers
    # wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def json_text(value: Any) -> str:
    """How every JSON column is written (the engines' ``json_serializer``): orjson, several
    times faster than ``json.dumps`` on the push's hot path; compact, UTF-8 as is. Reading
    stays with the standard library, which also reads what ``json.dumps`` wrote before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # What orjson refuses and the standard library writes: an integer beyond 64 bits in a
        # rejected mutation kept for review, say.
        return json.dumps(value)


def _without_password(url: str) -> str:
    """``url`` with whatever stands between ``user:`` and the last ``@`` masked: an error
    message must not print a password, even from a URL that does not parse."""
    return re.sub(r"^((?:[^:/]*://)?[^:@/]*:)(.*)@", r"\1***@", url, flags=re.DOTALL)


def database_url(url: str) -> URL:
    """``url`` parsed, or ConfigError with a one-line reason (password masked).

    ``postgres://`` (what most hosting providers and their ``DATABASE_URL`` give) and
    ``postgresql://`` without a driver both mean PostgreSQL through psycopg, the driver the
    project installs (``postgresql+psycopg://``); ``postgres+DRIVER://`` is
    ``postgresql+DRIVER://``."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # ValueError: a port that is not a number, say
        raise ConfigError(
            f"PILOTMON_DATABASE_URL is not a database URL: {_without_password(url)!r}"
        ) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=f"postgresql+{driver or 'psycopg'}")
    return parsed


def make_engine(url: str) -> Engine:
    """Build an engine for ``url`` (see ``database_url``) or raise ConfigError with a
    one-line reason."""
    parsed = database_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(
                parsed,
                connect_args={"check_same_thread": False, "timeout": 30},
                json_serializer=json_text,
            )
            event.listen(engine, "connect", _on_sqlite_connect)
            _take_over_sqlite_transactions(engine)
        elif parsed.get_backend_name() == "postgresql":
            engine = create_engine(
                parsed,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=20,
                json_serializer=json_text,
            )
            event.listen(engine, "before_cursor_execute", refuse_while_copying)
        else:
            raise ConfigError(
                f"unsupported database {parsed.get_backend_name()!r} in PILOTMON_DATABASE_URL "
                f"{parsed.render_as_string(hide_password=True)!r}: use sqlite:///, "
                "postgresql:// or postgres://"
            )
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"no driver for database URL {parsed.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc
    return engine


# Set in a connection's ``info`` while a ``COPY`` it runs waits for the database to take its
# rows and the writer does other work meanwhile (``server.records.bulk.insert_rows``).
COPY_OPEN = "pilotmon.copy_open"


def refuse_while_copying(conn: Any, *_: Any) -> None:
    """A statement on a connection whose ``COPY`` is still open would wait for the driver's
    lock, which the ``COPY`` holds, forever: refuse it instead (every statement of a
    PostgreSQL engine passes here, and every ``COPY``)."""
    if conn.info.get(COPY_OPEN):
        raise RuntimeError(
            "a statement on a connection whose COPY is still open: the work done meanwhile "
            "(server.records.bulk.insert_rows) must not use the database"
        )


def _take_over_sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, open transactions, so that BEGIN really starts one.

    A writer asks for ``BEGIN IMMEDIATE`` (see ``write_engine``): it takes the write lock up
    front and waits for it under busy_timeout, instead of failing on a lock upgrade later.
    """

    @event.listens_for(engine, "connect")
    def _autocommit_mode(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def write_engine(engine: Engine) -> Engine:
    """The engine to use for a session that will write (BEGIN IMMEDIATE on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def get_engine(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    url = settings.resolved_database_url
    if url not in _engines:
        if settings.is_sqlite and not settings.database_url:
            settings.ensure_data_dir()
        _engines[url] = make_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(engine: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    engine = engine or get_engine()
    with Session(write_engine(engine) if write else engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def check_reachable(engine: Engine) -> None:
    """Raise DatabaseError with a one-line reason when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(
            f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc


# PostgreSQL's SQLSTATE for a lock_timeout that expired; SQLite's SQLITE_BUSY.
LOCK_NOT_AVAILABLE = "55P03"
SQLITE_BUSY = 5


def is_lock_timeout(exc: OperationalError) -> bool:
    """Whether ``exc`` is a wait for a lock that outlasted its limit (PostgreSQL's
    ``lock_timeout``, SQLite's ``busy_timeout``: "database is locked")."""
    if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
        return True
    return getattr(exc.orig, "sqlite_errorcode", None) == SQLITE_BUSY


@contextmanager
def bounded_transaction(engine: Engine, lock_timeout_s: float | None) -> Iterator[Connection]:
    """A connection in one writing transaction that waits at most ``lock_timeout_s`` for each
    lock another process holds (None: as long as the database's own limits allow), then rolls
    back whole and raises DatabaseBusy: what an operator's command (``pilotmon init-db``, a
    restore) uses, so that a server or scheduler left running makes it stop, not hang.

    PostgreSQL: ``SET LOCAL lock_timeout``. SQLite: ``BEGIN IMMEDIATE`` (the write lock up
    front) under a ``busy_timeout`` of that length, set back afterwards."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw: Any = conn.connection.driver_connection if sqlite else None
        previous = None
        if sqlite:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            if lock_timeout_s is not None:
                # On the driver's connection, which is in autocommit mode: no BEGIN yet.
                previous = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute(f"PRAGMA busy_timeout={max(1, round(lock_timeout_s * 1000))}")
        try:
            with conn.begin():
                if not sqlite and lock_timeout_s is not None:
                    conn.exec_driver_sql(
                        f"SET LOCAL lock_timeout = '{max(1, round(lock_timeout_s * 1000))}ms'"
                    )
                yield conn
        except OperationalError as exc:
            if lock_timeout_s is not None and is_lock_timeout(exc):
                raise DatabaseBusy(
                    f"the database is in use (a lock stayed held for {lock_timeout_s:g} s)"
                ) from exc
            raise
        finally:
            if previous is not None:
                raw.execute(f"PRAGMA busy_timeout={int(previous)}")


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def among(session: OrmSession, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN values``, for the look-ups of many records by id. On PostgreSQL it is one
    array parameter (``= ANY``), compiled and converted once whatever the number of values,
    where ``IN`` renders and converts a parameter for each value every time (500 UUIDs: 2.2 ms
    of CPU against 1.0 ms, ad hoc, 2026-12-06); the plan is the same. SQLite keeps ``IN``."""
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)
    return column.in_(values)


# --- notes that follow a transaction (change log, roll-up facts) ------------------------------
#
# Some work belongs at the very end of a writing transaction: the roll-up refresh of the
# activities it touched (server.indicators.refresh) and the change-log append that gives each
# change its ``seq`` (server.records.changes; it must be the last statement before COMMIT, see
# there). No listener sits on SQLAlchemy's or SQLModel's ``Session`` class: a plain
# ``session.commit()`` that wrote nothing of that kind does nothing more. A writer that notes
# such work *arms* a duty on its own session (``arm_commit_duty``); the duties of that session
# then run, in ``order``, right before its outermost commit, and forget the notes of anything
# rolled back. This is the one place where such a hook is registered.

_DUTIES = "pilotmon.commit_duties"


@dataclass(frozen=True, slots=True)
class CommitDuty:
    """Work a writer left for the end of its session's transaction."""

    name: str
    order: int  # lower runs first
    before_commit: Callable[[OrmSession], object]
    after_rollback: Callable[[OrmSession, SessionTransaction], object]


def arm_commit_duty(session: OrmSession, duty: CommitDuty) -> None:
    """Run ``duty.before_commit`` right before this session's next outermost commit (and every
    later one: the duty is idle when its notes are empty), ``duty.after_rollback`` after a
    rollback or a savepoint's rollback."""
    duties: dict[str, CommitDuty] | None = session.info.get(_DUTIES)
    if duties is None:
        duties = session.info[_DUTIES] = {}
        event.listen(session, "before_commit", _run_duties)
        event.listen(session, "after_soft_rollback", _forget_rolled_back)
    duties.setdefault(duty.name, duty)


def _armed(session: OrmSession) -> list[CommitDuty]:
    duties: dict[str, CommitDuty] = session.info.get(_DUTIES) or {}
    return sorted(duties.values(), key=lambda duty: duty.order)


def _run_duties(session: OrmSession) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: the outermost commit does the work
    for duty in _armed(session):
        duty.before_commit(session)


def _forget_rolled_back(session: OrmSession, previous: SessionTransaction) -> None:
    for duty in _armed(session):
        duty.after_rollback(session, previous)


def current_transaction(session: OrmSession) -> SessionTransaction:
    """The innermost transaction of ``session`` (a savepoint if one is open), beginning one if
    none has: work noted against it is dropped if it rolls back."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        session.connection()  # autobegin, so the note belongs to the transaction it joins
        transaction = session.get_transaction()
    assert transaction is not None
    return transaction


def within(transaction: SessionTransaction | None, ancestor: SessionTransaction | None) -> bool:
    """Whether ``transaction`` is ``ancestor`` or one of its savepoints."""
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
