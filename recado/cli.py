"""``recado``: one click group that hands each subcommand to the package that owns it."""

from __future__ import annotations

import click

import gateway.cli
import server.cli
from recado import __version__
from recado.demo import demo_command
from recado.flows_cli import flows_group
from recado.logs import setup_logging


@click.group()
@click.version_option(__version__, prog_name="recado")
@click.option("--log-json", is_flag=True, envvar="RECADO_LOG_JSON", help="Write logs as JSON lines.")
@click.option("--log-level", default="INFO", envvar="RECADO_LOG_LEVEL", show_default=True)
def cli(log_json: bool, log_level: str) -> None:
    """recado: SMS conversations for public programmes, on hardware a site can own."""
    setup_logging(json_lines=log_json, level=log_level)


server.cli.register(cli)
gateway.cli.register(cli)
cli.add_command(flows_group)
cli.add_command(demo_command)


def main() -> None:
    cli()
