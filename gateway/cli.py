"""Gateway subcommands of ``recado``: each part of the gateway adds its own commands here."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from gateway import cli_gateway, cli_modem, cli_phone, cli_sim

    group.add_command(cli_sim.sim_group)
    group.add_command(cli_modem.modem_group)
    group.add_command(cli_gateway.gateway_command)
    group.add_command(cli_phone.phone_group)
