"""``recado flows check PATH...``: check flow files and programme folders the way the server will load them."""

from __future__ import annotations

from pathlib import Path

import click

from flows.errors import Problem
from flows.native import read_flow_file
from flows.programme import PROGRAMME_FILE, read_programme


def check_paths(paths: tuple[Path, ...]) -> tuple[list[Problem], int]:
    """Every problem of every path (a folder or programme.yaml is a programme, anything else a flow file),
    and how many files were read."""
    problems: list[Problem] = []
    files = 0
    for path in paths:
        if path.is_dir() or path.name == PROGRAMME_FILE:
            loaded = read_programme(path)
            problems.extend(loaded.problems)
            files += loaded.files
        else:
            problems.extend(read_flow_file(path).problems)
            files += 1
    return problems, files


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(problems: list[Problem], files: int) -> str:
    errors = sum(p.level == "error" for p in problems)
    warnings = len(problems) - errors
    if not problems:
        return f"{_count(files, 'file')} checked: no problems"
    parts = [_count(errors, "error") if errors else "no errors"] + (
        [_count(warnings, "warning")] if warnings else []
    )
    return f"{', '.join(parts)} in {_count(files, 'file')}"


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Fail on warnings too (a node nothing leads to, ...).")
def check_command(paths: tuple[Path, ...], strict: bool) -> None:
    """Check flow files and programme folders.

    Prints each problem as FILE:LINE:COLUMN: MESSAGE, then a one-line summary. Exits with 0 when everything
    is valid (warnings allowed unless --strict) and 1 otherwise.
    """
    problems, files = check_paths(paths)
    for problem in problems:
        click.echo(str(problem))
    click.echo(summary(problems, files))
    failed = any(p.level == "error" or strict for p in problems)
    if failed:
        raise SystemExit(1)
