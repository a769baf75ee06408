"""``recado flows load``: put a programme folder's content into the server, all of it or none of it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.errors import FlowFileError, sort_problems
from flows.model import Programme
from flows.validate import validate_programme
from server.cli import config_option, data_dir_option, make_config, with_database
from server.config import Config
from server.programmes import Changes, LoadReport, ProgrammeRefused, store_programme

SHOWN_PROBLEMS = 50


@click.command("load")
@click.argument("programme_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@data_dir_option
@config_option
def load_command(programme_dir: Path, data_dir: Path | None, config_file: Path | None) -> None:
    """Load a programme folder (flows, fields, groups, triggers, campaigns) into the server.

    Everything is checked first; any error refuses the whole load and nothing changes. Loading a new version
    updates the programme in place and lists what changed. Conversations waiting at a step the new flows no
    longer have are ended."""
    config = make_config(data_dir, config_file)
    for line in describe(load_into(config, read_programme_dir(programme_dir))):
        click.echo(line)


def load_into(config: Config, programme: Programme) -> LoadReport:
    """Store ``programme`` in the server's database; ClickException when the server refuses it."""

    async def work(engine: AsyncEngine) -> LoadReport:
        async with engine.begin() as conn:
            return await store_programme(
                conn, programme, now=dt.datetime.now(dt.UTC), actor="cli", timezone=config.programme_timezone
            )

    try:
        return with_database(config, work)
    except ProgrammeRefused as exc:
        raise click.ClickException(refusal(exc.problems)) from None


def read_programme_dir(path: Path) -> Programme:
    """The programme in ``path``, validated; ClickException listing every error when it has any."""
    from flows.programme import load_programme

    try:
        programme = load_programme(path)
    except FlowFileError as exc:
        raise click.ClickException(refusal([str(p) for p in sort_problems(exc.errors)])) from None
    errors = [f.message for f in validate_programme(programme) if f.level == "error"]
    if errors:
        raise click.ClickException(refusal(errors))
    return programme


def refusal(problems: list[str] | tuple[str, ...]) -> str:
    shown = list(problems[:SHOWN_PROBLEMS])
    if len(problems) > SHOWN_PROBLEMS:
        shown.append(f"... and {len(problems) - SHOWN_PROBLEMS} more")
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return "\n".join([*shown, f"nothing was loaded: {count}"])


def describe(report: LoadReport) -> list[str]:
    lines = [f"programme {report.name!r}, revision {report.revision}"]
    if not report.changed:
        lines.append("nothing changed")
    for name in ("flows", "fields", "groups", "triggers", "campaigns"):
        changes: Changes = getattr(report, name)
        lines.extend(f"{name}: {line}" for line in _changes(changes))
    if report.sessions_ended:
        plural = "s" if report.sessions_ended != 1 else ""
        lines.append(
            f"{report.sessions_ended} conversation{plural} ended: the step they waited at is gone "
            "(see the audit log, action session.interrupt)"
        )
    return lines


def _changes(changes: Changes) -> list[str]:
    return [
        f"{what} {', '.join(names)}"
        for what, names in (
            ("added", changes.added),
            ("changed", changes.changed),
            ("removed", changes.removed),
        )
        if names
    ]
