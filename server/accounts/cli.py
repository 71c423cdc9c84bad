"""``pilotmon users …`` — account administration from the command line."""

from __future__ import annotations

import sys

import click

from server.db import session_scope


@click.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["field_expert", "country_officer", "hq_analyst", "admin"]),
)
@click.option(
    "--country",
    "countries",
    multiple=True,
    metavar="ISO3",
    help="A country of the user's scope (repeatable).",
)
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="CODE",
    help="A project of a field expert (repeatable).",
)
@click.option("--full-name", default="", help="The person's name, shown in the dashboard.")
def create(
    name: str, role: str, countries: tuple[str, ...], projects: tuple[str, ...], full_name: str
) -> None:
    """Create user NAME; the password is read from stdin (prompted on a terminal)."""
    from server.accounts.service import create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with session_scope() as session:
        user = create_user(
            session,
            username=name,
            password=password,
            role=role,
            countries=countries,
            project_codes=projects,
            full_name=full_name,
        )
        click.echo(f"created {user.role} {user.username}")


@users.command("set-scope")
@click.argument("name")
@click.option(
    "--country",
    "countries",
    multiple=True,
    metavar="ISO3",
    help="The person's countries (repeatable): replaces them all.",
)
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="CODE",
    help="The person's projects (repeatable): replaces them all.",
)
def set_scope(name: str, countries: tuple[str, ...], projects: tuple[str, ...]) -> None:
    """Set the countries and/or projects of user NAME (a field expert's countries follow from
    their projects); their sessions and tablets read the new scope at their next request."""
    from server.accounts.service import set_scope as set_user_scope
    from server.accounts.service import user_publics
    from server.errors import ValidationFailed

    if not countries and not projects:
        raise click.UsageError("give --project CODE or --country ISO3 (or both)")
    with session_scope() as session:
        try:
            user = set_user_scope(
                session,
                username=name,
                countries=countries or None,
                project_codes=projects or None,
            )
        except ValidationFailed as exc:  # every problem, on the one line
            raise click.ClickException(
                "; ".join(f"{i.field}: {i.message}" for i in exc.issues)
            ) from None
        session.flush()
        person = user_publics(session, [user])[0]
        line = (
            f"{person.username} ({person.role}): countries "
            + (", ".join(person.countries) or "none")
            + "; projects "
            + (", ".join(p.code for p in person.projects) or "none")
        )
    click.echo(line)


@click.group()
def devices() -> None:
    """Enrol and revoke tablets."""


@devices.command("enrol-code")
@click.argument("name")
def enrol_code(name: str) -> None:
    """Print a one-time enrolment code for user NAME.

    It is valid for PILOTMON_ENROLMENT_CODE_HOURS hours (24 unless set)."""
    from server.accounts.devices import issue_enrolment_code
    from server.accounts.service import get_by_username
    from server.config import get_settings

    settings = get_settings()
    with session_scope() as session:
        user = get_by_username(session, username=name.strip().lower())
        if user is None:
            raise click.ClickException(f"no user {name!r}: see `pilotmon users create`")
        if not user.is_active:
            raise click.ClickException(f"the account {user.username!r} is disabled")
        row, code = issue_enrolment_code(
            session, user=user, hours=settings.enrolment_code_hours, created_by_id=None
        )
        expires = row.expires_at.isoformat(timespec="minutes")
        username = user.username
    click.echo(f"enrolment code for {username}: {code}")
    click.echo(f"expires at {expires} (UTC); it works once")


@devices.command("revoke")
@click.argument("device_id")
def revoke(device_id: str) -> None:
    """Revoke tablet DEVICE_ID: its token is refused from now on."""
    import uuid

    from server.accounts.devices import revoke_device

    try:
        parsed = uuid.UUID(device_id)
    except ValueError:
        raise click.BadParameter(
            f"{device_id!r} is not a device id (a UUID)", param_hint="DEVICE_ID"
        ) from None
    with session_scope() as session:
        device, user = revoke_device(session, device_id=parsed)
        label, username = device.label or "(no label)", user.username
    click.echo(f"revoked device {parsed} {label} of {username}")
