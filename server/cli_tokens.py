"""``recado token ...``: long-lived tokens for gateways and integrations."""

from __future__ import annotations

import click


@click.group("token")
def token_group() -> None:
    """Create, list and revoke API and gateway tokens."""
