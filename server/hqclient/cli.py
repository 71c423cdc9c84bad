"""``pilotmon pull``: an indicator from a Pilot Monitor server to csv, json or xlsx (docs/cli.md).

    pilotmon pull --server https://monitor.example.org --indicator PARTICIPANTS \\
        --group-by country,period:quarter,sex --filter region=RBJ --format xlsx --out q.xlsx

The token comes from PILOTMON_TOKEN, or a login prompt (username and password) when unset.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import IO, cast

import click

from server.hqclient.client import API, HqClient

FORMATS = ("csv", "json", "xlsx")
# Filters the server takes besides group_by (docs/indicators.md).
FILTERS = (
    "country",
    "region",
    "project",
    "thematic_area",
    "solution",
    "topic",
    "modality",
    "activity_type",
    "from",
    "to",
)


def _parse_filters(pairs: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise click.BadParameter(
                f"{pair!r} is not KEY=VALUE (e.g. country=LSO)", param_hint="--filter"
            )
        if key not in FILTERS:
            raise click.BadParameter(
                f"unknown filter {key!r}; filters are {', '.join(FILTERS)}", param_hint="--filter"
            )
        found[key] = f"{found[key]},{value.strip()}" if key in found else value.strip()
    return found


class _Progress:
    """Bytes received so far, on one rewritten line of stderr."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, received: int, total: int | None) -> None:
        text = f"received {received / 1e6:.1f} MB"
        if total:
            text += f" of {total / 1e6:.1f} MB ({100 * received // total}%)"
        click.echo(f"\r{text}", nl=False, err=True)
        self.shown = True

    def done(self) -> None:
        if self.shown:
            click.echo("", err=True)


class _WithoutBom(io.RawIOBase):
    """Standard output without the byte-order mark that a CSV file keeps for Excel: in a pipe
    it would stick to the first column's name (cut, awk, pandas)."""

    BOM = b"\xef\xbb\xbf"

    def __init__(self, target: IO[bytes]) -> None:
        super().__init__()
        self._target = target
        self._head: bytes | None = b""  # None once the start has been checked

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        size = len(data)
        if self._head is not None:
            self._head += bytes(data)
            if len(self._head) < len(self.BOM) and self.BOM.startswith(self._head):
                return size  # a chunk shorter than the mark: wait for more
            data, self._head = self._head.removeprefix(self.BOM), None
        self._target.write(data)
        return size

    def flush(self) -> None:
        if self._head:
            self._target.write(self._head)
            self._head = None
        self._target.flush()


@click.command("pull")
@click.option(
    "--server",
    required=True,
    envvar="PILOTMON_SERVER",
    metavar="URL",
    help="The Pilot Monitor server, e.g. https://monitor.example.org.",
)
@click.option(
    "--indicator",
    required=True,
    metavar="CODE",
    help="Indicator code, e.g. PARTICIPANTS (see GET /api/v1/indicators).",
)
@click.option(
    "--group-by",
    "group_by",
    multiple=True,
    metavar="KEYS",
    help="Keys to break down by, comma separated or repeated (e.g. country,period:quarter,sex).",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Filter, repeatable: country=LSO, region=RBJ, from=2025-01-01, ...",
)
@click.option("--status", default=None, help="Statuses counted (default submitted,approved).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output; required for xlsx on a terminal).",
)
@click.option(
    "--username",
    default=None,
    help="Log in as this user (when PILOTMON_TOKEN is unset); the password is prompted.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show bytes received on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds to wait for the server to answer.",
)
def pull(
    server: str,
    indicator: str,
    group_by: tuple[str, ...],
    filters: tuple[str, ...],
    status: str | None,
    fmt: str,
    out: Path | None,
    username: str | None,
    progress: bool | None,
    timeout: float,
) -> None:
    """Pull an indicator's values from a server into csv, json or xlsx."""
    params = _parse_filters(filters)
    keys = ",".join(k.strip() for chunk in group_by for k in chunk.split(",") if k.strip())
    if keys:
        params["group_by"] = keys
    if status:
        params["status"] = status
    if fmt == "xlsx" and out is None and sys.stdout.isatty():
        raise click.UsageError("xlsx is binary: write it to a file with --out FILE")

    client = HqClient(
        server, token=os.environ.get("PILOTMON_TOKEN") or None, timeout=(5.0, timeout)
    )
    client.check_server()
    if not client.token:
        name = username or click.prompt("Username", err=True)
        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, err=True)
        else:
            # Piped in (a script): read as it comes, without getpass's warning that a
            # password "may be echoed" and the path of its source on stderr.
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise click.UsageError("no password on standard input")
        client.login(name, password)

    if fmt == "json":
        path = f"{API}/indicators/{indicator.strip().upper()}/values"
    else:
        path = f"{API}/exports/indicators.{fmt}"
        params["indicator"] = indicator.strip().upper()
    show = _Progress() if (progress if progress is not None else sys.stderr.isatty()) else None

    if out is None:
        target = _WithoutBom(sys.stdout.buffer) if fmt == "csv" else sys.stdout.buffer
        written = client.download(path, params, cast(IO[bytes], target), progress=show)
        target.flush()
    else:
        # Write beside the target and rename at the end: a failed pull leaves no half file.
        partial = out.with_name(out.name + ".part")
        try:
            with open(partial, "wb") as handle:
                written = client.download(path, params, handle, progress=show)
            partial.replace(out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise click.ClickException(f"cannot write {out}: {exc.strerror}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            if show:
                show.done()
        click.echo(f"wrote {written} bytes to {out}", err=True)
        return
    if show:
        show.done()
