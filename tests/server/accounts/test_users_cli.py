"""``pilotmon users set-scope``: a person's projects and countries from the command line, with
the API's rules and audit entry, and one line for a mistake."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from server.accounts.models import User
from server.records.models import AuditEntry
from tests.factories import detach, make_project, make_user, rows
from tests.server.test_cli import assert_one_line_error, run_cli


def test_set_scope_gives_a_field_expert_a_second_project(
    db_url: str, tmp_path: Path, session: Session
) -> None:
    lso = make_project(session, country="LSO", code="LSO-CPP-001")
    ken = make_project(session, country="KEN", code="KEN-CPP-001")
    expert = make_user(session, username="palesa", projects=[lso])
    make_user(session, role="country_officer", countries=["LSO"], username="officer.lso")
    session.commit()
    detach(session)
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}

    done = run_cli(
        "users", "set-scope", "Palesa", "--project", lso.code, "--project", ken.code, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "palesa (field_expert): countries KEN, LSO; projects KEN-CPP-001, LSO-CPP-001"
    )
    [entry] = rows(session, select(AuditEntry).where(AuditEntry.entity_id == str(expert.id)))
    assert entry.actor_id is None  # the command line acts as an administrator
    assert entry.before == {"projects": ["LSO-CPP-001"], "countries": ["LSO"]}
    assert entry.after == {
        "projects": ["KEN-CPP-001", "LSO-CPP-001"],
        "countries": ["KEN", "LSO"],
    }

    officer = run_cli(
        "users", "set-scope", "officer.lso", "--country", "lso", "--country", "KEN", env=env
    )
    assert officer.returncode == 0, officer.stderr
    assert (
        officer.stdout.strip() == "officer.lso (country_officer): countries KEN, LSO; projects none"
    )


def test_set_scope_mistakes_are_one_line(db_url: str, tmp_path: Path, session: Session) -> None:
    lso = make_project(session, country="LSO", code="LSO-CPP-002")
    make_user(session, username="thabo", projects=[lso])
    session.commit()
    detach(session)
    env = {"PILOTMON_DATABASE_URL": db_url, "PILOTMON_DATA_DIR": str(tmp_path)}

    both = run_cli(
        "users", "set-scope", "thabo", "--project", "NOPE-1", "--country", "ZZZ", env=env
    )
    assert_one_line_error(both, "NOPE-1", "ZZZ")
    assert both.returncode == 1
    nobody = run_cli("users", "set-scope", "nobody", "--country", "LSO", env=env)
    assert_one_line_error(nobody, "no user 'nobody'")
    nothing = run_cli("users", "set-scope", "thabo", env=env)
    assert_one_line_error(nothing, "--project")
    assert nothing.returncode == 2
    session.expire_all()
    thabo = session.exec(select(User).where(User.username == "thabo")).one()
    assert thabo.countries == ["LSO"]
    session.rollback()
    assert rows(session, select(AuditEntry).where(AuditEntry.entity_id == str(thabo.id))) == []
