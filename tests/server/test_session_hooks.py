"""No hidden work on commit: nothing listens on SQLAlchemy's or SQLModel's ``Session`` class.

The roll-up refresh and the change-log append are duties a writer arms on its own session
(``server.db.arm_commit_duty``); a session that wrote nothing of that kind commits plainly.
"""

from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy.orm
import sqlmodel
from sqlalchemy import Engine, event
from sqlalchemy.orm.events import SessionEvents
from sqlmodel import Session

import server
from server.db import CommitDuty, arm_commit_duty
from server.indicators import refresh
from server.records import changes

SESSION_EVENTS = [name for name in dir(SessionEvents) if not name.startswith("_")]


def _import_every_server_module() -> list[str]:
    names = []
    for module in pkgutil.walk_packages(server.__path__, prefix="server."):
        if ".migrations." in module.name or module.name.endswith(".__main__"):
            continue  # Alembic scripts run only inside Alembic
        importlib.import_module(module.name)
        names.append(module.name)
    return names


def _class_listeners(cls: type) -> dict[str, list[object]]:
    found = {}
    for name in SESSION_EVENTS:
        dispatcher = getattr(cls.dispatch, name, None)  # type: ignore[attr-defined]
        if dispatcher is None or not hasattr(dispatcher, "_clslevel"):
            continue
        listeners = list(dispatcher._clslevel.get(cls, ()))
        if listeners:
            found[name] = listeners
    return found


def test_no_listener_on_the_global_session_classes_after_importing_the_server() -> None:
    assert len(_import_every_server_module()) > 50
    for cls in (sqlalchemy.orm.Session, sqlmodel.Session):
        assert _class_listeners(cls) == {}, cls
    for fn, name in (
        (refresh.apply_pending, "before_commit"),
        (changes.flush_changes, "before_commit"),
    ):
        assert not event.contains(sqlalchemy.orm.Session, name, fn)
        assert not event.contains(sqlmodel.Session, name, fn)


def test_the_check_would_see_a_listener_on_the_session_class() -> None:
    """The inspection above is not blind: a listener on the class shows up in it."""

    def listener(session: object) -> None:
        pass

    event.listen(sqlalchemy.orm.Session, "before_commit", listener)
    try:
        assert listener in _class_listeners(sqlalchemy.orm.Session)["before_commit"]
    finally:
        event.remove(sqlalchemy.orm.Session, "before_commit", listener)
    assert _class_listeners(sqlalchemy.orm.Session) == {}


def test_a_duty_runs_on_the_session_that_armed_it_and_no_other(engine: Engine) -> None:
    ran: list[str] = []
    with Session(engine) as armed, Session(engine) as plain:
        arm_commit_duty(
            armed,
            CommitDuty(
                name="probe",
                order=0,
                before_commit=lambda s: ran.append("armed"),
                after_rollback=lambda s, t: ran.append("rolled back"),
            ),
        )
        plain.commit()
        assert ran == []
        armed.commit()
        assert ran == ["armed"]
        armed.begin_nested().rollback()
        assert ran == ["armed", "rolled back"]
