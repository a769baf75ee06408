"""``recado flows check``."""

from __future__ import annotations

import click


@click.command("check")
def check_command() -> None:
    """(being built)"""
    raise click.ClickException("recado flows check is not available yet")
