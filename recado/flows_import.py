"""``recado flows import``."""

from __future__ import annotations

import click


@click.command("import")
def import_command() -> None:
    """(being built)"""
    raise click.ClickException("recado flows import is not available yet")
