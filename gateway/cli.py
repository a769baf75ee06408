"""Gateway subcommands of ``recado``: each part of the gateway adds its own commands here."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from gateway import cli_sim

    group.add_command(cli_sim.sim_group)
