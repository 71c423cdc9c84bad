"""``pilotmon forms …``: XLSForm import and the list of forms (docs/cli.md).

The operator on the command line acts as an administrator (like ``pilotmon users``): the
command may write global forms and forms of any project. Every refusal is one line per problem
(``sheet row N column C: reason``) on stderr and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click
from sqlmodel import col, select

from server.config import get_settings
from server.db import session_scope
from server.errors import Conflict, ValidationFailed
from server.projects.models import Project
from server.results import forms as service
from server.results.models import Form
from server.results.xlsform import XLSFormRefused, read_xlsform


@click.group()
def forms() -> None:
    """Forms: import XLSForms, list what is there."""


@forms.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--project", "project_code", metavar="CODE", help="The project (default: global).")
@click.option("--publish", is_flag=True, help="Publish the draft at once.")
def import_command(path: Path, project_code: str | None, publish: bool) -> None:
    """Read the XLSForm PATH into a draft (the next version of its form_id, if it exists)."""
    limit = get_settings().max_xlsform_bytes
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror or exc}") from exc
    problems: list[str] = []
    try:
        with session_scope() as session:
            project = None
            if project_code:
                project = session.exec(
                    select(Project).where(col(Project.code) == project_code.strip())
                ).one_or_none()
                if project is None:
                    problems.append(f"no project {project_code!r}")
            try:
                definition = read_xlsform(
                    data,
                    limit=limit,
                    taken_indicator_codes=lambda code: service.taken_indicator_codes(session, code),
                )
            except XLSFormRefused as exc:
                problems += exc.lines()
            if problems:
                _refuse(path, problems)
            form = service.create_draft(session, data=definition, project=project, actor_id=None)
            if publish:
                service.publish(
                    session, form, actor_id=None, country=project.country if project else None
                )
            click.echo(
                f"{form.code} version {form.version}: {form.status} "
                f"({'global' if project is None else project.code}, "
                f"{len(form.fields)} fields, {len(form.indicators)} indicators) id {form.id}"
            )
    except ValidationFailed as exc:
        _refuse(path, [f"{i.field}: {i.message}" for i in exc.issues])
    except Conflict as exc:
        _refuse(path, [exc.message])


def _refuse(path: Path, lines: list[str]) -> NoReturn:
    """One line per problem on stderr, each ``pilotmon: FILE: …``, in the workbook's order;
    exit code 1."""
    for line in lines[:-1]:
        click.echo(f"pilotmon: {path.name}: {line}", err=True)
    raise click.ClickException(f"{path.name}: {lines[-1]}")


@forms.command("list")
def list_command() -> None:
    """Every form version: code, version, status, scope, fields, indicators."""
    with session_scope(write=False) as session:
        rows = session.exec(
            select(Form, Project.code)
            .join(Project, col(Project.id) == col(Form.project_id), isouter=True)
            .order_by(col(Form.code), col(Form.version))
        ).all()
        if not rows:
            click.echo("no forms")
        for form, project_code in rows:
            indicators = ",".join(str(i.get("code")) for i in form.indicators) or "-"
            click.echo(
                f"{form.code}\tv{form.version}\t{form.status}\t{project_code or 'global'}\t"
                f"{len(form.fields)} fields\t{indicators}"
            )
