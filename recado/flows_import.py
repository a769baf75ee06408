"""``recado flows import``: a RapidPro/TextIt export → a programme folder of native YAML, plus the report of
what could not be carried over. The conversion itself is ``flows.rapidpro`` (pure); this reads and writes."""

from __future__ import annotations

from pathlib import Path

import click

from flows.errors import FlowFileError
from flows.programme import write_programme
from flows.rapidpro import MAX_EXPORT_BYTES, import_export


def read_export(path: Path) -> bytes:
    """The file's bytes, refusing a file too big to be an export before reading it all into memory."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_EXPORT_BYTES + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_EXPORT_BYTES:
        size = path.stat().st_size
        raise click.ClickException(
            f"{path}: the file is {size / 1_000_000:.1f} MB; recado imports exports of up to "
            f"{MAX_EXPORT_BYTES // (1024 * 1024)} MB. Export the flows in smaller groups."
        )
    return data


@click.command("import")
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The programme folder to write (programme.yaml and flows/).",
)
@click.option("--name", help="The programme's name (default: the export's file name).")
@click.option(
    "--force",
    is_flag=True,
    help="Write into a folder that already has files, replacing its programme (flow files the export does not "
    "have are deleted).",
)
def import_command(export: Path, out_dir: Path, name: str | None, force: bool) -> None:
    """Import a RapidPro or TextIt export (flow spec 13 or 14) as a programme folder.

    Prints what could not be imported as it was, flow by flow and node by node, then a summary line.
    Legacy exports (from before 2019) are refused with how to convert them.
    """
    data = read_export(export)
    try:
        programme, report = import_export(data, str(export), name=name)
    except FlowFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise click.ClickException(
            f"{out_dir} already has files in it; choose an empty folder, or add --force to write over them"
        )
    try:
        write_programme(programme, out_dir, replace=force)
    except FlowFileError as exc:
        raise click.ClickException(f"the imported programme could not be written:\n{exc}") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write {out_dir}: {exc.strerror or exc}") from exc
    click.echo(f'programme "{programme.name}" written to {out_dir}')
    click.echo(report.render())
