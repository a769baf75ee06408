"""``recado contacts ...``: bulk contact work from the command line."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from server.cli import config_option, data_dir_option, make_config, with_database
from server.contacts_import import TARGETS_HELP, ImportRefused, ImportReport, import_contacts, parse_mappings

# The terminal shows this many refused rows; --report FILE keeps all of them.
SHOWN_ERRORS = 50


@click.group("contacts")
def contacts_group() -> None:
    """Import contacts."""


@contacts_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
@config_option
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="COLUMN=TARGET",
    help=f"What a column holds: {TARGETS_HELP}. Repeat for each column whose name does not say it already.",
)
@click.option(
    "--encoding",
    default=None,
    help="The file's text encoding, e.g. cp1252 for files saved by Excel on Windows. Default: UTF-8 "
    "(UTF-16 when the file starts with its byte-order mark).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write every refused row (row, column, problem) to this CSV file.",
)
def import_command(
    file: Path,
    data_dir: Path | None,
    config_file: Path | None,
    mappings: tuple[str, ...],
    encoding: str | None,
    report_path: Path | None,
) -> None:
    """Import contacts from a CSV file, updating those already known by phone number.

    The first row names the columns. Columns called phone, name, language, timezone and group (or
    teléfono, nombre, idioma, grupo), field:KEY, or the key of an existing field need no --map. Rows with
    a problem are listed and skipped; the others are imported. The exit status is 1 if any row was refused.
    """
    config = make_config(data_dir, config_file)
    try:
        targets = parse_mappings(mappings)
    except ImportRefused as exc:
        raise click.UsageError(str(exc)) from exc

    with contextlib.ExitStack() as stack:
        bar: Any = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(
                    click.progressbar(length=max(total, 1), label="importing", file=sys.stderr)
                )
            bar.update(done - bar.pos)

        async def work(engine: AsyncEngine) -> ImportReport:
            with file.open("rb") as source:
                return await import_contacts(
                    engine,
                    source,
                    mappings=targets,
                    encoding=encoding,
                    tz=config.tz,
                    programme_timezone=config.programme_timezone,
                    region=config.default_region,
                    now=dt.datetime.now(dt.UTC),
                    actor="cli",
                    progress=progress,
                )

        try:
            report = with_database(config, work)
        except ImportRefused as exc:
            raise click.ClickException(f"{file.name}: {exc}. Nothing was imported.") from exc

    _show(report, file, report_path)
    if report.failed:
        raise SystemExit(1)


def _show(report: ImportReport, file: Path, report_path: Path | None) -> None:
    click.echo(
        f"{file.name}: {report.rows} rows, {report.created} contacts created, {report.updated} updated, "
        f"{report.failed} refused"
    )
    for error in report.errors[:SHOWN_ERRORS]:
        where = f"row {error.row}" + (f", column {error.column}" if error.column else "")
        click.echo(f"  {where}: {error.message}", err=True)
    hidden = len(report.errors) - SHOWN_ERRORS
    if hidden > 0:
        click.echo(f"  ... and {hidden} more problems", err=True)
    if report_path is not None:
        with report_path.open("w", newline="", encoding="utf-8-sig") as fh:
            out = csv.writer(fh)
            out.writerow(["row", "column", "problem"])
            out.writerows([e.row, e.column or "", e.message] for e in report.errors)
        click.echo(f"every refused row is listed in {report_path}")
    elif hidden > 0:
        click.echo("use --report FILE to get every problem in a spreadsheet", err=True)
