"""``recado contacts ...``: bulk contact work from the command line."""

from __future__ import annotations

import click


@click.group("contacts")
def contacts_group() -> None:
    """Import contacts."""
