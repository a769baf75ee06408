"""``recado flows try``."""

from __future__ import annotations

import click


@click.command("try")
def try_command() -> None:
    """(being built)"""
    raise click.ClickException("recado flows try is not available yet")
