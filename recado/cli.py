"""``recado``: one click group that hands each subcommand to the package that owns it."""

from __future__ import annotations

import click

from recado import __version__
from recado.lazy import LazyGroup
from recado.logs import setup_logging

COMMANDS = {
    "init": "server.cli:init_command",
    "server": "server.cli:server_command",
    "token": "server.cli_tokens:token_group",
    "contacts": "server.cli_contacts:contacts_group",
    "flows": "recado.flows_cli:flows_group",
    "demo": "recado.demo:demo_command",
    "gateway": "gateway.cli_gateway:gateway_command",
    "modem": "gateway.cli_modem:modem_group",
    "phone": "gateway.cli_phone:phone_group",
    "sim": "gateway.cli_sim:sim_group",
}


@click.group(cls=LazyGroup, commands=COMMANDS)
@click.version_option(__version__, prog_name="recado")
@click.option("--log-json", is_flag=True, envvar="RECADO_LOG_JSON", help="Write logs as JSON lines.")
@click.option("--log-level", default="INFO", envvar="RECADO_LOG_LEVEL", show_default=True)
def cli(log_json: bool, log_level: str) -> None:
    """recado: SMS conversations for public programmes, on hardware a site can own."""
    setup_logging(json_lines=log_json, level=log_level)


def main() -> None:
    cli()
