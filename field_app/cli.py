"""``pilotmon field [--server URL]``: the tablet app on this computer.

Kivy is imported only when the command runs, so the server installs and runs without it.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("field")
@click.option(
    "--server", metavar="URL", default=None, help="Server address to offer on the enrolment screen."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the tablet's records live (default: $PILOTMON_FIELD_DIR or ~/.pilotmon-field).",
)
def field(server: str | None, data_dir: Path | None) -> None:
    """Start the tablet app on this computer."""
    if server is not None:
        from field_app.controllers.enrol import AddressError, normalise_server

        try:
            server = normalise_server(server)
        except AddressError as exc:
            raise click.BadParameter(str(exc), param_hint="--server") from exc
    try:
        import kivy  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            "the tablet app needs Kivy: install it with `pip install -e '.[field]'`"
        ) from exc
    from field_app.main import main

    try:
        main(server=server, data_dir=data_dir)
    except KeyboardInterrupt:
        # Ctrl-C in the terminal closes the app like its window's close button: records are
        # saved as they are made, so there is nothing to report (and Kivy holds stderr).
        return
