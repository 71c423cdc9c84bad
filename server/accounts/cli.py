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
@click.option("--role", required=True,
              type=click.Choice(["field_expert", "country_officer", "hq_analyst", "admin"]))
@click.option("--country", "countries", multiple=True, metavar="ISO3",
              help="A country of the user's scope (repeatable).")
@click.option("--project", "projects", multiple=True, metavar="CODE",
              help="A project of a field expert (repeatable).")
@click.option("--full-name", default="", help="The person's name, shown in the dashboard.")
def create(name: str, role: str, countries: tuple[str, ...], projects: tuple[str, ...],
           full_name: str) -> None:
    """Create user NAME; the password is read from stdin (prompted on a terminal)."""
    from server.accounts.service import create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with session_scope() as session:
        user = create_user(session, username=name, password=password, role=role,
                           countries=countries, project_codes=projects, full_name=full_name)
        click.echo(f"created {user.role} {user.username}")
