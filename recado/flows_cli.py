"""``recado flows ...``: the flow-authoring commands, wrapping the pure ``flows`` API with files and a terminal."""

from __future__ import annotations

import click

from recado import flows_check, flows_import, flows_try
from server.cli_flows import load_command


@click.group("flows")
def flows_group() -> None:
    """Check, try and import conversation flows."""


flows_group.add_command(flows_check.check_command)
flows_group.add_command(flows_import.import_command)
flows_group.add_command(flows_try.try_command)
flows_group.add_command(load_command)
