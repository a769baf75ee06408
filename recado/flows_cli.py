"""``recado flows ...``: the flow-authoring commands, wrapping the pure ``flows`` API with files and a terminal."""

from __future__ import annotations

import click

from recado.lazy import LazyGroup


@click.group(
    "flows",
    cls=LazyGroup,
    commands={
        "check": "recado.flows_check:check_command",
        "import": "recado.flows_import:import_command",
        "try": "recado.flows_try:try_command",
        "load": "server.cli_flows:load_command",  # the server's database: imported only for a load
    },
)
def flows_group() -> None:
    """Check, try and import conversation flows."""
